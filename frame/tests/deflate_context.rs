//! permessage-deflate round trips: context takeover kept or reset as agreed, window sizes,
//! interop with plain flate2 raw deflate in both directions, fragmented compressed messages,
//! and random messages under random splits of the stream.

mod deflate_common;
use deflate_common::*;

use proptest::prelude::*;
use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, PermessageDeflate};
use switchyard_frame::{Config, Connection, Extension, OpCode, Role};

fn json(i: usize) -> String {
    format!(
        r#"{{"id":{i},"type":"price-update","symbol":"ACME","bid":{}.{:02},"ask":{}.{:02},"venue":"XNAS"}}"#,
        100 + i % 7,
        i % 100,
        101 + i % 5,
        (i * 7) % 100
    )
}

/// Client -> server and server -> client, `n` messages each way, with `agreed`.
fn round_trip(agreed: DeflateConfig, n: usize) -> (Vec<usize>, Vec<usize>) {
    let mut client = with_deflate(Role::Client, agreed, Config::default());
    let mut server = with_deflate(Role::Server, agreed, Config::default());
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for i in 0..n {
        let text = json(i);
        let wire = send_text(&mut client, &text);
        up.push(wire.len());
        assert_eq!(
            decode_all(&mut server, &wire, 7).unwrap(),
            [Msg::Text(text.clone())]
        );
        let wire = send_text(&mut server, &text);
        down.push(wire.len());
        assert_eq!(
            decode_all(&mut client, &wire, 5).unwrap(),
            [Msg::Text(text)]
        );
    }
    (up, down)
}

#[test]
fn context_takeover_round_trips_and_shrinks_later_messages() {
    let (up, down) = round_trip(DeflateConfig::default(), 50);
    // Later messages refer back to earlier ones: far smaller than the first.
    assert!(up[49] * 2 < up[0], "{up:?}");
    assert!(down[49] * 2 < down[0], "{down:?}");
}

#[test]
fn no_context_takeover_round_trips_with_constant_sizes() {
    let agreed = DeflateConfig {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let (up, down) = round_trip(agreed, 50);
    let (with_up, _) = round_trip(DeflateConfig::default(), 50);
    // Each message stands alone: no shrinking over time, larger than with takeover.
    assert!(up[49] * 10 > up[0] * 8, "{up:?}");
    assert!(up[49] > with_up[49]);
    // The same bytes both ways, but for the client's 4-byte masking key.
    assert_eq!(up.iter().map(|len| len - 4).collect::<Vec<_>>(), down);
}

/// One direction reset, the other kept: the codec applies each to its own half.
#[test]
fn mixed_context_takeover() {
    for (server_reset, client_reset) in [(true, false), (false, true)] {
        let agreed = DeflateConfig {
            server_no_context_takeover: server_reset,
            client_no_context_takeover: client_reset,
            ..DeflateConfig::default()
        };
        let (up, down) = round_trip(agreed, 20);
        assert_eq!(up[19] * 2 < up[0], !client_reset, "{up:?}");
        assert_eq!(down[19] * 2 < down[0], !server_reset, "{down:?}");
    }
}

/// Memory: without context takeover nothing is kept after a message; with it, both halves stay.
#[test]
fn state_is_dropped_after_each_message_without_takeover() {
    let text = json(1);
    for reset in [false, true] {
        let agreed = DeflateConfig {
            server_no_context_takeover: reset,
            client_no_context_takeover: reset,
            ..DeflateConfig::default()
        };
        let mut sender = PermessageDeflate::new(Role::Server, agreed, always()).unwrap();
        let mut receiver = PermessageDeflate::new(Role::Client, agreed, always()).unwrap();
        assert!(!sender.has_compressor() && !receiver.has_decompressor());
        let mut payload = Vec::new();
        assert!(sender
            .encode_message(text.as_bytes(), &mut payload)
            .unwrap());
        assert_eq!(sender.has_compressor(), !reset);
        let mut out = Vec::new();
        let (first, rest) = payload.split_at(payload.len() / 2);
        receiver
            .decode_piece(first, false, &mut out, 1 << 20)
            .unwrap();
        assert!(receiver.has_decompressor(), "mid-message");
        receiver
            .decode_piece(rest, true, &mut out, 1 << 20)
            .unwrap();
        assert_eq!(receiver.has_decompressor(), !reset);
        assert_eq!(out, text.as_bytes());
    }
}

/// Short messages are sent as they are and leave the context alone.
#[test]
fn short_messages_go_uncompressed_and_do_not_touch_the_context() {
    let policy = CompressionPolicy {
        min_size: 20,
        ..CompressionPolicy::default()
    };
    let agreed = DeflateConfig::default();
    let mut server = with_policy(Role::Server, agreed, policy, Config::default());
    let mut client = with_policy(Role::Client, agreed, policy, Config::default());
    let mut stream = Vec::new();
    for (i, text) in ["hi", &json(1), "yo", &json(2), "", &json(3)]
        .iter()
        .enumerate()
    {
        let frame = send_text(&mut server, text);
        assert_eq!(frame[0] == 0xc1, i % 2 == 1, "{text}");
        stream.extend_from_slice(&frame);
    }
    let messages = decode_all(&mut client, &stream, 3).unwrap();
    assert_eq!(messages.len(), 6);
    assert_eq!(messages[3], Msg::Text(json(2)));
}

/// Our output is plain raw deflate: flate2 reads it with a shared context, or with a fresh one
/// per message when the context is reset.
#[test]
fn flate2_reads_what_we_send() {
    for reset in [false, true] {
        let agreed = DeflateConfig {
            server_no_context_takeover: reset,
            ..DeflateConfig::default()
        };
        let mut server = with_deflate(Role::Server, agreed, Config::default());
        let mut shared = RefReceiver::new(15);
        for i in 0..30 {
            let text = json(i).repeat(1 + i % 4);
            let frame = send_text(&mut server, &text);
            assert_eq!(frame[0], 0xc1);
            let payload = payload_of(&frame);
            let got = if reset {
                RefReceiver::new(15).decompress(payload)
            } else {
                shared.decompress(payload)
            };
            assert_eq!(got, text.as_bytes());
        }
    }
}

/// flate2's raw deflate (any level, any window size) decodes, whole or fragmented.
#[test]
fn we_read_what_flate2_sends() {
    for window_bits in 9..=15u8 {
        for level in [0, 1, 6, 9] {
            let mut sender = RefSender::new(level, window_bits);
            let mut client =
                with_deflate(Role::Client, DeflateConfig::default(), Config::default());
            let mut stream = Vec::new();
            let mut expected = Vec::new();
            for i in 0..10 {
                let message: Vec<u8> = json(i).repeat(40).into_bytes();
                let payload = sender.compress(&message);
                if i % 2 == 0 {
                    stream.extend_from_slice(&server_frame(0xc2, &payload));
                } else {
                    // Three fragments: RSV1 on the first only.
                    let (a, rest) = payload.split_at(payload.len() / 3);
                    let (b, c) = rest.split_at(rest.len() / 2);
                    stream.extend_from_slice(&server_frame(0x42, a));
                    stream.extend_from_slice(&server_frame(0x89, b"ping")); // control in between
                    stream.extend_from_slice(&server_frame(0x00, b));
                    stream.extend_from_slice(&server_frame(0x80, c));
                }
                expected.push(Msg::Binary(message));
            }
            assert_eq!(
                decode_all(&mut client, &stream, 1000).unwrap(),
                expected,
                "window {window_bits} level {level}"
            );
        }
    }
}

/// Every agreed window size works end to end, 8 included (compressed with 9).
#[test]
fn every_window_size_round_trips() {
    for bits in 8..=15u8 {
        let agreed = DeflateConfig {
            server_max_window_bits: bits,
            client_max_window_bits: bits,
            ..DeflateConfig::default()
        };
        let (up, _) = round_trip(agreed, 10);
        assert!(up.iter().all(|&len| len > 0));
        // What we send with a small window decodes with exactly that window (9 for 8).
        let mut server = with_deflate(Role::Server, agreed, Config::default());
        let mut receiver = RefReceiver::new(bits.max(9));
        let text: String = (0..200).map(json).collect();
        let frame = send_text(&mut server, &text);
        assert_eq!(receiver.decompress(payload_of(&frame)), text.as_bytes());
    }
}

/// An agreed 8-bit window is compressed with 9, but zlib's matches never reach further back than
/// the window minus 262 bytes of lookahead: a repeat 400 bytes back is not found, so the peer's
/// 256-byte window suffices. With 15 bits the same repeat is found.
#[test]
fn eight_bit_window_never_reaches_past_256_bytes() {
    let mut seed = 7u32;
    let first: Vec<u8> = (0..400)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 16) as u8
        })
        .collect();
    let repeat = &first[..60];
    for (bits, found) in [(8u8, false), (15, true)] {
        let agreed = DeflateConfig {
            server_max_window_bits: bits,
            ..DeflateConfig::default()
        };
        let mut codec = PermessageDeflate::new(Role::Server, agreed, always()).unwrap();
        let mut out = Vec::new();
        codec.encode_message(&first, &mut out).unwrap();
        out.clear();
        codec.encode_message(repeat, &mut out).unwrap();
        assert_eq!(out.len() < 20, found, "{bits} bits: {} bytes", out.len());
    }
}

/// Binary messages through `encode_message`, the client role masking the compressed payload.
#[test]
fn binary_from_client_role() {
    let mut client = with_deflate(Role::Client, DeflateConfig::default(), Config::default());
    let mut server = with_deflate(Role::Server, DeflateConfig::default(), Config::default());
    let message: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut wire = Vec::new();
    client
        .encode_message(OpCode::Binary, &message, &mut wire)
        .unwrap();
    assert_eq!(wire[0], 0xc2);
    assert_eq!(wire[1] & 0x80, 0x80, "masked");
    assert!(wire.len() < message.len() / 10);
    assert_eq!(
        decode_all(&mut server, &wire, 4096).unwrap(),
        [Msg::Binary(message)]
    );
}

fn arb_config() -> impl Strategy<Value = (DeflateConfig, CompressionPolicy)> {
    (
        any::<bool>(),
        any::<bool>(),
        8..=15u8,
        8..=15u8,
        0..=9u8,
        0..100usize,
    )
        .prop_map(|(s, c, sb, cb, level, min_size)| {
            (
                DeflateConfig {
                    server_no_context_takeover: s,
                    client_no_context_takeover: c,
                    server_max_window_bits: sb,
                    client_max_window_bits: cb,
                },
                CompressionPolicy { level, min_size },
            )
        })
}

fn arb_message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b' ')], 0..5000),
        (0..50usize).prop_map(|i| json(i).repeat(i % 5 + 1).into_bytes()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random messages, both directions, random configurations and read sizes: what is sent is
    /// what is received.
    #[test]
    fn random_messages_round_trip(
        (agreed, policy) in arb_config(),
        messages in proptest::collection::vec(arb_message(), 1..12),
        piece in 1..2000usize,
    ) {
        for (send_role, recv_role) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
            let mut sender = with_policy(send_role, agreed, policy, Config::default());
            let mut receiver: Connection = with_policy(recv_role, agreed, policy, Config::default());
            let mut stream = Vec::new();
            for message in &messages {
                sender.encode_message(OpCode::Binary, message, &mut stream).unwrap();
            }
            let got = decode_all(&mut receiver, &stream, piece).unwrap();
            let expected: Vec<Msg> = messages.iter().cloned().map(Msg::Binary).collect();
            prop_assert_eq!(got, expected);
        }
    }
}

/// Without context takeover connections on one thread share a spare (de)compressor between
/// messages. Interleaved connections with different settings, and messages split across calls
/// that interleave with other connections, stay independent.
#[test]
fn spare_state_never_leaks_between_connections() {
    let config = DeflateConfig {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let policy = |level| CompressionPolicy { level, min_size: 0 };
    let mut senders: Vec<PermessageDeflate> = [1, 6, 1]
        .into_iter()
        .map(|level| PermessageDeflate::new(Role::Server, config, policy(level)).unwrap())
        .collect();
    let mut receivers: Vec<PermessageDeflate> = (0..3)
        .map(|_| PermessageDeflate::new(Role::Client, config, policy(1)).unwrap())
        .collect();
    let mut outs = vec![Vec::new(); 3];
    for round in 0..20 {
        let texts: Vec<String> = (0..3).map(|c| json(round * 3 + c).repeat(3)).collect();
        let payloads: Vec<Vec<u8>> = (0..3)
            .map(|c| {
                let mut p = Vec::new();
                assert!(senders[c]
                    .encode_message(texts[c].as_bytes(), &mut p)
                    .unwrap());
                // Each message stands alone: a fresh flate2 reads it.
                assert_eq!(RefReceiver::new(15).decompress(&p), texts[c].as_bytes());
                p
            })
            .collect();
        // First halves of all three, then second halves: three messages in flight at once.
        for (c, p) in payloads.iter().enumerate() {
            outs[c].clear();
            let half = p.len() / 2;
            receivers[c]
                .decode_piece(&p[..half], false, &mut outs[c], 1 << 20)
                .unwrap();
        }
        for (c, p) in payloads.iter().enumerate() {
            let half = p.len() / 2;
            receivers[c]
                .decode_piece(&p[half..], true, &mut outs[c], 1 << 20)
                .unwrap();
            assert_eq!(outs[c], texts[c].as_bytes());
            assert!(!receivers[c].has_decompressor() && !senders[c].has_compressor());
        }
    }
}
