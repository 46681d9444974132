//! Shared immutable bytes for the outbound queue: encode a message once, queue it on many
//! connections without copying.

use std::fmt;
use std::ops::{Bound, Deref, RangeBounds};
use std::sync::Arc;

/// An immutable byte string shared between connections and threads: an `Arc<[u8]>` and the
/// range of it this value covers. Cloning bumps a reference count; [`SharedBytes::slice`] narrows
/// the range without copying.
#[derive(Clone)]
pub struct SharedBytes {
    buf: Arc<[u8]>,
    start: usize,
    end: usize,
}

impl SharedBytes {
    /// Shares all of `buf`.
    pub fn new(buf: Arc<[u8]>) -> SharedBytes {
        let end = buf.len();
        SharedBytes { buf, start: 0, end }
    }

    /// A sub-range of these bytes (relative to this value's start), sharing the same buffer.
    ///
    /// # Panics
    /// If the range is out of bounds or decreasing, like slice indexing.
    pub fn slice(&self, range: impl RangeBounds<usize>) -> SharedBytes {
        let len = self.len();
        let lo = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n + 1,
            Bound::Unbounded => 0,
        };
        let hi = match range.end_bound() {
            Bound::Included(&n) => n + 1,
            Bound::Excluded(&n) => n,
            Bound::Unbounded => len,
        };
        assert!(lo <= hi && hi <= len, "SharedBytes::slice out of bounds");
        SharedBytes {
            buf: Arc::clone(&self.buf),
            start: self.start + lo,
            end: self.start + hi,
        }
    }

    /// Number of bytes covered.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True if no bytes are covered.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Drops the first `n` bytes from this value's range (used by the queue after a partial
    /// write).
    pub(crate) fn advance(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
    }
}

impl Deref for SharedBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl From<Arc<[u8]>> for SharedBytes {
    fn from(buf: Arc<[u8]>) -> SharedBytes {
        SharedBytes::new(buf)
    }
}

impl From<Vec<u8>> for SharedBytes {
    fn from(v: Vec<u8>) -> SharedBytes {
        SharedBytes::new(Arc::from(v))
    }
}

impl From<&[u8]> for SharedBytes {
    fn from(v: &[u8]) -> SharedBytes {
        SharedBytes::new(Arc::from(v))
    }
}

impl fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedBytes({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_and_advance_share_one_buffer() {
        let b = SharedBytes::from(b"hello world".to_vec());
        let w = b.slice(6..);
        assert_eq!(&*w, b"world");
        let mut o = w.slice(..=1);
        assert_eq!(&*o, b"wo");
        o.advance(1);
        assert_eq!(&*o, b"o");
        assert!(Arc::ptr_eq(&b.buf, &o.buf));
        assert_eq!(b.len(), 11);
        assert!(!b.is_empty());
        assert!(b.slice(3..3).is_empty());
    }

    #[test]
    #[should_panic]
    fn slice_out_of_bounds_panics() {
        let b = SharedBytes::from(b"abc".to_vec());
        let _ = b.slice(2..5);
    }
}
