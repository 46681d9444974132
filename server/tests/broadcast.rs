//! Broadcast: every message reaches every client of the same path, across both reactors; a
//! slow subscriber is closed with 1008 or skipped, by configuration.

mod common;

use common::*;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tungstenite::Message;

#[test]
fn every_client_of_the_path_gets_every_message() {
    let server = TestServer::start(&[]);
    // Enough clients that both reactors hold some (connections are spread by the kernel).
    let mut clients: Vec<_> = (0..8).map(|_| ws(&server, "/broadcast")).collect();
    let mut other_path = ws(&server, "/echo");
    // No wait needed before publishing: the server registers a subscriber before its 101
    // leaves (netio sends a callback's writes when the callback returns).
    clients[3].send(Message::text("to all")).unwrap();
    clients[5].send(Message::binary(vec![1u8, 2, 3])).unwrap();
    for c in clients.iter_mut() {
        let mut got = vec![next_data(c), next_data(c)];
        got.sort_by_key(|m| m.is_binary());
        assert_eq!(
            got,
            [Message::text("to all"), Message::binary(vec![1u8, 2, 3])]
        );
    }
    // The echo client saw nothing of it.
    other_path.send(Message::text("mine")).unwrap();
    assert_eq!(next_data(&mut other_path), Message::text("mine"));
    // One scrape: 8 + 1 WebSockets, plus the scraping connection itself.
    let text = http_get(server.addr, "/metrics");
    let open: u64 = text
        .lines()
        .filter(|l| l.starts_with("switchyard_connections{core="))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(open, 10, "{text}");
}

#[test]
fn separate_broadcast_routes_do_not_mix() {
    let server = TestServer::start(&[
        "--route",
        "/room-a=broadcast",
        "--route",
        "/room-b=broadcast",
    ]);
    let mut a1 = ws(&server, "/room-a");
    let mut a2 = ws(&server, "/room-a");
    let mut b1 = ws(&server, "/room-b");
    a1.send(Message::text("for a")).unwrap();
    b1.send(Message::text("for b")).unwrap();
    assert_eq!(next_data(&mut a2), Message::text("for a"));
    assert_eq!(next_data(&mut a1), Message::text("for a"));
    assert_eq!(next_data(&mut b1), Message::text("for b"));
}

/// Publishes 16 KiB messages from a raw client (whose own copies are drained) until `done`
/// holds, at most 4000 times (64 MiB); returns how many were sent.
fn publish_until(server: &TestServer, mut done: impl FnMut() -> bool) -> usize {
    let mut publisher = raw_ws(server.addr, "/broadcast");
    let _drain = drain(&publisher);
    let frame = client_frame_any(0x2, &[b'y'; 16384]);
    for i in 0..4000 {
        if done() {
            return i;
        }
        publisher.write_all(&frame).unwrap();
    }
    4000
}

#[test]
fn slow_subscriber_is_closed_with_1008() {
    let server = TestServer::start(&["--outbound-cap", "65536"]);
    let mut slow = ws(&server, "/broadcast");
    // A fast subscriber that counts what it receives.
    let mut fast = ws(&server, "/broadcast");
    let received = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    std::thread::spawn(move || {
        while let Ok(message) = fast.read() {
            if message.is_binary() {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let sent = publish_until(&server, || {
        server.metric("switchyard_closes_total{by=\"server\",code=\"1008\"}") >= 1
    });
    assert!(sent < 4000, "the slow subscriber was never closed");
    // It gets what was queued before the close, then the close.
    assert_eq!(close_code(&mut slow), 1008);
    // The fast subscriber was not affected: it received every message and was not closed.
    assert!(
        eventually(Duration::from_secs(10), || received.load(Ordering::Relaxed)
            == sent),
        "fast subscriber got {} of {sent}",
        received.load(Ordering::Relaxed)
    );
    assert_eq!(
        server.metric("switchyard_closes_total{by=\"server\",code=\"1008\"}"),
        1
    );
}

#[test]
fn slow_subscriber_is_skipped_when_configured() {
    let server = TestServer::start(&["--outbound-cap", "65536", "--slow-subscriber", "skip"]);
    let mut slow = ws(&server, "/broadcast");
    let sent = publish_until(&server, || {
        server.metric("switchyard_broadcast_skipped_total") >= 10
    });
    assert!(sent < 4000, "nothing was ever skipped");
    // Still connected, still subscribed: read the backlog, then it receives its own marker.
    slow.get_mut()
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut seen = 0;
    loop {
        match slow.read() {
            Ok(Message::Binary(_)) => seen += 1,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("skipped subscriber lost its connection: {e}"),
        }
    }
    assert!(
        seen < sent,
        "skip policy delivered every message ({seen} of {sent})"
    );
    slow.get_mut().set_read_timeout(Some(TIMEOUT)).unwrap();
    slow.send(Message::text("marker")).unwrap();
    assert_eq!(next_data(&mut slow), Message::text("marker"));
}
