//! RFC 7692 section 7.2.3's examples, byte for byte, through the frame decoder (client role, so
//! the server's frames are unmasked as in the RFC) and our encoder.

mod deflate_common;
use deflate_common::*;

use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig};
use switchyard_frame::{Config, Role};

fn client() -> switchyard_frame::Connection {
    with_deflate(Role::Client, DeflateConfig::default(), Config::default())
}

fn hello() -> Vec<Msg> {
    vec![Msg::Text("Hello".into())]
}

/// Section 7.2.3.1: "Hello" compressed into one DEFLATE block, in one frame.
#[test]
fn rfc7692_7_2_3_1_one_compressed_block() {
    let frame = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    for piece in 1..=frame.len() {
        assert_eq!(decode_all(&mut client(), &frame, piece).unwrap(), hello());
    }
}

/// Section 7.2.3.1, fragmented: RSV1 on the first frame only.
#[test]
fn rfc7692_7_2_3_1_fragmented() {
    let stream = [
        0x41, 0x03, 0xf2, 0x48, 0xcd, // first fragment, RSV1
        0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00, // continuation, RSV1 clear
    ];
    for piece in 1..=stream.len() {
        assert_eq!(decode_all(&mut client(), &stream, piece).unwrap(), hello());
    }
}

/// Section 7.2.3.2: the second "Hello" refers back to the first through the shared window.
#[test]
fn rfc7692_7_2_3_2_sharing_the_window() {
    let stream = [
        0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, // first message
        0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00, // second, using the first's history
    ];
    assert_eq!(
        decode_all(&mut client(), &stream, stream.len()).unwrap(),
        [hello(), hello()].concat()
    );
}

/// Our encoder produces the RFC's bytes for both messages of 7.2.3.1 and 7.2.3.2 (zlib's
/// default level 6 as in the RFC, server role so frames are unmasked).
#[test]
fn encoder_reproduces_rfc7692_examples() {
    let level6 = CompressionPolicy {
        level: 6,
        ..always()
    };
    let mut server = with_policy(
        Role::Server,
        DeflateConfig::default(),
        level6,
        Config::default(),
    );
    assert_eq!(
        send_text(&mut server, "Hello"),
        [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
    assert_eq!(
        send_text(&mut server, "Hello"),
        [0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]
    );
}

/// Without context takeover every message is compressed afresh: the same bytes each time. And
/// "Hello", whose 7 compressed bytes are longer than its 5, goes out uncompressed (RSV1 clear):
/// with the context reset anyway, nothing depends on the compressed form.
#[test]
fn encoder_without_context_takeover_starts_afresh() {
    let agreed = DeflateConfig {
        server_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let level6 = CompressionPolicy {
        level: 6,
        ..always()
    };
    let mut server = with_policy(Role::Server, agreed, level6, Config::default());
    let text = "Hello, Hello, Hello, Hello, Hello";
    let first = send_text(&mut server, text);
    assert_eq!(first[0], 0xc1);
    assert!(first.len() < 2 + text.len());
    for _ in 0..3 {
        assert_eq!(send_text(&mut server, text), first);
        assert_eq!(
            send_text(&mut server, "Hello"),
            [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']
        );
    }
}

/// Section 7.2.3.3: a DEFLATE block with no compression.
#[test]
fn rfc7692_7_2_3_3_stored_block() {
    let frame = [
        0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    for piece in 1..=frame.len() {
        assert_eq!(decode_all(&mut client(), &frame, piece).unwrap(), hello());
    }
}

/// Section 7.2.3.4: a block with BFINAL set, then the start of an empty stored block; a later
/// message still decodes.
#[test]
fn rfc7692_7_2_3_4_bfinal_block() {
    let mut stream = vec![0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    stream.extend_from_slice(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    for piece in 1..=stream.len() {
        assert_eq!(
            decode_all(&mut client(), &stream, piece).unwrap(),
            [hello(), hello()].concat()
        );
    }
}

/// Section 7.2.3.5: two DEFLATE blocks in one message ("He", an empty stored block, "llo").
#[test]
fn rfc7692_7_2_3_5_two_blocks() {
    let frame = [
        0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    for piece in 1..=frame.len() {
        assert_eq!(decode_all(&mut client(), &frame, piece).unwrap(), hello());
    }
}

/// Section 7.2.3.6 / 7.2.1: an empty message compresses to the single byte 0x00 (an empty
/// stored block's header once the tail is removed), and decodes back to empty.
#[test]
fn empty_message() {
    let mut server = with_deflate(Role::Server, DeflateConfig::default(), Config::default());
    let frame = send_text(&mut server, "");
    assert_eq!(frame, [0xc1, 0x01, 0x00]);
    assert_eq!(
        decode_all(&mut client(), &frame, 1).unwrap(),
        vec![Msg::Text(String::new())]
    );
}

/// An empty message right after another, with context takeover: zlib would emit nothing for a
/// flush following a flush, so the codec sends the empty stored block itself.
#[test]
fn empty_message_after_a_message_with_shared_context() {
    let mut server = with_deflate(Role::Server, DeflateConfig::default(), Config::default());
    let mut stream = send_text(&mut server, "Hello");
    stream.extend_from_slice(&send_text(&mut server, ""));
    stream.extend_from_slice(&send_text(&mut server, ""));
    stream.extend_from_slice(&send_text(&mut server, "Hello"));
    assert_eq!(&stream[9..15], [0xc1, 0x01, 0x00, 0xc1, 0x01, 0x00]);
    assert_eq!(
        decode_all(&mut client(), &stream, 2).unwrap(),
        [
            hello(),
            vec![Msg::Text(String::new()), Msg::Text(String::new())],
            hello()
        ]
        .concat()
    );
}
