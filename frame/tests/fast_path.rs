//! The decoder's shortcut for whole single-frame messages must be invisible: every input it
//! could take decodes to the same events and errors as when the same bytes arrive split (which
//! forces the general path). Covers each condition the shortcut checks, on both sides of it.

mod common;

use common::{decode_all, decode_chunks, frame, MASK};
use switchyard_frame::{Config, Connection, Role};

fn config(max_frame: usize, max_message: usize) -> Config {
    let mut config = Config::default();
    config.max_frame_size = max_frame;
    config.max_message_size = max_message;
    config
}

/// Whole input vs a cut after the first byte (header stashed) vs a cut after the header
/// (payload streamed): same events, same error.
fn assert_same_everywhere(role: Role, config: Config, stream: &[u8], what: &str) {
    let whole = decode_all(&mut Connection::new(role, config), stream);
    for cut in [1, 2, 4, 8, 14] {
        let split = decode_chunks(&mut Connection::new(role, config), stream, &[cut]);
        assert_eq!(whole, split, "{what}: cut at {cut}");
    }
}

fn payload(len: usize, text: bool) -> Vec<u8> {
    if text {
        (0..len).map(|i| b'a' + (i % 26) as u8).collect()
    } else {
        (0..len).map(|i| (i * 7) as u8).collect()
    }
}

#[test]
fn every_length_and_opcode_decodes_the_same_whole_or_split() {
    for len in [
        0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 125, 126, 127, 1000, 65535, 65536,
    ] {
        for (opcode, text) in [(1u8, true), (2u8, false)] {
            let body = payload(len, text);
            let server_input = frame(true, 0, opcode, MASK, &body);
            let client_input = frame(true, 0, opcode, None, &body);
            let what = format!("len {len} opcode {opcode}");
            assert_same_everywhere(Role::Server, Config::default(), &server_input, &what);
            assert_same_everywhere(Role::Client, Config::default(), &client_input, &what);
            // The wrong masking for the role is an error on both paths.
            assert_same_everywhere(Role::Server, Config::default(), &client_input, &what);
            assert_same_everywhere(Role::Client, Config::default(), &server_input, &what);
            let (events, error) = decode_all(
                &mut Connection::new(Role::Server, Config::default()),
                &server_input,
            );
            assert_eq!((events.len(), error), (1, None), "{what}");
        }
    }
}

#[test]
fn limits_are_enforced_the_same_at_their_boundaries() {
    for limit in [0usize, 1, 16, 125, 126, 300] {
        for len in [limit.saturating_sub(1), limit, limit + 1] {
            let stream = frame(true, 0, 2, MASK, &payload(len, false));
            let what = format!("limit {limit} len {len}");
            assert_same_everywhere(Role::Server, config(limit, 1 << 20), &stream, &what);
            assert_same_everywhere(Role::Server, config(1 << 20, limit), &stream, &what);
            let (events, error) = decode_all(
                &mut Connection::new(Role::Server, config(limit, limit)),
                &stream,
            );
            assert_eq!(error.is_some(), len > limit, "{what}: {events:?}");
        }
    }
}

#[test]
fn frames_the_shortcut_leaves_alone_decode_the_same() {
    let body = b"hello".to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("rsv1 without extension", frame(true, 4, 1, MASK, &body)),
        ("rsv2", frame(true, 2, 2, MASK, &body)),
        ("rsv3", frame(true, 1, 2, MASK, &body)),
        ("no fin", frame(false, 0, 1, MASK, &body)),
        ("continuation first", frame(true, 0, 0, MASK, &body)),
        ("reserved opcode", frame(true, 0, 3, MASK, &body)),
        ("ping", frame(true, 0, 9, MASK, &body)),
        (
            "invalid utf-8 short",
            frame(true, 0, 1, MASK, &[b'a', 0xC0, 0x80]),
        ),
        ("invalid utf-8 long", frame(true, 0, 1, MASK, &[0xFF; 300])),
        (
            "valid non-ascii",
            frame(true, 0, 1, MASK, "h\u{e9}llo \u{1F600}".as_bytes()),
        ),
        (
            "truncated utf-8",
            frame(true, 0, 1, MASK, &[b'a', 0xE2, 0x82]),
        ),
        (
            "fragment then whole text",
            [
                frame(false, 0, 1, MASK, b"par"),
                frame(true, 0, 1, MASK, b"whole"),
            ]
            .concat(),
        ),
        (
            "fragments around a whole binary",
            [
                frame(false, 0, 2, MASK, b"a"),
                frame(true, 0, 9, MASK, b"p"),
                frame(true, 0, 0, MASK, b"b"),
                frame(true, 0, 2, MASK, b"c"),
            ]
            .concat(),
        ),
        (
            "two whole messages",
            [
                frame(true, 0, 1, MASK, b"one"),
                frame(true, 0, 2, MASK, b"two"),
            ]
            .concat(),
        ),
        (
            "close then text",
            [
                frame(true, 0, 8, MASK, &[3, 232]),
                frame(true, 0, 1, MASK, b"late"),
            ]
            .concat(),
        ),
    ];
    for (what, stream) in &cases {
        assert_same_everywhere(Role::Server, Config::default(), stream, what);
    }
    // A 16-bit length holding less than 126 is a non-minimal encoding: rejected either way.
    let mut non_minimal = vec![0x82, 0x80 | 126, 0, 5];
    non_minimal.extend_from_slice(&MASK.unwrap());
    non_minimal.extend_from_slice(&[0; 5]);
    assert_same_everywhere(Role::Server, Config::default(), &non_minimal, "non-minimal");
    let (_, error) = decode_all(
        &mut Connection::new(Role::Server, Config::default()),
        &non_minimal,
    );
    assert!(error.is_some());
}

#[test]
fn data_still_arrives_after_our_close() {
    // Closing: we sent our close; the peer's data messages are still delivered.
    let stream = frame(true, 0, 1, MASK, b"after");
    let mut whole = Connection::new(Role::Server, Config::default());
    whole.encode_close(None, "").unwrap();
    let mut split = Connection::new(Role::Server, Config::default());
    split.encode_close(None, "").unwrap();
    let a = decode_all(&mut whole, &stream);
    let b = decode_chunks(&mut split, &stream, &[1]);
    assert_eq!(a, b);
    assert_eq!(a.0.len(), 1);
}
