//! Graceful shutdown: stop accepting, every client sees close 1001, the server exits within its
//! deadline.

mod common;

use common::*;
use std::time::{Duration, Instant};
use tungstenite::Message;

#[test]
fn every_client_sees_1001_and_the_server_exits_in_time() {
    let mut server = TestServer::start(&["--shutdown-timeout", "3"]);
    let mut clients: Vec<_> = (0..4).map(|_| ws(&server, "/echo")).collect();
    clients.extend((0..4).map(|_| ws(&server, "/broadcast")));
    for c in clients.iter_mut() {
        c.send(Message::text("before")).unwrap();
    }
    for c in clients.iter_mut() {
        next_data(c);
    }
    let addr = server.addr;
    let start = Instant::now();
    let stopper = std::thread::spawn(move || {
        server.shutdown();
        start.elapsed()
    });
    for c in clients.iter_mut() {
        assert_eq!(close_code(c), 1001);
    }
    let took = stopper.join().unwrap();
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");
    // No longer accepting.
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

#[test]
fn a_client_that_never_answers_the_close_does_not_hold_shutdown_past_the_deadline() {
    let mut server = TestServer::start(&["--shutdown-timeout", "1"]);
    let _silent = raw_ws(server.addr, "/echo");
    let start = Instant::now();
    server.shutdown();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
}
