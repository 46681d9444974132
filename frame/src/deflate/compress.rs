//! The sending half: one outgoing message into raw deflate, flushed and without its tail.

use flate2::{Compress, Compression, FlushCompress};

use super::config::Direction;
use super::TAIL;
use crate::extension::ExtensionError;

/// zlib asks for more than six bytes of room when flushing, or it repeats the flush marker.
const MIN_ROOM: usize = 64;

/// The compressor of one connection, created on first use.
pub(crate) struct Deflater {
    /// `None` until the first compressed message, and again after each message when no context
    /// takeover was agreed: the state (about 256 KiB with a 15-bit window) is never kept idle
    /// for nothing.
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

    /// RFC 7692 section 7.2.1: compress with a sync flush, drop the trailing `00 00 ff ff`.
    /// Returns `false` (and leaves `out` empty) when the message should go out uncompressed.
    pub(crate) fn encode(
        &mut self,
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, ExtensionError> {
        if message.len() < self.min_size {
            // Untouched context: an uncompressed message is not part of the LZ77 history.
            return Ok(false);
        }
        if message.is_empty() {
            // The header byte of an empty stored block, whose LEN/NLEN the receiver's appended
            // tail supplies. zlib itself would emit nothing for a flush that directly follows
            // another (Z_BUF_ERROR), which is no valid payload.
            out.push(0x00);
            return Ok(true);
        }
        let (level, bits) = (self.level, self.direction.window_bits);
        let state = self
            .state
            .get_or_insert_with(|| Compress::new_with_window_bits(level, false, bits));
        let result = compress_flushed(state, message, out);
        let reset = self.direction.reset_after_message;
        if result.is_err() || reset {
            // A fresh context next time (and no memory while idle).
            self.state = None;
        }
        result?;
        if !out.ends_with(&TAIL) {
            return Err(ExtensionError::InvalidData);
        }
        out.truncate(out.len() - TAIL.len());
        if reset && out.len() >= message.len() {
            // Incompressible. Without context takeover nothing depends on this output, so the
            // peer may as well get the original bytes.
            out.clear();
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
