//! The access log of the real binary (`--access-log`): one line per finished WebSocket with
//! its peer, path (no query), subprotocol, duration, messages and bytes each way, close code
//! and who closed, in text and in JSON (`--log-format json`, where every stderr line is a JSON
//! object); and the summary line after SIGTERM.

mod common;

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use serde_json::Value;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

/// The binary with the access log in `format`, two workers and `chat` as a subprotocol.
fn spawn(format: &str) -> Binary {
    Binary::spawn(
        &[
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--no-pin",
            "--access-log",
            "--log-level",
            "info",
            "--log-format",
            format,
            "--subprotocol",
            "chat",
            "--shutdown-timeout",
            "3",
        ],
        &[],
    )
}

/// A tungstenite client on `path` of `addr`, offering the `chat` subprotocol.
fn client(addr: SocketAddr, path: &str) -> Client {
    use tungstenite::client::IntoClientRequest as _;
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "chat".parse().unwrap());
    let (ws, response) = tungstenite::client::client(req, tcp(addr)).expect("upgrade");
    assert_eq!(
        response.headers().get("Sec-WebSocket-Protocol").unwrap(),
        "chat"
    );
    ws
}

/// The clean session: two messages each way (5 + 6 bytes) on `/echo?token=...`, then the
/// client closes with 1000. Returns the client's address, as the server sees the peer.
fn clean_session(addr: SocketAddr) -> SocketAddr {
    let mut ws = client(addr, "/echo?token=query-secret");
    let peer = ws.get_ref().local_addr().unwrap();
    for text in ["hello", "world!"] {
        ws.send(Message::text(text)).unwrap();
        assert_eq!(next_data(&mut ws), Message::text(text));
    }
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .unwrap();
    // The server answers our close with its own, echoing the code.
    assert_eq!(close_code(&mut ws), 1000);
    peer
}

/// The dropped session: two messages each way (3 + 4 bytes) on `/dropped`, no subprotocol,
/// then the TCP connection is closed without a close frame. Returns the client's address.
fn dropped_session(addr: SocketAddr) -> SocketAddr {
    let mut s = raw_ws(addr, "/dropped");
    let peer = s.local_addr().unwrap();
    for text in [&b"abc"[..], b"defg"] {
        s.write_all(&client_frame(0x81, text)).unwrap();
        let mut frame = vec![0u8; 2 + text.len()];
        s.read_exact(&mut frame).unwrap();
        assert_eq!(&frame[2..], text);
    }
    drop(s);
    peer
}

/// The `key=value` pairs of a text line (after the timestamp and level).
fn text_fields(line: &str) -> HashMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .collect()
}

/// The access line (text) whose path is `path`, waiting for it.
fn text_line(binary: &Binary, path: &str) -> String {
    let needle = format!(" path={path} ");
    binary
        .wait_line(TIMEOUT, |l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no access line for {path}: {:#?}", binary.lines()))
}

#[test]
fn text_access_lines_name_every_field_and_shutdown_logs_a_summary() {
    let mut binary = spawn("text");
    let clean_peer = clean_session(binary.addr);
    let dropped_peer = dropped_session(binary.addr);

    let line = text_line(&binary, "/echo");
    assert!(line.contains(" INFO "), "{line}");
    assert!(
        !line.contains("query-secret") && !line.contains('?'),
        "{line}"
    );
    let f = text_fields(&line);
    assert_eq!(f["peer"], clean_peer.to_string(), "{line}");
    assert_eq!(f["path"], "/echo", "{line}");
    assert_eq!(f["subprotocol"], "chat", "{line}");
    let ms: u64 = f["duration_ms"].parse().expect("a number");
    assert!(ms < TIMEOUT.as_millis() as u64, "{line}");
    assert_eq!(f["in"], "2/11B", "{line}");
    assert_eq!(f["out"], "2/11B", "{line}");
    assert_eq!(f["close"], "1000", "{line}");
    assert_eq!(f["by"], "client", "{line}");
    // The fields come in the documented order.
    let keys: Vec<&str> = line
        .split_whitespace()
        .filter_map(|p| Some(p.split_once('=')?.0))
        .collect();
    assert_eq!(
        keys,
        [
            "peer",
            "path",
            "subprotocol",
            "duration_ms",
            "in",
            "out",
            "close",
            "by"
        ],
        "{line}"
    );

    let line = text_line(&binary, "/dropped");
    let f = text_fields(&line);
    assert_eq!(f["peer"], dropped_peer.to_string(), "{line}");
    assert_eq!(f["subprotocol"], "-", "{line}");
    assert_eq!(f["in"], "2/7B", "{line}");
    assert_eq!(f["out"], "2/7B", "{line}");
    assert_eq!(f["by"], "network", "{line}");
    assert_eq!(f["close"], "-", "no close handshake, no close code: {line}");

    // A client still open at shutdown: the server closes it (1001).
    let mut open = client(binary.addr, "/open");
    binary.sigterm();
    assert_eq!(close_code(&mut open), 1001);
    let status = binary.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    let line = text_line(&binary, "/open");
    let f = text_fields(&line);
    assert_eq!((f["close"], f["by"]), ("1001", "server"), "{line}");
    assert_eq!((f["in"], f["out"]), ("0/0B", "0/0B"), "{line}");

    let summary = binary
        .wait_line(TIMEOUT, |l| l.contains("switchyard stopped: "))
        .unwrap_or_else(|| panic!("no summary: {:#?}", binary.lines()));
    assert!(
        summary.ends_with(
            "switchyard stopped: accepted 3 connections, 3 WebSocket upgrades, 0 tunnels; \
             4 messages in (18 bytes), 4 messages out (18 bytes); 0 budget closes"
        ),
        "{summary}"
    );
    // One access line per WebSocket, nothing more.
    let access = binary
        .lines()
        .iter()
        .filter(|l| l.contains(" peer="))
        .count();
    assert_eq!(access, 3, "{:#?}", binary.lines());
}

#[test]
fn json_access_lines_carry_every_field_and_every_line_is_json() {
    let mut binary = spawn("json");
    let clean_peer = clean_session(binary.addr);
    let dropped_peer = dropped_session(binary.addr);
    let access = |path: &str| -> Value {
        let needle = format!("\"path\":\"{path}\"");
        let line = binary
            .wait_line(TIMEOUT, |l| l.contains(&needle))
            .unwrap_or_else(|| panic!("no access line for {path}: {:#?}", binary.lines()));
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["target"], "switchyard::access", "{line}");
        assert_eq!(v["level"], "INFO", "{line}");
        assert!(v["ts"].is_string(), "{line}");
        assert!(v.get("msg").is_none(), "the fields replace msg: {line}");
        v["access"].clone()
    };

    let a = access("/echo");
    assert_eq!(a["peer"], clean_peer.to_string(), "{a}");
    assert_eq!(a["path"], "/echo", "{a}");
    assert_eq!(a["subprotocol"], "chat", "{a}");
    assert!(
        a["duration_ms"].as_u64().is_some_and(|ms| ms < 10_000),
        "{a}"
    );
    assert_eq!(a["messages_in"], 2, "{a}");
    assert_eq!(a["bytes_in"], 11, "{a}");
    assert_eq!(a["messages_out"], 2, "{a}");
    assert_eq!(a["bytes_out"], 11, "{a}");
    assert_eq!(a["close_code"], 1000, "{a}");
    assert_eq!(a["closed_by"], "client", "{a}");
    let mut keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "bytes_in",
            "bytes_out",
            "close_code",
            "closed_by",
            "duration_ms",
            "messages_in",
            "messages_out",
            "path",
            "peer",
            "subprotocol"
        ]
    );

    let a = access("/dropped");
    assert_eq!(a["peer"], dropped_peer.to_string(), "{a}");
    assert_eq!(a["subprotocol"], Value::Null, "{a}");
    assert_eq!(
        (&a["messages_in"], &a["bytes_in"]),
        (&2.into(), &7.into()),
        "{a}"
    );
    assert_eq!(
        (&a["messages_out"], &a["bytes_out"]),
        (&2.into(), &7.into()),
        "{a}"
    );
    assert_eq!(a["closed_by"], "network", "{a}");
    assert_eq!(a["close_code"], Value::Null, "no close handshake: {a}");

    binary.sigterm();
    assert!(binary.wait_exit(Duration::from_secs(10)).success());
    let summary = binary
        .wait_line(TIMEOUT, |l| l.contains("switchyard stopped: "))
        .unwrap_or_else(|| panic!("no summary: {:#?}", binary.lines()));
    let v: Value = serde_json::from_str(&summary).unwrap();
    assert!(
        v["msg"]
            .as_str()
            .is_some_and(|m| m
                .starts_with("switchyard stopped: accepted 2 connections, 2 WebSocket upgrades")),
        "{summary}"
    );
    // Every line is one JSON object: ts, level, target, and msg (or the access fields).
    let lines = binary.lines();
    assert!(lines.len() >= 4, "{lines:#?}");
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["ts"].is_string(), "{line}");
        assert!(v["level"].is_string(), "{line}");
        assert!(v["target"].is_string(), "{line}");
        if v["target"] == "switchyard::access" {
            assert!(v["access"].is_object(), "{line}");
        } else {
            assert!(v["msg"].is_string(), "{line}");
        }
    }
}

#[test]
fn without_access_log_there_are_no_access_lines() {
    let mut binary = Binary::spawn(
        &[
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--no-pin",
            "--log-level",
            "info",
        ],
        &[],
    );
    assert!(
        binary.lines()[0].contains("access_log=off"),
        "{:?}",
        binary.lines()
    );
    let mut ws = client_plain(binary.addr);
    ws.send(Message::text("x")).unwrap();
    next_data(&mut ws);
    ws.close(None).unwrap();
    close_code(&mut ws);
    binary.sigterm();
    assert!(binary.wait_exit(Duration::from_secs(10)).success());
    // The summary is the last line; it counts the connection, and no line names a peer.
    let lines = binary.lines();
    assert!(
        lines
            .last()
            .is_some_and(|l| l.contains("switchyard stopped: accepted 1 connections")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains("peer=")), "{lines:#?}");
}

/// A tungstenite client on `/echo` offering no subprotocol.
fn client_plain(addr: SocketAddr) -> Client {
    tungstenite::client::client(format!("ws://{addr}/echo"), tcp(addr))
        .expect("upgrade")
        .0
}
