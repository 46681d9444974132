//! Partial writes through a tiny send buffer, backpressure notifications, nothing lost when
//! input arrives while the output queue is full, peers that reset mid-write.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use switchyard_netio::{
    start, Accepted, CloseReason, Config, ConnId, Ctx, Handler, Pressure, SharedBytes,
};

const CHUNK: usize = 64 << 10;
const CHUNKS: usize = 64; // 4 MiB

#[derive(Default)]
struct Log {
    accepted: usize,
    pressure: Vec<Pressure>,
    queued_after_accept: Vec<usize>,
    /// By (reactor, id): ids are per reactor.
    closes: HashMap<(usize, ConnId), Vec<CloseReason>>,
}

/// Writes 4 MiB on accept, alternating borrowed, owned and shared pieces.
struct Producer {
    log: Arc<Mutex<Log>>,
    data: Arc<Vec<u8>>,
}

impl Handler for Producer {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<()> {
        let shared = SharedBytes::from(self.data.as_slice());
        for i in 0..CHUNKS {
            let range = i * CHUNK..(i + 1) * CHUNK;
            match i % 3 {
                0 => ctx.write(id, &self.data[range]).unwrap(),
                1 => ctx.write_owned(id, self.data[range].to_vec()).unwrap(),
                _ => ctx.write_shared(id, shared.slice(range)).unwrap(),
            }
        }
        Some(())
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), _: &mut [u8]) {
        // The corked writes of `accept` have been flushed by now.
        let q = ctx.queued(id).unwrap();
        self.log.lock().unwrap().queued_after_accept.push(q);
    }
    fn on_pressure(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), p: Pressure) {
        self.log.lock().unwrap().pressure.push(p);
    }
    fn on_close(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: (), reason: CloseReason) {
        self.log
            .lock()
            .unwrap()
            .closes
            .entry((ctx.reactor_index(), id))
            .or_default()
            .push(reason);
    }
}

fn tiny_buffers() -> Config {
    Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 2,
        send_buffer_size: Some(4096),
        recv_buffer_size: Some(4096),
        write_high_water: 256 << 10,
        write_low_water: 64 << 10,
        ..Config::default()
    }
}

#[test]
fn partial_writes_deliver_everything_in_order_with_pressure_reports() {
    let log = Arc::new(Mutex::new(Log::default()));
    let data = Arc::new(pattern(7, CHUNK * CHUNKS));
    let (l, d) = (log.clone(), data.clone());
    let server = start(tiny_buffers(), move |_| Producer {
        log: l.clone(),
        data: d.clone(),
    })
    .unwrap();
    let mut c = client(server.local_addrs()[0]);
    send(&mut c, b"?");
    let mut got = Vec::with_capacity(data.len());
    let mut buf = [0u8; 3000];
    while got.len() < data.len() {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "early EOF at {}", got.len());
        got.extend_from_slice(&buf[..n]);
        if got.len() < 256 << 10 {
            // Kept on purpose: a slow reader at first, so that the server meets many short
            // writes; there is no condition to wait for, the pace is the test.
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    assert!(got == *data, "bytes differ");
    wait_until("drained report", || log.lock().unwrap().pressure.len() == 2);
    let log = log.lock().unwrap();
    assert_eq!(log.pressure, vec![Pressure::High, Pressure::Drained]);
    assert!(
        log.queued_after_accept[0] > 256 << 10,
        "most of it was queued: {:?}",
        log.queued_after_accept
    );
}

/// Echo that pauses reading while its replies are over the high water mark.
struct PausingEcho {
    log: Arc<Mutex<Log>>,
}

impl Handler for PausingEcho {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<()> {
        Some(())
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), data: &mut [u8]) {
        ctx.write(id, data).unwrap();
    }
    fn on_pressure(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), p: Pressure) {
        self.log.lock().unwrap().pressure.push(p);
        match p {
            Pressure::High => ctx.pause_read(id),
            Pressure::Drained => ctx.resume_read(id),
        }
    }
}

#[test]
fn input_arriving_while_output_is_full_is_not_lost() {
    let log = Arc::new(Mutex::new(Log::default()));
    let l = log.clone();
    let server = start(tiny_buffers(), move |_| PausingEcho { log: l.clone() }).unwrap();
    let c = client(server.local_addrs()[0]);
    let data = pattern(11, 8 << 20);
    let mut writer = c.try_clone().unwrap();
    let d = data.clone();
    // The client writes 8 MiB before reading anything back: the server's queue must fill,
    // reading must pause, and resume when the client catches up.
    let w = std::thread::spawn(move || send(&mut writer, &d));
    wait_until("the echo queue over the high water mark", || {
        !log.lock().unwrap().pressure.is_empty()
    });
    let mut reader = c;
    let got = read_n(&mut reader, data.len());
    w.join().unwrap();
    assert!(got == data, "echo differs");
    let pressure = log.lock().unwrap().pressure.clone();
    assert!(
        pressure.len() >= 2 && pressure[0] == Pressure::High,
        "{pressure:?}"
    );
    assert_eq!(
        pressure.iter().filter(|p| **p == Pressure::High).count(),
        pressure.iter().filter(|p| **p == Pressure::Drained).count()
    );
}

#[test]
fn peer_reset_mid_write_is_cleaned_up_once() {
    let log = Arc::new(Mutex::new(Log::default()));
    let data = Arc::new(pattern(3, CHUNK * CHUNKS));
    let (l, d) = (log.clone(), data.clone());
    let server = start(tiny_buffers(), move |_| Producer {
        log: l.clone(),
        data: d.clone(),
    })
    .unwrap();
    for _ in 0..20 {
        let mut c = client(server.local_addrs()[0]);
        send(&mut c, b"?");
        let _ = read_n(&mut c, 10_000);
        // SO_LINGER 0: close sends RST while the server still has megabytes queued.
        socket2::SockRef::from(&c)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(c);
    }
    wait_until("20 closes", || log.lock().unwrap().closes.len() == 20);
    // Kept on purpose: a second close of the same connection must NOT arrive; give it time to.
    std::thread::sleep(Duration::from_millis(100));
    let log = log.lock().unwrap();
    for (id, reasons) in &log.closes {
        assert_eq!(reasons.len(), 1, "{id:?} closed once");
        assert!(
            matches!(reasons[0], CloseReason::Error(k) if k == std::io::ErrorKind::ConnectionReset || k == std::io::ErrorKind::BrokenPipe),
            "{reasons:?}"
        );
    }
}

struct EchoLog {
    log: Arc<Mutex<Log>>,
}

impl Handler for EchoLog {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<()> {
        Some(())
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), data: &mut [u8]) {
        ctx.write_vectored(id, &[b"<", data, b">"]).unwrap();
    }
    fn on_close(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: (), reason: CloseReason) {
        self.log
            .lock()
            .unwrap()
            .closes
            .entry((ctx.reactor_index(), id))
            .or_default()
            .push(reason);
    }
}

#[test]
fn idle_peer_reset_and_orderly_close_are_reported() {
    let log = Arc::new(Mutex::new(Log::default()));
    let l = log.clone();
    let config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 1,
        ..Config::default()
    };
    let server = start(config, move |_| EchoLog { log: l.clone() }).unwrap();
    let addr = server.local_addrs()[0];
    let mut a = client(addr);
    send(&mut a, b"ab");
    assert_eq!(read_n(&mut a, 4), b"<ab>");
    socket2::SockRef::from(&a)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(a);
    wait_until("reset seen", || log.lock().unwrap().closes.len() == 1);
    let mut b = client(addr);
    send(&mut b, b"c");
    b.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(
        read_to_end(&mut b),
        b"<c>",
        "default on_eof flushes, then closes"
    );
    wait_until("orderly close seen", || {
        log.lock().unwrap().closes.len() == 2
    });
    let log = log.lock().unwrap();
    let mut reasons: Vec<_> = log.closes.values().map(|r| r[0]).collect();
    reasons.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(
        reasons,
        vec![
            CloseReason::Error(std::io::ErrorKind::ConnectionReset),
            CloseReason::PeerClosed
        ]
    );
}

/// Pauses reading at once: only an error event can tell it the peer is gone.
struct Paused {
    log: Arc<Mutex<Log>>,
}

impl Handler for Paused {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<()> {
        ctx.pause_read(id);
        assert!(ctx.is_read_paused(id));
        self.log.lock().unwrap().accepted += 1;
        Some(())
    }
    fn on_data(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: &mut [u8]) {
        panic!("reading is paused");
    }
    fn on_close(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: (), reason: CloseReason) {
        self.log
            .lock()
            .unwrap()
            .closes
            .entry((ctx.reactor_index(), id))
            .or_default()
            .push(reason);
    }
}

#[test]
fn a_reset_is_noticed_while_reading_is_paused() {
    let log = Arc::new(Mutex::new(Log::default()));
    let l = log.clone();
    let config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 1,
        ..Config::default()
    };
    let server = start(config, move |_| Paused { log: l.clone() }).unwrap();
    let mut c = client(server.local_addrs()[0]);
    send(&mut c, b"unread");
    // The reset must come after the server accepted (and paused) the connection.
    wait_until("the connection accepted", || {
        log.lock().unwrap().accepted == 1
    });
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c);
    wait_until("reset seen", || !log.lock().unwrap().closes.is_empty());
    let reasons: Vec<_> = log
        .lock()
        .unwrap()
        .closes
        .values()
        .flatten()
        .copied()
        .collect();
    assert_eq!(
        reasons,
        vec![CloseReason::Error(std::io::ErrorKind::ConnectionReset)]
    );
}

/// Transforms the input where it lies (as a WebSocket server unmasks) and writes it back.
struct UpcaseInPlace;

impl Handler for UpcaseInPlace {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<()> {
        Some(())
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), data: &mut [u8]) {
        data.make_ascii_uppercase();
        ctx.write(id, data).unwrap();
    }
}

#[test]
fn input_can_be_rewritten_in_the_read_buffer() {
    let config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 1,
        ..Config::default()
    };
    let server = start(config, |_| UpcaseInPlace).unwrap();
    let addr = server.local_addrs()[0];
    let mut a = client(addr);
    let mut b = client(addr);
    // Two connections of one reactor share the buffer: each sees only its own bytes.
    send(&mut a, b"hello, ");
    assert_eq!(read_n(&mut a, 7), b"HELLO, ");
    send(&mut b, b"xy");
    assert_eq!(read_n(&mut b, 2), b"XY");
    send(&mut a, b"world");
    assert_eq!(read_n(&mut a, 5), b"WORLD");
    drop((a, b));
    server.shutdown_handle().shutdown();
    server.join().unwrap();
}
