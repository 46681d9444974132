//! `Ctx::queued_total` and `Ctx::largest_queue`: what a reactor's outbound queues hold in all,
//! and which connection holds the most (for a handler that keeps a memory budget).

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use switchyard_netio::{start, Accepted, Config, ConnId, Ctx, Handler};

/// What a probe saw: the total, the largest queue, and each writer's queue.
type Probe = (usize, Option<(ConnId, usize)>, Vec<usize>);

#[derive(Default)]
struct Seen {
    /// Connections that were written to, in order, with what stayed queued for each.
    writers: Vec<ConnId>,
    /// At each probe: the total, the largest queue, and each writer's queue.
    probes: Vec<Probe>,
}

/// The first two connections get 1 MiB and 2 MiB they never read; any later one is a probe
/// whose bytes make the handler look at the queues.
struct Writer {
    seen: Arc<Mutex<Seen>>,
}

impl Handler for Writer {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<()> {
        let mut seen = self.seen.lock().unwrap();
        if seen.writers.len() < 2 {
            let size = (seen.writers.len() + 1) << 20;
            ctx.write_owned(id, vec![7u8; size]).unwrap();
            seen.writers.push(id);
        }
        Some(())
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: &mut [u8]) {
        let mut seen = self.seen.lock().unwrap();
        let each = seen
            .writers
            .iter()
            .map(|&w| ctx.queued(w).unwrap_or(0))
            .collect();
        let probe = (ctx.queued_total(), ctx.largest_queue(), each);
        seen.probes.push(probe);
    }
}

#[test]
fn the_total_is_the_sum_of_the_queues_and_the_largest_is_found() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 1,
        send_buffer_size: Some(4096),
        recv_buffer_size: Some(4096),
        ..Config::default()
    };
    let s = seen.clone();
    let server = start(config, move |_| Writer { seen: s.clone() }).unwrap();
    let addr = server.local_addrs()[0];
    let small = client(addr);
    wait_until("first writer", || seen.lock().unwrap().writers.len() == 1);
    let big = client(addr);
    wait_until("second writer", || seen.lock().unwrap().writers.len() == 2);
    let mut probe = client(addr);
    send(&mut probe, b"?");
    wait_until("first probe", || seen.lock().unwrap().probes.len() == 1);
    {
        let seen = seen.lock().unwrap();
        let (total, largest, each) = &seen.probes[0];
        assert_eq!(*total, each.iter().sum::<usize>(), "{each:?}");
        // The kernel took at most a few hundred KiB of each: most is queued.
        assert!(each[0] > 512 << 10 && each[1] > (3 << 20) / 2, "{each:?}");
        assert_eq!(*largest, Some((seen.writers[1], each[1])));
    }
    // The big one goes: its queue leaves the total with it.
    drop(big);
    let mut left = None;
    for _ in 0..200 {
        send(&mut probe, b"?");
        let seen = seen.lock().unwrap();
        let (total, largest, each) = seen.probes.last().unwrap().clone();
        if largest.map(|(id, _)| id) == Some(seen.writers[0]) {
            left = Some((total, each));
            break;
        }
        drop(seen);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let (total, each) = left.expect("the closed connection's queue stayed counted");
    assert_eq!(total, each[0]);
    assert_eq!(each[1], 0);
    drop(small);
}
