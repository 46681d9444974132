//! `wss://` and `https://` end to end (issue 14): a CA made by rcgen, the in-process server with
//! a plain and a TLS listener at once, rustls clients (tungstenite over a rustls stream for
//! WebSockets). Every route kind over TLS, the plain endpoints, SNI, ALPN, close_notify, and
//! the bad inputs a TLS port must survive, each counted in /metrics by reason.

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use common::*;
use pki::*;
use tungstenite::Message;

/// A TLS port with one certificate for `localhost` and 127.0.0.1.
fn setup(name: &str, flags: &[&str]) -> (Scratch, Ca, TestServer, std::net::SocketAddr) {
    let dir = Scratch::new(name);
    let ca = Ca::new();
    let (cert, key) = write_pair(&dir, "server", &ca.leaf(&["localhost", "127.0.0.1"]));
    let (server, tls) = start_tls(&cert, &key, flags);
    (dir, ca, server, tls)
}

/// Echo over wss for text, a 16 KiB and a 1 MiB binary message (records split across reads,
/// messages across records), with the plain listener serving at the same time.
#[test]
fn wss_echo_alongside_the_plain_listener() {
    let (_dir, ca, server, tls) = setup("echo", &[]);
    let mut ws = wss(tls, "/echo", ca.http_client());
    ws.send(Message::text("hello over tls")).unwrap();
    assert_eq!(next_data_tls(&mut ws), Message::text("hello over tls"));
    for len in [16 << 10, 1 << 20] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        ws.send(Message::binary(payload.clone())).unwrap();
        assert_eq!(next_data_tls(&mut ws), Message::binary(payload));
    }
    // Many small messages in one write: the replies of one read leave together.
    for i in 0..100 {
        ws.write(Message::text(format!("m{i}"))).unwrap();
    }
    ws.flush().unwrap();
    for i in 0..100 {
        assert_eq!(next_data_tls(&mut ws), Message::text(format!("m{i}")));
    }
    let mut plain = ws_plain(&server);
    plain.send(Message::text("plain")).unwrap();
    assert_eq!(next_data(&mut plain), Message::text("plain"));
    assert!(server.metric("switchyard_tls_handshakes_total{kind=\"full\"}") >= 1);
}

fn ws_plain(server: &TestServer) -> Client {
    ws(server, "/echo")
}

/// Reads until a data message arrives.
fn next_data_tls(ws: &mut Wss) -> Message {
    loop {
        match ws.read().expect("read a message") {
            m @ (Message::Text(_) | Message::Binary(_)) => return m,
            _ => continue,
        }
    }
}

/// The page, /healthz and /metrics over https, keep-alive on one TLS connection.
#[test]
fn https_serves_the_page_healthz_and_metrics() {
    let (_dir, ca, _server, tls) = setup("https", &[]);
    let mut s = connect(tls, "localhost", ca.http_client()).unwrap();
    assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let health = https_request(&mut s, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&health), 200, "{health}");
    let metrics = https_request(&mut s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&metrics), 200);
    assert!(metrics.contains("switchyard_tls_handshakes_total{kind=\"full\"} 1"));
    let page = https_request(
        &mut s,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&page), 200);
    assert!(page.contains("<html") || page.contains("<!"), "{page}");
    // Connection: close: the response, then close_notify (a clean end for rustls: 0, not an
    // UnexpectedEof error).
    let mut rest = Vec::new();
    let n = s
        .read_to_end(&mut rest)
        .expect("close_notify before the FIN");
    assert_eq!(n, 0);
}

/// Broadcast: a TLS subscriber and a plain one get what a TLS client publishes.
#[test]
fn wss_broadcast_reaches_tls_and_plain_subscribers() {
    let (_dir, ca, server, tls) = setup("broadcast", &[]);
    let mut a = wss(tls, "/broadcast", ca.http_client());
    let mut b = wss(tls, "/broadcast", ca.http_client());
    let mut p = ws(&server, "/broadcast");
    assert!(eventually(Duration::from_secs(5), || {
        metric_sum(&server, "switchyard_topic_subscriptions") >= 3
    }));
    a.send(Message::text("to all")).unwrap();
    // The sender is a subscriber too (the route does not exclude it).
    assert_eq!(next_data_tls(&mut a), Message::text("to all"));
    assert_eq!(next_data_tls(&mut b), Message::text("to all"));
    assert_eq!(next_data(&mut p), Message::text("to all"));
    p.send(Message::text("from plain")).unwrap();
    assert_eq!(next_data(&mut p), Message::text("from plain"));
    assert_eq!(next_data_tls(&mut a), Message::text("from plain"));
    assert_eq!(next_data_tls(&mut b), Message::text("from plain"));
}

/// Sum of a metric over its label sets (one line per core).
fn metric_sum(server: &TestServer, prefix: &str) -> u64 {
    http_get(server.addr, "/metrics")
        .lines()
        .filter(|l| l.starts_with(prefix) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A bridge route over TLS: WebSocket messages to a TCP echo backend and back; and a raw
/// `Upgrade: tcp` tunnel over TLS, with the client's close_notify passed on as a half-close.
#[test]
fn bridge_and_tcp_tunnel_over_tls() {
    let backend = tcp_echo_backend();
    let route = format!("/b=bridge:{backend}");
    let (_dir, ca, _server, tls) = setup("bridge", &["--route", &route]);
    let mut ws = wss(tls, "/b", ca.http_client());
    ws.send(Message::binary(b"through the bridge".to_vec()))
        .unwrap();
    assert_eq!(
        next_data_tls(&mut ws),
        Message::binary(b"through the bridge".to_vec())
    );

    let mut s = connect(tls, "localhost", ca.http_client()).unwrap();
    let head = https_request(
        &mut s,
        "GET /b HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
    );
    assert_eq!(status(&head), 101, "{head}");
    s.write_all(b"raw bytes").unwrap();
    s.flush().unwrap();
    let mut got = [0u8; 9];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"raw bytes");
}

/// SNI picks the pair for the name; no SNI (an IP address) gets the first pair, the default.
#[test]
fn sni_chooses_the_certificate() {
    let dir = Scratch::new("sni");
    let ca = Ca::new();
    let default = ca.leaf(&["default.test", "127.0.0.1"]);
    let other = ca.leaf(&["other.test"]);
    let (c1, k1) = write_pair(&dir, "default", &default);
    let (c2, k2) = write_pair(&dir, "other", &other);
    let (_server, tls) = start_tls(
        &c1,
        &k1,
        &[
            "--tls-cert",
            c2.to_str().unwrap(),
            "--tls-key",
            k2.to_str().unwrap(),
        ],
    );
    let a = connect(tls, "other.test", ca.http_client()).unwrap();
    assert_eq!(peer_cert(&a), other.der);
    let b = connect(tls, "default.test", ca.http_client()).unwrap();
    assert_eq!(peer_cert(&b), default.der);
    // An IP address is never sent as SNI: the default pair.
    let c = connect(tls, "127.0.0.1", ca.http_client()).unwrap();
    assert_eq!(peer_cert(&c), default.der);
}

/// A client offering only h2 gets `no_application_protocol` and is counted.
#[test]
fn alpn_h2_only_is_refused_with_an_alert() {
    let (_dir, ca, server, tls) = setup("alpn", &[]);
    let Err(err) = connect(tls, "localhost", ca.client(&[b"h2"], false)) else {
        panic!("the handshake must fail");
    };
    assert!(
        err.to_string().contains("NoApplicationProtocol"),
        "expected the no_application_protocol alert, got {err}"
    );
    assert!(eventually(Duration::from_secs(5), || server
        .metric("switchyard_tls_failures_total{reason=\"no_alpn\"}")
        == 1));
}

/// Sends `bytes` raw to the TLS port (then FIN if `fin`) and returns what came back before the
/// server closed.
fn raw_to_tls(addr: std::net::SocketAddr, bytes: &[u8], fin: bool) -> Vec<u8> {
    let mut s = tcp(addr);
    s.write_all(bytes).unwrap();
    if fin {
        s.shutdown(Shutdown::Write).unwrap();
    }
    read_to_close(&mut s)
}

/// Whether `bytes` is exactly one fatal alert record.
fn is_one_alert(bytes: &[u8]) -> bool {
    bytes.len() == 7 && bytes[0] == 0x15 && bytes[3..5] == [0, 2] && bytes[5] == 2
}

/// Garbage, plain HTTP and a truncated ClientHello: an alert, a close, nothing else; each
/// counted by reason.
#[test]
fn bad_input_gets_an_alert_and_a_close() {
    let (_dir, ca, server, tls) = setup("bad", &[]);
    let got = raw_to_tls(tls, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false);
    assert!(is_one_alert(&got), "plain HTTP got {got:?}");
    let got = raw_to_tls(
        tls,
        &[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8],
        false,
    );
    assert!(is_one_alert(&got), "garbage got {got:?}");
    let hello = client_hello(ca.http_client());
    let got = raw_to_tls(tls, &hello[..hello.len() / 2], true);
    assert!(is_one_alert(&got), "truncated ClientHello got {got:?}");
    assert_eq!(got[6], 50, "decode_error");
    // A connect and close with no byte is a port check, not a failure.
    let got = raw_to_tls(tls, b"", true);
    assert!(got.is_empty());
    for reason in ["plain_http", "not_tls", "truncated"] {
        let series = format!("switchyard_tls_failures_total{{reason=\"{reason}\"}}");
        assert!(
            eventually(Duration::from_secs(5), || server.metric(&series) == 1),
            "{series} = {}",
            server.metric(&series)
        );
    }
    // The port still serves.
    let mut ws = wss(tls, "/echo", ca.http_client());
    ws.send(Message::text("still here")).unwrap();
    assert_eq!(next_data_tls(&mut ws), Message::text("still here"));
}

/// A handshake message spread over several records (RFC 8446 section 5.1 allows it; some
/// clients split their ClientHello on purpose), in one read and one byte per read, and the
/// same followed by a record that breaks the protocol: the first handshakes, the second gets
/// an alert, and neither costs the server anything else (rustls keeps such a message in the
/// caller's buffer between calls; found by the `tls` fuzz target).
#[test]
fn handshake_messages_split_across_records() {
    let (_dir, ca, _server, tls) = setup("fragmented", &[]);
    // A real client that cuts every handshake message into records of at most 64 bytes.
    let mut config = (*ca.http_client()).clone();
    config.max_fragment_size = Some(64);
    let config = std::sync::Arc::new(config);
    let hello = client_hello(config.clone());
    assert!(hello.len() > 3 * 69, "the ClientHello spans records");
    let mut ws = wss(tls, "/echo", config.clone());
    ws.send(Message::text("fragmented hello")).unwrap();
    assert_eq!(next_data_tls(&mut ws), Message::text("fragmented hello"));
    // One byte per write.
    let mut s = tcp(tls);
    s.set_nodelay(true).unwrap();
    for b in &hello {
        s.write_all(&[*b]).unwrap();
    }
    let mut first = [0u8; 5];
    s.read_exact(&mut first).unwrap();
    assert_eq!(first[0], 0x16, "a ServerHello record");
    // A partial handshake message, then a record of an unknown type.
    let mut attack = vec![0x16, 0x03, 0x01, 0x00, 0x05, 0x28, 0x28, 0x28, 0x28, 0x28];
    attack.extend_from_slice(&[0x28; 80]);
    let got = raw_to_tls(tls, &attack, false);
    assert!(is_one_alert(&got), "got {got:?}");
    // The same message cut in the middle of the second record header, over two reads.
    let mut s = tcp(tls);
    s.set_nodelay(true).unwrap();
    s.write_all(&attack[..12]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(&attack[12..]).unwrap();
    assert!(is_one_alert(&read_to_close(&mut s)));
    // Every reactor still serves.
    for _ in 0..4 {
        let mut ws = wss(tls, "/echo", ca.http_client());
        ws.send(Message::text("still here")).unwrap();
        assert_eq!(next_data_tls(&mut ws), Message::text("still here"));
    }
}

/// A handshake that stalls half way is closed by the head timeout, and counted.
#[test]
fn a_stalled_handshake_is_closed_by_the_head_timeout() {
    let (_dir, ca, server, tls) = setup("stall", &["--head-timeout", "0.5"]);
    let hello = client_hello(ca.http_client());
    let mut s = tcp(tls);
    s.write_all(&hello[..10]).unwrap();
    let start = Instant::now();
    let got = read_to_close(&mut s);
    assert!(got.is_empty(), "no 408 in the clear: {got:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(eventually(Duration::from_secs(5), || server.metric(
        "switchyard_tls_failures_total{reason=\"handshake_timeout\"}"
    ) == 1));
    // The same with a ClientHello spread over records, stalled after its first record
    // (rustls then holds that record in the server's buffer while the 408 is written).
    let mut config = (*ca.http_client()).clone();
    config.max_fragment_size = Some(64);
    let hello = client_hello(std::sync::Arc::new(config));
    let first_record = 5 + usize::from(u16::from_be_bytes([hello[3], hello[4]]));
    assert!(first_record < hello.len());
    let mut s = tcp(tls);
    s.write_all(&hello[..first_record + 3]).unwrap();
    assert!(read_to_close(&mut s).is_empty());
    assert!(eventually(Duration::from_secs(5), || server.metric(
        "switchyard_tls_failures_total{reason=\"handshake_timeout\"}"
    ) == 2));
    // A completed handshake that sends no request is answered with the 408, encrypted.
    let mut s = connect(tls, "localhost", ca.http_client()).unwrap();
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
}

/// A WebSocket close over TLS: our close frame, then close_notify, then FIN; and at shutdown,
/// 1001, then close_notify.
#[test]
fn close_frames_are_followed_by_close_notify() {
    let (_dir, ca, mut server, tls) = setup("close", &[]);
    let mut ws = wss(tls, "/echo", ca.http_client());
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("close handshake: {e}"),
        }
    }
    let tls_stream = ws.get_mut();
    let mut rest = Vec::new();
    assert_eq!(
        tls_stream
            .read_to_end(&mut rest)
            .expect("close_notify, not a truncation"),
        0
    );

    let mut ws = wss(tls, "/echo", ca.http_client());
    ws.send(Message::text("x")).unwrap();
    assert_eq!(next_data_tls(&mut ws), Message::text("x"));
    let stopper = std::thread::spawn(move || server.shutdown());
    let code = loop {
        match ws.read() {
            Ok(Message::Close(Some(f))) => {
                let _ = ws.flush();
                break u16::from(f.code);
            }
            Ok(_) => continue,
            Err(e) => panic!("waiting for 1001: {e}"),
        }
    };
    assert_eq!(code, 1001);
    loop {
        match ws.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("after 1001: {e}"),
        }
    }
    let mut rest = Vec::new();
    assert_eq!(
        ws.get_mut().read_to_end(&mut rest).expect("close_notify"),
        0
    );
    stopper.join().unwrap();
}

/// Rotation under load: clients connected before a reload keep echoing through it and after
/// it; clients connecting after it get the new certificate; a broken new file keeps the old one.
#[test]
fn certificate_rotation_under_load_keeps_every_client() {
    let dir = Scratch::new("rotation");
    let ca = Ca::new();
    let old = ca.leaf(&["localhost"]);
    let (cert, key) = write_pair(&dir, "server", &old);
    let (server, tls) = start_tls(&cert, &key, &[]);
    let handle = server.server.as_ref().unwrap().handle();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut before = Vec::new();
    for i in 0..4 {
        let mut ws = wss(tls, "/echo", ca.http_client());
        assert_eq!(peer_cert(ws.get_ref()), old.der);
        let stop = std::sync::Arc::clone(&stop);
        before.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let m = format!("client {i} message {n}");
                ws.send(Message::text(m.clone())).unwrap();
                assert_eq!(next_data_tls(&mut ws), Message::text(m));
                n += 1;
            }
            ws.close(None).unwrap();
            n
        }));
    }
    std::thread::sleep(Duration::from_millis(200));
    let new = ca.leaf(&["localhost"]);
    replace_file(&cert, &new.cert_pem);
    replace_file(&key, &new.key_pem);
    let report = handle.reload_tls().expect("TLS configured");
    assert_eq!((report.replaced.len(), report.kept.len()), (1, 0));
    let mut after = wss(tls, "/echo", ca.http_client());
    assert_eq!(peer_cert(after.get_ref()), new.der);
    after.send(Message::text("after")).unwrap();
    assert_eq!(next_data_tls(&mut after), Message::text("after"));
    // A broken file: logged, and the new certificate stays in service.
    replace_file(&key, "not a key");
    let report = handle.reload_tls().unwrap();
    assert_eq!((report.replaced.len(), report.kept.len()), (0, 1));
    let again = connect(tls, "localhost", ca.http_client()).unwrap();
    assert_eq!(peer_cert(&again), new.der);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in before {
        assert!(
            t.join()
                .expect("a client connected before the reload failed")
                > 0
        );
    }
}

/// Backpressure through TLS: echo stops reading a wss client that reads none of its replies
/// (the queue, which counts encrypted bytes, is over the cap), with records split across the
/// paused reads; once the client reads, every reply arrives and the connection goes on.
#[test]
fn echo_stops_reading_a_tls_client_that_does_not_read() {
    let (_dir, ca, server, tls) = setup("backpressure", &["--outbound-cap", "262144"]);
    let mut ws = wss(tls, "/echo", ca.http_client());
    ws.send(Message::text("warm")).unwrap();
    assert_eq!(next_data_tls(&mut ws), Message::text("warm"));
    let s = ws.get_mut();
    let payload = vec![b'z'; 60_000];
    let frame = client_frame_any(0x2, &payload);
    s.sock.set_nonblocking(true).unwrap();
    let mut frames = 0usize;
    let mut last_progress = Instant::now();
    while frames < 10_000 && last_progress.elapsed() < Duration::from_secs(1) {
        if s.conn.wants_write() {
            match s.conn.write_tls(&mut s.sock) {
                Ok(_) => last_progress = Instant::now(),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("write failed: {e}"),
            }
        } else {
            s.conn.writer().write_all(&frame).unwrap();
            frames += 1;
        }
    }
    assert!(
        frames < 1000,
        "the server kept reading {frames} frames of 60 KB from a client that reads nothing"
    );
    assert!(server.metric("switchyard_backpressure_pauses_total") >= 1);
    // Send the rest of what was encrypted, reading meanwhile, then every reply is there.
    s.sock.set_nonblocking(false).unwrap();
    s.sock
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let expected = frames * (payload.len() + 4);
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < expected && Instant::now() < deadline {
        if s.conn.wants_write() {
            s.sock.set_nonblocking(true).unwrap();
            let _ = s.conn.write_tls(&mut s.sock);
            s.sock.set_nonblocking(false).unwrap();
        }
        // Raw reads fed to the session: `StreamOwned::read` would first flush our pending
        // records with a blocking write, which waits for a server that waits for us.
        let n = match s.sock.read(&mut buf) {
            Ok(0) => panic!("the server closed"),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => panic!("read failed: {e}"),
        };
        let mut records = &buf[..n];
        while !records.is_empty() {
            s.conn.read_tls(&mut records).unwrap();
            let state = s.conn.process_new_packets().unwrap();
            let start = got.len();
            got.resize(start + state.plaintext_bytes_to_read(), 0);
            s.conn.reader().read_exact(&mut got[start..]).unwrap();
        }
    }
    assert_eq!(got.len(), expected, "every reply, nothing dropped");
    for reply in got.chunks(payload.len() + 4) {
        assert_eq!(&reply[..4], &[0x82, 126, 0xEA, 0x60]);
        assert!(reply[4..].iter().all(|&b| b == b'z'));
    }
    s.sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    ws.send(Message::text("after")).unwrap();
    assert_eq!(next_data_tls(&mut ws), Message::text("after"));
}

/// `--tls-reload-interval`: a poll thread picks up changed files without a signal.
#[test]
fn the_reload_poll_picks_up_new_files() {
    let dir = Scratch::new("poll");
    let ca = Ca::new();
    let old = ca.leaf(&["localhost"]);
    let (cert, key) = write_pair(&dir, "server", &old);
    let (_server, tls) = start_tls(&cert, &key, &["--tls-reload-interval", "0.1"]);
    let before = wss(tls, "/echo", ca.http_client());
    assert_eq!(peer_cert(before.get_ref()), old.der);
    let new = ca.leaf(&["localhost"]);
    replace_file(&cert, &new.cert_pem);
    replace_file(&key, &new.key_pem);
    assert!(
        eventually(Duration::from_secs(5), || {
            connect(tls, "localhost", ca.http_client())
                .map(|s| peer_cert(&s) == new.der)
                .unwrap_or(false)
        }),
        "the new certificate was never served"
    );
}
