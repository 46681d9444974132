//! Finding the end of a message head incrementally, and naming the rule a bad head broke.
//!
//! httparse re-parses from the start on every call, so feeding a head one byte at a time would
//! cost O(n^2) - a slow-loris client could make the server scan 8 KiB thousands of times. The
//! scanner remembers how far it looked and only looks at new bytes; httparse runs once, on the
//! complete head. Line ends are found with `memchr` (SIMD), so the extra pass costs a few
//! instructions per line rather than several per byte.

use crate::HandshakeError;

/// Remembers how far the search for the blank line that ends a head has got.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeadScanner {
    /// Bytes of the stream already examined.
    scanned: usize,
    /// Start of the line being examined.
    line_start: usize,
    /// A non-empty line has been seen: empty lines before the start line are skipped (RFC 9112
    /// section 2.2), so they do not end the head.
    seen_line: bool,
    /// Bytes examined over the scanner's life, across heads (kept by `reset`).
    total: u64,
}

impl HeadScanner {
    /// Looks at the bytes of `buf` not examined yet. Returns the head length (through the blank
    /// line) once found. `buf` must be the same stream as before with bytes appended; a shorter
    /// buffer restarts the search.
    pub(crate) fn scan(&mut self, buf: &[u8]) -> Option<usize> {
        if buf.len() < self.scanned {
            self.reset();
        }
        let mut pos = self.scanned;
        while let Some(offset) = memchr::memchr(b'\n', &buf[pos..]) {
            let lf = pos + offset;
            let line = &buf[self.line_start..lf];
            if line.is_empty() || line == b"\r" {
                if self.seen_line {
                    self.total += (lf + 1 - self.scanned) as u64;
                    self.reset();
                    return Some(lf + 1);
                }
            } else {
                self.seen_line = true;
            }
            self.line_start = lf + 1;
            pos = lf + 1;
        }
        self.total += (buf.len() - self.scanned) as u64;
        self.scanned = buf.len();
        None
    }

    /// Forgets the head in progress.
    pub(crate) fn reset(&mut self) {
        *self = HeadScanner {
            total: self.total,
            ..HeadScanner::default()
        };
    }

    /// Bytes examined so far, over every head.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }
}

/// Names the rule a head broke after httparse refused it: httparse says where it stopped, not
/// which of RFC 9112's rules the input broke, and a log line should say the latter. Runs only on
/// the error path.
pub(crate) fn diagnose(head: &[u8], error: httparse::Error) -> HandshakeError {
    if head.contains(&0) {
        return HandshakeError::NulInHead;
    }
    for (i, &b) in head.iter().enumerate() {
        if b == b'\r' && head.get(i + 1) != Some(&b'\n') {
            return HandshakeError::BareCarriageReturn;
        }
    }
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .skip_while(|line| line.is_empty());
    let request_line = lines.next().unwrap_or_default();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return HandshakeError::ObsoleteLineFolding;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            if colon > 0 && (line[colon - 1] == b' ' || line[colon - 1] == b'\t') {
                return HandshakeError::WhitespaceBeforeColon;
            }
        }
    }
    match error {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders { limit: 0 },
        httparse::Error::HeaderName | httparse::Error::HeaderValue => {
            HandshakeError::MalformedHeader
        }
        httparse::Error::Version if names_other_http_version(request_line) => {
            HandshakeError::UnsupportedHttpVersion
        }
        _ => HandshakeError::MalformedRequestLine,
    }
}

/// `... HTTP/x.y` with a well-formed version we do not speak (2.0, 3.0, 0.9). A later 1.x minor
/// version never gets here: `request.rs` reads it as 1.1 first.
fn names_other_http_version(request_line: &[u8]) -> bool {
    match request_line.rsplit(|&b| b == b' ').next() {
        Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor]) => {
            major.is_ascii_digit() && minor.is_ascii_digit()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blank_line_across_calls() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        let mut scanner = HeadScanner::default();
        for end in 1..head.len() - 4 {
            assert_eq!(scanner.scan(&head[..end]), None, "prefix of {end}");
        }
        assert_eq!(scanner.scan(&head[..]), Some(head.len() - 4));
    }

    #[test]
    fn bare_lf_lines_and_leading_empty_lines() {
        let mut scanner = HeadScanner::default();
        assert_eq!(
            scanner.scan(b"\r\n\nGET / HTTP/1.1\nHost: a\n\nX"),
            Some(27)
        );
    }
}
