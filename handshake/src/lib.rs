//! Sans-IO HTTP/1.1 Upgrade and WebSocket opening handshake, server and client side.
//!
//! Bytes in, a decision and response bytes out: no sockets, no clock, no threads, no heap
//! allocation per request. The caller owns every buffer: the bytes it read, the storage for
//! header fields, and the output buffer the response is written into.
//!
//! # Server side
//!
//! 1. [`Acceptor`]: configured once (WebSocket subprotocols and origins, an extension
//!    negotiator, other upgrade protocols), shared by all connections.
//! 2. [`RequestParser`]: one per connection, from [`Acceptor::parser`]. Append what you read to
//!    your buffer and call [`Acceptor::accept`] (or [`RequestParser::parse`] then
//!    [`Acceptor::decide`]) with the whole buffer until it stops saying [`Status::Partial`].
//! 3. A [`Decision`]:
//!    - [`Decision::Switch`]: send [`Switch::response`] (the 101, after a 100 if the client
//!      sent `Expect: 100-continue`), then hand [`Switch::leftover`] - bytes that came after
//!      the head, such as a first WebSocket frame in the same packet - to the new protocol.
//!    - [`Decision::Reject`]: send [`Reject::response`] (400, 403, 417, 426, 431, 501, 505 ...)
//!      and close.
//!    - [`Decision::NotUpgrade`]: a plain request ([`Request`]: method, path, version, fields,
//!      [`Request::keep_alive`], [`Request::body`]), for the plain HTTP layer, which can answer
//!      with [`PlainResponse`].
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::net::TcpListener;
//! use switchyard_handshake::{Acceptor, Decision, PlainResponse, Status, EMPTY_HEADER};
//!
//! fn main() -> std::io::Result<()> {
//!     let acceptor = Acceptor::new();
//!     for stream in TcpListener::bind("127.0.0.1:8080")?.incoming() {
//!         let mut stream = stream?;
//!         let mut parser = acceptor.parser();
//!         let (mut buf, mut len) = ([0u8; 8192], 0);
//!         let mut out = [0u8; 1024];
//!         loop {
//!             let n = stream.read(&mut buf[len..])?;
//!             if n == 0 { break; }
//!             len += n;
//!             let mut headers = [EMPTY_HEADER; 64];
//!             let decision = acceptor.accept(&mut parser, &buf[..len], &mut headers, &mut out);
//!             match decision.expect("1 KiB holds any response here") {
//!                 Status::Partial => continue,
//!                 Status::Complete(Decision::Switch(switch)) => {
//!                     stream.write_all(switch.response)?;
//!                     // Speak WebSocket from here, starting with `switch.leftover`.
//!                 }
//!                 Status::Complete(Decision::Reject(reject)) => stream.write_all(reject.response)?,
//!                 Status::Complete(Decision::NotUpgrade(request)) => {
//!                     let mut page = [0u8; 256];
//!                     let n = PlainResponse::new(200).body(b"hello\n")
//!                         .keep_alive(false).write(&mut page).expect("fits");
//!                     let _ = request.path();
//!                     stream.write_all(&page[..n])?;
//!                 }
//!             }
//!             break;
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! The same server runs as `cargo run -p switchyard-handshake --example tcp_server`.
//!
//! # Client side
//!
//! [`ClientHandshake`] writes the upgrade request for a [`ClientRequest`] and checks the
//! server's 101 (status, Upgrade, Connection, accept value, offered subprotocol and
//! extensions); [`ResponseParser`] reads any response head, e.g. of a non-WebSocket upgrade.
//!
//! # Rules and where they come from
//!
//! - Heads (RFC 9112): limits on head size ([`DEFAULT_MAX_HEAD_BYTES`]) and field count
//!   ([`DEFAULT_MAX_HEADERS`]) answer 431; obsolete line folding, bare CR, NUL, whitespace
//!   before a colon, a missing or repeated Host, Content-Length with Transfer-Encoding answer
//!   400; one [`HandshakeError`] variant per rule, each with its status.
//! - Versions (RFC 9110 section 2.5, RFC 9112 section 2.3): `HTTP/1.0` and `HTTP/1.1`; a later
//!   minor version (`HTTP/1.2` to `HTTP/1.9`) is read as 1.1, upgrades included, so
//!   [`Request::version`] says [`Version::Http11`]; another major version (`HTTP/2.0`,
//!   `HTTP/0.9`) answers 505; anything that is not `HTTP/` digit `.` digit answers 400.
//! - Upgrade (RFC 9110 section 7.8): only when Connection lists `upgrade`; ignored on
//!   HTTP/1.0; offers tried in the client's order and the first supported one wins; nothing
//!   supported means a plain request, not an error; `h2c` is recognised and declined.
//! - WebSocket (RFC 6455 section 4.2): GET, HTTP/1.1, Host, a key that is the base64 of 16
//!   bytes (400), version 13 (426 with `Sec-WebSocket-Version: 13`), origin policy (403),
//!   subprotocol chosen by [`SubprotocolPreference`], extensions through
//!   [`ExtensionNegotiator`].
//!
//! ## Upgrade with a body
//!
//! RFC 9110 section 7.8 has the server switch only after the request's body, so the bytes
//! after the head would be HTTP content, not the new protocol. We refuse to guess:
//!
//! - a WebSocket upgrade with a body (Content-Length above 0, or Transfer-Encoding) is
//!   rejected with 400 [`HandshakeError::WebSocketWithBody`]: a GET's content has no meaning
//!   (RFC 9110 section 9.3.1), no WebSocket client sends one, and reading the body's bytes as
//!   frames would be a request-smuggling hole;
//! - an upgrade to a registered protocol with a body is declined and the request is handed
//!   over as [`Decision::NotUpgrade`] (a server may always ignore Upgrade), so the plain HTTP
//!   layer reads the body and answers it like any request.
//!
//! # What the caller still owns
//!
//! - Time: the crate has no clock. A head that never completes is the server's to time out
//!   (answer 408 with [`PlainResponse`] and close).
//! - Draining: after a decision, discard [`Request::head_len`] bytes (plus any body of a plain
//!   request) before parsing the next request of a keep-alive connection.
//! - Routing: parse first, look at [`Request::path`], answer 404 yourself, then
//!   [`Acceptor::decide`].
//!
//! # Known deviations
//!
//! - An absolute-form target (`GET http://host/path`) is accepted, but its authority does not
//!   replace Host as RFC 9112 section 3.2.2 asks of proxies-facing servers.
//!
//! # Cost
//!
//! Parsing, negotiating and writing the 101 for a full Chromium request (about 500 bytes)
//! takes about 630 ns of CPU and allocates nothing (`benches/upgrade.rs`, group `upgrade_cpu`;
//! `tests/no_alloc.rs`).
//!
//! # Why these crates
//!
//! - `httparse` parses the head: it is the parser of hyper, fuzzed for years, SIMD-accelerated,
//!   and it already parses into caller storage with no allocation. This crate adds what
//!   httparse does not do: incremental end-of-head search (httparse re-parses from the start,
//!   which a client sending one byte at a time turns into quadratic work), limits, and the
//!   RFC 9112 checks above the byte level (Host, framing) with one error per rule.
//! - `memchr` finds line ends for the incremental search with SIMD; a byte loop was a quarter
//!   of the instructions of a whole upgrade.
//! - `sha1` and `base64` (RustCrypto, and the de-facto base64 crate) compute the accept key
//!   into stack arrays; `getrandom` gives the client its nonce straight from the OS.
#![forbid(unsafe_code)]

mod client;
mod error;
mod head;
mod output;
mod request;
mod response;
mod server;
mod tokens;
mod upgrade;
mod websocket;

pub use client::{Accepted, ClientHandshake, ClientRequest, Response, ResponseParser};
pub use error::{ClientError, HandshakeError};
pub use httparse::{Header, EMPTY_HEADER};
pub use output::InsufficientSize;
pub use request::{
    Body, Limits, Request, RequestParser, Version, DEFAULT_MAX_HEADERS, DEFAULT_MAX_HEAD_BYTES,
};
pub use response::{reason_phrase, PlainResponse};
pub use server::{write_rejection, Acceptor, Decision, Reject, Switch, Switched};
pub use tokens::is_token;
pub use upgrade::{
    InvalidHeader, ProtocolId, RegisterError, ResponseHeaders, UpgradeOffer, UpgradeProtocol,
    Verdict, RESPONSE_HEADERS_CAPACITY,
};
pub use websocket::config::{OriginPolicy, SubprotocolPreference, WebSocketConfig};
pub use websocket::extensions::{
    AcceptedExtension, ExtensionElement, ExtensionList, ExtensionNegotiator, ExtensionParam,
    ExtensionParams, ExtensionResponse, NegotiationFailed, NoExtensions, ParamValue,
    EXTENSION_RESPONSE_CAPACITY,
};
pub use websocket::key::{AcceptKey, WebSocketKey, WEBSOCKET_GUID};
pub use websocket::permessage_deflate::{
    DeflateNegotiator, DeflateOffer, DeflateParams, DeflatePolicy, DeflatePolicyError,
    DeflateResponseError, PERMESSAGE_DEFLATE,
};

/// The result of feeding bytes to a parser: not enough yet, or the parsed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<T> {
    /// The head is incomplete: read more bytes and call again with the grown buffer.
    Partial,
    /// The head is complete.
    Complete(T),
}

impl<T> Status<T> {
    /// Whether this is `Partial`.
    pub fn is_partial(&self) -> bool {
        matches!(self, Status::Partial)
    }

    /// The complete value, if any.
    pub fn complete(self) -> Option<T> {
        match self {
            Status::Partial => None,
            Status::Complete(value) => Some(value),
        }
    }
}
