//! Timers on the reactor, and mailboxes between threads and reactors (a broadcast fan-out).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use switchyard_netio::{
    start, Accepted, CloseReason, Config, ConnId, Ctx, Handler, SharedBytes, TimerId,
};

fn config(reactors: usize) -> Config {
    Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors,
        ..Config::default()
    }
}

/// On accept: timers 1 (60 ms), 2 (120 ms, cancelled at once), 3 (180 ms, cancelled by timer 1).
struct Timed {
    fired: Arc<Mutex<Vec<(u64, Duration)>>>,
}

struct TimedConn {
    start: Instant,
    third: TimerId,
}

impl Handler for Timed {
    type Conn = TimedConn;
    type Message = ();
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<TimedConn> {
        ctx.set_timer(id, Duration::from_millis(60), 1);
        let second = ctx.set_timer(id, Duration::from_millis(120), 2);
        assert!(ctx.cancel_timer(second));
        assert!(!ctx.cancel_timer(second), "cancel twice");
        let third = ctx.set_timer(id, Duration::from_millis(180), 3);
        ctx.set_timer(id, Duration::from_millis(240), 4);
        Some(TimedConn {
            start: Instant::now(),
            third,
        })
    }
    fn on_data(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut TimedConn, _: &mut [u8]) {}
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: &mut TimedConn, tag: u64) {
        self.fired.lock().unwrap().push((tag, conn.start.elapsed()));
        if tag == 1 {
            assert!(ctx.cancel_timer(conn.third));
        }
        ctx.write(id, &[tag as u8]).unwrap();
    }
}

#[test]
fn timers_fire_after_their_delay_and_cancelled_ones_never() {
    let fired = Arc::new(Mutex::new(Vec::new()));
    let f = fired.clone();
    let server = start(config(1), move |_| Timed { fired: f.clone() }).unwrap();
    let mut c = client(server.local_addrs()[0]);
    assert_eq!(read_n(&mut c, 2), vec![1, 4]);
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let err = c.read(&mut [0; 1]).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut
    ));
    let fired = fired.lock().unwrap();
    assert_eq!(fired.iter().map(|f| f.0).collect::<Vec<_>>(), vec![1, 4]);
    assert!(fired[0].1 >= Duration::from_millis(60), "{:?}", fired[0]);
    assert!(fired[1].1 >= Duration::from_millis(240), "{:?}", fired[1]);
}

/// Timer of a connection that closed before it fired.
struct Orphan {
    fired: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl Handler for Orphan {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<()> {
        ctx.set_timer(id, Duration::from_millis(50), 0);
        Some(())
    }
    fn on_data(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: &mut [u8]) {}
    fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: u64) {
        self.fired.fetch_add(1, Ordering::SeqCst);
    }
    fn on_close(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: (), _: CloseReason) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_closed_connections_timer_is_dropped_even_if_its_slot_is_reused() {
    let fired = Arc::new(AtomicUsize::new(0));
    let f = fired.clone();
    let closed = Arc::new(AtomicUsize::new(0));
    let c = closed.clone();
    let server = start(config(1), move |_| Orphan {
        fired: f.clone(),
        closed: c.clone(),
    })
    .unwrap();
    let addr = server.local_addrs()[0];
    drop(client(addr)); // its timer is pending; it closes at once
    wait_until("the first connection's close", || {
        closed.load(Ordering::SeqCst) == 1
    });
    let _kept = client(addr); // likely reuses the slab slot
    wait_until("the live connection's timer", || {
        fired.load(Ordering::SeqCst) >= 1
    });
    // Kept on purpose: the orphan's timer must NOT fire; give a late one time to show.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        fired.load(Ordering::SeqCst),
        1,
        "only the live connection's timer fired"
    );
}

/// Broadcast: a client line "pub" sends the rest to every reactor's mailbox; each reactor
/// writes the one shared buffer to all its connections.
struct Hub {
    conns: Vec<ConnId>,
    messages: Arc<AtomicUsize>,
}

impl Handler for Hub {
    type Conn = ();
    type Message = SharedBytes;
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<()> {
        self.conns.push(id);
        ctx.write(id, b"+").unwrap();
        Some(())
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), data: &mut [u8]) {
        let msg = SharedBytes::from(&*data); // encoded once
        for m in ctx.mailboxes() {
            m.send(msg.clone()).unwrap();
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, msg: SharedBytes) {
        self.messages.fetch_add(1, Ordering::SeqCst);
        for &id in &self.conns {
            let _ = ctx.write_shared(id, msg.clone());
        }
    }
    fn on_close(
        &mut self,
        _: &mut Ctx<'_, Self>,
        id: ConnId,
        _: (),
        _: switchyard_netio::CloseReason,
    ) {
        self.conns.retain(|c| *c != id);
    }
}

#[test]
fn broadcast_through_mailboxes_reaches_every_connection_on_every_reactor() {
    let messages = Arc::new(AtomicUsize::new(0));
    let m = messages.clone();
    let cfg = Config {
        accept: switchyard_netio::AcceptMode::Acceptor(switchyard_netio::Balance::RoundRobin),
        ..config(2)
    };
    let server = start(cfg, move |_| Hub {
        conns: Vec::new(),
        messages: m.clone(),
    })
    .unwrap();
    let mut clients: Vec<_> = (0..10).map(|_| client(server.local_addrs()[0])).collect();
    for c in &mut clients {
        assert_eq!(read_n(c, 1), b"+");
    }
    send(&mut clients[3], b"hello all");
    for c in &mut clients {
        assert_eq!(read_n(c, 9), b"hello all");
    }
    assert_eq!(
        messages.load(Ordering::SeqCst),
        2,
        "one message per reactor"
    );
}

/// Counts messages from outside threads and checks their order per sender.
struct Counter {
    last: Vec<Option<u64>>,
    total: Arc<AtomicUsize>,
}

impl Handler for Counter {
    type Conn = ();
    type Message = (usize, u64);
    fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<()> {
        None
    }
    fn on_data(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: &mut [u8]) {}
    fn on_message(&mut self, _: &mut Ctx<'_, Self>, (sender, seq): (usize, u64)) {
        assert_eq!(
            self.last[sender].map_or(0, |l| l + 1),
            seq,
            "in order per sender"
        );
        self.last[sender] = Some(seq);
        self.total.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn mailbox_delivers_every_message_in_order_from_many_threads() {
    const SENDERS: usize = 4;
    const EACH: u64 = 20_000;
    let total = Arc::new(AtomicUsize::new(0));
    let t = total.clone();
    let server = start(config(2), move |_| Counter {
        last: vec![None; SENDERS],
        total: t.clone(),
    })
    .unwrap();
    let threads: Vec<_> = (0..SENDERS)
        .map(|s| {
            let boxes = server.mailboxes().to_vec();
            std::thread::spawn(move || {
                for seq in 0..EACH {
                    for b in &boxes {
                        b.send((s, seq)).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    wait_until("every message", || {
        total.load(Ordering::SeqCst) == SENDERS * EACH as usize * 2
    });
    server.shutdown();
    let boxes = server.mailboxes().to_vec();
    server.join().unwrap();
    assert_eq!(
        boxes[0].send((0, 0)),
        Err((0, 0)),
        "a stopped reactor's mailbox gives the message back"
    );
}

/// A periodic reactor timer armed in `on_start`, re-armed in its callback.
struct Ticker {
    ticks: Arc<AtomicUsize>,
    left: u32,
}

impl Handler for Ticker {
    type Conn = ();
    type Message = ();
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_reactor_timer(Duration::from_millis(20), 7);
    }
    fn on_reactor_timer(&mut self, ctx: &mut Ctx<'_, Self>, tag: u64) {
        assert_eq!(tag, 7);
        self.ticks.fetch_add(1, Ordering::SeqCst);
        self.left -= 1;
        if self.left > 0 {
            ctx.set_reactor_timer(Duration::from_millis(20), 7);
        }
    }
    fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<()> {
        None
    }
    fn on_data(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: &mut [u8]) {}
}

#[test]
fn reactor_timers_tick_from_on_start() {
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = ticks.clone();
    let t0 = Instant::now();
    let server = start(config(2), move |_| Ticker {
        ticks: t.clone(),
        left: 5,
    })
    .unwrap();
    wait_until("5 ticks per reactor", || ticks.load(Ordering::SeqCst) == 10);
    assert!(t0.elapsed() >= Duration::from_millis(100));
    // Kept on purpose: no further tick must come; 60 ms is three periods.
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(
        ticks.load(Ordering::SeqCst),
        10,
        "no tick after the last re-arm"
    );
    drop(server);
}

/// On accept: a 300 ms and a 60 s timer. Reports the reactor's pending timers on each byte
/// received (answering with one byte) and in `on_close`, where it also tries to set a timer
/// for the closed connection.
struct Counted {
    fired: Arc<AtomicUsize>,
    pending: Arc<Mutex<Vec<(&'static str, usize)>>>,
}

impl Handler for Counted {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<()> {
        ctx.set_timer(id, Duration::from_millis(300), 0);
        ctx.set_timer(id, Duration::from_secs(60), 1);
        Some(())
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), _: &mut [u8]) {
        let pending = ctx.pending_timers();
        self.pending.lock().unwrap().push(("data", pending));
        ctx.write(id, b"+").unwrap();
    }
    fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: u64) {
        self.fired.fetch_add(1, Ordering::SeqCst);
    }
    fn on_close(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: (), _: CloseReason) {
        let pending = ctx.pending_timers();
        let dead = ctx.set_timer(id, Duration::from_millis(1), 2);
        assert!(
            !ctx.cancel_timer(dead),
            "nothing was set for a closed connection"
        );
        let after = ctx.pending_timers();
        let mut log = self.pending.lock().unwrap();
        log.push(("close", pending));
        log.push(("set after close", after));
    }
}

#[test]
fn a_closed_connections_timers_leave_the_wheel_at_once_and_never_fire() {
    let fired = Arc::new(AtomicUsize::new(0));
    let pending = Arc::new(Mutex::new(Vec::new()));
    let (f, p) = (fired.clone(), pending.clone());
    let server = start(config(1), move |_| Counted {
        fired: f.clone(),
        pending: p.clone(),
    })
    .unwrap();
    let addr = server.local_addrs()[0];
    let exchange = |c: &mut std::net::TcpStream| {
        c.write_all(b"x").unwrap();
        assert_eq!(read_n(c, 1), b"+");
    };
    let log_len = |n: usize| {
        let pending = &pending;
        move || pending.lock().unwrap().len() >= n
    };
    let mut a = client(addr);
    exchange(&mut a);
    let mut b = client(addr);
    exchange(&mut b);
    drop(a); // two timers pending, one due in 300 ms
    wait_until("the first close", log_len(4));
    let mut c = client(addr); // likely in the first connection's slab slot
    exchange(&mut c);
    drop((b, c));
    wait_until("both other closes", log_len(9));
    // Past the short timers' deadline: none of a closed connection's fired.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        fired.load(Ordering::SeqCst),
        0,
        "a closed connection's timer fired"
    );
    let log = pending.lock().unwrap().clone();
    assert_eq!(
        &log[..5],
        [
            ("data", 2),
            ("data", 4),
            ("close", 2),
            ("set after close", 2),
            ("data", 4),
        ],
        "{log:?}"
    );
    assert_eq!(
        log[5..].iter().map(|e| e.0).collect::<Vec<_>>(),
        ["close", "set after close", "close", "set after close"],
        "{log:?}"
    );
    assert_eq!(
        log[8],
        ("set after close", 0),
        "the wheel is empty: {log:?}"
    );
}
