//! Response heads written into caller buffers: the 101, rejections, and plain responses the
//! server sends on the same port (`GET /healthz`, a 503 under overload, a 408 on timeout).

use crate::output::{write_into, Emit, InsufficientSize, Sink};
use crate::upgrade::is_valid_field;
use core::fmt::{self, Write as _};

/// The reason phrase for `status` (RFC 9110 section 15); empty for codes it does not name.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// RFC 9110 sections 15.2, 15.3.5 and 15.4.5: these statuses never carry content.
fn has_no_content(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

pub(crate) fn status_line<S: Sink>(sink: &mut S, status: u16) {
    sink.put_str("HTTP/1.1 ");
    sink.put_u64(u64::from(status));
    sink.put_str(" ");
    sink.put_str(reason_phrase(status));
    sink.put_str("\r\n");
}

/// A complete plain HTTP/1.1 response: status line, fields, `Content-Length` (added), body.
///
/// ```
/// use switchyard_handshake::PlainResponse;
/// let mut out = [0u8; 256];
/// let n = PlainResponse::new(503)
///     .content_type("text/plain")
///     .headers(&[("Retry-After", b"1")])
///     .body(b"overloaded\n")
///     .keep_alive(false)
///     .write(&mut out)
///     .unwrap();
/// assert!(out[..n].starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PlainResponse<'a> {
    status: u16,
    content_type: Option<&'a str>,
    headers: &'a [(&'a str, &'a [u8])],
    body: &'a [u8],
    keep_alive: bool,
    head_only: bool,
}

impl<'a> PlainResponse<'a> {
    /// A response with this status, no body, keep-alive on.
    pub fn new(status: u16) -> Self {
        PlainResponse {
            status,
            content_type: None,
            headers: &[],
            body: &[],
            keep_alive: true,
            head_only: false,
        }
    }

    /// The Content-Type field. Default: none.
    pub fn content_type(mut self, content_type: &'a str) -> Self {
        self.content_type = Some(content_type);
        self
    }

    /// Extra fields. A field whose name is not a token or whose value holds CR, LF or NUL is
    /// left out (it would split the response), and debug builds panic on it.
    pub fn headers(mut self, headers: &'a [(&'a str, &'a [u8])]) -> Self {
        self.headers = headers;
        self
    }

    /// The body; Content-Length is set from it. Default: empty.
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    /// Whether the connection stays open; `false` adds `Connection: close`. Default `true`;
    /// pass [`Request::keep_alive`](crate::Request::keep_alive) for a normal answer.
    pub fn keep_alive(mut self, keep_alive: bool) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// Write the head only, with the Content-Length of the body (the answer to HEAD, or a body
    /// the caller sends itself). Default `false`.
    pub fn head_only(mut self, head_only: bool) -> Self {
        self.head_only = head_only;
        self
    }

    /// Writes the response into `out`, returning its length; if `out` is too small nothing is
    /// written and the error says how many bytes are needed.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, InsufficientSize> {
        write_into(self, out)
    }
}

impl Emit for PlainResponse<'_> {
    fn emit<S: Sink>(&self, sink: &mut S) {
        status_line(sink, self.status);
        if let Some(content_type) = self.content_type {
            if is_valid_field("content-type", content_type.as_bytes()) {
                sink.put_str("Content-Type: ");
                sink.put_str(content_type);
                sink.put_str("\r\n");
            }
        }
        for &(name, value) in self.headers {
            if !is_valid_field(name, value) {
                debug_assert!(false, "invalid response field {name:?}");
                continue;
            }
            sink.put_str(name);
            sink.put_str(": ");
            sink.put(value);
            sink.put_str("\r\n");
        }
        if !has_no_content(self.status) {
            sink.put_str("Content-Length: ");
            sink.put_u64(self.body.len() as u64);
            sink.put_str("\r\n");
        }
        if !self.keep_alive {
            sink.put_str("Connection: close\r\n");
        }
        sink.put_str("\r\n");
        if !self.head_only && !has_no_content(self.status) {
            sink.put(self.body);
        }
    }
}

/// A rejection: the status for `error`, a one-line text body naming the broken rule, and
/// `Connection: close`. A 426 also carries `Upgrade: websocket` and `Sec-WebSocket-Version: 13`
/// (RFC 9110 section 15.5.22, RFC 6455 section 4.2.2 item 4).
pub(crate) struct RejectResponse<'e> {
    pub(crate) status: u16,
    pub(crate) reason: &'e dyn fmt::Display,
}

impl Emit for RejectResponse<'_> {
    fn emit<S: Sink>(&self, sink: &mut S) {
        status_line(sink, self.status);
        if self.status == 426 {
            // A sender of Upgrade must list it in Connection too (RFC 9110 section 7.8).
            sink.put_str(
                "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nConnection: Upgrade, close\r\n",
            );
        } else {
            sink.put_str("Connection: close\r\n");
        }
        sink.put_str("Content-Type: text/plain; charset=utf-8\r\nContent-Length: ");
        let mut length = crate::output::Counter(0);
        let _ = writeln!(length, "{}", self.reason);
        sink.put_u64(length.0 as u64);
        sink.put_str("\r\n\r\n");
        let _ = writeln!(sink, "{}", self.reason);
    }
}

/// The switch to WebSocket (RFC 6455 section 4.2.2 item 5), after a 100 if one was expected.
pub(crate) struct WebSocketSwitch<'a> {
    pub(crate) send_continue: bool,
    pub(crate) accept: &'a [u8; 28],
    pub(crate) subprotocol: Option<&'a [u8]>,
    pub(crate) extensions: &'a str,
}

impl Emit for WebSocketSwitch<'_> {
    fn emit<S: Sink>(&self, sink: &mut S) {
        if self.send_continue {
            sink.put_str("HTTP/1.1 100 Continue\r\n\r\n");
        }
        sink.put_str(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
        );
        sink.put(self.accept);
        sink.put_str("\r\n");
        if let Some(protocol) = self.subprotocol {
            sink.put_str("Sec-WebSocket-Protocol: ");
            sink.put(protocol);
            sink.put_str("\r\n");
        }
        if !self.extensions.is_empty() {
            sink.put_str("Sec-WebSocket-Extensions: ");
            sink.put_str(self.extensions);
            sink.put_str("\r\n");
        }
        sink.put_str("\r\n");
    }
}

/// The switch to a registered protocol, naming it as the client wrote it.
pub(crate) struct ProtocolSwitch<'a> {
    pub(crate) send_continue: bool,
    pub(crate) upgrade: &'a str,
    pub(crate) fields: &'a [u8],
}

impl Emit for ProtocolSwitch<'_> {
    fn emit<S: Sink>(&self, sink: &mut S) {
        if self.send_continue {
            sink.put_str("HTTP/1.1 100 Continue\r\n\r\n");
        }
        sink.put_str("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ");
        sink.put_str(self.upgrade);
        sink.put_str("\r\n");
        sink.put(self.fields);
        sink.put_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_response_counts_body_and_closes_when_asked() {
        let mut out = [0u8; 256];
        let n = PlainResponse::new(404)
            .body(b"no\n")
            .keep_alive(false)
            .write(&mut out)
            .unwrap();
        assert_eq!(
            &out[..n],
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close\r\n\r\nno\n"
        );
    }

    #[test]
    fn head_only_keeps_content_length_and_drops_body() {
        let mut out = [0u8; 256];
        let n = PlainResponse::new(200)
            .body(b"hello")
            .head_only(true)
            .write(&mut out)
            .unwrap();
        assert_eq!(&out[..n], b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    }

    #[test]
    fn no_content_statuses_have_no_length() {
        let mut out = [0u8; 256];
        let n = PlainResponse::new(204)
            .body(b"ignored")
            .write(&mut out)
            .unwrap();
        assert_eq!(&out[..n], b"HTTP/1.1 204 No Content\r\n\r\n");
    }

    #[test]
    fn too_small_buffer_is_untouched() {
        let mut out = [7u8; 10];
        let err = PlainResponse::new(408)
            .keep_alive(false)
            .write(&mut out)
            .unwrap_err();
        assert_eq!(
            err.required,
            "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".len()
        );
        assert_eq!(out, [7u8; 10]);
    }
}
