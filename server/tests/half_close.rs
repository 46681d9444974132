//! A client that half-closes (`shutdown(SHUT_WR)`) before sending a close frame can still read:
//! the server answers with its own close frame (1000), flushes it, then closes (RFC 6455 7.1.1,
//! 7.1.7). Whatever was sent together with the FIN is handled first, and nothing follows the
//! close frame, on echo, broadcast and bridge routes alike.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;
use tungstenite::Message;

/// Our close frame for a half-closed client: code 1000, no reason, unmasked.
const CLOSE_1000: [u8; 4] = [0x88, 0x02, 0x03, 0xE8];

/// Reads until EOF (the socket's read timeout bounds each read).
fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    s.read_to_end(&mut all)
        .expect("the server closes after its close frame");
    all
}

/// Splits unmasked server frames into (first byte, payload); every frame must be complete.
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 2, "a truncated frame header: {bytes:?}");
        assert_eq!(bytes[1] & 0x80, 0, "server frames are not masked");
        let (len, header) = match bytes[1] & 0x7f {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        assert!(bytes.len() >= header + len, "a truncated frame");
        out.push((bytes[0], bytes[header..header + len].to_vec()));
        bytes = &bytes[header + len..];
    }
    out
}

/// Asserts that the stream ends with exactly one close frame, 1000, and returns the frames
/// before it.
fn ends_with_one_close(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut got = frames(bytes);
    let last = got.pop().expect("at least the close frame");
    assert_eq!(last, (0x88, CLOSE_1000[2..].to_vec()), "the last frame");
    assert!(
        got.iter().all(|(b0, _)| b0 & 0x0f != 0x8),
        "one close frame only: {got:?}"
    );
    got
}

fn closes(server: &TestServer, by: &str, code: u16) -> u64 {
    server.metric(&format!(
        "switchyard_closes_total{{by=\"{by}\",code=\"{code}\"}}"
    ))
}

#[test]
fn a_half_closed_client_reads_our_close_frame_then_eof() {
    let server = TestServer::start(&[]);
    let mut s = raw_ws(server.addr, "/echo");
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_eof(&mut s), CLOSE_1000);
    // The client started the close (without a close frame: 1006); ours only answered it.
    assert_eq!(closes(&server, "client", 1006), 1);
    assert_eq!(closes(&server, "server", 1000), 0);
    assert!(eventually(Duration::from_secs(5), || server
        .metric("switchyard_connections")
        == 0));
}

#[test]
fn messages_sent_with_the_fin_are_echoed_before_the_close_frame() {
    let server = TestServer::start(&[]);
    let mut s = raw_ws(server.addr, "/echo");
    let mut burst = Vec::new();
    for text in [&b"one"[..], b"two", b"three"] {
        burst.extend_from_slice(&client_frame(0x81, text));
    }
    s.write_all(&burst).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let echoes = ends_with_one_close(&read_to_eof(&mut s));
    assert_eq!(
        echoes,
        vec![
            (0x81, b"one".to_vec()),
            (0x81, b"two".to_vec()),
            (0x81, b"three".to_vec())
        ]
    );
    assert_eq!(closes(&server, "client", 1006), 1);
}

#[test]
fn frames_and_fin_in_the_upgrade_request_itself_are_answered_then_closed() {
    let server = TestServer::start(&[]);
    let mut s = tcp(server.addr);
    let mut request = upgrade_request("/echo", "");
    request.extend_from_slice(&client_frame(0x82, b"early"));
    s.write_all(&request).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let all = read_to_eof(&mut s);
    let body = find(&all, b"\r\n\r\n").expect("a response head") + 4;
    assert!(all.starts_with(b"HTTP/1.1 101"), "{all:?}");
    let echoes = ends_with_one_close(&all[body..]);
    assert_eq!(echoes, vec![(0x82, b"early".to_vec())]);
}

#[test]
fn a_half_closed_bridge_client_gets_the_close_frame_and_nothing_after() {
    let backend = tcp_echo_backend();
    let route = format!("/tcp=bridge:{backend}");
    let server = TestServer::start(&["--route", &route]);
    let mut s = raw_ws(server.addr, "/tcp");
    // One round trip first, so the backend is connected and carrying bytes.
    s.write_all(&client_frame(0x82, b"hello")).unwrap();
    let mut reply = [0u8; 7];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply, *b"\x82\x05hello");
    // Bytes in flight to the backend when the FIN comes: its echo may or may not make it
    // before our close frame, never after.
    s.write_all(&client_frame(0x82, b"late")).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let before = ends_with_one_close(&read_to_eof(&mut s));
    let carried: Vec<u8> = before
        .iter()
        .inspect(|(b0, _)| assert_eq!(*b0, 0x82, "bridge output is binary"))
        .flat_map(|(_, p)| p.clone())
        .collect();
    assert!(b"late".starts_with(&carried), "{carried:?}");
    assert_eq!(closes(&server, "client", 1006), 1);
    assert!(eventually(Duration::from_secs(5), || server
        .metric("switchyard_connections")
        == 0));
}

#[test]
fn a_half_closed_subscriber_gets_nothing_after_the_close_frame() {
    let server = TestServer::start(&[]);
    let mut subscriber = raw_ws(server.addr, "/broadcast");
    let mut publisher = ws(&server, "/broadcast");
    // The subscriber is registered before its 101 left: the first publish reaches it.
    publisher.send(Message::text("first")).unwrap();
    let mut first = [0u8; 7];
    subscriber.read_exact(&mut first).unwrap();
    assert_eq!(first, *b"\x81\x05first");
    // Publishes keep coming while the half-close is handled.
    let publishing = std::thread::spawn(move || {
        for i in 0..200 {
            if publisher.send(Message::text(format!("m{i}"))).is_err() {
                break;
            }
        }
        publisher
    });
    subscriber.shutdown(Shutdown::Write).unwrap();
    let before = ends_with_one_close(&read_to_eof(&mut subscriber));
    assert!(before.iter().all(|(b0, _)| *b0 == 0x81), "{before:?}");
    let mut publisher = publishing.join().unwrap();
    // The publisher (a subscriber too) is still served after the other one left.
    publisher.send(Message::text("after")).unwrap();
    assert!(
        (0..203).any(|_| next_data(&mut publisher) == Message::text("after")),
        "the publisher's own last message came back"
    );
}
