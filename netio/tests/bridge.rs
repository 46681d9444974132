//! Outbound connections on the same reactor and connections addressing each other by id: the
//! shape of the server's TCP bridge, with backpressure across the pair.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use common::*;
use switchyard_netio::{
    start, Accepted, Close, CloseReason, Config, ConnId, Ctx, Handler, Pressure,
};

/// Each accepted client is tied to a fresh backend connection; bytes flow both ways; when one
/// side's output is over the high water mark the other side stops reading.
struct Bridge {
    backend: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

struct Side {
    peer: Option<ConnId>,
    is_client: bool,
}

impl Handler for Bridge {
    type Conn = Side;
    type Message = ();
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<Side> {
        match ctx.connect(
            self.backend,
            Side {
                peer: Some(id),
                is_client: false,
            },
        ) {
            Ok(b) => Some(Side {
                peer: Some(b),
                is_client: true,
            }),
            Err(e) => {
                self.log.lock().unwrap().push(format!("connect: {e}"));
                None
            }
        }
    }
    fn on_connect(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        side: &mut Side,
        r: std::io::Result<()>,
    ) {
        self.log
            .lock()
            .unwrap()
            .push(format!("connect {:?}", r.as_ref().map_err(|e| e.kind())));
        if r.is_err() {
            let client = side.peer.take().unwrap();
            let _ = ctx.write(client, b"backend down");
            ctx.close(client, Close::AfterFlush);
        } else {
            let client = side.peer.unwrap();
            assert!(
                ctx.state(client).unwrap().is_client,
                "state of the peer is reachable"
            );
            assert!(
                ctx.state(id).is_none(),
                "own state is the argument, not in the slab"
            );
        }
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, _: ConnId, side: &mut Side, data: &mut [u8]) {
        if let Some(p) = side.peer {
            let _ = ctx.write(p, data);
        }
    }
    fn on_eof(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, side: &mut Side) {
        if let Some(p) = side.peer {
            ctx.close(p, Close::AfterFlush);
        }
        ctx.close(id, Close::AfterFlush);
    }
    fn on_pressure(&mut self, ctx: &mut Ctx<'_, Self>, _: ConnId, side: &mut Side, p: Pressure) {
        self.log.lock().unwrap().push(format!(
            "{} {p:?}",
            if side.is_client { "client" } else { "backend" }
        ));
        if let Some(peer) = side.peer {
            match p {
                Pressure::High => ctx.pause_read(peer),
                Pressure::Drained => ctx.resume_read(peer),
            }
        }
    }
    fn on_close(&mut self, ctx: &mut Ctx<'_, Self>, _: ConnId, side: Side, reason: CloseReason) {
        self.log
            .lock()
            .unwrap()
            .push(format!("close {} {reason:?}", side.is_client));
        if let Some(p) = side.peer {
            ctx.close(p, Close::AfterFlush);
        }
    }
}

/// A backend that sends `prefix` bytes first, then echoes.
fn backend(prefix: Vec<u8>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let mut s = s.unwrap();
            let prefix = prefix.clone();
            std::thread::spawn(move || {
                s.write_all(&prefix).unwrap();
                let mut buf = [0; 8192];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => s.write_all(&buf[..n]).unwrap(),
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn bridge_pipes_both_ways_with_backpressure() {
    let big = pattern(5, 6 << 20);
    let log = Arc::new(Mutex::new(Vec::new()));
    let (l, b) = (log.clone(), backend(big.clone()));
    let cfg = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 2,
        send_buffer_size: Some(8192),
        write_high_water: 128 << 10,
        write_low_water: 32 << 10,
        ..Config::default()
    };
    let server = start(cfg, move |_| Bridge {
        backend: b,
        log: l.clone(),
    })
    .unwrap();
    let mut c = client(server.local_addrs()[0]);
    // Not reading yet: the backend's 6 MiB must fill the client side's queue first.
    wait_until("the client side to fill up", || {
        log.lock().unwrap().contains(&"client High".to_string())
    });
    assert!(read_n(&mut c, big.len()) == big, "backend bytes intact");
    send(&mut c, b"ping through the bridge");
    assert_eq!(read_n(&mut c, 23), b"ping through the bridge");
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut c), b"");
    wait_until("both sides closed", || {
        log.lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("close"))
            .count()
            == 2
    });
    let log = log.lock().unwrap();
    assert!(log.contains(&"connect Ok(())".to_string()), "{log:?}");
    assert!(
        log.contains(&"client High".to_string()),
        "the client side filled up: {log:?}"
    );
    assert!(log.contains(&"client Drained".to_string()), "{log:?}");
}

#[test]
fn failed_outbound_connect_is_reported_then_closed() {
    // A port that was just free: connecting is refused.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let cfg = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 1,
        ..Config::default()
    };
    let server = start(cfg, move |_| Bridge {
        backend: dead,
        log: l.clone(),
    })
    .unwrap();
    let mut c = client(server.local_addrs()[0]);
    assert_eq!(read_to_end(&mut c), b"backend down");
    wait_until("both closes", || {
        log.lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("close"))
            .count()
            == 2
    });
    let log = log.lock().unwrap();
    assert!(
        log.contains(&"connect Err(ConnectionRefused)".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"close false Error(ConnectionRefused)".to_string()),
        "{log:?}"
    );
}

/// Connects, writes and asks to close after flush before the connect has completed.
struct FireAndForget {
    backend: SocketAddr,
}

impl Handler for FireAndForget {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<()> {
        let b = ctx.connect(self.backend, ()).unwrap();
        ctx.write(b, b"queued before connect").unwrap();
        ctx.close(b, Close::AfterFlush);
        ctx.close(id, Close::Now);
        Some(())
    }
    fn on_data(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: &mut [u8]) {}
}

#[test]
fn writes_and_close_requested_while_connecting_complete_after_connect() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = l.local_addr().unwrap();
    let cfg = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 1,
        ..Config::default()
    };
    let server = start(cfg, move |_| FireAndForget { backend }).unwrap();
    let _c = client(server.local_addrs()[0]);
    let (mut b, _) = l.accept().unwrap();
    b.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(read_to_end(&mut b), b"queued before connect");
}

/// A tunnel that passes half-closes through: one side's EOF becomes a FIN to the other, and
/// the other's answer still flows; once both sides have seen EOF, both close.
struct HalfBridge {
    backend: SocketAddr,
    closes: Arc<Mutex<usize>>,
}

/// The other side of a tunnel, and whether this side's peer has sent EOF.
struct Tunnel {
    peer: ConnId,
    eof: bool,
}

impl Handler for HalfBridge {
    type Conn = Tunnel;
    type Message = ();
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<Tunnel> {
        let b = ctx
            .connect(
                self.backend,
                Tunnel {
                    peer: id,
                    eof: false,
                },
            )
            .ok()?;
        Some(Tunnel {
            peer: b,
            eof: false,
        })
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, _: ConnId, t: &mut Tunnel, data: &mut [u8]) {
        let _ = ctx.write(t.peer, data);
    }
    fn on_eof(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, t: &mut Tunnel) {
        t.eof = true;
        ctx.shutdown_write(t.peer);
        assert!(
            ctx.write(t.peer, b"late").is_err(),
            "writes after shutdown_write are refused"
        );
        if ctx.state(t.peer).is_some_and(|p| p.eof) {
            ctx.close(t.peer, Close::AfterFlush);
            ctx.close(id, Close::AfterFlush);
        }
    }
    fn on_close(&mut self, ctx: &mut Ctx<'_, Self>, _: ConnId, t: Tunnel, _: CloseReason) {
        *self.closes.lock().unwrap() += 1;
        ctx.close(t.peer, Close::AfterFlush);
    }
}

#[test]
fn half_close_passes_through_and_the_answer_still_arrives() {
    // A backend that reads to EOF, then answers with the byte count and closes.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        s.write_all(format!("got {} bytes", all.len()).as_bytes())
            .unwrap();
    });
    let closes = Arc::new(Mutex::new(0));
    let c2 = closes.clone();
    let cfg = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 1,
        ..Config::default()
    };
    let server = start(cfg, move |_| HalfBridge {
        backend,
        closes: c2.clone(),
    })
    .unwrap();
    let mut c = client(server.local_addrs()[0]);
    send(&mut c, &[7; 100_000]);
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut c), b"got 100000 bytes");
    wait_until("both sides closed", || *closes.lock().unwrap() == 2);
}
