//! Masking keys for the client role.
//!
//! RFC 6455 section 5.3 wants keys an intermediary cannot predict. We seed a per-connection
//! wyrand generator from the OS (`getrandom`) once and draw every key from it: one syscall per
//! connection instead of per frame. wyrand is not a cryptographic generator; its output is a
//! 128-bit multiply-fold of a secret state, which is enough against the cache-poisoning concern
//! masking exists for (a proxy must not be able to choose the bytes on the wire).

/// wyrand state (8 bytes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct MaskRng(u64);

impl MaskRng {
    /// A generator seeded from the operating system. If the OS source fails (it does not on
    /// Linux after boot), fall back to the address of a stack slot mixed with the time, which is
    /// still unpredictable to an intermediary.
    pub(crate) fn from_os() -> MaskRng {
        let mut seed = [0u8; 8];
        if getrandom::getrandom(&mut seed).is_err() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            let here = &seed as *const _ as u64;
            seed = (now ^ here.rotate_left(32)).to_ne_bytes();
        }
        MaskRng(u64::from_ne_bytes(seed))
    }

    /// A generator that is never used (server role): no syscall.
    pub(crate) const fn unused() -> MaskRng {
        MaskRng(0)
    }

    /// The next masking key.
    #[inline]
    pub(crate) fn next_mask(&mut self) -> [u8; 4] {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let product = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        let mixed = (product >> 64) as u64 ^ product as u64;
        (mixed as u32).to_ne_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_vary_and_seeds_differ() {
        let mut a = MaskRng::from_os();
        let mut b = MaskRng::from_os();
        let keys: Vec<[u8; 4]> = (0..1000).map(|_| a.next_mask()).collect();
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert!(unique.len() > 990, "{} unique of 1000", unique.len());
        let other: Vec<[u8; 4]> = (0..8).map(|_| b.next_mask()).collect();
        assert_ne!(&keys[..8], &other[..]);
    }
}
