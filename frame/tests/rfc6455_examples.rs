//! RFC 6455 section 5.7 "Examples": every example frame, decoded in the role that receives it,
//! and encoded back where the encoding is deterministic.

mod common;

use std::borrow::Cow;

use common::{decode_all, decode_chunks, Owned};
use switchyard_frame::{Config, Connection, Event, FrameHeader, OpCode, Role};

fn server() -> Connection {
    Connection::new(Role::Server, Config::default())
}

fn client() -> Connection {
    Connection::new(Role::Client, Config::default())
}

/// 5.7: "A single-frame unmasked text message
/// 0x81 0x05 0x48 0x65 0x6c 0x6c 0x6f (contains "Hello")"
#[test]
fn rfc6455_5_7_single_frame_unmasked_text() {
    let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let mut input = wire;
    let mut conn = client();
    let progress = conn.handle_bytes(&mut input).unwrap();
    assert_eq!(progress.consumed, 7);
    assert_eq!(progress.event, Some(Event::Text(Cow::Borrowed("Hello"))));

    let mut server = server();
    let header = server.encode_header(OpCode::Text, true, 5).unwrap();
    assert_eq!([&header[..], b"Hello"].concat(), wire);
}

/// 5.7: "A single-frame masked text message
/// 0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58 (contains "Hello")"
#[test]
fn rfc6455_5_7_single_frame_masked_text() {
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let mut input = wire;
    let mut conn = server();
    let progress = conn.handle_bytes(&mut input).unwrap();
    assert_eq!(progress.consumed, 11);
    match progress.event {
        // Borrowed: the payload was unmasked in place inside the caller's buffer.
        Some(Event::Text(Cow::Borrowed(text))) => assert_eq!(text, "Hello"),
        other => panic!("{other:?}"),
    }
    assert_eq!(&input[6..], b"Hello");

    let header = FrameHeader {
        fin: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: OpCode::Text,
        mask: Some([0x37, 0xfa, 0x21, 0x3d]),
        payload_len: 5,
    };
    let mut payload = *b"Hello";
    switchyard_frame::mask::apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d]);
    assert_eq!([&header.encode()[..], &payload[..]].concat(), wire);
}

/// 5.7: "A fragmented unmasked text message
/// 0x01 0x03 0x48 0x65 0x6c (contains "Hel")
/// 0x80 0x02 0x6c 0x6f (contains "lo")"
#[test]
fn rfc6455_5_7_fragmented_unmasked_text() {
    let wire = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    let mut conn = client();
    let (events, error) = decode_all(&mut conn, &wire);
    assert_eq!(error, None);
    assert_eq!(events, vec![Owned::Text("Hello".into())]);
    assert_eq!(
        conn.heap_bytes(),
        0,
        "assembly buffer released after the message"
    );

    let mut server = server();
    let first = server.encode_header(OpCode::Text, false, 3).unwrap();
    let second = server.encode_header(OpCode::Continuation, true, 2).unwrap();
    assert_eq!([&first[..], b"Hel", &second[..], b"lo"].concat(), wire);
}

/// 5.7: "Unmasked Ping request and masked Ping response
/// 0x89 0x05 0x48 0x65 0x6c 0x6c 0x6f (contains a body of "Hello", but the contents of the body
/// are arbitrary)
/// 0x8a 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58 (contains a body of "Hello", matching
/// the body of the ping)"
#[test]
fn rfc6455_5_7_unmasked_ping_and_masked_pong() {
    let mut ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let mut client = client();
    let progress = client.handle_bytes(&mut ping).unwrap();
    let Some(Event::Ping(body)) = progress.event else {
        panic!("expected ping");
    };
    assert_eq!(&body[..], b"Hello");
    let pong = client.encode_pong(&body).unwrap();
    // Our key is random; the frame must be a masked pong that unmasks to the ping's body.
    assert_eq!(&pong[..2], &[0x8a, 0x85]);
    let mut server = server();
    let mut pong_bytes = pong.to_vec();
    let progress = server.handle_bytes(&mut pong_bytes).unwrap();
    assert_eq!(
        progress.event,
        Some(Event::Pong(Cow::Borrowed(&b"Hello"[..])))
    );

    let mut rfc_pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let progress = server.handle_bytes(&mut rfc_pong).unwrap();
    assert_eq!(
        progress.event,
        Some(Event::Pong(Cow::Borrowed(&b"Hello"[..])))
    );
}

/// 5.7: "256 bytes binary message in a single unmasked frame
/// 0x82 0x7E 0x0100 [256 bytes of binary data]"
#[test]
fn rfc6455_5_7_256_byte_binary_single_unmasked_frame() {
    let data: Vec<u8> = (0..=255u8).collect();
    let mut wire = vec![0x82, 0x7E, 0x01, 0x00];
    wire.extend_from_slice(&data);
    let mut conn = client();
    let mut input = wire.clone();
    let progress = conn.handle_bytes(&mut input).unwrap();
    assert_eq!(progress.consumed, 4 + 256);
    assert_eq!(
        progress.event,
        Some(Event::Binary(Cow::Borrowed(&data[..])))
    );
    let header = server().encode_header(OpCode::Binary, true, 256).unwrap();
    assert_eq!(&header[..], &wire[..4]);
}

/// 5.7: "64KiB binary message in a single unmasked frame
/// 0x82 0x7F 0x0000000000010000 [65536 bytes of binary data]"
#[test]
fn rfc6455_5_7_64k_binary_single_unmasked_frame() {
    let data: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let mut wire = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
    wire.extend_from_slice(&data);
    let mut conn = client();
    let mut input = wire.clone();
    let progress = conn.handle_bytes(&mut input).unwrap();
    assert_eq!(progress.consumed, 10 + 65536);
    assert_eq!(
        progress.event,
        Some(Event::Binary(Cow::Borrowed(&data[..])))
    );
    let header = server().encode_header(OpCode::Binary, true, 65536).unwrap();
    assert_eq!(&header[..], &wire[..10]);

    // Split into 1000-byte reads: same message, delivered owned, memory released afterwards.
    let mut conn = client();
    let cuts: Vec<usize> = (1..wire.len() / 1000 + 1).map(|i| i * 1000).collect();
    let (events, error) = decode_chunks(&mut conn, &wire, &cuts);
    assert_eq!(error, None);
    assert_eq!(events, vec![Owned::Binary(data)]);
    assert_eq!(conn.heap_bytes(), 0);
}

/// Every example concatenated into one stream and cut at every possible single point (and every
/// pair of points in the short prefix) decodes to the same events.
#[test]
fn rfc6455_5_7_examples_decode_the_same_under_every_split() {
    let mut stream = vec![0x01, 0x03, 0x48, 0x65, 0x6c];
    stream.extend_from_slice(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]); // ping between fragments
    stream.extend_from_slice(&[0x80, 0x02, 0x6c, 0x6f]);
    stream.extend_from_slice(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    stream.extend_from_slice(&[0x82, 0x7E, 0x01, 0x00]);
    stream.extend((0..=255u8).map(|b| b ^ 0x5a));
    let (expected, error) = decode_all(&mut client(), &stream);
    assert_eq!(error, None);
    assert_eq!(expected.len(), 4);
    assert_eq!(expected[0], Owned::Ping(b"Hello".to_vec()));
    assert_eq!(expected[1], Owned::Text("Hello".into()));
    for a in 0..=stream.len() {
        assert_eq!(
            decode_chunks(&mut client(), &stream, &[a]),
            (expected.clone(), None),
            "{a}"
        );
    }
    for a in 0..40 {
        for b in a..40 {
            assert_eq!(
                decode_chunks(&mut client(), &stream, &[a, b]),
                (expected.clone(), None)
            );
        }
    }
    // One byte at a time.
    let every: Vec<usize> = (1..stream.len()).collect();
    assert_eq!(
        decode_chunks(&mut client(), &stream, &every),
        (expected, None)
    );
}
