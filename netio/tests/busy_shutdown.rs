//! Shutdown while the reactor is busy: every read is a long piece of work and every client
//! always has more to read, so one turn (a read budget for every ready connection) lasts far
//! longer than the shutdown timeout. The reactor must begin the shutdown and enforce its
//! deadline between reads, not once per turn.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use switchyard_netio::{start, Accepted, Config, ConnId, Ctx, Handler};

/// What one read costs the handler (think: inflating a large compressed message).
const WORK_PER_READ: Duration = Duration::from_millis(20);
const CLIENTS: usize = 8;

/// Spends [`WORK_PER_READ`] on every read and keeps connections open through the shutdown
/// (no goodbye): only the deadline ends them.
struct Busy {
    reads: Arc<AtomicUsize>,
    shutdown_seen: Arc<Mutex<Option<Instant>>>,
}

impl Handler for Busy {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<()> {
        Some(())
    }
    fn on_data(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: &mut [u8]) {
        self.reads.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(WORK_PER_READ);
    }
    fn on_shutdown(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut ()) {
        self.shutdown_seen
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
    }
}

#[test]
fn a_busy_reactor_begins_shutdown_and_stops_at_its_deadline_between_reads() {
    let shutdown_timeout = Duration::from_millis(200);
    let reads = Arc::new(AtomicUsize::new(0));
    let shutdown_seen = Arc::new(Mutex::new(None));
    let (r, s) = (reads.clone(), shutdown_seen.clone());
    let config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 1,
        // Small reads: a client always has another one waiting.
        read_buffer_size: 4096,
        shutdown_timeout,
        ..Config::default()
    };
    let server = start(config, move |_| Busy {
        reads: r.clone(),
        shutdown_seen: s.clone(),
    })
    .unwrap();
    let addr = server.local_addrs()[0];
    let give_up = Instant::now() + TIMEOUT;
    let writers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let mut c = client(addr);
            let chunk = pattern(i as u64, 64 << 10);
            // Until the server closes the connection (or the test gives up).
            std::thread::spawn(
                move || while Instant::now() < give_up && c.write_all(&chunk).is_ok() {},
            )
        })
        .collect();
    // Every client's socket is full: a turn now holds 16 reads per client, seconds of work.
    wait_until("reads from every client", || {
        reads.load(Ordering::SeqCst) >= 2 * CLIENTS
    });
    let handle = server.shutdown_handle();
    let t0 = Instant::now();
    handle.shutdown();
    server.join().unwrap();
    let took = t0.elapsed();
    let began = shutdown_seen
        .lock()
        .unwrap()
        .expect("on_shutdown ran")
        .duration_since(t0);
    // Within a few reads of work, not a turn (8 clients x 16 reads x 20 ms = 2.5 s).
    let slack = Duration::from_millis(500);
    assert!(began < slack, "shutdown began {began:?} after it was asked");
    assert!(
        took < shutdown_timeout + slack,
        "the reactor stopped {took:?} after the shutdown (timeout {shutdown_timeout:?})"
    );
    for w in writers {
        w.join().unwrap();
    }
}
