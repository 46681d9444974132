//! permessage-deflate failures and limits: zip bombs (1009 before memory grows), corrupt data
//! (1007), RSV1 where RFC 7692 section 6.1 forbids it (1002), invalid UTF-8 after inflating
//! (1007), bad configurations.

mod deflate_common;
use deflate_common::*;

use switchyard_frame::deflate::{
    CompressionPolicy, DeflateConfig, DeflateConfigError, PermessageDeflate,
};
use switchyard_frame::{CloseCode, Config, Error, Extension, ExtensionError, Role};

fn limited(max_message_size: usize) -> Config {
    let mut config = Config::default();
    config.max_message_size = max_message_size;
    config
}

/// One message of 16 MiB of zeros: about 16 KiB compressed, a ratio of 1000.
fn bomb() -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let zeros = vec![0u8; 1 << 20];
    let mut compress = Compress::new(Compression::new(1), false);
    let mut payload = Vec::with_capacity(1 << 20);
    for i in 0..16 {
        let flush = if i == 15 {
            FlushCompress::Sync
        } else {
            FlushCompress::None
        };
        let before = compress.total_in();
        compress.compress_vec(&zeros, &mut payload, flush).unwrap();
        assert_eq!(compress.total_in() - before, zeros.len() as u64);
    }
    assert!(payload.ends_with(&TAIL));
    payload.truncate(payload.len() - TAIL.len());
    payload
}

#[test]
fn zip_bomb_is_message_too_big_1009() {
    let payload = bomb();
    assert!(payload.len() < 1 << 20, "{} bytes", payload.len());
    let mut client = with_deflate(Role::Client, DeflateConfig::default(), limited(1 << 20));
    let error = decode_all(&mut client, &server_frame(0xc2, &payload), 4096).unwrap_err();
    assert!(
        matches!(error, Error::DecompressedMessageTooLarge { max } if max == 1 << 20),
        "{error:?}"
    );
    assert_eq!(error.close_code(), CloseCode::MESSAGE_TOO_BIG);
}

/// The codec alone: output capacity never grows past the limit, and the error comes at once.
#[test]
fn zip_bomb_never_grows_the_buffer_past_the_limit() {
    let payload = bomb();
    let mut codec =
        PermessageDeflate::new(Role::Client, DeflateConfig::default(), always()).unwrap();
    let limit = 100_000;
    let mut out = Vec::new();
    let mut result = Ok(());
    for piece in payload.chunks(1000) {
        result = codec.decode_piece(piece, false, &mut out, limit);
        assert!(
            out.len() <= limit && out.capacity() <= limit,
            "{}",
            out.capacity()
        );
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(ExtensionError::TooBig));
}

/// Exactly at the limit is fine; one byte more is too big.
#[test]
fn limit_is_exact() {
    let message = vec![b'x'; 5000];
    let payload = RefSender::new(6, 15).compress(&message);
    for (limit, ok) in [(5000, true), (4999, false)] {
        let mut codec =
            PermessageDeflate::new(Role::Client, DeflateConfig::default(), always()).unwrap();
        let mut out = Vec::new();
        let result = codec.decode_piece(&payload, true, &mut out, limit);
        assert_eq!(result.is_ok(), ok, "limit {limit}");
        if ok {
            assert_eq!(out, message);
        } else {
            assert_eq!(result, Err(ExtensionError::TooBig));
        }
    }
}

/// A caller buffer with spare capacity beyond the limit still cannot receive more.
#[test]
fn limit_holds_with_a_large_caller_buffer() {
    let payload = RefSender::new(6, 15).compress(&[7u8; 10_000]);
    let mut codec =
        PermessageDeflate::new(Role::Client, DeflateConfig::default(), always()).unwrap();
    let mut out = Vec::with_capacity(1 << 20);
    let result = codec.decode_piece(&payload, true, &mut out, 1000);
    assert_eq!(result, Err(ExtensionError::TooBig));
}

#[test]
fn corrupt_data_is_invalid_payload_1007() {
    // BTYPE 11 is reserved (RFC 1951 section 3.2.3).
    for payload in [
        &[0xff, 0xff, 0xff][..],
        &[0x07, 0x00],
        &[0x00, 0x05, 0x00, 0x00, 0x00],
    ] {
        let mut client = with_deflate(Role::Client, DeflateConfig::default(), Config::default());
        let error = decode_all(&mut client, &server_frame(0xc2, payload), 64).unwrap_err();
        assert_eq!(error, Error::InvalidCompressedData, "{payload:x?}");
        assert_eq!(error.close_code(), CloseCode::INVALID_PAYLOAD);
    }
}

/// A distance pointing before the start of the data is corrupt, not a crash.
#[test]
fn distance_too_far_back_is_1007() {
    // Fixed Huffman block: literal 'a', then a match of length 3 at distance 2 (only 1 byte of
    // history). Built from the real encoder's output for "aaaa" with the distance bits altered
    // would be fragile; instead decode a match with no history at all in a fresh context.
    let mut sender = RefSender::new(6, 15);
    let _ = sender.compress(b"abcabcabcabcabcabc");
    let second = sender.compress(b"abcabcabcabcabcabc"); // refers to the first message
    let mut client = with_deflate(Role::Client, DeflateConfig::default(), Config::default());
    let error = decode_all(&mut client, &server_frame(0xc2, &second), 64).unwrap_err();
    assert_eq!(error.close_code(), CloseCode::INVALID_PAYLOAD);
}

/// RFC 7692 section 6.1: RSV1 only on a message's first frame.
#[test]
fn rsv1_on_continuation_is_protocol_error_1002() {
    let stream = [
        0x41, 0x03, 0xf2, 0x48, 0xcd, 0xc0, 0x04, 0xc9, 0xc9, 0x07, 0x00,
    ];
    let mut client = with_deflate(Role::Client, DeflateConfig::default(), Config::default());
    let error = decode_all(&mut client, &stream, 64).unwrap_err();
    assert_eq!(error, Error::Rsv1OnContinuation);
    assert_eq!(error.close_code(), CloseCode::PROTOCOL_ERROR);
}

#[test]
fn rsv1_on_control_frame_is_protocol_error_1002() {
    let mut client = with_deflate(Role::Client, DeflateConfig::default(), Config::default());
    let error = decode_all(&mut client, &[0xc9, 0x00], 64).unwrap_err();
    assert_eq!(error, Error::Rsv1OnControlFrame);
    assert_eq!(error.close_code(), CloseCode::PROTOCOL_ERROR);
}

/// Without the extension, RSV1 is a protocol error (RFC 6455 section 5.2).
#[test]
fn rsv1_without_extension_is_1002() {
    let mut client = switchyard_frame::Connection::new(Role::Client, Config::default());
    let frame = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    assert_eq!(
        decode_all(&mut client, &frame, 64).unwrap_err(),
        Error::Rsv1WithoutExtension
    );
}

/// Text is validated after inflating: invalid UTF-8 is 1007.
#[test]
fn invalid_utf8_inside_compressed_text_is_1007() {
    let payload = RefSender::new(6, 15).compress(b"abc\xff\xfedef");
    let mut client = with_deflate(Role::Client, DeflateConfig::default(), Config::default());
    let error = decode_all(&mut client, &server_frame(0xc1, &payload), 3).unwrap_err();
    assert_eq!(error, Error::InvalidUtf8);
    assert_eq!(error.close_code(), CloseCode::INVALID_PAYLOAD);
}

#[test]
fn configuration_ranges_are_checked() {
    let bad_bits = DeflateConfig {
        client_max_window_bits: 16,
        ..DeflateConfig::default()
    };
    assert_eq!(
        PermessageDeflate::new(Role::Server, bad_bits, always()).unwrap_err(),
        DeflateConfigError::WindowBits(16)
    );
    let bad_bits = DeflateConfig {
        server_max_window_bits: 7,
        ..DeflateConfig::default()
    };
    assert_eq!(
        PermessageDeflate::new(Role::Client, bad_bits, always()).unwrap_err(),
        DeflateConfigError::WindowBits(7)
    );
    let bad_level = CompressionPolicy {
        level: 10,
        ..CompressionPolicy::default()
    };
    assert_eq!(
        PermessageDeflate::new(Role::Server, DeflateConfig::default(), bad_level).unwrap_err(),
        DeflateConfigError::CompressionLevel(10)
    );
}

/// Found by the fuzzer: a literal past the limit followed by corrupt data is `TooBig` whether the
/// payload arrives whole or byte by byte (the byte past the limit comes first).
#[test]
fn limit_before_corruption_whatever_the_split() {
    let payload = [0x7a, 0x04, 0xff, 0x09, 0x00]; // literal 0xe2, then an invalid code
    for (limit, expected) in [
        (0, ExtensionError::TooBig),
        (1, ExtensionError::InvalidData),
    ] {
        for piece in 1..=payload.len() {
            let mut codec =
                PermessageDeflate::new(Role::Client, DeflateConfig::default(), always()).unwrap();
            let mut out = Vec::new();
            let mut result = Ok(());
            for (i, chunk) in payload.chunks(piece).enumerate() {
                let last = (i + 1) * piece >= payload.len();
                result = codec.decode_piece(chunk, last, &mut out, limit);
                if result.is_err() {
                    break;
                }
            }
            assert_eq!(result, Err(expected), "limit {limit} piece {piece}");
        }
    }
}
