//! Helpers for the permessage-deflate tests: connections with the codec installed, a decoder
//! driver, and raw deflate through plain flate2 as the reference implementation.
#![allow(dead_code)] // each test file uses a different subset

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, PermessageDeflate};
use switchyard_frame::{Config, Connection, Error, Event, OpCode, Role};

pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A connection in `role` with permessage-deflate installed under `agreed`, compressing every
/// message ([`always`]).
pub fn with_deflate(role: Role, agreed: DeflateConfig, config: Config) -> Connection {
    with_policy(role, agreed, always(), config)
}

/// A connection in `role` with permessage-deflate installed under `agreed` and `policy`.
pub fn with_policy(
    role: Role,
    agreed: DeflateConfig,
    policy: CompressionPolicy,
    config: Config,
) -> Connection {
    let mut conn = Connection::new(role, config);
    conn.set_extension(Box::new(
        PermessageDeflate::new(role, agreed, policy).unwrap(),
    ));
    conn
}

/// Every message compressed: no minimum size, the default level.
pub fn always() -> CompressionPolicy {
    CompressionPolicy {
        min_size: 0,
        ..CompressionPolicy::default()
    }
}

/// A data message as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

/// Feeds `stream` in pieces of `piece` bytes and returns the data messages, or the first error.
pub fn decode_all(conn: &mut Connection, stream: &[u8], piece: usize) -> Result<Vec<Msg>, Error> {
    let mut messages = Vec::new();
    for chunk in stream.chunks(piece.max(1)) {
        let mut chunk = chunk.to_vec();
        let mut pos = 0;
        while pos < chunk.len() {
            let progress = conn.handle_bytes(&mut chunk[pos..]).map_err(|f| f.error)?;
            pos += progress.consumed;
            match progress.event {
                Some(Event::Text(t)) => messages.push(Msg::Text(t.into_owned())),
                Some(Event::Binary(b)) => messages.push(Msg::Binary(b.into_owned())),
                _ => {}
            }
        }
    }
    Ok(messages)
}

/// A server frame (unmasked) with the given first byte and payload, for a client to decode.
pub fn server_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first_byte];
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n < 65536 => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

/// Encodes `text` as one message on `conn` and returns the frame bytes.
pub fn send_text(conn: &mut Connection, text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    conn.encode_message(OpCode::Text, text.as_bytes(), &mut out)
        .unwrap();
    out
}

/// The payload of a single unmasked frame (server role output).
pub fn payload_of(frame: &[u8]) -> &[u8] {
    let start = match frame[1] & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    &frame[start..]
}

/// Plain flate2 as the sending peer: raw deflate, sync flush, tail removed.
pub struct RefSender(Compress);

impl RefSender {
    pub fn new(level: u32, window_bits: u8) -> Self {
        RefSender(Compress::new_with_window_bits(
            Compression::new(level),
            false,
            window_bits,
        ))
    }

    pub fn compress(&mut self, message: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(message.len() + 1024);
        let before = self.0.total_in();
        self.0
            .compress_vec(message, &mut out, FlushCompress::Sync)
            .unwrap();
        assert_eq!((self.0.total_in() - before) as usize, message.len());
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - 4);
        out
    }
}

/// Plain flate2 as the receiving peer: appends the tail and inflates.
pub struct RefReceiver(Decompress);

impl RefReceiver {
    pub fn new(window_bits: u8) -> Self {
        RefReceiver(Decompress::new_with_window_bits(false, window_bits))
    }

    pub fn decompress(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut input = payload.to_vec();
        input.extend_from_slice(&TAIL);
        let mut out = Vec::with_capacity(1 << 20);
        let before = self.0.total_in();
        self.0
            .decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .unwrap();
        assert_eq!((self.0.total_in() - before) as usize, input.len());
        out
    }
}
