//! permessage-deflate (`--deflate=on|takeover|off`, default on): negotiated when enabled (echo
//! replies compressed, RSV1 set), without context takeover unless `takeover`, declined when off. The client side here is the frame crate's own client role;
//! Python `websockets` and Chromium check the same against real implementations (interop/).

mod common;

use common::*;
use std::io::{Read, Write};
use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, PermessageDeflate};
use switchyard_frame::{Config, Connection, Event, OpCode, Role};

fn upgrade_offering_deflate(server: &TestServer) -> (std::net::TcpStream, String) {
    raw_ws_head(
        server.addr,
        "/echo",
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
    )
}

/// A client codec with what the default answer agrees: no context takeover either way.
fn deflate_client() -> Connection {
    let mut client = Connection::new(Role::Client, Config::default());
    let agreed = DeflateConfig {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let codec = PermessageDeflate::new(Role::Client, agreed, CompressionPolicy::default());
    client.set_extension(Box::new(codec.unwrap()));
    client
}

#[test]
fn deflate_is_negotiated_and_echoes_are_compressed() {
    let server = TestServer::start(&["--deflate"]);
    let (mut s, head) = upgrade_offering_deflate(&server);
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-extensions: permessage-deflate"),
        "{head}"
    );
    let mut client = deflate_client();
    for round in 0..3 {
        let text = format!("round {round}: ") + &"compress me please, ".repeat(50);
        let mut wire = Vec::new();
        client
            .encode_message(OpCode::Text, text.as_bytes(), &mut wire)
            .unwrap();
        assert_eq!(wire[0], 0xC1, "the client compressed its message");
        s.write_all(&wire).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let reply = loop {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "server closed");
            got.extend_from_slice(&buf[..n]);
            let first = got[0];
            let progress = client.handle_bytes(&mut got).unwrap();
            if let Some(Event::Text(t)) = progress.event {
                break (first, t.into_owned());
            }
            got.clear();
        };
        assert_eq!(reply.0 & 0x40, 0x40, "the echo is compressed (RSV1)");
        assert_eq!(reply.1, text);
    }
}

#[test]
fn deflate_is_declined_when_off() {
    let server = TestServer::start(&["--deflate=off"]);
    let (_s, head) = upgrade_offering_deflate(&server);
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"),
        "{head}"
    );
}

/// The extension answer of a server started with `args` to a plain permessage-deflate offer.
fn deflate_answer(args: &[&str]) -> String {
    let server = TestServer::start(args);
    let (_s, head) = upgrade_offering_deflate(&server);
    head.to_ascii_lowercase()
        .lines()
        .find(|line| line.starts_with("sec-websocket-extensions:"))
        .unwrap_or_else(|| panic!("no extension answer: {head}"))
        .to_owned()
}

#[test]
fn default_accepts_deflate_without_context_takeover() {
    let answer = deflate_answer(&[]);
    assert!(answer.contains("permessage-deflate"), "{answer}");
    assert!(answer.contains("server_no_context_takeover"), "{answer}");
    assert!(answer.contains("client_no_context_takeover"), "{answer}");
}

#[test]
fn takeover_mode_keeps_context() {
    let answer = deflate_answer(&["--deflate=takeover"]);
    assert!(answer.contains("permessage-deflate"), "{answer}");
    assert!(!answer.contains("no_context_takeover"), "{answer}");
}

#[test]
fn an_incompressible_message_of_the_largest_size_fits_in_one_compressed_frame() {
    // A client that compresses everything (Python's websockets does) makes such a message's
    // frame longer than the message: zlib-rs at level 1 adds 5.5% to random bytes.
    let limit = 200_000;
    let server = TestServer::start(&["--max-message-size", &limit.to_string()]);
    let (mut s, _) = upgrade_offering_deflate(&server);
    // xorshift64: bytes deflate cannot shrink.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let message: Vec<u8> = (0..limit)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect();
    let mut compress = flate2::Compress::new(flate2::Compression::new(1), false);
    let mut payload = Vec::with_capacity(2 * limit);
    compress
        .compress_vec(&message, &mut payload, flate2::FlushCompress::Sync)
        .unwrap();
    assert!(payload.ends_with(&[0, 0, 0xff, 0xff]));
    payload.truncate(payload.len() - 4);
    assert!(
        payload.len() > limit,
        "{} bytes: incompressible",
        payload.len()
    );
    s.write_all(&client_frame_raw(0xC2, &payload)).unwrap();
    let mut client = deflate_client();
    let mut buf = vec![0u8; 64 << 10];
    let echoed = loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "server closed");
        let mut got = buf[..n].to_vec();
        let mut pos = 0;
        let mut done = None;
        while pos < got.len() {
            let progress = client.handle_bytes(&mut got[pos..]).unwrap();
            pos += progress.consumed;
            match progress.event {
                Some(Event::Binary(b)) => done = Some(b.into_owned()),
                Some(other) => panic!("{other:?}"),
                None => {}
            }
        }
        if let Some(b) = done {
            break b;
        }
    };
    assert!(echoed == message, "the echo differs");
}

/// A client codec for the agreement of a `server_max_window_bits=10` offer.
fn deflate_client_window(server_bits: u8) -> Connection {
    let mut client = Connection::new(Role::Client, Config::default());
    let agreed = DeflateConfig {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: server_bits,
        client_max_window_bits: 15,
    };
    let codec = PermessageDeflate::new(Role::Client, agreed, CompressionPolicy::default());
    client.set_extension(Box::new(codec.unwrap()));
    client
}

/// Reads whole messages from `s` through `client` until `count` arrived: (RSV1 set, text).
fn read_messages(
    s: &mut std::net::TcpStream,
    client: &mut Connection,
    count: usize,
) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    while out.len() < count {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "server closed");
        pending.extend_from_slice(&buf[..n]);
        let mut pos = 0;
        while pos < pending.len() {
            let first = pending[pos];
            let progress = client.handle_bytes(&mut pending[pos..]).unwrap();
            if progress.consumed == 0 {
                break;
            }
            pos += progress.consumed;
            match progress.event {
                Some(Event::Text(t)) => out.push((first & 0x40 != 0, t.into_owned())),
                Some(other) => panic!("{other:?}"),
                None => {}
            }
        }
        pending.drain(..pos);
    }
    out
}

/// Issue 17: a broadcast is compressed once per message and window, and the same compressed
/// frame reaches every subscriber that agreed that window; others get the plain frame.
#[test]
fn broadcasts_are_compressed_once_and_shared_by_deflate_subscribers() {
    let server = TestServer::start(&["--workers", "1"]);
    let offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    let offer10 = "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n";
    let mut wide: Vec<_> = (0..3)
        .map(|_| {
            (
                raw_ws_with(server.addr, "/broadcast", offer),
                deflate_client(),
            )
        })
        .collect();
    let (mut narrow, head) = raw_ws_head(server.addr, "/broadcast", offer10);
    assert!(head.contains("server_max_window_bits=10"), "{head}");
    let mut narrow_client = deflate_client_window(10);
    let mut plain = raw_ws(server.addr, "/broadcast");
    let mut plain_client = Connection::new(Role::Client, Config::default());
    let mut publisher = raw_ws(server.addr, "/broadcast");

    let messages: Vec<String> = (0..4)
        .map(|i| {
            format!(
                "{{\"seq\": {i}, \"text\": \"{}\"}}",
                "shared frames ".repeat(20)
            )
        })
        .chain(["short".to_owned()])
        .collect();
    for m in &messages {
        publisher
            .write_all(&client_frame_raw(0x81, m.as_bytes()))
            .unwrap();
    }
    let expect_compressed = |got: Vec<(bool, String)>, compressed: bool| {
        let texts: Vec<String> = got.iter().map(|(_, t)| t.clone()).collect();
        assert_eq!(texts, messages);
        for (i, (rsv1, _)) in got.iter().enumerate() {
            // The short message goes plain to everyone (below the policy's 64 bytes).
            assert_eq!(*rsv1, compressed && i < 4, "message {i}");
        }
    };
    for (s, client) in wide.iter_mut() {
        expect_compressed(read_messages(s, client, messages.len()), true);
    }
    expect_compressed(
        read_messages(&mut narrow, &mut narrow_client, messages.len()),
        true,
    );
    expect_compressed(
        read_messages(&mut plain, &mut plain_client, messages.len()),
        false,
    );
    // Five messages, two windows (15 and 10): ten compressions (the short one was tried and
    // found too short once per window), not one per subscriber.
    assert_eq!(server.metric("switchyard_broadcast_compressions_total"), 10);
}
