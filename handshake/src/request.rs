//! Incremental request-head parsing into caller-provided storage (RFC 9112).

use crate::head::{diagnose, HeadScanner};
use crate::tokens::{is_ows, list_contains, list_elements, CommaList};
use crate::{HandshakeError, Header, Status};

/// Size limits of the request parser. Exceeding either is answered with 431 (RFC 6585 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    max_head_bytes: usize,
    max_headers: usize,
}

/// The default head limit: 8 KiB, the common figure of nginx and most browsers' own limits;
/// a Chromium upgrade request with cookies is 0.5 to 2 KiB.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 8 * 1024;

/// The default header-count limit, and a good length for the caller's header storage: 64
/// fields is four times what browsers send on an upgrade.
pub const DEFAULT_MAX_HEADERS: usize = 64;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
        }
    }
}

impl Limits {
    /// Largest request head, request line through blank line. Default
    /// [`DEFAULT_MAX_HEAD_BYTES`] (8 KiB). Beyond it: 431 [`HandshakeError::HeadTooLarge`].
    pub fn max_head_bytes(mut self, bytes: usize) -> Self {
        self.max_head_bytes = bytes;
        self
    }

    /// Most header fields; the caller's storage length caps it too. Default
    /// [`DEFAULT_MAX_HEADERS`] (64). Beyond it: 431 [`HandshakeError::TooManyHeaders`].
    pub fn max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// The configured head limit in bytes.
    pub fn head_bytes_limit(&self) -> usize {
        self.max_head_bytes
    }

    /// The configured header-count limit.
    pub fn headers_limit(&self) -> usize {
        self.max_headers
    }
}

/// The HTTP version of a request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// HTTP/1.0: Upgrade is ignored, connections close unless `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1, and any later 1.x minor version (`HTTP/1.2` .. `HTTP/1.9`), which RFC 9110
    /// section 2.5 has a server process as the highest minor it implements.
    Http11,
}

/// How the body after the head is framed (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body: no Content-Length (or zero) and no Transfer-Encoding.
    None,
    /// A body of exactly this many bytes (Content-Length, non-zero).
    Length(u64),
    /// A chunked body (Transfer-Encoding: chunked).
    Chunked,
}

/// A parsed request head, borrowed from the caller's buffer and header storage.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    method: &'a str,
    target: &'a str,
    version: Version,
    headers: &'a [Header<'a>],
    host: Option<&'a [u8]>,
    body: Body,
    keep_alive: bool,
    /// Connection lists `upgrade`: found in the parse pass so that deciding needs no other.
    connection_upgrade: bool,
    head_len: usize,
    leftover: &'a [u8],
}

impl<'a> Request<'a> {
    /// The method, case-sensitive as RFC 9110 section 9.1 says (`GET`, not `get`).
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The request target as sent (`/chat?room=1`, or absolute-form `http://host/chat`).
    pub fn target(&self) -> &'a str {
        self.target
    }

    /// The path of an origin-form target: the target up to `?` (`/chat` for `/chat?room=1`).
    pub fn path(&self) -> &'a str {
        self.target
            .split_once('?')
            .map_or(self.target, |(path, _)| path)
    }

    /// The query of the target after `?`, if any.
    pub fn query(&self) -> Option<&'a str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// All header fields in order of arrival.
    pub fn headers(&self) -> &'a [Header<'a>] {
        self.headers
    }

    /// The value of the first field named `name` (case-insensitive), OWS-trimmed by httparse.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// Every element of the comma-separated list field `name`, across repeated field lines
    /// (RFC 9110 section 5.3), trimmed, empty elements skipped.
    pub fn list(&self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + Clone + 'a {
        list_elements(self.headers, name)
    }

    /// The Host value; required and unique in HTTP/1.1, so only an HTTP/1.0 request lacks it.
    pub fn host(&self) -> Option<&'a [u8]> {
        self.host
    }

    /// How the body is framed; the body's bytes start at [`Request::leftover`].
    pub fn body(&self) -> Body {
        self.body
    }

    /// Whether the Connection field lists `upgrade` (RFC 9110 section 7.8).
    pub fn connection_upgrade(&self) -> bool {
        self.connection_upgrade
    }

    /// Whether the connection stays open after the response (RFC 9112 section 9.3): HTTP/1.1
    /// unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Whether the client sent `Expect: 100-continue` (RFC 9110 section 10.1.1).
    pub fn expects_continue(&self) -> bool {
        list_contains(self.headers, "expect", "100-continue")
    }

    /// Whether the Connection field lists `token` (case-insensitive).
    pub fn connection_has(&self, token: &str) -> bool {
        list_contains(self.headers, "connection", token)
    }

    /// Length of the head in bytes, through its blank line: the caller discards this many bytes.
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// The bytes that arrived after the head (a body, a pipelined request, or a first WebSocket
    /// frame sent along with the upgrade). They belong to whatever reads next.
    pub fn leftover(&self) -> &'a [u8] {
        self.leftover
    }
}

/// Parses a request head as its bytes arrive. One per connection; reusable.
///
/// Calling order: append received bytes to your buffer, call [`RequestParser::parse`] with the
/// whole buffer; on [`Status::Partial`] read more and call again with the grown buffer; on
/// [`Status::Complete`] the parser is ready for the next request (after you discard
/// [`Request::head_len`] bytes plus any body). An error means: answer with its status and close.
#[derive(Debug, Clone, Default)]
pub struct RequestParser {
    limits: Limits,
    scanner: HeadScanner,
}

impl RequestParser {
    /// A parser with the given limits.
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            scanner: HeadScanner::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Bytes this parser has examined, over every head it parsed: each call looks only at the
    /// bytes appended since the previous one, so a head that arrives one byte at a time costs
    /// its length, not its length squared. A server can count it to show that it keeps one
    /// parser per connection while a head is incomplete.
    pub fn bytes_scanned(&self) -> u64 {
        self.scanner.total()
    }

    /// Forgets a partly received head (the caller threw its bytes away).
    pub fn reset(&mut self) {
        self.scanner.reset();
    }

    /// Parses the head at the start of `buf`, which holds everything received so far on this
    /// request. Only new bytes are scanned on each call. Header fields are stored in `headers`
    /// (its length caps the header count). Incomplete input is [`Status::Partial`], never an
    /// error.
    pub fn parse<'b: 'h, 'h>(
        &mut self,
        buf: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<Status<Request<'h>>, HandshakeError> {
        let Some(head_len) = self.scanner.scan(buf) else {
            if buf.len() > self.limits.max_head_bytes {
                self.scanner.reset();
                return Err(HandshakeError::HeadTooLarge {
                    limit: self.limits.max_head_bytes,
                });
            }
            return Ok(Status::Partial);
        };
        if head_len > self.limits.max_head_bytes {
            return Err(HandshakeError::HeadTooLarge {
                limit: self.limits.max_head_bytes,
            });
        }
        let limit = headers.len().min(self.limits.max_headers);
        parse_head(&buf[..head_len], &mut headers[..limit])
            .and_then(|parsed| {
                let (method, target, version, count) = parsed;
                let headers: &'h [Header<'b>] = &headers[..count];
                finish(method, target, version, headers, head_len, &buf[head_len..])
                    .map(Status::Complete)
            })
            .map_err(|e| match e {
                HandshakeError::TooManyHeaders { .. } => HandshakeError::TooManyHeaders { limit },
                e => e,
            })
    }
}

/// httparse over a complete head.
fn parse_head<'b>(
    head: &'b [u8],
    headers: &mut [Header<'b>],
) -> Result<(&'b str, &'b str, Version, usize), HandshakeError> {
    let mut request = httparse::Request::new(headers);
    let parsed = request.parse(head);
    // httparse fills in method and target before it reads the version, so they are there
    // (and checked) even when the version is what it refused.
    let (method, target) = (request.method, request.path);
    let count = request.headers.len();
    let version = match parsed {
        Ok(httparse::Status::Complete(n)) if n == head.len() => match request.version {
            Some(0) => Version::Http10,
            Some(1) => Version::Http11,
            _ => return Err(HandshakeError::UnsupportedHttpVersion),
        },
        // The scanner found the blank line, so httparse must too; anything else is a line
        // ending httparse reads differently, and that is malformed.
        Ok(_) => return Err(HandshakeError::MalformedRequestLine),
        Err(httparse::Error::Version) => {
            let (Some(method), Some(target)) = (method, target) else {
                return Err(diagnose(head, httparse::Error::Version));
            };
            let Some(fields_start) = later_minor_version(head, method, target) else {
                return Err(diagnose(head, httparse::Error::Version));
            };
            // The request line is an HTTP/1.1 one but for its minor version: parse the fields
            // as httparse would have (same rules: no space before the first field, no folding).
            let count = match httparse::parse_headers(&head[fields_start..], headers) {
                Ok(httparse::Status::Complete((n, fields))) if fields_start + n == head.len() => {
                    fields.len()
                }
                Ok(_) => return Err(HandshakeError::MalformedRequestLine),
                Err(e) => return Err(diagnose(head, e)),
            };
            return Ok((method, target, Version::Http11, count));
        }
        Err(e) => return Err(diagnose(head, e)),
    };
    let (Some(method), Some(target)) = (method, target) else {
        return Err(HandshakeError::MalformedRequestLine);
    };
    Ok((method, target, version, count))
}

/// RFC 9110 section 2.5: "A recipient that receives a message with a major version number that
/// it implements and a minor version number higher than what it implements SHOULD process the
/// message as if it were in the highest minor version within that major version to which the
/// recipient is conformant." So `HTTP/1.2` .. `HTTP/1.9` are read as HTTP/1.1 (a version is
/// one digit, dot, one digit: RFC 9112 section 2.3).
///
/// Called when httparse refused the version after accepting `method SP target SP`: returns
/// where the field lines start if the request line is exactly `method SP target SP HTTP/1.d`
/// with `d` from 2 to 9, ended by CRLF or LF.
fn later_minor_version(head: &[u8], method: &str, target: &str) -> Option<usize> {
    // httparse skips empty lines before the request line (RFC 9112 section 2.2).
    let start = head.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let version_at = start + method.len() + 1 + target.len() + 1;
    let line_end = version_at + memchr::memchr(b'\n', head.get(version_at..)?)?;
    match head[version_at..line_end] {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'2'..=b'9']
        | [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'2'..=b'9', b'\r'] => Some(line_end + 1),
        _ => None,
    }
}

/// The checks RFC 9112 asks of every request, whatever it asks for: Host, framing, keep-alive.
fn finish<'h>(
    method: &'h str,
    target: &'h str,
    version: Version,
    headers: &'h [Header<'h>],
    head_len: usize,
    leftover: &'h [u8],
) -> Result<Request<'h>, HandshakeError> {
    let mut host = None;
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let (mut close, mut keep_alive, mut connection_upgrade) = (false, false, false);
    // One pass, dispatching on the name's length first: most fields are none of these.
    for h in headers {
        let name = h.name.as_bytes();
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                if host.is_some() {
                    return Err(HandshakeError::DuplicateHost);
                }
                if !is_valid_host(h.value) {
                    return Err(HandshakeError::InvalidHost);
                }
                host = Some(h.value);
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in CommaList::new(h.value) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                    connection_upgrade |= token.eq_ignore_ascii_case(b"upgrade");
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                for element in CommaList::new(h.value) {
                    let value = parse_content_length(element)?;
                    if content_length.is_some_and(|known| known != value) {
                        return Err(HandshakeError::InvalidContentLength);
                    }
                    content_length = Some(value);
                }
                if content_length.is_none() {
                    return Err(HandshakeError::InvalidContentLength);
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                transfer_encoding = true;
                for coding in CommaList::new(h.value) {
                    // Only chunked is implemented, and it may be applied once (RFC 9112 7).
                    if !coding.eq_ignore_ascii_case(b"chunked") || chunked {
                        return Err(HandshakeError::UnsupportedTransferCoding);
                    }
                    chunked = true;
                }
            }
            _ => {}
        }
    }
    if version == Version::Http11 && host.is_none() {
        return Err(HandshakeError::MissingHost);
    }
    let body = if transfer_encoding {
        if version == Version::Http10 {
            return Err(HandshakeError::TransferEncodingInHttp10);
        }
        if content_length.is_some() {
            return Err(HandshakeError::ConflictingFraming);
        }
        if !chunked {
            return Err(HandshakeError::UnsupportedTransferCoding);
        }
        Body::Chunked
    } else {
        match content_length {
            None | Some(0) => Body::None,
            Some(n) => Body::Length(n),
        }
    };
    let keep_alive = match version {
        Version::Http11 => !close,
        Version::Http10 => keep_alive && !close,
    };
    Ok(Request {
        method,
        target,
        version,
        headers,
        host,
        body,
        keep_alive,
        connection_upgrade,
        head_len,
        leftover,
    })
}

fn parse_content_length(digits: &[u8]) -> Result<u64, HandshakeError> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(HandshakeError::InvalidContentLength);
    }
    Ok(digits
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// `uri-host [ ":" port ]` (RFC 9112 section 3.2, RFC 3986 section 3.2.2), checked by alphabet:
/// what matters here is that nothing that could smuggle a path, user info or whitespace passes.
/// Empty is allowed (the target had no authority).
pub(crate) fn is_valid_host(value: &[u8]) -> bool {
    value.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
            )
    }) && !value.first().is_some_and(|&b| is_ows(b))
}
