//! The sending half: one outgoing message into raw deflate, flushed and without its tail.

use std::cell::RefCell;

use flate2::{Compress, Compression, FlushCompress};

use super::config::Direction;
use super::TAIL;
use crate::extension::ExtensionError;

/// zlib asks for more than six bytes of room when flushing, or it repeats the flush marker.
const MIN_ROOM: usize = 64;

thread_local! {
    /// One spare compressor per thread, lent to connections without context takeover for the
    /// duration of one message. Creating a compressor per message costs an allocation of about
    /// 370 KiB with 256 KiB zeroed (page faults included, tens of microseconds); a reset clears
    /// only the hash head. Memory stays per thread, not per connection.
    static SPARE: RefCell<Option<Spare>> = const { RefCell::new(None) };
}

struct Spare {
    level: u32,
    window_bits: u8,
    state: Compress,
}

/// A compressor for one message without context takeover: the thread's spare if it has the
/// same settings, else a new one.
fn borrow_spare(level: Compression, window_bits: u8) -> Compress {
    let spare = SPARE.with(|cell| cell.borrow_mut().take());
    match spare {
        Some(spare) if spare.level == level.level() && spare.window_bits == window_bits => {
            spare.state
        }
        _ => Compress::new_with_window_bits(level, false, window_bits),
    }
}

/// Returns a compressor after its message, reset so that no context leaks into the next one.
fn return_spare(level: Compression, window_bits: u8, mut state: Compress) {
    state.reset();
    SPARE.with(|cell| {
        *cell.borrow_mut() = Some(Spare {
            level: level.level(),
            window_bits,
            state,
        });
    });
}

/// The compressor of one connection, created on first use.
pub(crate) struct Deflater {
    /// `None` until the first compressed message with context takeover; always `None` without
    /// it (messages then borrow the thread's spare compressor). The state is about 370 KiB.
    state: Option<Compress>,
    direction: Direction,
    level: Compression,
    min_size: usize,
}

impl Deflater {
    pub(crate) fn new(direction: Direction, level: u8, min_size: usize) -> Self {
        Deflater {
            state: None,
            direction,
            level: Compression::new(u32::from(level)),
            min_size,
        }
    }

    pub(crate) fn is_allocated(&self) -> bool {
        self.state.is_some()
    }

    /// RFC 7692 section 7.2.1: compress with a sync flush, drop the trailing `00 00 ff ff`,
    /// appending to `out`. Returns `false` (and leaves `out` as it was) when the message should
    /// go out uncompressed.
    pub(crate) fn encode(
        &mut self,
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, ExtensionError> {
        if message.len() < self.min_size {
            // Untouched context: an uncompressed message is not part of the LZ77 history.
            return Ok(false);
        }
        let start = out.len();
        if message.is_empty() {
            // The header byte of an empty stored block, whose LEN/NLEN the receiver's appended
            // tail supplies. zlib itself would emit nothing for a flush that directly follows
            // another (Z_BUF_ERROR), which is no valid payload.
            out.push(0x00);
            return Ok(true);
        }
        let (level, bits) = (self.level, self.direction.window_bits);
        let reset = self.direction.reset_after_message;
        let result = if reset {
            // No context to keep: borrow the thread's spare, so idle connections hold nothing.
            let mut state = borrow_spare(level, bits);
            let result = compress_flushed(&mut state, message, out);
            if result.is_ok() {
                return_spare(level, bits, state);
            }
            result
        } else {
            let state = self
                .state
                .get_or_insert_with(|| Compress::new_with_window_bits(level, false, bits));
            let result = compress_flushed(state, message, out);
            if result.is_err() {
                self.state = None;
            }
            result
        };
        result?;
        if out.len() < start + TAIL.len() || !out.ends_with(&TAIL) {
            return Err(ExtensionError::InvalidData);
        }
        out.truncate(out.len() - TAIL.len());
        if reset && out.len() - start >= message.len() {
            // Incompressible. Without context takeover nothing depends on this output, so the
            // peer may as well get the original bytes.
            out.truncate(start);
            return Ok(false);
        }
        Ok(true)
    }
}

/// Compresses all of `input` and sync-flushes, growing `out` as needed.
fn compress_flushed(
    state: &mut Compress,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ExtensionError> {
    // Typical text shrinks to well under half; the loop grows the buffer for the rest.
    out.reserve(input.len() / 2 + MIN_ROOM);
    let mut pos = 0;
    loop {
        if out.capacity() - out.len() < MIN_ROOM {
            out.reserve(out.capacity().max(MIN_ROOM));
        }
        let (in_before, out_before) = (state.total_in(), state.total_out());
        state
            .compress_vec(&input[pos..], out, FlushCompress::Sync)
            .map_err(|_| ExtensionError::InvalidData)?;
        let used = (state.total_in() - in_before) as usize;
        let produced = state.total_out() - out_before;
        pos += used;
        // Done when all input is in and the flush ended with room to spare (zlib's rule: a
        // flush that filled the buffer must be repeated).
        if pos == input.len() && out.len() < out.capacity() {
            return Ok(());
        }
        if used == 0 && produced == 0 && out.len() < out.capacity() {
            // No progress with room and input: cannot happen with zlib; never loop on it.
            return Err(ExtensionError::InvalidData);
        }
    }
}
