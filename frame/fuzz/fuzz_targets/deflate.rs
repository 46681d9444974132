//! Fuzz the permessage-deflate codec directly (the `deflate` module), beyond what the decode
//! target reaches through frames:
//!
//! - inflate: arbitrary bytes as a compressed message, cut into arbitrary pieces, with a small
//!   output limit: never a panic, never output past the limit or capacity raised past it, and
//!   the same result (bytes or error kind) for every split (differential against one piece);
//!   when it succeeds, plain flate2 on the whole payload plus tail agrees;
//! - round trip: arbitrary messages through our compressor, under an arbitrary agreement, come
//!   back identical through our decompressor, piece by piece.
#![no_main]

use flate2::{Decompress, FlushDecompress, Status};
use libfuzzer_sys::fuzz_target;
use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, PermessageDeflate};
use switchyard_frame::{Extension, ExtensionError, Role};

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

fn config(byte: u8, bits: u8) -> (DeflateConfig, CompressionPolicy) {
    (
        DeflateConfig {
            server_no_context_takeover: byte & 1 != 0,
            client_no_context_takeover: byte & 2 != 0,
            server_max_window_bits: 8 + (bits & 7),
            client_max_window_bits: 8 + (bits >> 4 & 7),
        },
        CompressionPolicy {
            level: (byte >> 2) % 10,
            min_size: usize::from(byte >> 6) * 16,
        },
    )
}

fn inflate(payload: &[u8], cuts: &[usize], limit: usize) -> Result<Vec<u8>, ExtensionError> {
    let mut codec = PermessageDeflate::new(
        Role::Client,
        DeflateConfig::default(),
        CompressionPolicy::default(),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(core::iter::once(&payload.len())) {
        let end = end.clamp(start, payload.len());
        let last = end == payload.len();
        let result = codec.decode_piece(&payload[start..end], last, &mut out, limit);
        assert!(out.len() <= limit, "output past the limit");
        assert!(out.capacity() <= limit.max(256), "capacity past the limit");
        result?;
        start = end;
        if last {
            break;
        }
    }
    Ok(out)
}

/// flate2 alone: payload + tail, one call, as much output as it wants (bounded for the fuzzer).
fn reference(payload: &[u8]) -> Option<Vec<u8>> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&TAIL);
    let mut d = Decompress::new_with_window_bits(false, 15);
    let mut out = Vec::with_capacity(1 << 16);
    match d.decompress_vec(&input, &mut out, FlushDecompress::Sync) {
        // A final block resets our side but ends flate2's stream: compare only simple cases.
        Ok(Status::Ok | Status::BufError) if d.total_in() as usize == input.len() => Some(out),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        // Inflate arbitrary data.
        let Some((&limit_byte, rest)) = rest.split_first() else {
            return;
        };
        let Some((&cut_byte, payload)) = rest.split_first() else {
            return;
        };
        let limit = usize::from(limit_byte) * 64;
        let step = usize::from(cut_byte).max(1);
        let cuts: Vec<usize> = (1..payload.len() / step + 1).map(|i| i * step).collect();
        let whole = inflate(payload, &[], limit);
        let split = inflate(payload, &cuts, limit);
        // The limit may be hit at different points, corrupt data found at different points:
        // the outcome kind and, on success, the bytes are the same.
        match (&whole, &split) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a, b),
            _ => panic!("split changed the outcome: {whole:?} vs {split:?}"),
        }
        if let Ok(out) = &whole {
            if let Some(expected) = reference(payload) {
                if expected.len() <= limit {
                    assert_eq!(out, &expected);
                }
            }
        }
    } else {
        // Round trip: messages separated by 0xff bytes, config from the selector.
        let Some((&bits, rest)) = rest.split_first() else {
            return;
        };
        let (agreed, policy) = config(selector >> 1, bits);
        let mut sender = PermessageDeflate::new(Role::Server, agreed, policy).unwrap();
        let mut receiver = PermessageDeflate::new(Role::Client, agreed, policy).unwrap();
        for message in rest.split(|&b| b == 0xff) {
            let mut payload = Vec::new();
            if !sender.encode_message(message, &mut payload).unwrap() {
                continue; // sent uncompressed: the receiver's context is not involved
            }
            let mut out = Vec::new();
            let half = payload.len() / 2;
            receiver
                .decode_piece(&payload[..half], false, &mut out, 1 << 20)
                .unwrap();
            receiver
                .decode_piece(&payload[half..], true, &mut out, 1 << 20)
                .unwrap();
            assert_eq!(out, message);
        }
    }
});
