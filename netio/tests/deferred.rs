//! Deferred writes (`Ctx::write_shared_deferred`, `Ctx::write_owned_deferred`): flushed once
//! per loop turn, in order with queued bytes and with the running callback's cork, counted in
//! the queues and the water marks at once, waited for by a close after flush, dropped by a
//! close now.
//!
//! One reactor; the first connection is the subscriber `S`, the second the publisher `P`,
//! whose one-byte commands make the handler act on `S`.

mod common;

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use switchyard_netio::{
    start, Accepted, Close, Config, ConnId, Ctx, Handler, Pressure, SharedBytes,
};

#[derive(Default)]
struct Log {
    /// `(queued(S), queued_total)` as seen by the publisher's commands.
    queued: Vec<(Option<usize>, usize)>,
    pressure: Vec<Pressure>,
    closed: usize,
}

struct Fanout {
    sub: Option<ConnId>,
    log: Arc<Mutex<Log>>,
    big: SharedBytes,
}

const BIG_PIECE: usize = 4096;
const BIG_PIECES: usize = 64;

impl Fanout {
    fn record(&self, ctx: &Ctx<'_, Self>, sub: ConnId) {
        let q = (ctx.queued(sub), ctx.queued_total());
        self.log.lock().unwrap().queued.push(q);
    }
}

impl Handler for Fanout {
    type Conn = bool; // true for the subscriber
    type Message = ();
    fn accept(&mut self, _: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<bool> {
        let is_sub = self.sub.is_none();
        self.sub.get_or_insert(id);
        Some(is_sub)
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, is_sub: &mut bool, data: &mut [u8]) {
        let sub = self.sub.unwrap();
        if *is_sub {
            // The subscriber's own callback: a corked write, after what was deferred for it.
            ctx.write(id, b"2").unwrap();
            return;
        }
        for &cmd in data.iter() {
            match cmd {
                // Five pieces, shared and owned: one write at the end of the turn.
                b'o' => {
                    for i in 0..5u8 {
                        if i % 2 == 0 {
                            let piece = SharedBytes::from(vec![b'0' + i]);
                            ctx.write_shared_deferred(sub, piece).unwrap();
                        } else {
                            ctx.write_owned_deferred(sub, vec![b'0' + i]).unwrap();
                        }
                    }
                    self.record(ctx, sub);
                }
                // Deferred to the running callback's own connection: joins its cork, in order.
                b'c' => {
                    ctx.write_shared_deferred(id, SharedBytes::from(b"a".to_vec()))
                        .unwrap();
                    ctx.write(id, b"b").unwrap();
                    ctx.write_owned_deferred(id, b"c".to_vec()).unwrap();
                }
                // The subscriber stops reading (its next bytes wait in the kernel).
                b'p' => ctx.pause_read(sub),
                // A deferred piece, then the subscriber's callback in the same turn corks "2".
                b'r' => {
                    ctx.write_shared_deferred(sub, SharedBytes::from(b"1".to_vec()))
                        .unwrap();
                    ctx.resume_read(sub);
                }
                // An immediate write that fills the socket, then deferred bytes behind it.
                b'f' => {
                    ctx.write_shared(sub, self.big.clone()).unwrap();
                    ctx.write_owned_deferred(sub, b"tail".to_vec()).unwrap();
                    self.record(ctx, sub);
                }
                // Deferred pieces past the high water mark.
                b'b' => {
                    for i in 0..BIG_PIECES {
                        let piece = self.big.slice(i * BIG_PIECE..(i + 1) * BIG_PIECE);
                        ctx.write_shared_deferred(sub, piece).unwrap();
                    }
                    self.record(ctx, sub);
                }
                // Deferred, then close after flush: the bytes, then EOF.
                b'a' => {
                    ctx.write_owned_deferred(sub, b"last words".to_vec())
                        .unwrap();
                    ctx.close(sub, Close::AfterFlush);
                }
                // Deferred, then close now: dropped, and no longer counted.
                b'n' => {
                    ctx.write_owned_deferred(sub, b"never".to_vec()).unwrap();
                    ctx.close(sub, Close::Now);
                    assert!(ctx.write_owned_deferred(sub, b"x".to_vec()).is_err());
                }
                // Bytes queued behind a full socket and deferred bytes, then close now: freed
                // and no longer counted at once, not when the removal runs after the callback
                // (a memory budget checked again before then would count them twice).
                b'k' => {
                    ctx.write_shared(sub, self.big.clone()).unwrap();
                    ctx.write_owned_deferred(sub, b"tail".to_vec()).unwrap();
                    ctx.close(sub, Close::Now);
                    self.record(ctx, sub);
                }
                b'q' => self.record(ctx, sub),
                _ => {}
            }
        }
    }
    fn on_pressure(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut bool, p: Pressure) {
        self.log.lock().unwrap().pressure.push(p);
    }
    fn on_close(
        &mut self,
        _: &mut Ctx<'_, Self>,
        _: ConnId,
        _: bool,
        _: switchyard_netio::CloseReason,
    ) {
        self.log.lock().unwrap().closed += 1;
    }
}

struct Setup {
    log: Arc<Mutex<Log>>,
    big: Vec<u8>,
    sub: std::net::TcpStream,
    publisher: std::net::TcpStream,
    _server: switchyard_netio::Reactors<()>,
}

fn setup(tiny: bool) -> Setup {
    let log = Arc::new(Mutex::new(Log::default()));
    let big = pattern(3, BIG_PIECE * BIG_PIECES);
    let mut config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 1,
        ..Config::default()
    };
    if tiny {
        config.send_buffer_size = Some(4096);
        config.recv_buffer_size = Some(4096);
        config.write_high_water = 64 << 10;
        config.write_low_water = 16 << 10;
    }
    let (l, b) = (log.clone(), SharedBytes::from(big.clone()));
    let server = start(config, move |_| Fanout {
        sub: None,
        log: l.clone(),
        big: b.clone(),
    })
    .unwrap();
    let addr = server.local_addrs()[0];
    let mut sub = client(addr);
    // Accepted first: the subscriber.
    send(&mut sub, b"?");
    read_n(&mut sub, 1); // its corked "2"
    let publisher = client(addr);
    Setup {
        log,
        big,
        sub,
        publisher,
        _server: server,
    }
}

fn queued(log: &Mutex<Log>, n: usize) -> Vec<(Option<usize>, usize)> {
    wait_until("records", || log.lock().unwrap().queued.len() >= n);
    log.lock().unwrap().queued.clone()
}

#[test]
fn deferred_pieces_arrive_in_order_and_count_in_the_queue_at_once() {
    let mut s = setup(false);
    send(&mut s.publisher, b"o");
    assert_eq!(read_n(&mut s.sub, 5), b"01234");
    // Counted at once (5 bytes, queue and reactor total); gone by the next turn.
    assert_eq!(queued(&s.log, 1)[0], (Some(5), 5));
    send(&mut s.publisher, b"q");
    assert_eq!(queued(&s.log, 2)[1], (Some(0), 0));
}

#[test]
fn deferred_writes_to_the_running_connection_keep_cork_order() {
    let mut s = setup(false);
    send(&mut s.publisher, b"c");
    assert_eq!(read_n(&mut s.publisher, 3), b"abc");
}

#[test]
fn a_corked_write_after_deferred_bytes_in_the_same_turn_follows_them() {
    let mut s = setup(false);
    send(&mut s.publisher, b"p");
    send(&mut s.publisher, b"q");
    queued(&s.log, 1);
    // Waits in the kernel until the resume, which reads it in the publisher's turn.
    send(&mut s.sub, b"x");
    std::thread::sleep(Duration::from_millis(50));
    send(&mut s.publisher, b"r");
    assert_eq!(read_n(&mut s.sub, 2), b"12");
}

#[test]
fn deferred_bytes_queue_behind_bytes_the_socket_did_not_take() {
    let mut s = setup(true);
    send(&mut s.publisher, b"f");
    let (q, total) = queued(&s.log, 1)[0];
    assert!(
        q.unwrap() > 4 && q == Some(total),
        "queued {q:?} of {total}"
    );
    let got = read_n(&mut s.sub, s.big.len() + 4);
    assert!(got[..s.big.len()] == s.big[..], "bytes differ");
    assert_eq!(&got[s.big.len()..], b"tail");
}

#[test]
fn deferred_bytes_past_the_high_water_mark_report_pressure_and_drain() {
    let mut s = setup(true);
    send(&mut s.publisher, b"b");
    let (q, _) = queued(&s.log, 1)[0];
    assert!(q.unwrap() > 64 << 10, "most of it queued: {q:?}");
    wait_until("high", || !s.log.lock().unwrap().pressure.is_empty());
    let mut got = vec![0u8; s.big.len()];
    s.sub.read_exact(&mut got).unwrap();
    assert!(got == s.big, "bytes differ");
    wait_until("drained", || s.log.lock().unwrap().pressure.len() == 2);
    assert_eq!(
        s.log.lock().unwrap().pressure,
        vec![Pressure::High, Pressure::Drained]
    );
    send(&mut s.publisher, b"q");
    assert_eq!(queued(&s.log, 2)[1], (Some(0), 0));
}

#[test]
fn a_close_after_flush_sends_deferred_bytes_first() {
    let mut s = setup(false);
    send(&mut s.publisher, b"a");
    assert_eq!(read_to_end(&mut s.sub), b"last words");
    drop(s.sub); // ends the linger
    wait_until("closed", || s.log.lock().unwrap().closed == 1);
}

#[test]
fn a_close_now_drops_deferred_bytes_and_their_count() {
    let mut s = setup(false);
    send(&mut s.publisher, b"n");
    let mut rest = Vec::new();
    // EOF or a reset: either way none of the deferred bytes.
    let _ = s.sub.read_to_end(&mut rest);
    assert!(rest.is_empty(), "got {rest:?}");
    wait_until("closed", || s.log.lock().unwrap().closed == 1);
    send(&mut s.publisher, b"q");
    assert_eq!(queued(&s.log, 1)[0], (None, 0));
}

#[test]
fn a_close_now_frees_a_queue_behind_a_full_socket_at_once() {
    let mut s = setup(true);
    send(&mut s.publisher, b"k");
    assert_eq!(queued(&s.log, 1)[0], (None, 0));
    wait_until("closed", || s.log.lock().unwrap().closed == 1);
    send(&mut s.publisher, b"q");
    assert_eq!(queued(&s.log, 2)[1], (None, 0));
}
