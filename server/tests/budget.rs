//! The memory budget (`--memory-budget`, `--message-timeout`): many clients each holding an
//! unfinished message (plain or compressed) cannot make the server hold more than its budget;
//! the largest holders are closed with 1013, a message that cannot fit gets 1009, a message
//! slower than the timeout gets 1008, and well-behaved clients are served throughout.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use tungstenite::Message;

const DEFLATE: &str = "Sec-WebSocket-Extensions: permessage-deflate; \
                       client_no_context_takeover; server_no_context_takeover\r\n";

/// Raw deflate of `len` zero bytes, sync-flushed, without the `00 00 ff ff` tail (RFC 7692
/// 7.2.1): a message that inflates about a thousand times.
fn bomb(len: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut compress = Compress::new(Compression::new(9), false);
    let mut out = Vec::with_capacity(len / 500 + 1024);
    let zeros = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let chunk = left.min(zeros.len());
        let flush = if chunk == left {
            FlushCompress::Sync
        } else {
            FlushCompress::None
        };
        let before = compress.total_in();
        while compress.total_in() - before < chunk as u64 {
            let done = (compress.total_in() - before) as usize;
            out.reserve(64 << 10);
            compress
                .compress_vec(&zeros[done..chunk], &mut out, flush)
                .unwrap();
        }
        left -= chunk;
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// The close code the server sent on a raw connection (server frames are unmasked), or
/// `None` if it closed without one or sent none within the socket's read timeout.
fn raw_close_code(s: &mut TcpStream) -> Option<u16> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // Parse what arrived: skip whole frames until a close frame.
        let mut pos = 0;
        while bytes.len() >= pos + 2 {
            let (b0, len7) = (bytes[pos], usize::from(bytes[pos + 1] & 0x7f));
            let (len, header) = match len7 {
                126 if bytes.len() >= pos + 4 => (
                    usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]])),
                    4,
                ),
                126 | 127 => break,
                n => (n, 2),
            };
            if bytes.len() < pos + header + len {
                break;
            }
            if b0 & 0x0f == 0x8 {
                let p = &bytes[pos + header..pos + header + len];
                return (p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]]));
            }
            pos += header + len;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    }
}

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
