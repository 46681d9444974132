//! A second set of reactors on an address already in use fails, naming the address, unless both
//! share the port with `Config::reuse_port`; one set's reactors each still get their own
//! listener.

use std::net::SocketAddr;

use switchyard_netio::{start, AcceptMode, Accepted, Balance, Config, ConnId, Ctx, Handler};

struct Nothing;

impl Handler for Nothing {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<()> {
        Some(())
    }
    fn on_data(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: &mut [u8]) {}
}

fn config(addr: SocketAddr, accept: AcceptMode, reuse_port: bool) -> Config {
    Config {
        listen: vec![addr],
        reactors: 2,
        pin: false,
        accept,
        reuse_port,
        ..Config::default()
    }
}

#[test]
fn second_start_on_a_used_address_fails_naming_it() {
    for accept in [
        AcceptMode::ReusePort,
        AcceptMode::Acceptor(Balance::RoundRobin),
    ] {
        for reactors in [1, 2] {
            let first = config("127.0.0.1:0".parse().unwrap(), accept, false);
            let first = start(Config { reactors, ..first }, |_| Nothing).unwrap();
            let addr = first.local_addrs()[0];
            let second = config(addr, accept, false);
            let Err(e) = start(second, |_| Nothing) else {
                panic!("{accept:?} x{reactors}: a second start on {addr} succeeded");
            };
            assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
            assert!(
                e.to_string().contains(&addr.to_string()),
                "{e} names {addr}"
            );
            assert!(
                e.to_string().contains("reuse_port"),
                "{e} names the way out"
            );
            // A single listener is bound without SO_REUSEPORT: not even a sharing start joins
            // it. (Several reactors' listeners are SO_REUSEPORT sockets, which the kernel lets
            // any process of the same user join that asks to share: see Config::reuse_port.)
            if accept != AcceptMode::ReusePort || reactors == 1 {
                let sharing = config(addr, accept, true);
                let Err(e) = start(sharing, |_| Nothing) else {
                    panic!("{accept:?} x{reactors}: a sharing start joined an exclusive listener");
                };
                assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
                assert!(
                    e.to_string().contains(&addr.to_string()),
                    "{e} names {addr}"
                );
            }
            // The first still serves.
            std::net::TcpStream::connect(addr).unwrap();
        }
    }
}

#[test]
fn both_start_when_both_share_the_port() {
    let first = start(
        config("127.0.0.1:0".parse().unwrap(), AcceptMode::ReusePort, true),
        |_| Nothing,
    )
    .unwrap();
    let addr = first.local_addrs()[0];
    let second = start(config(addr, AcceptMode::ReusePort, true), |_| Nothing).unwrap();
    assert_eq!(second.local_addrs(), &[addr]);
    std::net::TcpStream::connect(addr).unwrap();
}

#[test]
fn port_zero_without_sharing_gives_each_reactor_a_listener_on_one_port() {
    // Four reactors on one port: the probe resolved port 0 and every reactor bound that port.
    let reactors = start(
        Config {
            reactors: 4,
            ..config("127.0.0.1:0".parse().unwrap(), AcceptMode::ReusePort, false)
        },
        |_| Nothing,
    )
    .unwrap();
    let addr = reactors.local_addrs()[0];
    assert_ne!(addr.port(), 0);
    let clients: Vec<_> = (0..32)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    drop(clients);
}
