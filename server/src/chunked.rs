//! A sans-IO decoder for HTTP/1.1 chunked bodies (RFC 9112 section 7.1), for the publish API:
//! bytes in, body bytes appended to the caller's buffer, and how much input was used. No
//! sockets, no clock.
//!
//! ```text
//! chunked-body   = *chunk last-chunk trailer-section CRLF
//! chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-size     = 1*HEXDIG
//! last-chunk     = 1*("0") [ chunk-ext ] CRLF
//! trailer-section = *( field-line CRLF )
//! ```
//!
//! Strict where leniency lets two parsers disagree (the root of request smuggling): lines end
//! in CRLF only, a chunk size is hex digits only (no sign, no `0x`, at most 16 digits).
//! Extensions and trailer fields are skipped, each bounded (`MAX_LINE`). The body is bounded
//! by the caller's maximum, checked against each chunk's declared size before its data is
//! taken, so an oversized body is refused before it is buffered.
#![forbid(unsafe_code)]

/// Longest chunk extension or trailer line, and most trailer bytes in all.
pub const MAX_LINE: usize = 4096;

/// Why a chunked body was refused; each maps to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    /// A chunk size with no digit or a byte that is not a hex digit (400).
    BadSize,
    /// A chunk size of more than 16 hex digits (400).
    SizeTooLong,
    /// A line that does not end in CRLF where the grammar needs it (400).
    BadLineEnd,
    /// A chunk extension or the trailer section is longer than [`MAX_LINE`] (400).
    LineTooLong,
    /// The body would pass the maximum (413).
    TooLarge,
}

impl ChunkedError {
    /// The HTTP status this error is answered with.
    pub fn status(self) -> u16 {
        match self {
            ChunkedError::TooLarge => 413,
            _ => 400,
        }
    }
}

impl std::fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChunkedError::BadSize => "chunk size is not hex digits",
            ChunkedError::SizeTooLong => "chunk size has more than 16 digits",
            ChunkedError::BadLineEnd => "line does not end in CRLF",
            ChunkedError::LineTooLong => "chunk extension or trailer too long",
            ChunkedError::TooLarge => "body over the maximum message size",
        })
    }
}

/// What one call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// All input was used; the body is not complete yet.
    Partial,
    /// The body is complete after this many bytes of the input; the rest belongs to whatever
    /// follows (a pipelined request).
    Complete(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the chunk size's hex digits (`digits` so far).
    Size { size: u64, digits: u8 },
    /// Skipping a chunk extension (or whitespace before one) up to CR.
    Ext { size: u64, len: usize },
    /// After the size line's CR: LF.
    SizeLf { size: u64 },
    /// Chunk data, this many bytes left.
    Data { left: u64 },
    /// After chunk data: CR.
    DataCr,
    /// After chunk data's CR: LF.
    DataLf,
    /// At the start of a trailer line (or of the final CRLF).
    TrailerStart,
    /// Inside a trailer field line, up to CR.
    TrailerLine,
    /// After a trailer line's CR: LF.
    TrailerLf,
    /// After the final CR: LF.
    EndLf,
    /// The body is complete.
    Done,
}

/// The decoder. Feed it with [`ChunkedDecoder::decode`] until it says [`Progress::Complete`]
/// or an error; after either, it takes no more input.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    max: usize,
    /// Body bytes so far.
    body: usize,
    /// Trailer bytes so far.
    trailer: usize,
}

impl ChunkedDecoder {
    /// A decoder for a body of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
            max,
            body: 0,
            trailer: 0,
        }
    }

    /// Whether the body is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes what it can of `input`, appending body bytes to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Progress, ChunkedError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            self.state = match self.state {
                State::Done => return Ok(Progress::Complete(i)),
                State::Size { size, digits } => match hex(b) {
                    Some(d) => {
                        if digits == 16 {
                            return Err(ChunkedError::SizeTooLong);
                        }
                        State::Size {
                            size: size << 4 | u64::from(d),
                            digits: digits + 1,
                        }
                    }
                    None if digits == 0 => return Err(ChunkedError::BadSize),
                    None => match b {
                        b'\r' => State::SizeLf { size },
                        b'\n' => return Err(ChunkedError::BadLineEnd),
                        b';' | b' ' | b'\t' => State::Ext { size, len: 1 },
                        _ => return Err(ChunkedError::BadSize),
                    },
                },
                State::Ext { size, len } => match b {
                    b'\r' => State::SizeLf { size },
                    b'\n' => return Err(ChunkedError::BadLineEnd),
                    _ if len >= MAX_LINE => return Err(ChunkedError::LineTooLong),
                    _ => State::Ext { size, len: len + 1 },
                },
                State::SizeLf { size } => {
                    if b != b'\n' {
                        return Err(ChunkedError::BadLineEnd);
                    }
                    if size == 0 {
                        State::TrailerStart
                    } else {
                        // Checked before the data is taken: an oversized chunk is refused
                        // without buffering it.
                        let room = (self.max - self.body) as u64;
                        if size > room {
                            return Err(ChunkedError::TooLarge);
                        }
                        State::Data { left: size }
                    }
                }
                State::Data { left } => {
                    let n = (left.min((input.len() - i) as u64)) as usize;
                    out.extend_from_slice(&input[i..i + n]);
                    self.body += n;
                    i += n;
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { left }
                    };
                    continue;
                }
                State::DataCr => match b {
                    b'\r' => State::DataLf,
                    _ => return Err(ChunkedError::BadLineEnd),
                },
                State::DataLf => match b {
                    b'\n' => State::Size { size: 0, digits: 0 },
                    _ => return Err(ChunkedError::BadLineEnd),
                },
                State::TrailerStart => match b {
                    b'\r' => State::EndLf,
                    b'\n' => return Err(ChunkedError::BadLineEnd),
                    _ => self.trailer_byte(State::TrailerLine)?,
                },
                State::TrailerLine => match b {
                    b'\r' => State::TrailerLf,
                    b'\n' => return Err(ChunkedError::BadLineEnd),
                    _ => self.trailer_byte(State::TrailerLine)?,
                },
                State::TrailerLf => match b {
                    b'\n' => State::TrailerStart,
                    _ => return Err(ChunkedError::BadLineEnd),
                },
                State::EndLf => match b {
                    b'\n' => {
                        self.state = State::Done;
                        return Ok(Progress::Complete(i + 1));
                    }
                    _ => return Err(ChunkedError::BadLineEnd),
                },
            };
            i += 1;
        }
        Ok(if self.state == State::Done {
            Progress::Complete(i)
        } else {
            Progress::Partial
        })
    }

    fn trailer_byte(&mut self, next: State) -> Result<State, ChunkedError> {
        self.trailer += 1;
        if self.trailer > MAX_LINE {
            return Err(ChunkedError::LineTooLong);
        }
        Ok(next)
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], max: usize) -> Result<(Vec<u8>, usize), ChunkedError> {
        let mut d = ChunkedDecoder::new(max);
        let mut out = Vec::new();
        match d.decode(input, &mut out)? {
            Progress::Complete(n) => Ok((out, n)),
            Progress::Partial => panic!("partial"),
        }
    }

    /// RFC 9112 section 7.1's shape: chunks, an extension, a trailer.
    #[test]
    fn rfc_9112_7_1_chunks_extension_and_trailer() {
        let body = b"4\r\nWiki\r\n5;name=value\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\nNEXT";
        let (out, n) = decode_all(body, 100).unwrap();
        assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(&body[n..], b"NEXT");
    }

    #[test]
    fn every_split_decodes_the_same_and_every_prefix_is_partial() {
        let body = b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0;x=y\r\nT: v\r\n\r\n";
        let (whole, _) = decode_all(body, 100).unwrap();
        for cut in 0..body.len() {
            let mut d = ChunkedDecoder::new(100);
            let mut out = Vec::new();
            assert_eq!(d.decode(&body[..cut], &mut out), Ok(Progress::Partial));
            assert_eq!(
                d.decode(&body[cut..], &mut out),
                Ok(Progress::Complete(body.len() - cut))
            );
            assert_eq!(out, whole, "split at {cut}");
        }
        // Byte by byte.
        let mut d = ChunkedDecoder::new(100);
        let mut out = Vec::new();
        for (i, b) in body.iter().enumerate() {
            let p = d.decode(std::slice::from_ref(b), &mut out).unwrap();
            assert_eq!(p == Progress::Complete(1), i == body.len() - 1);
        }
        assert_eq!(out, whole);
    }

    #[test]
    fn broken_bodies_name_the_rule() {
        let cases: [(&[u8], ChunkedError); 9] = [
            (b"\r\n", ChunkedError::BadSize),
            (b"g\r\n", ChunkedError::BadSize),
            (b"-1\r\n", ChunkedError::BadSize),
            (b"0x5\r\n", ChunkedError::BadSize),
            (b"11111111111111111\r\n", ChunkedError::SizeTooLong),
            (b"3\nabc", ChunkedError::BadLineEnd),
            (b"3\r\nabcX", ChunkedError::BadLineEnd),
            (b"0\r\n\n", ChunkedError::BadLineEnd),
            (b"65\r\n", ChunkedError::TooLarge),
        ];
        for (input, want) in cases {
            let mut d = ChunkedDecoder::new(100);
            assert_eq!(d.decode(input, &mut Vec::new()), Err(want), "{input:?}");
        }
        let long_ext = [b"1;".as_slice(), &[b'a'; MAX_LINE], b"\r\n"].concat();
        let mut d = ChunkedDecoder::new(100);
        assert_eq!(
            d.decode(&long_ext, &mut Vec::new()),
            Err(ChunkedError::LineTooLong)
        );
        assert_eq!(ChunkedError::TooLarge.status(), 413);
        assert_eq!(ChunkedError::BadSize.status(), 400);
    }

    #[test]
    fn the_maximum_counts_every_chunk() {
        assert!(decode_all(
            b"32\r\n"
                .iter()
                .chain(&[b'x'; 50])
                .chain(b"\r\n0\r\n\r\n")
                .copied()
                .collect::<Vec<_>>()
                .as_slice(),
            50
        )
        .is_ok());
        let two = [&b"19\r\n"[..], &[b'x'; 25], b"\r\n1a\r\n"].concat();
        let mut d = ChunkedDecoder::new(50);
        assert_eq!(d.decode(&two, &mut Vec::new()), Err(ChunkedError::TooLarge));
    }
}
