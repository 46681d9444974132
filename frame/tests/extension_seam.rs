//! The extension seam with a toy transform (so the decoder's side of the contract is tested
//! independently of permessage-deflate): RSV1 rules, output bounded by the message limit, UTF-8
//! validated after the transform, errors mapped to close codes, the earliest broken rule wins.

mod common;

use std::sync::{Arc, Mutex};

use common::{decode_all, decode_chunks, frame, Owned, MASK};
use switchyard_frame::{Config, Connection, Error, Extension, ExtensionError, OpCode, Role};

/// "Decodes" byte by byte: `0x00` is corrupt data, `0x01` expands to 1000 `a`s (a tiny bomb),
/// anything else is copied. Encodes by reversing the message. Records each call's flag.
struct Toy {
    calls: Arc<Mutex<Vec<bool>>>,
}

impl Extension for Toy {
    fn decode_piece(
        &mut self,
        piece: &[u8],
        end_of_message: bool,
        out: &mut Vec<u8>,
        max_len: usize,
    ) -> Result<(), ExtensionError> {
        self.calls.lock().unwrap().push(end_of_message);
        for &byte in piece {
            let expansion: &[u8] = match byte {
                0x00 => return Err(ExtensionError::InvalidData),
                0x01 => &[b'a'; 1000],
                _ => core::slice::from_ref(&byte),
            };
            if out.len() + expansion.len() > max_len {
                return Err(ExtensionError::TooBig);
            }
            out.extend_from_slice(expansion);
        }
        Ok(())
    }

    fn encode_message(
        &mut self,
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, ExtensionError> {
        if message.len() < 4 {
            return Ok(false);
        }
        out.extend(message.iter().rev());
        Ok(true)
    }
}

fn with_toy(role: Role, config: Config) -> (Connection, Arc<Mutex<Vec<bool>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut conn = Connection::new(role, config);
    conn.set_extension(Box::new(Toy {
        calls: calls.clone(),
    }));
    (conn, calls)
}

/// A masked client frame with RSV1 as given.
fn rsv1_frame(fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, if rsv1 { 0b100 } else { 0 }, opcode, MASK, payload)
}

#[test]
fn compressed_fragments_go_through_the_extension_once_each_with_one_end() {
    let (mut conn, calls) = with_toy(Role::Server, Config::default());
    let stream = [
        rsv1_frame(false, true, 1, b"he"),
        rsv1_frame(true, false, 9, b"ping"),
        rsv1_frame(false, false, 0, b"ll"),
        rsv1_frame(true, false, 0, b""),
    ]
    .concat();
    let (events, error) = decode_all(&mut conn, &stream);
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![Owned::Ping(b"ping".to_vec()), Owned::Text("hell".into())]
    );
    assert_eq!(*calls.lock().unwrap(), vec![false, false, true]);
    assert_eq!(conn.heap_bytes(), 0);
}

#[test]
fn uncompressed_messages_bypass_the_extension() {
    let (mut conn, calls) = with_toy(Role::Server, Config::default());
    let (events, error) = decode_all(&mut conn, &rsv1_frame(true, false, 2, &[0x00, 0x01]));
    assert_eq!(error, None);
    assert_eq!(events, vec![Owned::Binary(vec![0x00, 0x01])]);
    assert!(calls.lock().unwrap().is_empty());
}

#[test]
fn expansion_past_the_message_limit_is_1009() {
    let mut config = Config::default();
    config.max_message_size = 2500;
    let (mut conn, _) = with_toy(Role::Server, config);
    let (_, error) = decode_all(&mut conn, &rsv1_frame(true, true, 2, &[1, 1, 1]));
    assert_eq!(
        error,
        Some(Error::DecompressedMessageTooLarge { max: 2500 })
    );
    assert_eq!(error.unwrap().close_code().0, 1009);
}

#[test]
fn corrupt_data_is_1007() {
    let (mut conn, _) = with_toy(Role::Server, Config::default());
    let (_, error) = decode_all(&mut conn, &rsv1_frame(true, true, 2, b"ab\x00"));
    assert_eq!(error, Some(Error::InvalidCompressedData));
    assert_eq!(error.unwrap().close_code().0, 1007);
}

#[test]
fn text_is_validated_after_the_transform_and_the_earliest_error_wins_under_any_split() {
    // Invalid UTF-8 produced before the corrupt byte: InvalidUtf8, however the input is cut
    // (regression for a fuzz finding where the whole input reported the later error).
    let stream = rsv1_frame(true, true, 1, b"ok\xff\x00");
    for cut in 0..=stream.len() {
        let (mut conn, _) = with_toy(Role::Server, Config::default());
        let (_, error) = decode_chunks(&mut conn, &stream, &[cut]);
        assert_eq!(error, Some(Error::InvalidUtf8), "cut {cut}");
    }
}

#[test]
fn rsv1_on_continuation_and_control_frames_is_1002() {
    let (mut conn, _) = with_toy(Role::Server, Config::default());
    let stream = [
        rsv1_frame(false, true, 1, b"a"),
        rsv1_frame(true, true, 0, b"b"),
    ]
    .concat();
    assert_eq!(
        decode_all(&mut conn, &stream).1,
        Some(Error::Rsv1OnContinuation)
    );
    let (mut conn, _) = with_toy(Role::Server, Config::default());
    assert_eq!(
        decode_all(&mut conn, &rsv1_frame(true, true, 9, b"")).1,
        Some(Error::Rsv1OnControlFrame)
    );
}

#[test]
fn encode_message_sets_rsv1_only_when_the_extension_transformed() {
    let (mut server, _) = with_toy(Role::Server, Config::default());
    let mut out = Vec::new();
    server
        .encode_message(OpCode::Binary, b"abcdef", &mut out)
        .unwrap();
    assert_eq!(out, [&[0xC2, 6][..], b"fedcba"].concat());
    out.clear();
    server
        .encode_message(OpCode::Text, b"abc", &mut out)
        .unwrap();
    assert_eq!(out, [&[0x81, 3][..], b"abc"].concat());
    // The client masks what the extension produced.
    let (mut client, _) = with_toy(Role::Client, Config::default());
    let mut out = Vec::new();
    client
        .encode_message(OpCode::Binary, b"abcdef", &mut out)
        .unwrap();
    assert_eq!(&out[..2], &[0xC2, 0x86]);
    let key = [out[2], out[3], out[4], out[5]];
    switchyard_frame::mask::apply_mask(&mut out[6..], key);
    assert_eq!(&out[6..], b"fedcba");
}
