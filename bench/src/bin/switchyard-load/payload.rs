//! The payloads the generator sends and expects back: cut from one pattern, so that each is
//! checked byte for byte with one comparison and no per-message generation.

/// Sizes of payload patterns: a payload is `PATTERN[seq % PERIOD..][..size]`, so consecutive
/// messages differ and each can be checked with one comparison.
const PERIOD: usize = 251;

/// The pattern all payloads are cut from: printable ASCII (valid UTF-8 for text messages) with
/// period 251 (prime, so every shift below 251 is a different string).
pub fn pattern(size: usize) -> Vec<u8> {
    (0..size + PERIOD)
        .map(|i| b'!' + ((i % PERIOD) * 37 % 94) as u8)
        .collect()
}

/// A compressible pattern of the same period: English-like words and JSON punctuation, as chat
/// and market-data messages are (for `--deflate`, where random-looking bytes would not compress).
pub fn compressible_pattern(size: usize) -> Vec<u8> {
    const WORDS: &[u8] = b"price quote update bid ask volume symbol \"trade\": 42.5, ";
    let base: Vec<u8> = WORDS.iter().copied().cycle().take(PERIOD).collect();
    (0..size + PERIOD).map(|i| base[i % PERIOD]).collect()
}

/// The payload of message number `seq` (the slice of `pattern` both sent and expected back).
pub fn payload_for(pattern: &[u8], seq: u64, size: usize) -> &[u8] {
    let start = (seq % PERIOD as u64) as usize;
    &pattern[start..start + size]
}

/// Broadcast messages carry who sent them, their number and their send time, so that any thread
/// of the generator can check them and time them against the shared start instant: a JSON-like
/// object `{"p":PPPPPPP,"s":SSSSSSSSSSSS,"t":TTTTTTTTTTTTTTTT,"d":"DATA"}` with fixed-width
/// decimal fields (publisher, sequence number, nanoseconds since the start) and `DATA` cut from
/// the pattern by the sequence number, checked byte for byte.
pub mod stamp {
    use super::payload_for;

    const P: &[u8] = b"{\"p\":";
    const S: &[u8] = b",\"s\":";
    const T: &[u8] = b",\"t\":";
    const D: &[u8] = b",\"d\":\"";
    const END: &[u8] = b"\"}";
    const P_DIGITS: usize = 7;
    const S_DIGITS: usize = 12;
    const T_DIGITS: usize = 16;

    /// Bytes of a stamped message around its data: the smallest stamped payload.
    pub const OVERHEAD: usize =
        P.len() + P_DIGITS + S.len() + S_DIGITS + T.len() + T_DIGITS + D.len() + END.len();

    /// What a stamped message says about itself.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Stamp {
        /// The publisher's number.
        pub publisher: u64,
        /// The message's number among its publisher's.
        pub seq: u64,
        /// When it was (meant to be) sent: nanoseconds since the run's start.
        pub sent: u64,
    }

    /// Appends the `size`-byte stamped message (`size` at least [`OVERHEAD`]) to `out`.
    pub fn write(out: &mut Vec<u8>, pattern: &[u8], size: usize, stamp: Stamp) {
        debug_assert!(size >= OVERHEAD);
        out.extend_from_slice(P);
        digits(out, stamp.publisher, P_DIGITS);
        out.extend_from_slice(S);
        digits(out, stamp.seq, S_DIGITS);
        out.extend_from_slice(T);
        digits(out, stamp.sent, T_DIGITS);
        out.extend_from_slice(D);
        out.extend_from_slice(payload_for(pattern, stamp.seq, size - OVERHEAD));
        out.extend_from_slice(END);
    }

    /// Reads the stamp of `message` and checks every other byte against what [`write()`] would
    /// have written for it (`size` bytes from `pattern`); `None` if anything differs.
    pub fn check(message: &[u8], pattern: &[u8], size: usize) -> Option<Stamp> {
        if message.len() != size || size < OVERHEAD {
            return None;
        }
        let mut rest = message;
        let publisher = field(&mut rest, P, P_DIGITS)?;
        let seq = field(&mut rest, S, S_DIGITS)?;
        let sent = field(&mut rest, T, T_DIGITS)?;
        let rest = rest.strip_prefix(D)?;
        let (data, end) = rest.split_at(size - OVERHEAD);
        (end == END && data == payload_for(pattern, seq, size - OVERHEAD)).then_some(Stamp {
            publisher,
            seq,
            sent,
        })
    }

    fn digits(out: &mut Vec<u8>, mut value: u64, width: usize) {
        let start = out.len();
        out.resize(start + width, b'0');
        for slot in out[start..].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }

    fn field(rest: &mut &[u8], prefix: &[u8], width: usize) -> Option<u64> {
        let after = rest.strip_prefix(prefix)?;
        let (number, tail) = after.split_at_checked(width)?;
        let mut value = 0u64;
        for &b in number {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u64::from(b - b'0');
        }
        *rest = tail;
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_messages_round_trip_and_any_changed_byte_is_caught() {
        for (pattern, size) in [(pattern(200), 64), (compressible_pattern(4096), 4096)] {
            let stamp = stamp::Stamp {
                publisher: 1234,
                seq: 987_654,
                sent: 1_234_567_890_123,
            };
            let mut out = Vec::new();
            stamp::write(&mut out, &pattern, size, stamp);
            assert_eq!(out.len(), size);
            assert!(std::str::from_utf8(&out).is_ok());
            assert_eq!(stamp::check(&out, &pattern, size), Some(stamp));
            for i in [0, 5, 30, 60, size - 3, size - 1] {
                let mut bad = out.clone();
                bad[i] ^= 0x01;
                let checked = stamp::check(&bad, &pattern, size);
                assert!(checked.is_none() || checked != Some(stamp), "byte {i}");
            }
            assert_eq!(stamp::check(&out[..size - 1], &pattern, size), None);
        }
        assert_eq!(stamp::OVERHEAD, 58);
    }

    #[test]
    fn the_compressible_pattern_is_text() {
        let p = compressible_pattern(1000);
        assert!(p.iter().all(|b| b.is_ascii_graphic() || *b == b' '));
        assert_ne!(payload_for(&p, 0, 64), payload_for(&p, 1, 64));
    }

    #[test]
    fn payloads_are_printable_and_consecutive_ones_differ() {
        for size in [1, 16, 300, 16_384] {
            let pattern = pattern(size);
            let mut previous: Option<&[u8]> = None;
            for seq in 0..2 * PERIOD as u64 {
                let payload = payload_for(&pattern, seq, size);
                assert_eq!(payload.len(), size);
                assert!(
                    payload.iter().all(|b| b.is_ascii_graphic()),
                    "valid UTF-8 text"
                );
                if size >= 16 {
                    assert_ne!(Some(payload), previous, "size {size}, seq {seq}");
                }
                previous = Some(payload);
            }
            // Messages PERIOD apart carry the same bytes: what is checked is their order.
            assert_eq!(
                payload_for(&pattern, 3, size),
                payload_for(&pattern, 3 + PERIOD as u64, size)
            );
        }
    }
}
