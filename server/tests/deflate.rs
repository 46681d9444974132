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
