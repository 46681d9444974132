//! Every limit and bad input: 431, 408, 503, 403, 400/426, 1009, 1002, 1007. Each reject is
//! counted in /metrics, and other clients keep being served.

mod common;

use common::*;
use std::io::Write;
use std::time::Duration;
use tungstenite::Message;

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

#[test]
fn oversized_head_gets_431() {
    let server = TestServer::start(&["--max-head-size", "1024"]);
    let big = "a".repeat(2000);
    let r = raw_exchange(
        server.addr,
        format!("GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n{UPGRADE}\r\n").as_bytes(),
    );
    assert_eq!(status(&r), 431, "{r}");
    assert!(server.metric("switchyard_rejects_total{status=\"431\"}") >= 1);
    // Other clients are still served.
    let mut ws = ws(&server, "/echo");
    ws.send(Message::text("still here")).unwrap();
    assert_eq!(next_data(&mut ws), Message::text("still here"));
}

#[test]
fn slow_head_gets_408_and_is_dropped() {
    let server = TestServer::start(&["--head-timeout", "0.5"]);
    let mut s = tcp(server.addr);
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n").unwrap();
    let r = read_response(&mut s);
    assert_eq!(status(&r), 408, "{r}");
    assert!(closed_within(&mut s, Duration::from_secs(5)));
    assert!(server.metric("switchyard_rejects_total{status=\"408\"}") >= 1);
    // A connection that sends nothing at all is dropped too.
    let mut silent = tcp(server.addr);
    assert!(closed_within(&mut silent, Duration::from_secs(5)));
}

#[test]
fn over_max_connections_gets_503_then_close() {
    let server = TestServer::start(&["--max-connections", "2"]);
    let mut a = ws(&server, "/echo");
    let mut b = ws(&server, "/echo");
    let mut third = tcp(server.addr);
    third
        .write_all(format!("GET /echo HTTP/1.1\r\nHost: x\r\n{UPGRADE}\r\n").as_bytes())
        .unwrap();
    let r = read_response(&mut third);
    assert_eq!(status(&r), 503, "{r}");
    assert!(closed_within(&mut third, Duration::from_secs(5)));
    // The two admitted ones are unaffected.
    a.send(Message::text("a")).unwrap();
    b.send(Message::text("b")).unwrap();
    assert_eq!(next_data(&mut a), Message::text("a"));
    assert_eq!(next_data(&mut b), Message::text("b"));
    drop(a);
    drop(b);
    assert!(eventually(Duration::from_secs(5), || server
        .metric("switchyard_rejects_total{status=\"503\"}")
        >= 1));
}

#[test]
fn origin_not_allowed_gets_403() {
    let server = TestServer::start(&["--allow-origin", "https://good.example"]);
    let r = raw_exchange(
        server.addr,
        format!("GET /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n{UPGRADE}\r\n")
            .as_bytes(),
    );
    assert_eq!(status(&r), 403, "{r}");
    let mut ok = ws_with(&server, "/echo", |mut r| {
        r.headers_mut()
            .insert("Origin", "https://good.example".parse().unwrap());
        r
    });
    ok.send(Message::text("hi")).unwrap();
    assert_eq!(next_data(&mut ok), Message::text("hi"));
    assert!(server.metric("switchyard_rejects_total{status=\"403\"}") >= 1);
}

#[test]
fn bad_handshakes_get_400_and_426() {
    let server = TestServer::start(&[]);
    let r = raw_exchange(
        server.addr,
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(status(&r), 400, "{r}");
    let r = raw_exchange(
        server.addr,
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    );
    assert_eq!(status(&r), 426, "{r}");
    assert!(r.contains("Sec-WebSocket-Version: 13"), "{r}");
    let r = raw_exchange(server.addr, b"GARBAGE\r\n\r\n");
    assert_eq!(status(&r), 400, "{r}");
}

#[test]
fn message_over_the_limit_is_closed_with_1009() {
    let server = TestServer::start(&["--max-message-size", "1000"]);
    let mut ws = ws(&server, "/echo");
    ws.send(Message::binary(vec![7u8; 1000])).unwrap();
    assert_eq!(next_data(&mut ws), Message::binary(vec![7u8; 1000]));
    ws.send(Message::binary(vec![7u8; 1001])).unwrap();
    assert_eq!(close_code(&mut ws), 1009);
    // The same through fragments that are each small.
    let mut ws2 = common::ws(&server, "/echo");
    let mut raw = Vec::new();
    raw.extend(client_frame(0x02, &[1u8; 100]));
    for _ in 0..10 {
        raw.extend(client_frame(0x00, &[1u8; 100]));
    }
    // The server may close before reading it all: a failed write here is expected.
    let _ = ws2.get_mut().write_all(&raw);
    assert_eq!(close_code(&mut ws2), 1009);
    assert!(eventually(Duration::from_secs(5), || server
        .metric("switchyard_closes_total{by=\"server\",code=\"1009\"}")
        >= 2));
}

#[test]
fn protocol_errors_are_closed_with_1002() {
    let server = TestServer::start(&[]);
    let cases: [&[u8]; 5] = [
        &[0x81, 0x00],                           // unmasked client frame
        &client_frame(0x83, b"x"),               // reserved opcode
        &client_frame(0xC1, b"x"),               // RSV1 without an extension
        &client_frame(0x00, b"x"),               // continuation with nothing to continue
        &client_frame(0x09, b"fragmented ping"), // control frame without FIN
    ];
    for bad in cases {
        let mut ws = ws(&server, "/echo");
        ws.get_mut().write_all(bad).unwrap();
        assert_eq!(close_code(&mut ws), 1002, "for {bad:02x?}");
    }
    let mut ok = ws(&server, "/echo");
    ok.send(Message::text("fine")).unwrap();
    assert_eq!(next_data(&mut ok), Message::text("fine"));
}

#[test]
fn invalid_utf8_is_closed_with_1007() {
    let server = TestServer::start(&[]);
    let mut ws = ws(&server, "/echo");
    ws.get_mut()
        .write_all(&client_frame(0x81, &[0xce, 0xba, 0xff, 0x41]))
        .unwrap();
    assert_eq!(close_code(&mut ws), 1007);
    // Invalid UTF-8 in a close reason too.
    let mut ws = common::ws(&server, "/echo");
    ws.get_mut()
        .write_all(&client_frame(0x88, &[0x03, 0xe8, 0xff]))
        .unwrap();
    assert_eq!(close_code(&mut ws), 1007);
}

#[test]
fn idle_connection_is_pinged_then_closed() {
    let server = TestServer::start(&["--ping-interval", "0.3", "--idle-timeout", "0.9"]);
    // A client that answers pings (tungstenite does, when it reads) stays.
    let mut live = ws(&server, "/echo");
    live.get_mut()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let start = std::time::Instant::now();
    let mut pings = 0;
    while start.elapsed() < Duration::from_secs(2) {
        match live.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("live client dropped: {e}"),
        }
        // Sends the pongs tungstenite queued; a failure shows up as the read error above.
        let _ = live.flush();
    }
    assert!(pings >= 1, "no keepalive ping in 2 s");
    // A raw client that never answers is closed.
    let mut s = tcp(server.addr);
    s.write_all(format!("GET /echo HTTP/1.1\r\nHost: x\r\n{UPGRADE}\r\n").as_bytes())
        .unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(5)));
}

#[test]
fn a_head_sent_one_byte_at_a_time_is_scanned_once() {
    let server = TestServer::start(&[]);
    let series = "switchyard_head_bytes_scanned_total";
    // Each scrape's own request head is scanned too: measure it.
    let first = server.metric(series);
    let scrape = server.metric(series) - first;
    assert!(scrape > 0, "the scrape's own head is counted");
    let head = format!(
        "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         X-Padding: {}\r\n\r\n",
        "p".repeat(400)
    );
    let before = server.metric(series);
    let mut s = tcp(server.addr);
    s.set_nodelay(true).unwrap();
    for byte in head.as_bytes() {
        s.write_all(&[*byte]).unwrap();
        // Give the server a read per byte (coalesced bytes only make the test easier to pass
        // for a server that re-scans, never harder for one that does not).
        std::thread::sleep(Duration::from_micros(500));
    }
    let response = read_response(&mut s);
    assert!(response.starts_with("HTTP/1.1 101"), "{response}");
    let after = server.metric(series);
    // Re-scanning the whole head on each read would cost about len^2 / 2 = 150,000 bytes.
    assert_eq!(after - before, head.len() as u64 + scrape);
}
