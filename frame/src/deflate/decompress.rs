//! The receiving half: raw deflate pieces into a bounded output buffer.

use std::cell::RefCell;

use flate2::{Decompress, FlushDecompress, Status};

use super::config::Direction;
use super::TAIL;
use crate::extension::ExtensionError;

/// Smallest amount of room offered to the decompressor at a time.
const MIN_CHUNK: usize = 256;

thread_local! {
    /// One spare decompressor per thread: a connection without context takeover takes it (or a
    /// new one) at the start of a compressed message and gives it back, reset, at the end, so
    /// that idle connections hold no inflate state and busy ones skip an allocation per message.
    static SPARE: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

/// Always a 15-bit window: zlib-rs allocates 32 KiB for any size, and a larger window decodes
/// any smaller one, so a peer that rounds an agreed 8 up to 9 (zlib's own limitation) is
/// understood. The agreed size bounds what the peer may use, not us.
fn new_state() -> Decompress {
    Decompress::new_with_window_bits(false, 15)
}

/// The decompressor of one connection, created on first use.
pub(crate) struct Inflater {
    /// `None` until the first compressed message, and again after each message when the peer
    /// agreed not to take over its context (the state goes back to the thread's spare).
    state: Option<Decompress>,
    direction: Direction,
}

impl Inflater {
    pub(crate) fn new(direction: Direction) -> Self {
        Inflater {
            state: None,
            direction,
        }
    }

    pub(crate) fn is_allocated(&self) -> bool {
        self.state.is_some()
    }

    /// RFC 7692 section 7.2.2: inflate the payload, then the `00 00 ff ff` tail at the end of
    /// the message. `out` never grows past `max_len`.
    pub(crate) fn decode(
        &mut self,
        piece: &[u8],
        end_of_message: bool,
        out: &mut Vec<u8>,
        max_len: usize,
    ) -> Result<(), ExtensionError> {
        let reset = self.direction.reset_after_message;
        let state = self.state.get_or_insert_with(|| {
            let spare = if reset {
                SPARE.with(|cell| cell.borrow_mut().take())
            } else {
                None
            };
            spare.unwrap_or_else(new_state)
        });
        let mut result = inflate_bounded(state, piece, out, max_len);
        if result.is_ok() && end_of_message {
            result = inflate_bounded(state, &TAIL, out, max_len);
        }
        if result.is_err() {
            self.state = None;
        } else if end_of_message && reset {
            if let Some(mut state) = self.state.take() {
                state.reset(false);
                SPARE.with(|cell| *cell.borrow_mut() = Some(state));
            }
        }
        result
    }
}

/// Inflates all of `input` into `out`, growing it in bounded steps: its capacity is never
/// raised past `max_len`, and a byte of output beyond `max_len` is `TooBig` - so a "zip bomb"
/// fails after at most `max_len` bytes of memory, whatever its ratio.
fn inflate_bounded(
    state: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    max_len: usize,
) -> Result<(), ExtensionError> {
    let mut pos = 0;
    loop {
        let room = max_len.saturating_sub(out.len());
        let (in_before, out_before) = (state.total_in(), state.total_out());
        let (status, filled) = if room == 0 {
            // At the limit: decompress into a one-byte probe; any output is one byte too many.
            let mut probe = [0u8; 1];
            let status = state.decompress(&input[pos..], &mut probe, FlushDecompress::None);
            // Output first: zlib may write the byte and then find corrupt data in the same call,
            // but the byte past the limit came first in the stream.
            if state.total_out() > out_before {
                return Err(ExtensionError::TooBig);
            }
            (status.map_err(|_| ExtensionError::InvalidData)?, false)
        } else {
            reserve_bounded(out, room, input.len() - pos);
            let spare = out.capacity() - out.len();
            let status = state
                .decompress_vec(&input[pos..], out, FlushDecompress::None)
                .map_err(|_| ExtensionError::InvalidData)?;
            if out.len() > max_len {
                // Only possible when the caller's buffer already had capacity past the limit.
                return Err(ExtensionError::TooBig);
            }
            (status, (state.total_out() - out_before) as usize == spare)
        };
        let used = (state.total_in() - in_before) as usize;
        let produced = state.total_out() - out_before;
        pos += used;
        if status == Status::StreamEnd {
            // A block with BFINAL set (RFC 7692 section 7.2.3.4) ends the deflate stream; what
            // follows, such as our appended tail, starts a new one. The window is lost with it,
            // as zlib cannot continue a finished stream.
            state.reset(false);
            if pos == input.len() {
                return Ok(());
            }
            continue;
        }
        if pos == input.len() && !filled {
            return Ok(());
        }
        if used == 0 && produced == 0 {
            // No progress although there was room: needs more input, or the data is corrupt.
            return if pos == input.len() {
                Ok(())
            } else {
                Err(ExtensionError::InvalidData)
            };
        }
    }
}

/// Makes room for the next decompression step, doubling like `Vec` does but never asking for
/// capacity beyond `room` more bytes.
fn reserve_bounded(out: &mut Vec<u8>, room: usize, input_left: usize) {
    let spare = out.capacity() - out.len();
    let want = out
        .capacity()
        .max(input_left.saturating_mul(4))
        .max(MIN_CHUNK)
        .min(room);
    if spare < want.min(MIN_CHUNK) || spare == 0 {
        out.reserve_exact(want);
    }
}
