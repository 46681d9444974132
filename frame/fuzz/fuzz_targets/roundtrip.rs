//! Fuzz the send side against the receive side: a sequence of send operations drawn from the
//! input (data frames through every encoder, fragmentation, pings, pongs, close) is encoded by
//! one role and decoded by the other under a split drawn from the input. Whatever the encoder
//! accepts must decode to exactly the messages that were sent; whatever it refuses must leave the
//! stream valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, PermessageDeflate};
use switchyard_frame::{CloseCode, Config, Connection, Event, OpCode, Role};

fuzz_target!(|data: &[u8]| {
    let [flags, rest @ ..] = data else { return };
    let (send_role, recv_role) = if flags & 1 == 0 {
        (Role::Client, Role::Server)
    } else {
        (Role::Server, Role::Client)
    };
    let mut sender = Connection::new(send_role, Config::default());
    let mut receiver = Connection::new(recv_role, Config::default());
    if flags & 2 != 0 {
        // Same agreement on both ends; the compressor may keep or drop its context.
        let mut deflate = DeflateConfig::default();
        deflate.server_no_context_takeover = flags & 4 != 0;
        deflate.client_no_context_takeover = flags & 8 != 0;
        let policy = CompressionPolicy {
            min_size: usize::from(flags >> 4),
            ..CompressionPolicy::default()
        };
        for (conn, role) in [(&mut sender, send_role), (&mut receiver, recv_role)] {
            let codec = PermessageDeflate::new(role, deflate, policy).expect("valid");
            conn.set_extension(Box::new(codec));
        }
    }
    let mut stream = Vec::new();
    let mut expected: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut message = Vec::new();
    let mut message_op = 0u8;
    let mut ops = rest;
    while let [op, len, tail @ ..] = ops {
        let len = usize::from(*len).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        ops = tail;
        let opcode = match op & 3 {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            _ => OpCode::Ping,
        };
        let fin = op & 4 != 0;
        // Text must be valid UTF-8 for the identity to hold: a text message in one frame uses the
        // lossy conversion (non-ASCII coverage), fragments of text use ASCII (valid at any cut).
        let is_text = opcode == OpCode::Text
            || (opcode == OpCode::Continuation && message_op == OpCode::Text.as_u8());
        let converted: Vec<u8> = if is_text && fin && opcode == OpCode::Text {
            String::from_utf8_lossy(payload).into_owned().into_bytes()
        } else if is_text {
            payload.iter().map(|b| b & 0x7F).collect()
        } else {
            payload.to_vec()
        };
        let payload: &[u8] = &converted;
        let sent = match (op >> 3) & 3 {
            _ if opcode == OpCode::Ping => match sender.encode_ping(payload) {
                Ok(frame) => {
                    stream.extend_from_slice(&frame);
                    expected.push((9, payload.to_vec()));
                    false
                }
                Err(_) => false,
            },
            0 => match sender.encode_header(opcode, fin, payload.len()) {
                Ok(header) => {
                    stream.extend_from_slice(&header);
                    stream.extend_from_slice(payload);
                    true
                }
                Err(_) => false,
            },
            1 => {
                let mut copy = payload.to_vec();
                match sender.encode_frame(opcode, fin, &mut copy) {
                    Ok(header) => {
                        stream.extend_from_slice(&header);
                        stream.extend_from_slice(&copy);
                        true
                    }
                    Err(_) => false,
                }
            }
            3 if fin && opcode != OpCode::Continuation => {
                match sender.encode_message(opcode, payload, &mut stream) {
                    Ok(()) => true,
                    Err(_) => false,
                }
            }
            _ => {
                let mut out = vec![0u8; payload.len() + 14];
                match sender.encode_frame_into(opcode, fin, payload, &mut out) {
                    Ok(n) => {
                        stream.extend_from_slice(&out[..n]);
                        true
                    }
                    Err(_) => false,
                }
            }
        };
        if sent {
            if opcode != OpCode::Continuation {
                message_op = opcode.as_u8();
                message.clear();
            }
            message.extend_from_slice(payload);
            if fin {
                expected.push((message_op, core::mem::take(&mut message)));
            }
        }
    }
    if let Ok(frame) = sender.encode_close(Some(CloseCode::NORMAL), "") {
        stream.extend_from_slice(&frame);
        expected.push((8, Vec::new()));
    }

    let mut got = Vec::new();
    let step = usize::from(flags >> 2) + 1;
    for chunk in stream.chunks_mut(step) {
        let mut pos = 0;
        while pos < chunk.len() {
            let progress = receiver.handle_bytes(&mut chunk[pos..]).expect("valid stream");
            pos += progress.consumed;
            match progress.event {
                Some(Event::Text(t)) => got.push((1, t.as_bytes().to_vec())),
                Some(Event::Binary(b)) => got.push((2, b.into_owned())),
                Some(Event::Ping(p)) => got.push((9, p.into_owned())),
                Some(Event::Pong(p)) => got.push((10, p.into_owned())),
                Some(Event::Close { .. }) => got.push((8, Vec::new())),
                None => {}
            }
        }
    }
    assert_eq!(got, expected);
});
