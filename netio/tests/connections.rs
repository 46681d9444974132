//! Many concurrent connections spread over reactors, in every accept mode, all echoed intact.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use switchyard_netio::{start, AcceptMode, Accepted, Balance, Config, ConnId, Ctx, Handler};

struct Echo {
    reactor: usize,
    accepted: Arc<[AtomicUsize]>,
    closed: Arc<AtomicUsize>,
}

impl Handler for Echo {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<()> {
        self.accepted[self.reactor].fetch_add(1, Ordering::SeqCst);
        Some(())
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), data: &mut [u8]) {
        ctx.write(id, data).unwrap();
    }
    fn on_close(
        &mut self,
        _: &mut Ctx<'_, Self>,
        _: ConnId,
        _: (),
        _: switchyard_netio::CloseReason,
    ) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

fn many_connections(mode: AcceptMode) {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 40;
    const ROUNDS: usize = 8;
    const CHUNK: usize = 700;
    let accepted: Arc<[AtomicUsize]> = (0..2).map(|_| AtomicUsize::new(0)).collect();
    let closed = Arc::new(AtomicUsize::new(0));
    let (a, c) = (accepted.clone(), closed.clone());
    let config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 2,
        accept: mode,
        ..Config::default()
    };
    let server = start(config, move |info| Echo {
        reactor: info.index,
        accepted: a.clone(),
        closed: c.clone(),
    })
    .unwrap();
    let addr = server.local_addrs()[0];
    let clients: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut conns: Vec<_> = (0..PER_THREAD).map(|_| client(addr)).collect();
                let data: Vec<Vec<u8>> = (0..PER_THREAD)
                    .map(|i| pattern((t * 1000 + i) as u64, ROUNDS * CHUNK))
                    .collect();
                // Interleave: every connection has data in flight at once.
                for r in 0..ROUNDS {
                    for (s, d) in conns.iter_mut().zip(&data) {
                        send(s, &d[r * CHUNK..(r + 1) * CHUNK]);
                    }
                }
                for (s, d) in conns.iter_mut().zip(&data) {
                    assert_eq!(&read_n(s, d.len()), d, "echo intact");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let total = THREADS * PER_THREAD;
    wait_until("every close seen", || {
        closed.load(Ordering::SeqCst) == total
    });
    let per: Vec<usize> = accepted.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    assert_eq!(per.iter().sum::<usize>(), total);
    assert!(
        per.iter().all(|&n| n > 0),
        "both reactors served connections: {per:?}"
    );
    if mode == AcceptMode::Acceptor(Balance::RoundRobin) {
        assert_eq!(per[0], per[1], "round robin alternates");
    }
    server.shutdown();
    server.join().unwrap();
}

#[test]
fn many_connections_reuseport() {
    many_connections(AcceptMode::ReusePort);
}

#[test]
fn many_connections_acceptor_round_robin() {
    many_connections(AcceptMode::Acceptor(Balance::RoundRobin));
}

#[test]
fn many_connections_acceptor_least_loaded() {
    many_connections(AcceptMode::Acceptor(Balance::LeastLoaded));
}

#[test]
fn several_listen_addresses_each_report_their_index() {
    struct Which;
    impl Handler for Which {
        type Conn = ();
        type Message = ();
        fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, info: &Accepted) -> Option<()> {
            ctx.write(id, &[info.listener as u8]).unwrap();
            ctx.close(id, switchyard_netio::Close::AfterFlush);
            Some(())
        }
        fn on_data(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: &mut [u8]) {}
    }
    for mode in [
        AcceptMode::ReusePort,
        AcceptMode::Acceptor(Balance::RoundRobin),
    ] {
        let config = Config {
            listen: vec![
                "127.0.0.1:0".parse().unwrap(),
                "127.0.0.1:0".parse().unwrap(),
            ],
            reactors: 2,
            accept: mode,
            ..Config::default()
        };
        let server = start(config, |_| Which).unwrap();
        for (i, &addr) in server.local_addrs().iter().enumerate() {
            for _ in 0..4 {
                assert_eq!(read_to_end(&mut client(addr)), vec![i as u8]);
            }
        }
    }
}

#[test]
fn ipv6_loopback_in_both_accept_modes() {
    for mode in [
        AcceptMode::ReusePort,
        AcceptMode::Acceptor(Balance::LeastLoaded),
    ] {
        let accepted: Arc<[AtomicUsize]> = (0..2).map(|_| AtomicUsize::new(0)).collect();
        let closed = Arc::new(AtomicUsize::new(0));
        let config = Config {
            listen: vec!["[::1]:0".parse().unwrap()],
            reactors: 2,
            accept: mode,
            ..Config::default()
        };
        let server = start(config, move |info| Echo {
            reactor: info.index,
            accepted: accepted.clone(),
            closed: closed.clone(),
        })
        .unwrap();
        let addr = server.local_addrs()[0];
        assert!(addr.is_ipv6());
        let mut c = client(addr);
        send(&mut c, b"v6");
        assert_eq!(read_n(&mut c, 2), b"v6");
    }
}
