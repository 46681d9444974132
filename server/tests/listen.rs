//! Two servers on one address: the second fails naming the address unless both share the port
//! (`--reuse-port`).

mod common;

use clap::Parser as _;
use switchyard::config::{Cli, Config};
use switchyard::Server;

fn config(listen: &str, extra: &[&str]) -> Config {
    let mut args = vec![
        "switchyard",
        "--listen",
        listen,
        "--workers",
        "2",
        "--no-pin",
    ];
    args.extend_from_slice(extra);
    Config::from_cli(Cli::try_parse_from(args).unwrap()).unwrap()
}

#[test]
fn a_second_server_on_an_address_in_use_fails_naming_it() {
    let first = Server::start(config("127.0.0.1:0", &[])).unwrap();
    let addr = first.local_addrs()[0];
    let e = Server::start(config(&addr.to_string(), &[])).expect_err("the second start fails");
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    assert!(
        e.to_string().contains(&addr.to_string()),
        "{e} names {addr}"
    );
    // The first still serves.
    assert_eq!(common::status(&common::http_get(addr, "/healthz")), 200);
}

#[test]
fn with_reuse_port_on_both_both_start() {
    let first = Server::start(config("127.0.0.1:0", &["--reuse-port"])).unwrap();
    let addr = first.local_addrs()[0];
    let second = Server::start(config(&addr.to_string(), &["--reuse-port"])).unwrap();
    assert_eq!(second.local_addrs(), &[addr]);
    // A second process without the flag is still refused.
    let e = Server::start(config(&addr.to_string(), &[])).expect_err("a non-sharing start fails");
    assert!(e.to_string().contains(&addr.to_string()), "{e}");
    for _ in 0..8 {
        assert_eq!(common::status(&common::http_get(addr, "/healthz")), 200);
    }
}
