//! Helpers shared by the integration tests: drive a connection over chunks of a stream and
//! collect owned copies of its events.
#![allow(dead_code)] // each test file uses a different subset

use switchyard_frame::{CloseCode, Connection, Error, Event, FrameHeader, OpCode};

/// An event copied out of the input buffer, for comparing runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<CloseCode>, String, Option<Vec<u8>>),
}

pub fn own(event: Event<'_>) -> Owned {
    match event {
        Event::Text(t) => Owned::Text(t.into_owned()),
        Event::Binary(b) => Owned::Binary(b.into_owned()),
        Event::Ping(p) => Owned::Ping(p.into_owned()),
        Event::Pong(p) => Owned::Pong(p.into_owned()),
        Event::Close {
            code,
            reason,
            reply,
        } => Owned::Close(code, reason.into_owned(), reply.map(|r| r.to_vec())),
    }
}

/// Feeds the stream cut at `cuts` (sorted offsets) and returns the events, plus the error that
/// ended the stream if any.
pub fn decode_chunks(
    conn: &mut Connection,
    stream: &[u8],
    cuts: &[usize],
) -> (Vec<Owned>, Option<Error>) {
    let mut events = Vec::new();
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|&c| c <= stream.len()));
    bounds.push(stream.len());
    bounds.sort_unstable();
    for pair in bounds.windows(2) {
        let mut chunk = stream[pair[0]..pair[1]].to_vec();
        let len = chunk.len();
        let mut pos = 0;
        loop {
            match conn.handle_bytes(&mut chunk[pos..]) {
                Ok(progress) => {
                    assert!(progress.consumed <= len - pos);
                    pos += progress.consumed;
                    match progress.event {
                        Some(event) => events.push(own(event)),
                        None => {
                            assert_eq!(pos, len, "no event yet input left over");
                            break;
                        }
                    }
                }
                Err(failure) => return (events, Some(failure.error)),
            }
            if pos == len {
                break;
            }
        }
    }
    (events, None)
}

/// Decodes the whole stream at once.
pub fn decode_all(conn: &mut Connection, stream: &[u8]) -> (Vec<Owned>, Option<Error>) {
    decode_chunks(conn, stream, &[])
}

/// A frame with arbitrary header bits (test input builder; FrameHeader::encode plus masking).
pub fn frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    // Build with a valid opcode then patch the raw bits, so reserved opcodes can be written.
    let header = FrameHeader {
        fin,
        rsv1: rsv & 4 != 0,
        rsv2: rsv & 2 != 0,
        rsv3: rsv & 1 != 0,
        opcode: OpCode::Binary,
        mask,
        payload_len: payload.len() as u64,
    }
    .encode();
    let mut out = header.to_vec();
    out[0] = (out[0] & 0xF0) | (opcode & 0x0F);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        switchyard_frame::mask::apply_mask(&mut out[start..], key);
    }
    out
}

pub const MASK: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

/// A masked client frame.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, 0, opcode, MASK, payload)
}
