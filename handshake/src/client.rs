//! The client side: the upgrade request, and the check of the server's answer (RFC 6455
//! section 4.1). Used by the load generator and tests: nothing here allocates.

use crate::head::HeadScanner;
use crate::output::{write_into, Emit, InsufficientSize, Sink};
use crate::request::is_valid_host;
use crate::tokens::{is_token, list_contains, single, trim_ows};
use crate::upgrade::is_valid_field;
use crate::websocket::extensions::{validate, ExtensionList};
use crate::{
    AcceptKey, ClientError, Header, Status, Version, WebSocketKey, DEFAULT_MAX_HEAD_BYTES,
};

/// A parsed response head, borrowed from the caller's buffer and header storage.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    status: u16,
    reason: &'a str,
    version: Version,
    headers: &'a [Header<'a>],
    head_len: usize,
    leftover: &'a [u8],
}

impl<'a> Response<'a> {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase as sent.
    pub fn reason(&self) -> &'a str {
        self.reason
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// All header fields in order.
    pub fn headers(&self) -> &'a [Header<'a>] {
        self.headers
    }

    /// The value of the first field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// Length of the head through its blank line, counted from the start of the buffer given
    /// to the parser (interim 1xx responses skipped by [`ClientHandshake`] included).
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// The bytes after the head: the start of the new protocol (or of the body).
    pub fn leftover(&self) -> &'a [u8] {
        self.leftover
    }
}

/// Parses a response head as its bytes arrive (same calling order as
/// [`RequestParser`](crate::RequestParser)): for non-WebSocket upgrades and for reading the
/// status of a refusal. Only new bytes are scanned on each call.
#[derive(Debug, Clone)]
pub struct ResponseParser {
    scanner: HeadScanner,
    max_head_bytes: usize,
}

impl Default for ResponseParser {
    fn default() -> Self {
        ResponseParser::new(DEFAULT_MAX_HEAD_BYTES)
    }
}

impl ResponseParser {
    /// A parser refusing heads longer than `max_head_bytes`.
    pub fn new(max_head_bytes: usize) -> Self {
        ResponseParser {
            scanner: HeadScanner::default(),
            max_head_bytes,
        }
    }

    /// Parses the response head at the start of `buf` (everything received so far).
    pub fn parse<'b: 'h, 'h>(
        &mut self,
        buf: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<Status<Response<'h>>, ClientError> {
        match self.find_head(buf)? {
            None => Ok(Status::Partial),
            Some(head_len) => parse_head(buf, head_len, headers).map(Status::Complete),
        }
    }

    /// The length of the head at the start of `buf`, once its blank line has arrived.
    fn find_head(&mut self, buf: &[u8]) -> Result<Option<usize>, ClientError> {
        match self.scanner.scan(buf) {
            Some(head_len) if head_len <= self.max_head_bytes => Ok(Some(head_len)),
            None if buf.len() <= self.max_head_bytes => Ok(None),
            _ => {
                self.scanner.reset();
                Err(ClientError::HeadTooLarge {
                    limit: self.max_head_bytes,
                })
            }
        }
    }
}

/// httparse over a complete response head of `head_len` bytes at the start of `buf`.
fn parse_head<'b: 'h, 'h>(
    buf: &'b [u8],
    head_len: usize,
    headers: &'h mut [Header<'b>],
) -> Result<Response<'h>, ClientError> {
    let limit = headers.len();
    let mut response = httparse::Response::new(headers);
    match response.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(n)) if n == head_len => {}
        Err(httparse::Error::TooManyHeaders) => return Err(ClientError::TooManyHeaders { limit }),
        _ => return Err(ClientError::MalformedResponse),
    }
    let version = match response.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(ClientError::MalformedResponse),
    };
    let (Some(status), Some(reason)) = (response.code, response.reason) else {
        return Err(ClientError::MalformedResponse);
    };
    let headers: &'h [Header<'b>] = response.headers;
    Ok(Response {
        status,
        reason,
        version,
        headers,
        head_len,
        leftover: &buf[head_len..],
    })
}

/// Whether a head is an interim response other than 101 (`HTTP/1.1 1xx`), read from its status
/// line so that it can be skipped without field storage.
fn is_interim(head: &[u8]) -> bool {
    let line = head.iter().skip_while(|&&b| b == b'\r' || b == b'\n');
    let mut parts = line.copied().take(12);
    let prefix: [u8; 12] = core::array::from_fn(|_| parts.next().unwrap_or(0));
    prefix.starts_with(b"HTTP/1.")
        && prefix[8] == b' '
        && prefix[9] == b'1'
        && prefix[10].is_ascii_digit()
        && prefix[11].is_ascii_digit()
        && &prefix[9..12] != b"101"
}

/// What the client asks for. Everything is borrowed: build it once, reuse it per connection.
#[derive(Debug, Clone, Copy)]
pub struct ClientRequest<'a> {
    host: &'a str,
    target: &'a str,
    origin: Option<&'a str>,
    subprotocols: &'a [&'a str],
    extensions: Option<&'a str>,
    headers: &'a [(&'a str, &'a [u8])],
}

impl<'a> ClientRequest<'a> {
    /// An upgrade to WebSocket for `target` (origin-form, `/chat?x=1`) on `host` (`host:port`).
    pub fn new(host: &'a str, target: &'a str) -> Self {
        ClientRequest {
            host,
            target,
            origin: None,
            subprotocols: &[],
            extensions: None,
            headers: &[],
        }
    }

    /// Sends `Origin` (browsers always do). Default: none.
    pub fn origin(mut self, origin: &'a str) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Offers these subprotocols, best first. Default: none.
    pub fn subprotocols(mut self, protocols: &'a [&'a str]) -> Self {
        self.subprotocols = protocols;
        self
    }

    /// Offers extensions: a Sec-WebSocket-Extensions value such as
    /// `permessage-deflate; client_max_window_bits`. Default: none.
    pub fn extensions(mut self, offer: &'a str) -> Self {
        self.extensions = Some(offer);
        self
    }

    /// Extra fields (a cookie, an authorization). Default: none.
    pub fn headers(mut self, headers: &'a [(&'a str, &'a [u8])]) -> Self {
        self.headers = headers;
        self
    }

    fn validate(&self) -> Result<(), ClientError> {
        let target_ok =
            self.target.starts_with('/') && self.target.bytes().all(|b| b.is_ascii_graphic());
        let ok = target_ok
            && !self.host.is_empty()
            && is_valid_host(self.host.as_bytes())
            && self
                .origin
                .is_none_or(|o| is_valid_field("origin", o.as_bytes()))
            && self.subprotocols.iter().all(|p| is_token(p.as_bytes()))
            && self
                .extensions
                .is_none_or(|e| is_valid_field("x", e.as_bytes()) && validate(e.as_bytes()))
            && self
                .headers
                .iter()
                .all(|&(name, value)| is_valid_field(name, value));
        if ok {
            Ok(())
        } else {
            Err(ClientError::InvalidRequestPart)
        }
    }
}

struct RequestHead<'a> {
    request: &'a ClientRequest<'a>,
    key: &'a WebSocketKey,
}

impl Emit for RequestHead<'_> {
    fn emit<S: Sink>(&self, sink: &mut S) {
        let r = self.request;
        sink.put_str("GET ");
        sink.put_str(r.target);
        sink.put_str(" HTTP/1.1\r\nHost: ");
        sink.put_str(r.host);
        sink.put_str("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
        sink.put_str(self.key.as_str());
        sink.put_str("\r\nSec-WebSocket-Version: 13\r\n");
        if let Some(origin) = r.origin {
            sink.put_str("Origin: ");
            sink.put_str(origin);
            sink.put_str("\r\n");
        }
        if let Some((first, rest)) = r.subprotocols.split_first() {
            sink.put_str("Sec-WebSocket-Protocol: ");
            sink.put_str(first);
            for protocol in rest {
                sink.put_str(", ");
                sink.put_str(protocol);
            }
            sink.put_str("\r\n");
        }
        if let Some(extensions) = r.extensions {
            sink.put_str("Sec-WebSocket-Extensions: ");
            sink.put_str(extensions);
            sink.put_str("\r\n");
        }
        for &(name, value) in r.headers {
            sink.put_str(name);
            sink.put_str(": ");
            sink.put(value);
            sink.put_str("\r\n");
        }
        sink.put_str("\r\n");
    }
}

/// The server accepted the WebSocket upgrade.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Accepted<'a> {
    /// The subprotocol the server chose (one we offered), if any.
    pub subprotocol: Option<&'a str>,
    /// The extensions the server accepted, each one we offered; configure the codec from them.
    pub extensions: ExtensionList<'a>,
    /// The whole 101 response.
    pub response: Response<'a>,
    /// Bytes of the buffer up to and including the 101's blank line (interim responses too).
    pub head_len: usize,
    /// Bytes after the 101: the server's first frames.
    pub leftover: &'a [u8],
}

/// One client handshake: writes the upgrade request and checks the answer.
///
/// Calling order: [`ClientHandshake::new`], [`write_request`](ClientHandshake::write_request)
/// and send the bytes, then [`read_response`](ClientHandshake::read_response) with everything
/// received until it is `Complete`.
#[derive(Debug, Clone)]
pub struct ClientHandshake<'a> {
    request: ClientRequest<'a>,
    key: WebSocketKey,
    accept: AcceptKey,
    parser: ResponseParser,
    /// Bytes of interim (1xx other than 101) responses already skipped.
    skipped: usize,
}

impl<'a> ClientHandshake<'a> {
    /// A handshake for `request` with `key` ([`WebSocketKey::random`] per connection, or
    /// [`WebSocketKey::from_nonce`] from the caller's RNG). Fails if a part of the request
    /// would not be valid in its field.
    pub fn new(request: ClientRequest<'a>, key: WebSocketKey) -> Result<Self, ClientError> {
        request.validate()?;
        Ok(ClientHandshake {
            request,
            accept: key.accept(),
            key,
            parser: ResponseParser::default(),
            skipped: 0,
        })
    }

    /// The key sent.
    pub fn key(&self) -> &WebSocketKey {
        &self.key
    }

    /// Writes the upgrade request into `out`, returning its length.
    pub fn write_request(&self, out: &mut [u8]) -> Result<usize, InsufficientSize> {
        write_into(
            &RequestHead {
                request: &self.request,
                key: &self.key,
            },
            out,
        )
    }

    /// Parses and checks the server's answer in `buf` (everything received so far). Interim
    /// 1xx responses (a 100 before the 101) are skipped.
    pub fn read_response<'b: 'h, 'h>(
        &mut self,
        buf: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<Status<Accepted<'h>>, ClientError> {
        loop {
            let rest = buf.get(self.skipped..).unwrap_or_default();
            let Some(head_len) = self.parser.find_head(rest)? else {
                return Ok(Status::Partial);
            };
            if is_interim(&rest[..head_len]) {
                self.skipped += head_len;
                continue;
            }
            let skipped = core::mem::take(&mut self.skipped);
            let response = parse_head(rest, head_len, headers)?;
            let response = Response {
                head_len: skipped + response.head_len,
                ..response
            };
            return self.verify(response).map(Status::Complete);
        }
    }

    fn verify<'h>(&self, response: Response<'h>) -> Result<Accepted<'h>, ClientError> {
        if response.status != 101 {
            return Err(ClientError::UnexpectedStatus {
                status: response.status,
            });
        }
        let headers = response.headers;
        match single(headers, "upgrade") {
            Ok(Some(value)) if trim_ows(value).eq_ignore_ascii_case(b"websocket") => {}
            _ => return Err(ClientError::InvalidUpgrade),
        }
        if !list_contains(headers, "connection", "upgrade") {
            return Err(ClientError::InvalidConnection);
        }
        match single(headers, "sec-websocket-accept") {
            Ok(Some(value)) if trim_ows(value) == self.accept.as_bytes() => {}
            _ => return Err(ClientError::InvalidAccept),
        }
        // One protocol, one we offered (RFC 6455 section 4.1, item 6 of the client's checks).
        let subprotocol = match single(headers, "sec-websocket-protocol") {
            Ok(None) => None,
            Ok(Some(value)) => {
                let value = trim_ows(value);
                if !self
                    .request
                    .subprotocols
                    .iter()
                    .any(|p| p.as_bytes() == value)
                {
                    return Err(ClientError::UnofferedSubprotocol);
                }
                // Offers are tokens, so a match is ASCII.
                core::str::from_utf8(value).ok()
            }
            Err(()) => return Err(ClientError::UnofferedSubprotocol),
        };
        let extensions = ExtensionList::new(headers);
        for h in headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions"))
        {
            if !validate(h.value) {
                return Err(ClientError::UnofferedExtension);
            }
        }
        let offered = self
            .request
            .extensions
            .and_then(|e| ExtensionList::parse_value(e.as_bytes()));
        for (i, accepted) in extensions.clone().enumerate() {
            let was_offered = offered
                .clone()
                .is_some_and(|mut o| o.any(|e| e.name().eq_ignore_ascii_case(accepted.name())));
            let repeated = extensions
                .clone()
                .take(i)
                .any(|e| e.name().eq_ignore_ascii_case(accepted.name()));
            if !was_offered || repeated {
                return Err(ClientError::UnofferedExtension);
            }
        }
        Ok(Accepted {
            subprotocol,
            extensions,
            response,
            head_len: response.head_len,
            leftover: response.leftover,
        })
    }
}
