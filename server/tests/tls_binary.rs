//! The real binary over TLS: `--listen` and `--listen-tls` at once, SIGHUP reloads the
//! certificates without touching established connections (issue 14).

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::net::SocketAddr;

use common::*;
use pki::*;
use tungstenite::Message;

#[test]
fn sighup_rotates_certificates_and_established_connections_carry_on() {
    let dir = Scratch::new("sighup");
    let ca = Ca::new();
    let old = ca.leaf(&["localhost"]);
    let (cert, key) = write_pair(&dir, "server", &old);
    let bin = Binary::spawn(
        &[
            "--listen",
            "127.0.0.1:0",
            "--listen-tls",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--workers",
            "1",
            "--no-pin",
            "--log-level",
            "info",
        ],
        &[],
    );
    let line = bin
        .wait_line(TIMEOUT, |l| l.contains("listening on "))
        .unwrap();
    // "listening on PLAIN, TLS workers=...": the listen addresses, then the TLS ones.
    let tls: SocketAddr = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split(", ").nth(1))
        .and_then(|second| second.split([' ', '"']).next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no TLS address in {line:?}"));
    let mut before = wss(tls, "/echo", ca.http_client());
    assert_eq!(peer_cert(before.get_ref()), old.der);

    let new = ca.leaf(&["localhost"]);
    replace_file(&cert, &new.cert_pem);
    replace_file(&key, &new.key_pem);
    let killed = std::process::Command::new("kill")
        .args(["-HUP", &bin.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    bin.wait_line(TIMEOUT, |l| {
        l.contains("SIGHUP: TLS certificates reloaded (1 replaced")
    })
    .unwrap_or_else(|| panic!("no reload line: {:?}", bin.lines()));

    let mut after = wss(tls, "/echo", ca.http_client());
    assert_eq!(peer_cert(after.get_ref()), new.der);
    for ws in [&mut before, &mut after] {
        ws.send(Message::text("still here")).unwrap();
        assert_eq!(
            ws.read().unwrap(),
            Message::text("still here"),
            "echo after the reload"
        );
    }
    // The plain listener is there too.
    assert_eq!(status(&http_get(bin.addr, "/healthz")), 200);
}

/// Each handshake's protocol version, cipher suite, ALPN, SNI and kind at debug level; a
/// failure's reason too.
#[test]
fn handshakes_and_failures_are_logged_at_debug_level() {
    let dir = Scratch::new("debuglog");
    let ca = Ca::new();
    let (cert, key) = write_pair(&dir, "server", &ca.leaf(&["localhost"]));
    let bin = Binary::spawn(
        &[
            "--listen-tls",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--workers",
            "1",
            "--no-pin",
            "--log-level",
            "debug",
        ],
        &[],
    );
    let _tls = connect(bin.addr, "localhost", ca.http_client()).unwrap();
    let line = bin
        .wait_line(TIMEOUT, |l| l.contains("tls: ") && l.contains("version="))
        .unwrap_or_else(|| panic!("no handshake line: {:?}", bin.lines()));
    for part in [
        "version=TLSv1_3",
        "cipher=TLS13_AES_128_GCM_SHA256",
        "alpn=http/1.1",
        "sni=localhost",
        "handshake=Full",
    ] {
        assert!(line.contains(part), "{part} missing in {line:?}");
    }
    let mut s = tcp(bin.addr);
    std::io::Write::write_all(&mut s, b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let _ = read_to_close(&mut s);
    bin.wait_line(TIMEOUT, |l| l.contains("tls: ") && l.contains("plain_http"))
        .unwrap_or_else(|| panic!("no failure line: {:?}", bin.lines()));
}
