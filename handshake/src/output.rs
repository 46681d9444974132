//! Caller-owned output buffers: every response is measured first and written second, so a buffer
//! that is too small is reported with the size it needs and left untouched (the rustls rule).

use core::fmt;

/// The output buffer given to a write was too small; nothing was written to it.
///
/// The same name and shape as the `frame` crate's `SendError::InsufficientSize { required }`
/// (and rustls's): one idea, one name across the workspace. The crates do not depend on each
/// other, so each has its own type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsufficientSize {
    /// The number of bytes the buffer must hold for the write to succeed.
    pub required: usize,
}

impl fmt::Display for InsufficientSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "output buffer too small, {} bytes required",
            self.required
        )
    }
}

impl std::error::Error for InsufficientSize {}

/// Where response bytes go: a counter (first pass) or the caller's slice (second pass).
pub(crate) trait Sink: fmt::Write {
    fn put(&mut self, bytes: &[u8]);

    fn put_str(&mut self, text: &str) {
        self.put(text.as_bytes());
    }

    fn put_u64(&mut self, mut value: u64) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.put(&digits[start..]);
    }
}

/// Something that can be written as bytes: emitted once into a [`Counter`], once for real.
pub(crate) trait Emit {
    fn emit<S: Sink>(&self, sink: &mut S);
}

pub(crate) struct Counter(pub(crate) usize);

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

impl fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.put(s.as_bytes());
        Ok(())
    }
}

struct SliceSink<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Sink for SliceSink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        // The counting pass sized the buffer; a shorter write here would be a bug in an `Emit`
        // whose two passes disagree, so truncate rather than panic.
        let end = (self.pos + bytes.len()).min(self.buf.len());
        let n = end - self.pos;
        self.buf[self.pos..end].copy_from_slice(&bytes[..n]);
        self.pos = end;
    }
}

impl fmt::Write for SliceSink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.put(s.as_bytes());
        Ok(())
    }
}

/// Writes `item` into `out` if it fits; otherwise returns the size it needs and leaves `out` alone.
pub(crate) fn write_into(item: &impl Emit, out: &mut [u8]) -> Result<usize, InsufficientSize> {
    let mut counter = Counter(0);
    item.emit(&mut counter);
    let required = counter.0;
    if required > out.len() {
        return Err(InsufficientSize { required });
    }
    let mut sink = SliceSink { buf: out, pos: 0 };
    item.emit(&mut sink);
    debug_assert_eq!(sink.pos, required, "the two passes of an Emit disagree");
    Ok(sink.pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Numbers;
    impl Emit for Numbers {
        fn emit<S: Sink>(&self, sink: &mut S) {
            sink.put_u64(0);
            sink.put_str(" ");
            sink.put_u64(u64::MAX);
        }
    }

    #[test]
    fn writes_when_it_fits_and_reports_required_size_otherwise() {
        let mut out = [0xAAu8; 32];
        let n = write_into(&Numbers, &mut out).unwrap();
        assert_eq!(&out[..n], b"0 18446744073709551615");
        let mut small = [0xAAu8; 5];
        assert_eq!(
            write_into(&Numbers, &mut small),
            Err(InsufficientSize { required: 22 })
        );
        assert_eq!(
            small, [0xAA; 5],
            "a too-small buffer must be left untouched"
        );
    }
}
