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

/// The payload of message number `seq` (the slice of `pattern` both sent and expected back).
pub fn payload_for(pattern: &[u8], seq: u64, size: usize) -> &[u8] {
    let start = (seq % PERIOD as u64) as usize;
    &pattern[start..start + size]
}

#[cfg(test)]
mod tests {
    use super::*;

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
