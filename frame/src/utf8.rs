//! UTF-8 validation of text that arrives in pieces (fragments, partial reads, decompressor
//! output), failing as soon as an invalid sequence is certain.
//!
//! The bulk goes through `simdutf8` (SIMD, several times faster than `core::str::from_utf8` on
//! non-ASCII text); only a code point split across two pieces (at most three carried bytes) is
//! handled here. `simdutf8::compat` reports errors exactly like `core::str::from_utf8`: an error
//! without `error_len` means "the input ended inside a sequence that is valid so far", which is the
//! only case where we carry bytes instead of failing.

/// Incremental validator state: the bytes of a code point cut by a piece boundary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Stream {
    pending: [u8; 4],
    pending_len: u8,
}

/// A piece of text contained an invalid UTF-8 sequence (or the text ended inside a sequence).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Stream {
    /// A validator at the start of a text.
    pub const fn new() -> Self {
        Utf8Stream {
            pending: [0; 4],
            pending_len: 0,
        }
    }

    /// Validates the next piece. Fails if the text so far cannot be the prefix of valid UTF-8.
    pub fn feed(&mut self, mut piece: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            let have = usize::from(self.pending_len);
            let need = sequence_len(self.pending[0]);
            let take = (need - have).min(piece.len());
            self.pending[have..have + take].copy_from_slice(&piece[..take]);
            self.pending_len += take as u8;
            piece = &piece[take..];
            match core::str::from_utf8(&self.pending[..usize::from(self.pending_len)]) {
                Ok(_) => self.pending_len = 0,
                // Still a valid prefix, and the piece is used up.
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(InvalidUtf8),
            }
        }
        // Short ASCII pieces (small fragments, Autobahn 9.3/9.4) skip the SIMD set-up, which
        // costs more than the check itself at that size.
        let checked = if piece.len() < SHORT_TEXT && piece.is_ascii() {
            Ok(())
        } else {
            simdutf8::compat::from_utf8(piece)
                .map(|_| ())
                .map_err(|e| (e.valid_up_to(), e.error_len()))
        };
        match checked {
            Ok(()) => Ok(()),
            Err((valid_up_to, None)) => {
                let tail = &piece[valid_up_to..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Ends the text: fails if it stopped inside a code point.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.pending_len == 0;
        *self = Utf8Stream::new();
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

/// Length of the sequence a lead byte starts. Only called with a lead byte that was accepted as
/// the start of a valid prefix, i.e. 0xC2..=0xF4.
fn sequence_len(lead: u8) -> usize {
    match lead {
        0x00..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// Validates a complete text at once (the single-frame fast path). Short texts are usually
/// ASCII: they are checked a word at a time by [`ascii_str`] first, and only non-ASCII ones go
/// through `core::str::from_utf8`, which beats the SIMD set-up below a few dozen bytes but
/// checks an unaligned input byte by byte (about 7 instructions per byte; `ascii_str` needs
/// about one per 8 bytes).
#[inline]
pub fn validate(bytes: &[u8]) -> Result<&str, InvalidUtf8> {
    if bytes.len() < SHORT_TEXT {
        if let Some(text) = ascii_str(bytes) {
            return Ok(text);
        }
        return core::str::from_utf8(bytes).map_err(|_| InvalidUtf8);
    }
    simdutf8::basic::from_utf8(bytes).map_err(|_| InvalidUtf8)
}

/// `bytes` as text if every byte is ASCII. The crate's only unsafe code: safe Rust has no way
/// to turn bytes known to be ASCII into `&str` without validating them again as UTF-8, which
/// is what this function exists to avoid.
#[allow(unsafe_code)]
#[inline]
pub fn ascii_str(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        // SAFETY: every byte is below 0x80, and any sequence of such bytes is valid UTF-8 (each
        // is a complete one-byte code point).
        Some(unsafe { core::str::from_utf8_unchecked(bytes) })
    } else {
        None
    }
}

/// Below this length `validate` uses `core`'s validator.
const SHORT_TEXT: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_ok(pieces: &[&[u8]]) -> Result<(), InvalidUtf8> {
        let mut s = Utf8Stream::new();
        for p in pieces {
            s.feed(p)?;
        }
        s.finish()
    }

    #[test]
    fn every_split_of_valid_text_is_accepted() {
        let text = "κόσμε aé€𝄞 ascii \u{10FFFF}\u{FFFD}".as_bytes();
        for a in 0..=text.len() {
            for b in a..=text.len() {
                assert_eq!(
                    stream_ok(&[&text[..a], &text[a..b], &text[b..]]),
                    Ok(()),
                    "{a} {b}"
                );
            }
        }
    }

    /// Fed byte by byte, the stream fails exactly at the first prefix that `core::str::from_utf8`
    /// declares certainly invalid (an error with `error_len`), never earlier or later. Exhaustive
    /// over all two-byte inputs followed by three sample bytes.
    #[test]
    fn fails_exactly_when_core_is_certain_for_every_two_byte_prefix() {
        for x in 0..=255u8 {
            for y in 0..=255u8 {
                for z in [0x41u8, 0x80, 0xBF] {
                    let input = [x, y, z];
                    let mut s = Utf8Stream::new();
                    for i in 0..input.len() {
                        let fed = s.feed(&input[i..=i]);
                        let certain = matches!(
                            core::str::from_utf8(&input[..=i]),
                            Err(e) if e.error_len().is_some()
                        );
                        assert_eq!(fed.is_err(), certain, "{input:x?} at {i}");
                        if certain {
                            break;
                        }
                        if i == input.len() - 1 {
                            assert_eq!(s.finish().is_ok(), core::str::from_utf8(&input).is_ok());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn fails_fast_on_impossible_prefix_across_pieces() {
        // F4 90 can never start a valid sequence (> U+10FFFF): fail on the second piece.
        let mut s = Utf8Stream::new();
        assert_eq!(s.feed(&[b'a', 0xF4]), Ok(()));
        assert_eq!(s.feed(&[0x90]), Err(InvalidUtf8));
        // ED A0 is a surrogate.
        let mut s = Utf8Stream::new();
        assert_eq!(s.feed(&[0xED]), Ok(()));
        assert_eq!(s.feed(&[0xA0, 0x80]), Err(InvalidUtf8));
    }

    #[test]
    fn truncated_text_fails_at_finish() {
        let mut s = Utf8Stream::new();
        assert_eq!(s.feed(&[0xE2, 0x82]), Ok(()));
        assert_eq!(s.finish(), Err(InvalidUtf8));
        // finish resets, so the stream is reusable.
        assert_eq!(s.feed(b"ok"), Ok(()));
        assert_eq!(s.finish(), Ok(()));
    }

    /// `ascii_str` accepts exactly the inputs whose bytes are all below 0x80, and returns the
    /// same text as `core::str::from_utf8`: every byte value at every position of short inputs.
    #[test]
    fn ascii_str_accepts_exactly_ascii() {
        for len in 1..=40usize {
            for at in 0..len {
                for value in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = value;
                    match ascii_str(&bytes) {
                        Some(text) => {
                            assert!(value < 0x80, "len {len} at {at} value {value:#x}");
                            assert_eq!(Ok(text), core::str::from_utf8(&bytes));
                        }
                        None => assert!(value >= 0x80, "len {len} at {at} value {value:#x}"),
                    }
                }
            }
        }
        assert_eq!(ascii_str(b""), Some(""));
    }

    #[test]
    fn validate_agrees_with_core_on_short_and_long_inputs() {
        let samples: [&[u8]; 6] = [
            b"plain ascii",
            "h\u{e9}llo".as_bytes(),
            &[b'a', 0xFF, b'b'],
            &[0xE2, 0x82],
            &[b'x'; 200],
            &[0xC3; 129],
        ];
        for bytes in samples {
            assert_eq!(validate(bytes).ok(), core::str::from_utf8(bytes).ok());
        }
    }

    #[test]
    fn validate_whole() {
        assert_eq!(validate("héllo".as_bytes()), Ok("héllo"));
        assert_eq!(validate(&[0xC0, 0x80]), Err(InvalidUtf8));
    }
}
