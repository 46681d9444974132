//! Shutdown with connections open, the shutdown deadline, the connection limit, lingering close.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use switchyard_netio::{start, Accepted, Close, CloseReason, Config, ConnId, Ctx, Handler};

fn config(reactors: usize) -> Config {
    Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors,
        ..Config::default()
    }
}

/// Echoes; on shutdown says "bye" and closes after flushing, unless `stubborn`.
struct Polite {
    stubborn: bool,
    reasons: Arc<Mutex<Vec<CloseReason>>>,
}

impl Handler for Polite {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<()> {
        Some(())
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), data: &mut [u8]) {
        ctx.write(id, data).unwrap();
    }
    fn on_shutdown(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut ()) {
        assert!(ctx.is_shutting_down());
        if !self.stubborn {
            ctx.write(id, b"bye").unwrap();
            ctx.close(id, Close::AfterFlush);
        }
    }
    fn on_close(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: (), reason: CloseReason) {
        self.reasons.lock().unwrap().push(reason);
    }
}

#[test]
fn shutdown_with_connections_open_says_goodbye_to_each() {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let r = reasons.clone();
    let server = start(config(2), move |_| Polite {
        stubborn: false,
        reasons: r.clone(),
    })
    .unwrap();
    let addr = server.local_addrs()[0];
    let mut clients: Vec<_> = (0..30).map(|_| client(addr)).collect();
    for c in &mut clients {
        send(c, b"hi");
        assert_eq!(read_n(c, 2), b"hi");
    }
    let handle = server.shutdown_handle();
    let t0 = Instant::now();
    std::thread::spawn(move || handle.shutdown());
    for mut c in clients {
        assert_eq!(read_to_end(&mut c), b"bye");
        // Dropping the client ends the server's lingering close.
    }
    server.join().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "no wait for the deadline: {:?}",
        t0.elapsed()
    );
    let reasons = reasons.lock().unwrap();
    assert_eq!(reasons.len(), 30);
    assert_eq!(*reasons, vec![CloseReason::Requested; 30]);
    let refused = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(
        refused.kind(),
        ErrorKind::ConnectionRefused,
        "listeners closed"
    );
}

#[test]
fn shutdown_deadline_closes_what_is_left() {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let r = reasons.clone();
    let cfg = Config {
        shutdown_timeout: Duration::from_millis(300),
        ..config(2)
    };
    let server = start(cfg, move |_| Polite {
        stubborn: true,
        reasons: r.clone(),
    })
    .unwrap();
    let mut clients: Vec<_> = (0..10).map(|_| client(server.local_addrs()[0])).collect();
    for c in &mut clients {
        send(c, b"x");
        assert_eq!(read_n(c, 1), b"x");
    }
    let t0 = Instant::now();
    server.shutdown();
    server.join().unwrap();
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let reasons = reasons.lock().unwrap();
    assert_eq!(*reasons, vec![CloseReason::Timeout; 10]);
    for c in &mut clients {
        assert_eq!(read_to_end(c), b"");
    }
}

#[test]
fn dropping_the_reactors_shuts_them_down() {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let r = reasons.clone();
    let server = start(config(1), move |_| Polite {
        stubborn: false,
        reasons: r.clone(),
    })
    .unwrap();
    let mut c = client(server.local_addrs()[0]);
    send(&mut c, b"1");
    assert_eq!(read_n(&mut c, 1), b"1");
    drop(server);
    assert_eq!(read_to_end(&mut c), b"bye");
}

/// Answers "503" and closes connections over the limit; others get "ok". With `keep_over`,
/// over-limit connections are kept open instead (to exercise the grace bound).
struct Limited {
    keep_over: bool,
}

impl Handler for Limited {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, info: &Accepted) -> Option<()> {
        if info.over_limit {
            if !self.keep_over {
                ctx.write(id, b"503").unwrap();
                ctx.close(id, Close::AfterFlush);
            }
        } else {
            ctx.write(id, b"ok!").unwrap();
        }
        Some(())
    }
    fn on_data(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: &mut [u8]) {}
}

#[test]
fn connection_limit_lets_the_handler_answer_then_close() {
    let cfg = Config {
        max_connections: 4,
        ..config(2)
    };
    let server = start(cfg, |_| Limited { keep_over: false }).unwrap();
    let addr = server.local_addrs()[0];
    let mut admitted: Vec<_> = (0..4).map(|_| client(addr)).collect();
    for c in &mut admitted {
        assert_eq!(read_n(c, 3), b"ok!");
    }
    for _ in 0..3 {
        assert_eq!(read_to_end(&mut client(addr)), b"503");
    }
    drop(admitted.pop());
    // The freed slot is reused once the server has seen the close.
    wait_until("a slot frees", || {
        let mut c = client(addr);
        read_n(&mut c, 3) == b"ok!"
    });
}

#[test]
fn over_limit_connections_beyond_the_grace_are_closed_at_once() {
    let cfg = Config {
        max_connections: 1,
        over_limit_grace: 2,
        ..config(1)
    };
    let server = start(cfg, |_| Limited { keep_over: true }).unwrap();
    let addr = server.local_addrs()[0];
    let mut first = client(addr);
    assert_eq!(read_n(&mut first, 3), b"ok!");
    let kept: Vec<_> = (0..2).map(|_| client(addr)).collect();
    let mut third = client(addr);
    assert_eq!(read_to_end(&mut third), b"", "closed without a word");
    for mut k in kept {
        k.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let err = k.read(&mut [0; 1]).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "still open: {err}"
        );
    }
}

/// Answers the first input with a response and closes after flush, leaving later input unread.
struct OneShot {
    discarded_reads: Arc<AtomicUsize>,
}

impl Handler for OneShot {
    type Conn = bool;
    type Message = ();
    fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<bool> {
        Some(false)
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, answered: &mut bool, _: &mut [u8]) {
        assert!(!*answered, "no input is delivered after a close was asked");
        *answered = true;
        ctx.write_owned(id, vec![b'R'; 300_000]).unwrap();
        ctx.close(id, Close::AfterFlush);
        assert!(
            ctx.write(id, b"late").is_err(),
            "writes after close are refused"
        );
        self.discarded_reads.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn close_after_flush_lingers_so_unread_input_does_not_reset_the_response() {
    let d = Arc::new(AtomicUsize::new(0));
    let d2 = d.clone();
    let cfg = Config {
        send_buffer_size: Some(8192),
        ..config(1)
    };
    let server = start(cfg, move |_| OneShot {
        discarded_reads: d2.clone(),
    })
    .unwrap();
    let mut c = client(server.local_addrs()[0]);
    let mut w = c.try_clone().unwrap();
    // Keep sending while the server answers and closes: without a lingering close the unread
    // bytes would make the kernel reset the connection and destroy the response in flight.
    let writer = std::thread::spawn(move || {
        for _ in 0..200 {
            if w.write_all(&[b'q'; 1000]).is_err() {
                break;
            }
        }
        let _ = w.shutdown(std::net::Shutdown::Write);
    });
    let got = read_to_end(&mut c);
    writer.join().unwrap();
    assert_eq!(got.len(), 300_000);
    assert!(got.iter().all(|&b| b == b'R'));
    assert_eq!(d.load(Ordering::SeqCst), 1);
}

/// Close::Now drops what is queued.
struct Abrupt;

impl Handler for Abrupt {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<()> {
        ctx.write(id, b"never").unwrap();
        ctx.close(id, Close::Now);
        Some(())
    }
    fn on_data(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: &mut [u8]) {}
}

#[test]
fn close_now_discards_corked_output() {
    let server = start(config(1), |_| Abrupt).unwrap();
    let mut c = client(server.local_addrs()[0]);
    let mut v = Vec::new();
    let r = c.read_to_end(&mut v);
    assert!(v.is_empty(), "{v:?}");
    assert!(r.is_ok() || r.unwrap_err().kind() == ErrorKind::ConnectionReset);
}

/// Answers and closes after flush at once.
struct Answer {
    closed: Arc<Mutex<Option<(Instant, CloseReason)>>>,
}

impl Handler for Answer {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<()> {
        ctx.write(id, b"done").unwrap();
        ctx.close(id, Close::AfterFlush);
        Some(())
    }
    fn on_data(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: &mut [u8]) {}
    fn on_close(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: (), reason: CloseReason) {
        *self.closed.lock().unwrap() = Some((Instant::now(), reason));
    }
}

#[test]
fn linger_bounds_a_close_after_flush_and_zero_skips_it() {
    for (linger, expect) in [
        (Duration::from_secs(1), CloseReason::Timeout),
        (Duration::ZERO, CloseReason::Requested),
    ] {
        let closed = Arc::new(Mutex::new(None));
        let c2 = closed.clone();
        let server = start(
            Config {
                linger,
                ..config(1)
            },
            move |_| Answer { closed: c2.clone() },
        )
        .unwrap();
        let t0 = Instant::now();
        let mut c = client(server.local_addrs()[0]);
        // The client reads the answer and EOF but keeps its side open.
        assert_eq!(read_to_end(&mut c), b"done");
        wait_until("close", || closed.lock().unwrap().is_some());
        let (at, reason) = closed.lock().unwrap().unwrap();
        assert_eq!(reason, expect);
        let took = at - t0;
        if linger.is_zero() {
            assert!(took < Duration::from_millis(900), "{took:?}");
        } else {
            assert!(took >= linger, "{took:?}");
        }
    }
}
