//! Bridge routes: WebSocket binary messages to a fresh TCP connection and back (websockify),
//! and the raw `Upgrade: tcp` byte pipe, both against a local TCP echo backend.

mod common;

use common::*;
use std::io::{Read, Write};
use std::time::Duration;
use tungstenite::Message;

#[test]
fn websocket_bridge_carries_bytes_both_ways() {
    let backend = tcp_echo_backend();
    let route = format!("/tcp=bridge:{backend}");
    let server = TestServer::start(&["--route", &route]);
    let mut ws = ws(&server, "/tcp");
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    ws.send(Message::binary(payload.clone())).unwrap();
    // TCP has no message boundaries: collect until every byte is back.
    let mut got = Vec::new();
    while got.len() < payload.len() {
        match next_data(&mut ws) {
            Message::Binary(b) => got.extend_from_slice(&b),
            other => panic!("bridge sent {other:?}"),
        }
    }
    assert!(got == payload);
    ws.close(None).unwrap();
    close_code(&mut ws);
    assert!(server.metric("switchyard_bytes_in_total") >= 100_000);
}

#[test]
fn raw_tcp_upgrade_is_a_plain_byte_pipe() {
    let backend = tcp_echo_backend();
    let route = format!("/tcp=bridge:{backend}");
    let server = TestServer::start(&["--route", &route]);
    let mut s = tcp(server.addr);
    // Bytes sent right after the head (same packet) must reach the backend too.
    s.write_all(
        b"GET /tcp HTTP/1.1\r\nHost: x\r\nUpgrade: tcp, websocket\r\nConnection: Upgrade\r\n\r\nearly ",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1);
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: tcp\r\n"),
        "{head}"
    );
    s.write_all(b"bytes").unwrap();
    let mut got = [0u8; 11];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"early bytes");
    // A large transfer, read concurrently.
    let reader = {
        let mut r = s.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            r.read_exact(&mut buf).unwrap();
            buf
        })
    };
    let big: Vec<u8> = (0..1u32 << 20).map(|i| (i % 241) as u8).collect();
    s.write_all(&big).unwrap();
    assert!(reader.join().unwrap() == big);
    assert!(server.metric("switchyard_upgrades_total{protocol=\"tcp\"}") >= 1);
}

#[test]
fn raw_tcp_on_an_echo_route_is_not_upgraded() {
    let server = TestServer::start(&[]);
    let r = raw_exchange(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: tcp\r\nConnection: Upgrade, close\r\n\r\n",
    );
    assert_eq!(status(&r), 200, "{r}");
}

/// A WebSocket upgrade request for `path`, ending with the blank line.
fn ws_request(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// A raw `Upgrade: tcp` request for `path`.
fn tcp_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n")
        .into_bytes()
}

/// A listener on 127.0.0.1 whose accept queue is full (backlog 0 holds one connection, and
/// `filler` is it): the kernel drops further SYNs, so a connect to it neither succeeds nor
/// fails until the queue is drained (and the SYN retried, after 1 s).
fn full_listener() -> (std::net::TcpListener, std::net::TcpStream) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let listener: std::net::TcpListener = socket.into();
    let filler = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    (listener, filler)
}

#[test]
fn backend_down_answers_502_and_never_101() {
    // A port nobody listens on: bind, read the port, drop.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let route = format!("/tcp=bridge:{dead}");
    let server = TestServer::start(&["--route", &route]);
    for request in [ws_request("/tcp"), tcp_request("/tcp")] {
        let r = raw_exchange(server.addr, &request);
        assert_eq!(status(&r), 502, "{r}");
        assert!(!r.contains("101"), "{r}");
        assert!(r.contains("Connection: close\r\n"), "{r}");
    }
    assert_eq!(server.metric("switchyard_rejects_total{status=\"502\"}"), 2);
    assert_eq!(server.metric("switchyard_bridge_connect_failures_total"), 2);
    assert_eq!(
        server.metric("switchyard_upgrades_total{protocol=\"websocket\"}")
            + server.metric("switchyard_upgrades_total{protocol=\"tcp\"}"),
        0
    );
    // tungstenite sees a refused handshake, not a WebSocket that closes.
    match try_ws_with(&server, "/tcp", |r| r) {
        Err(e) => match *e {
            tungstenite::Error::Http(response) => assert_eq!(response.status(), 502),
            other => panic!("expected an HTTP 502, got {other}"),
        },
        Ok(_) => panic!("a bridge with its backend down was upgraded"),
    }
}

#[test]
fn a_backend_that_does_not_accept_in_time_answers_504() {
    let (backend, _filler) = full_listener();
    let route = format!("/tcp=bridge:{}", backend.local_addr().unwrap());
    let server = TestServer::start(&["--route", &route, "--backend-connect-timeout", "0.3"]);
    for request in [ws_request("/tcp"), tcp_request("/tcp")] {
        let start = std::time::Instant::now();
        let r = raw_exchange(server.addr, &request);
        assert_eq!(status(&r), 504, "{r}");
        assert!(start.elapsed() >= Duration::from_millis(290), "{r}");
    }
    assert_eq!(server.metric("switchyard_rejects_total{status=\"504\"}"), 2);
    assert_eq!(server.metric("switchyard_bridge_connect_failures_total"), 2);
}

#[test]
fn bytes_sent_behind_the_upgrade_and_while_connecting_reach_the_backend() {
    // A backend that accepts slowly: its queue is full until it drops the filler, and the
    // server's SYN gets through on its retry (after 1 s). Meanwhile the client sends frames:
    // the first in the same write as the request, the second while the 101 is withheld.
    let (backend, filler) = full_listener();
    let addr = backend.local_addr().unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        let (first, _) = backend.accept().unwrap(); // the filler
        drop((first, filler));
        for conn in backend.incoming() {
            let mut conn = conn.unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    conn.write_all(&buf[..n]).unwrap();
                }
            });
        }
    });
    let route = format!("/ws=bridge:{addr}");
    let server = TestServer::start(&["--route", &route]);
    let mut s = tcp(server.addr);
    let start = std::time::Instant::now();
    let mut first = ws_request("/ws");
    first.extend(client_frame(0x82, b"early "));
    s.write_all(&first).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(&client_frame(0x82, b"and late")).unwrap();
    let head = read_response(&mut s);
    assert_eq!(status(&head), 101, "{head}");
    // The 101 waited for the backend, which could not accept before it dropped the filler.
    assert!(start.elapsed() >= Duration::from_millis(200));
    // The echo comes back as binary messages, however the backend's reads split it.
    let mut got = Vec::new();
    while got.len() < 14 {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).unwrap();
        assert_eq!(h[0], 0x82, "a binary message");
        let mut payload = vec![0u8; usize::from(h[1])];
        s.read_exact(&mut payload).unwrap();
        got.extend(payload);
    }
    assert_eq!(got, b"early and late");
}

/// A TCP echo backend that reports each connection's end (EOF or error) on the channel.
fn reporting_echo_backend() -> (std::net::SocketAddr, std::sync::mpsc::Receiver<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let mut conn = conn.unwrap();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    if conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = tx.send(());
            });
        }
    });
    (addr, rx)
}

#[test]
fn idle_tunnels_and_websocket_bridges_close_but_active_ones_stay() {
    let (backend, ended) = reporting_echo_backend();
    let route = format!("/tcp=bridge:{backend}");
    let server = TestServer::start(&["--route", &route, "--tunnel-idle-timeout", "0.4"]);
    let mut idle_raw = raw_tunnel(server.addr);
    let mut idle_ws = ws(&server, "/tcp");
    let mut active_raw = raw_tunnel(server.addr);
    let mut active_ws = ws(&server, "/tcp");
    idle_raw.write_all(b"x").unwrap();
    let mut one = [0u8; 1];
    idle_raw.read_exact(&mut one).unwrap();
    idle_ws.send(Message::binary(b"x".to_vec())).unwrap();
    assert_eq!(next_data(&mut idle_ws), Message::binary(b"x".to_vec()));
    let start = std::time::Instant::now();
    // The active pair keeps talking for three timeouts, one byte every 100 ms.
    while start.elapsed() < Duration::from_millis(1200) {
        active_raw.write_all(b"a").unwrap();
        active_raw.read_exact(&mut one).unwrap();
        active_ws.send(Message::binary(b"a".to_vec())).unwrap();
        assert_eq!(next_data(&mut active_ws), Message::binary(b"a".to_vec()));
        std::thread::sleep(Duration::from_millis(100));
    }
    // The idle pair was closed, backends included.
    assert!(closed_within(&mut idle_raw, Duration::from_secs(2)));
    assert_eq!(close_code(&mut idle_ws), 1001);
    for _ in 0..2 {
        ended.recv_timeout(Duration::from_secs(2)).unwrap();
    }
    assert!(ended.try_recv().is_err(), "an active bridge was closed");
    assert_eq!(server.metric("switchyard_tunnel_idle_closes_total"), 2);
    // The active pair still carries bytes, then goes idle and is closed too.
    active_raw.write_all(b"b").unwrap();
    active_raw.read_exact(&mut one).unwrap();
    assert_eq!(&one, b"b");
    active_ws.send(Message::binary(b"b".to_vec())).unwrap();
    assert_eq!(next_data(&mut active_ws), Message::binary(b"b".to_vec()));
    assert!(closed_within(&mut active_raw, Duration::from_secs(2)));
    assert_eq!(close_code(&mut active_ws), 1001);
    assert!(eventually(Duration::from_secs(2), || server
        .metric("switchyard_tunnel_idle_closes_total")
        == 4));
}

#[test]
fn backend_closing_closes_the_client() {
    // A backend that answers one line and closes.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        c.write_all(b"bye\n").unwrap();
    });
    let route = format!("/tcp=bridge:{addr}");
    let server = TestServer::start(&["--route", &route]);
    let mut ws = ws(&server, "/tcp");
    assert_eq!(next_data(&mut ws), Message::binary(b"bye\n".to_vec()));
    assert_eq!(close_code(&mut ws), 1000);
}

#[test]
fn a_backend_that_does_not_read_stops_the_client_being_read() {
    // A backend that accepts and then reads nothing for the whole test.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (c, _) = l.accept().unwrap();
        held_tx.send(c).unwrap();
    });
    let route = format!("/tcp=bridge:{addr}");
    let server = TestServer::start(&["--route", &route, "--outbound-cap", "262144"]);
    let mut s = tcp(server.addr);
    s.write_all(b"GET /tcp HTTP/1.1\r\nHost: x\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n")
        .unwrap();
    let head = read_response(&mut s);
    assert_eq!(status(&head), 101, "{head}");
    let _backend = held_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    s.set_nonblocking(true).unwrap();
    let chunk = vec![b'q'; 65536];
    let mut sent = 0usize;
    let mut last_progress = std::time::Instant::now();
    while sent < 512 << 20 && last_progress.elapsed() < Duration::from_secs(1) {
        match s.write(&chunk) {
            Ok(n) => {
                sent += n;
                last_progress = std::time::Instant::now();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("write failed: {e}"),
        }
    }
    assert!(
        sent < 64 << 20,
        "the server kept reading {sent} bytes for a stalled backend"
    );
    assert!(server.metric("switchyard_backpressure_pauses_total") >= 1);
}

/// Upgrades `s` to a raw tcp tunnel on `/tcp` and consumes the 101 head.
fn raw_tunnel(addr: std::net::SocketAddr) -> std::net::TcpStream {
    let mut s = tcp(addr);
    s.write_all(b"GET /tcp HTTP/1.1\r\nHost: x\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n")
        .unwrap();
    let head = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

#[test]
fn raw_tunnel_passes_the_clients_half_close_and_the_late_reply() {
    // A backend that answers only after the request's EOF (as `wc`, or HTTP/1.0 bodies do).
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut request = Vec::new();
        c.read_to_end(&mut request).unwrap();
        std::thread::sleep(Duration::from_millis(100)); // late
        c.write_all(format!("got {} bytes", request.len()).as_bytes())
            .unwrap();
    });
    let route = format!("/tcp=bridge:{addr}");
    let server = TestServer::start(&["--route", &route]);
    let mut s = raw_tunnel(server.addr);
    s.write_all(&[7u8; 1000]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "got 1000 bytes");
}

#[test]
fn raw_tunnel_passes_the_backends_half_close_and_goes_on_carrying_the_client() {
    // A backend that greets, half-closes, then reads what the client still sends.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        c.write_all(b"hello").unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        tx.send(rest).unwrap();
    });
    let route = format!("/tcp=bridge:{addr}");
    let server = TestServer::start(&["--route", &route]);
    let mut s = raw_tunnel(server.addr);
    let mut greeting = Vec::new();
    s.read_to_end(&mut greeting).unwrap(); // the backend's FIN reaches us
    assert_eq!(greeting, b"hello");
    s.write_all(b"still talking").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let rest = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(rest, b"still talking");
    assert!(closed_within(&mut s, Duration::from_secs(5)));
}
