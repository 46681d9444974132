//! The memory budget (`--memory-budget`, `--message-timeout`): many clients each holding an
//! unfinished message (plain or compressed) cannot make the server hold more than its budget;
//! the largest holders are closed with 1013, a message that cannot fit gets 1009, a message
//! slower than the timeout gets 1008, and well-behaved clients are served throughout.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use tungstenite::Message;

/// An echo client that must keep working: one round trip.
fn echo_round_trip(server: &TestServer, ws: &mut Client, i: usize) {
    let text = format!("still here {i}");
    ws.send(Message::text(text.clone())).unwrap();
    assert_eq!(next_data(ws), Message::text(text), "via {}", server.addr);
}

#[test]
fn unfinished_messages_past_the_budget_are_shed_and_echo_is_served_throughout() {
    // 8 MiB for the one reactor; 12 clients offer 2 MiB each in first fragments.
    let server = TestServer::start(&["--workers", "1", "--memory-budget", "8388608"]);
    let mut good = ws(&server, "/echo");
    let fragment = client_frame_raw(0x02, &vec![7u8; 2 << 20]);
    let mut attackers = Vec::new();
    for i in 0..12 {
        let mut s = raw_ws(server.addr, "/echo");
        s.write_all(&fragment).unwrap();
        attackers.push(s);
        echo_round_trip(&server, &mut good, i);
        let held = server.metric("switchyard_memory_held_bytes{core=\"0\"}");
        assert!(held <= 8 << 20, "held {held} bytes past the 8 MiB budget");
    }
    let mut codes = Vec::new();
    for s in attackers.iter_mut() {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        codes.push(raw_close_code(s));
    }
    // 12 x 2 MiB cannot all be held in 8 MiB: some were closed, with the budget's codes only.
    let closed = codes.iter().filter(|c| c.is_some()).count();
    assert!(closed >= 5, "closes: {codes:?}");
    assert!(
        codes.iter().flatten().all(|&c| c == 1013 || c == 1009),
        "{codes:?}"
    );
    let shed = server.metric("switchyard_budget_closes_total{reason=\"shed\"}");
    let too_big = server.metric("switchyard_budget_closes_total{reason=\"too_big\"}");
    assert_eq!(shed + too_big, closed as u64, "{codes:?}");
    echo_round_trip(&server, &mut good, 99);
}

#[test]
fn a_compressed_bomb_is_refused_before_it_is_inflated() {
    let server = TestServer::start(&["--workers", "1", "--memory-budget", "8388608"]);
    let mut good = ws(&server, "/echo");
    // The first fragment (RSV1, no FIN) of a binary message that inflates to 60 MiB.
    let payload = bomb(60 << 20);
    assert!(
        payload.len() < 256 << 10,
        "{} bytes compressed",
        payload.len()
    );
    let frame = client_frame_raw(0x42, &payload);
    let mut attackers = Vec::new();
    for _ in 0..4 {
        let mut s = raw_ws_with(server.addr, "/echo", DEFLATE);
        s.write_all(&frame).unwrap();
        attackers.push(s);
    }
    for s in attackers.iter_mut() {
        assert_eq!(raw_close_code(s), Some(1009));
    }
    assert_eq!(
        server.metric("switchyard_budget_closes_total{reason=\"too_big\"}"),
        4
    );
    echo_round_trip(&server, &mut good, 0);
}

#[test]
fn a_message_slower_than_the_timeout_is_closed_with_1008() {
    // The sweep that checks runs every quarter ping interval.
    let server = TestServer::start(&[
        "--workers",
        "1",
        "--message-timeout",
        "0.3",
        "--ping-interval",
        "0.2",
        "--idle-timeout",
        "30",
    ]);
    let mut slow = raw_ws(server.addr, "/echo");
    let started = Instant::now();
    slow.write_all(&client_frame_raw(0x01, b"the first half, "))
        .unwrap();
    // A client that finishes its messages in time is left alone.
    let mut good = ws(&server, "/echo");
    for i in 0..5 {
        echo_round_trip(&server, &mut good, i);
        std::thread::sleep(Duration::from_millis(100));
    }
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(raw_close_code(&mut slow), Some(1008));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "closed after {took:?}");
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
    assert_eq!(
        server.metric("switchyard_budget_closes_total{reason=\"message_timeout\"}"),
        1
    );
    echo_round_trip(&server, &mut good, 99);
}

#[test]
fn slow_readers_queues_past_the_budget_are_shed_and_the_rest_is_served() {
    // Queues may each reach 2 MiB (skip policy past that); 8 readers that never read could
    // hold 16 MiB together, twice the budget.
    let server = TestServer::start(&[
        "--workers",
        "1",
        "--memory-budget",
        "8388608",
        "--outbound-cap",
        "2097152",
        "--slow-subscriber",
        "skip",
    ]);
    let slow: Vec<TcpStream> = (0..8).map(|_| raw_ws(server.addr, "/broadcast")).collect();
    let mut fast = ws(&server, "/broadcast");
    let mut publisher = raw_ws(server.addr, "/broadcast");
    let _own_copies = drain(&publisher);
    let message = client_frame_any(0x2, &[9u8; 64 << 10]);
    let mut received = 0;
    let mut sent = 0;
    // Kernel buffers take a few MiB per reader before anything queues in the server.
    while sent < 2000 && server.metric("switchyard_budget_closes_total{reason=\"shed\"}") < 4 {
        for _ in 0..20 {
            publisher.write_all(&message).unwrap();
            sent += 1;
        }
        // The fast subscriber keeps up and sees every message.
        while received < sent {
            assert!(next_data(&mut fast).is_binary());
            received += 1;
        }
        let held = server.metric("switchyard_memory_held_bytes{core=\"0\"}");
        assert!(held <= 8 << 20, "held {held} bytes past the 8 MiB budget");
    }
    let shed = server.metric("switchyard_budget_closes_total{reason=\"shed\"}");
    assert!(shed >= 4, "{shed} shed after {sent} messages");
    drop(slow);
}
