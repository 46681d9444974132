//! Masking (RFC 6455 section 5.3): `payload[i] ^= mask[i % 4]`, in place.
//!
//! The fast path XORs eight bytes at a time as `u64`s built with `from_ne_bytes` over
//! `as_chunks_mut`, which LLVM turns into vector XORs; no unsafe is needed and alignment does
//! not matter (x86-64 and aarch64 load unaligned words at full speed). The byte loop
//! [`apply_mask_scalar`] is the reference the fast path is tested against, and the baseline the
//! criterion bench compares it with.

/// Bytes handled per step of the fast path's unrolled body: four `u64` lanes, so that LLVM can
/// keep two 128-bit (or one 256-bit) XOR in flight per iteration.
const BLOCK: usize = 32;

/// XORs `buf` with the 4-byte `mask`, starting at mask byte 0. Fast path; same result as
/// [`apply_mask_scalar`] for every length and alignment.
#[inline]
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let word = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let (blocks, tail) = buf.as_chunks_mut::<BLOCK>();
    for block in blocks {
        let (lanes, _) = block.as_chunks_mut::<8>();
        for lane in lanes {
            *lane = (u64::from_ne_bytes(*lane) ^ word).to_ne_bytes();
        }
    }
    // Every block's length is a multiple of 4, so the tail still starts at mask phase 0.
    apply_mask_short(tail, mask, word);
}

/// Masks fewer than [`BLOCK`] bytes at phase 0: whole `u64` lanes, then one `u32`, then at most
/// three bytes. Small messages (chat, game state, the 16-byte echo benchmark) take only this
/// path, so it has no loop that runs more than three times.
#[inline]
fn apply_mask_short(buf: &mut [u8], mask: [u8; 4], word: u64) {
    let (lanes, rest) = buf.as_chunks_mut::<8>();
    for lane in lanes {
        *lane = (u64::from_ne_bytes(*lane) ^ word).to_ne_bytes();
    }
    let bytes = match rest.split_first_chunk_mut::<4>() {
        Some((quad, bytes)) => {
            *quad = (u32::from_ne_bytes(*quad) ^ u32::from_ne_bytes(mask)).to_ne_bytes();
            bytes
        }
        None => rest,
    };
    // Lanes and the quad are multiples of 4 bytes: the remaining bytes start at phase 0.
    for (byte, key) in bytes.iter_mut().zip(mask) {
        *byte ^= key;
    }
}

/// XORs `buf` with `mask` one byte at a time: the reference implementation.
#[inline]
pub fn apply_mask_scalar(buf: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// The mask to use for the bytes that follow `consumed` already-masked bytes: masking a payload in
/// pieces of any size gives the same bytes as masking it at once if each piece uses the mask
/// rotated by the length of what came before.
#[inline]
pub const fn rotate_mask(mask: [u8; 4], consumed: usize) -> [u8; 4] {
    let phase = consumed & 3;
    [
        mask[phase],
        mask[(phase + 1) & 3],
        mask[(phase + 2) & 3],
        mask[(phase + 3) & 3],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + 7) as u8).collect()
    }

    /// Every length 0..=300, every start offset 0..8 from an 8-aligned address, every mask phase:
    /// the fast path equals the byte loop.
    #[test]
    fn fast_path_matches_byte_loop_for_every_length_offset_and_phase() {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut storage = vec![0u8; 320 + 8];
        // Skip to the first 8-aligned address so that `offset` is the real misalignment.
        let aligned = (8 - (storage.as_ptr() as usize % 8)) % 8;
        for len in 0..=300usize {
            let data = pattern(len);
            for offset in 0..8usize {
                for phase in 0..4usize {
                    let rotated = rotate_mask(mask, phase);
                    let mut expected = data.clone();
                    apply_mask_scalar(&mut expected, rotated);

                    let start = aligned + offset;
                    let target = &mut storage[start..start + len];
                    target.copy_from_slice(&data);
                    apply_mask(target, rotated);
                    assert_eq!(
                        target,
                        &expected[..],
                        "len {len} offset {offset} phase {phase}"
                    );
                }
            }
        }
    }

    #[test]
    fn masking_twice_restores_the_payload() {
        let data = pattern(1000);
        let mut buf = data.clone();
        apply_mask(&mut buf, [1, 2, 3, 4]);
        assert_ne!(buf, data);
        apply_mask(&mut buf, [1, 2, 3, 4]);
        assert_eq!(buf, data);
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once() {
        let mask = [0xde, 0xad, 0xbe, 0xef];
        let data = pattern(257);
        let mut whole = data.clone();
        apply_mask(&mut whole, mask);
        for cut in 0..=data.len() {
            let mut pieces = data.clone();
            let (a, b) = pieces.split_at_mut(cut);
            apply_mask(a, mask);
            apply_mask(b, rotate_mask(mask, cut));
            assert_eq!(pieces, whole, "cut {cut}");
        }
    }
}
