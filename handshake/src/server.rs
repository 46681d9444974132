//! The server side: from a parsed request to a decision and the response bytes.

use crate::output::{write_into, InsufficientSize};
use crate::response::{ProtocolSwitch, RejectResponse, WebSocketSwitch};
use crate::tokens::{is_token, list_elements, trim_ows, CommaList};
use crate::upgrade::{
    offers, ProtocolId, RegisterError, ResponseHeaders, UpgradeOffer, UpgradeProtocol, Verdict,
};
use crate::websocket::extensions::{
    validate, ExtensionList, ExtensionNegotiator, ExtensionResponse, NoExtensions,
};
use crate::{
    Body, HandshakeError, Header, Limits, Request, RequestParser, Status, Version, WebSocketConfig,
    WebSocketKey,
};
use core::fmt;

/// What to do with a request.
#[derive(Debug)]
pub enum Decision<'a, A = ()> {
    /// Send [`Switch::response`], then speak [`Switch::protocol`] on the connection, starting
    /// with the bytes in [`Switch::leftover`].
    Switch(Switch<'a, A>),
    /// Send [`Reject::response`] and close the connection.
    Reject(Reject<'a>),
    /// Not an upgrade (or none the server supports): serve the request as plain HTTP. Nothing
    /// was written to the output buffer.
    NotUpgrade(Request<'a>),
}

/// A protocol switch: the 101 is in `response`.
#[derive(Debug)]
#[non_exhaustive]
pub struct Switch<'a, A = ()> {
    /// The protocol switched to, with what was agreed for it.
    pub protocol: Switched<'a, A>,
    /// The bytes to send: the 101 response (after a 100 when the client expected one).
    pub response: &'a [u8],
    /// The request that asked for the switch (path and fields, e.g. for routing).
    pub request: Request<'a>,
    /// Bytes that arrived after the request head: the start of the new protocol's stream.
    pub leftover: &'a [u8],
}

/// The protocol of a [`Switch`].
#[derive(Debug)]
pub enum Switched<'a, A = ()> {
    /// WebSocket (RFC 6455).
    WebSocket {
        /// The subprotocol answered in Sec-WebSocket-Protocol, if any: one the client offered.
        subprotocol: Option<&'a str>,
        /// What the extension negotiator agreed.
        extensions: A,
    },
    /// A protocol registered with [`Acceptor::register`].
    Registered {
        /// Which one.
        id: ProtocolId,
        /// The client's offer that was accepted (name and version).
        offer: UpgradeOffer<'a>,
    },
}

/// A refused request: send `response`, then close.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Reject<'a> {
    /// The rule that was broken.
    pub error: HandshakeError,
    /// The status of the response (`error.status()`).
    pub status: u16,
    /// The response bytes: status line, `Connection: close`, a one-line text body.
    pub response: &'a [u8],
}

/// Writes the rejection for `error` into `out` (status line, `Connection: close`, a text body
/// naming the rule; a 426 also carries `Upgrade: websocket` and `Sec-WebSocket-Version: 13`).
/// Use it for errors from [`RequestParser::parse`].
pub fn write_rejection(error: &HandshakeError, out: &mut [u8]) -> Result<usize, InsufficientSize> {
    write_into(
        &RejectResponse {
            status: error.status(),
            reason: error,
        },
        out,
    )
}

/// Decides what to do with requests: the server's half of the handshake. Configure once, share
/// between threads (it is `Send + Sync` when the negotiator is), call per request.
///
/// Calling order per connection: [`Acceptor::parser`] once; then for each request either
/// [`Acceptor::accept`] (parse and decide in one call), or [`RequestParser::parse`] followed by
/// [`Acceptor::decide`] when the program looks at the request first (routing, a 404).
pub struct Acceptor<N = NoExtensions> {
    limits: Limits,
    websocket: Option<WebSocketConfig>,
    negotiator: N,
    protocols: Vec<Box<dyn UpgradeProtocol>>,
}

impl Default for Acceptor {
    fn default() -> Self {
        Acceptor::new()
    }
}

impl Acceptor {
    /// WebSocket enabled with [`WebSocketConfig::default`], no extensions, no other protocols,
    /// default [`Limits`].
    pub fn new() -> Self {
        Acceptor {
            limits: Limits::default(),
            websocket: Some(WebSocketConfig::default()),
            negotiator: NoExtensions,
            protocols: Vec::new(),
        }
    }
}

impl<N: fmt::Debug> fmt::Debug for Acceptor<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acceptor")
            .field("limits", &self.limits)
            .field("websocket", &self.websocket)
            .field("negotiator", &self.negotiator)
            .field(
                "protocols",
                &self.protocols.iter().map(|p| p.token()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<N: ExtensionNegotiator> Acceptor<N> {
    /// Sets the parser limits handed out by [`Acceptor::parser`]. Default [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Enables WebSocket with this configuration (the default configuration is enabled).
    pub fn websocket(mut self, config: WebSocketConfig) -> Self {
        self.websocket = Some(config);
        self
    }

    /// Disables WebSocket: `websocket` offers are then unsupported like any unknown token.
    pub fn without_websocket(mut self) -> Self {
        self.websocket = None;
        self
    }

    /// Uses `negotiator` for Sec-WebSocket-Extensions. Default [`NoExtensions`].
    pub fn extensions<M: ExtensionNegotiator>(self, negotiator: M) -> Acceptor<M> {
        Acceptor {
            limits: self.limits,
            websocket: self.websocket,
            negotiator,
            protocols: self.protocols,
        }
    }

    /// Registers another upgrade protocol (say a raw `tcp` tunnel).
    pub fn register(
        &mut self,
        protocol: impl UpgradeProtocol + 'static,
    ) -> Result<ProtocolId, RegisterError> {
        let token = protocol.token();
        if !is_token(token.as_bytes()) {
            return Err(RegisterError::InvalidToken);
        }
        if token.eq_ignore_ascii_case("websocket") || token.eq_ignore_ascii_case("h2c") {
            return Err(RegisterError::Reserved);
        }
        if self
            .protocols
            .iter()
            .any(|p| p.token().eq_ignore_ascii_case(token))
        {
            return Err(RegisterError::Duplicate);
        }
        self.protocols.push(Box::new(protocol));
        Ok(ProtocolId(self.protocols.len() - 1))
    }

    /// The registered protocol `id` refers to.
    pub fn protocol(&self, id: ProtocolId) -> Option<&dyn UpgradeProtocol> {
        self.protocols.get(id.0).map(|p| &**p)
    }

    /// A request parser with this acceptor's limits, one per connection.
    pub fn parser(&self) -> RequestParser {
        RequestParser::new(self.limits)
    }

    /// Parses the request head in `buf` and decides on it: a parse error becomes a
    /// [`Decision::Reject`] with its response written into `out`. `Partial` means: read more,
    /// call again with the grown buffer. `Err` means `out` is too small; nothing was written
    /// (a 2 KiB buffer is always enough unless negotiated fields are very long).
    pub fn accept<'a, 'b: 'a>(
        &self,
        parser: &mut RequestParser,
        buf: &'b [u8],
        headers: &'a mut [Header<'b>],
        out: &'a mut [u8],
    ) -> Result<Status<Decision<'a, N::Agreed>>, InsufficientSize> {
        match parser.parse(buf, headers) {
            Ok(Status::Partial) => Ok(Status::Partial),
            Ok(Status::Complete(request)) => self.decide(request, out).map(Status::Complete),
            Err(error) => reject(error, out).map(|r| Status::Complete(Decision::Reject(r))),
        }
    }

    /// Decides on a parsed request, writing the 101 or the rejection into `out`. `Err` means
    /// `out` is too small; nothing was written.
    pub fn decide<'a>(
        &self,
        request: Request<'a>,
        out: &'a mut [u8],
    ) -> Result<Decision<'a, N::Agreed>, InsufficientSize> {
        // RFC 9110 section 7.8: a server must ignore Upgrade in an HTTP/1.0 request, and
        // Upgrade only counts when Connection lists it.
        if request.version() == Version::Http10 || !request.connection_upgrade() {
            return Ok(Decision::NotUpgrade(request));
        }
        let mut extra = ResponseHeaders::default();
        for offer in offers(request.headers()) {
            let Ok(offer) = offer else {
                return reject(HandshakeError::MalformedUpgrade, out).map(Decision::Reject);
            };
            if offer.name.eq_ignore_ascii_case("websocket") {
                if let Some(config) = &self.websocket {
                    return self.websocket_switch(config, request, out);
                }
                continue;
            }
            // h2c is recognised and declined (RFC 9113 section 3.1 deprecated it); other
            // unknown tokens are skipped the same way.
            let Some((index, protocol)) = self
                .protocols
                .iter()
                .enumerate()
                .find(|(_, p)| p.token().eq_ignore_ascii_case(offer.name))
            else {
                continue;
            };
            // A generic upgrade with a body is declined: the body would have to be read as
            // HTTP before the switch; the plain HTTP layer does that and answers normally.
            if request.body() != Body::None {
                return Ok(Decision::NotUpgrade(request));
            }
            let send_continue = match expectation(&request) {
                Ok(send_continue) => send_continue,
                Err(error) => return reject(error, out).map(Decision::Reject),
            };
            extra.clear();
            match protocol.check(&request, &offer, &mut extra) {
                Verdict::Decline => continue,
                Verdict::Reject(status) => {
                    let status = if (400..600).contains(&status) {
                        status
                    } else {
                        500
                    };
                    return reject(HandshakeError::ProtocolRejected { status }, out)
                        .map(Decision::Reject);
                }
                Verdict::Accept => {
                    let response = ProtocolSwitch {
                        send_continue,
                        upgrade: offer.text,
                        fields: extra.as_bytes(),
                    };
                    let n = write_into(&response, out)?;
                    return Ok(Decision::Switch(Switch {
                        protocol: Switched::Registered {
                            id: ProtocolId(index),
                            offer,
                        },
                        response: &out[..n],
                        request,
                        leftover: request.leftover(),
                    }));
                }
            }
        }
        Ok(Decision::NotUpgrade(request))
    }

    /// RFC 6455 section 4.2.1's checks, then the 101 of section 4.2.2.
    fn websocket_switch<'a>(
        &self,
        config: &WebSocketConfig,
        request: Request<'a>,
        out: &'a mut [u8],
    ) -> Result<Decision<'a, N::Agreed>, InsufficientSize> {
        let checked =
            check_websocket(config, &request).and_then(|(key, subprotocol, send_continue)| {
                let mut extensions = ExtensionResponse::default();
                let agreed = self
                    .negotiator
                    .negotiate(ExtensionList::new(request.headers()), &mut extensions)
                    .map_err(|_| HandshakeError::ExtensionRejected)?;
                Ok((key, subprotocol, send_continue, extensions, agreed))
            });
        let (key, subprotocol, send_continue, extensions, agreed) = match checked {
            Ok(checked) => checked,
            Err(error) => return reject(error, out).map(Decision::Reject),
        };
        let accept = key.accept();
        let response = WebSocketSwitch {
            send_continue,
            accept: accept.as_bytes(),
            subprotocol,
            extensions: extensions.as_str(),
        };
        let n = write_into(&response, out)?;
        Ok(Decision::Switch(Switch {
            protocol: Switched::WebSocket {
                // Offers were checked to be tokens, so they are ASCII.
                subprotocol: subprotocol.and_then(|p| core::str::from_utf8(p).ok()),
                extensions: agreed,
            },
            response: &out[..n],
            request,
            leftover: request.leftover(),
        }))
    }
}

/// The request-side rules of a WebSocket upgrade; returns the key, the chosen subprotocol and
/// whether a 100 must precede the 101.
fn check_websocket<'a>(
    config: &WebSocketConfig,
    request: &Request<'a>,
) -> Result<(WebSocketKey, Option<&'a [u8]>, bool), HandshakeError> {
    if request.method() != "GET" {
        return Err(HandshakeError::WebSocketMethodNotGet);
    }
    if !is_origin_or_absolute_form(request.target()) {
        return Err(HandshakeError::WebSocketInvalidTarget);
    }
    // GET content has no defined semantics (RFC 9110 section 9.3.1) and no WebSocket client
    // sends any; the bytes after the head would be read as frames. See the crate docs.
    if request.body() != Body::None {
        return Err(HandshakeError::WebSocketWithBody);
    }
    let fields = WebSocketFields::collect(request.headers());
    if fields.unsupported_expectation {
        return Err(HandshakeError::UnsupportedExpectation);
    }
    match fields.version {
        Field::One(version) if trim_ows(version) == b"13" => {}
        _ => return Err(HandshakeError::UnsupportedWebSocketVersion),
    }
    let key = match fields.key {
        Field::One(key) => {
            WebSocketKey::parse(trim_ows(key)).ok_or(HandshakeError::InvalidWebSocketKey)?
        }
        Field::Absent => return Err(HandshakeError::MissingWebSocketKey),
        Field::Repeated => return Err(HandshakeError::InvalidWebSocketKey),
    };
    let origin = match fields.origin {
        Field::Absent => None,
        Field::One(origin) => Some(origin),
        Field::Repeated => return Err(HandshakeError::OriginNotAllowed),
    };
    if !config.origin.allows(origin) {
        return Err(HandshakeError::OriginNotAllowed);
    }
    let headers = request.headers();
    let subprotocol = if fields.protocols {
        let protocols = list_elements(headers, "sec-websocket-protocol");
        if protocols.clone().any(|p| !is_token(p)) {
            return Err(HandshakeError::MalformedSubprotocols);
        }
        config.choose_subprotocol(protocols)
    } else {
        None
    };
    if !fields.extensions_valid {
        return Err(HandshakeError::MalformedExtensions);
    }
    Ok((key, subprotocol, fields.send_continue))
}

/// A field that must appear at most once.
#[derive(Clone, Copy)]
enum Field<'a> {
    Absent,
    One(&'a [u8]),
    Repeated,
}

impl<'a> Field<'a> {
    fn add(&mut self, value: &'a [u8]) {
        *self = match self {
            Field::Absent => Field::One(value),
            _ => Field::Repeated,
        };
    }
}

/// The fields a WebSocket upgrade looks at, gathered in one pass over the head.
struct WebSocketFields<'a> {
    key: Field<'a>,
    version: Field<'a>,
    origin: Field<'a>,
    protocols: bool,
    extensions_valid: bool,
    send_continue: bool,
    unsupported_expectation: bool,
}

impl<'a> WebSocketFields<'a> {
    fn collect(headers: &[Header<'a>]) -> Self {
        let mut fields = WebSocketFields {
            key: Field::Absent,
            version: Field::Absent,
            origin: Field::Absent,
            protocols: false,
            extensions_valid: true,
            send_continue: false,
            unsupported_expectation: false,
        };
        for h in headers {
            let name = h.name.as_bytes();
            match name.len() {
                6 if name.eq_ignore_ascii_case(b"origin") => fields.origin.add(h.value),
                6 if name.eq_ignore_ascii_case(b"expect") => {
                    for element in CommaList::new(h.value) {
                        if element.eq_ignore_ascii_case(b"100-continue") {
                            fields.send_continue = true;
                        } else {
                            fields.unsupported_expectation = true;
                        }
                    }
                }
                17 if name.eq_ignore_ascii_case(b"sec-websocket-key") => fields.key.add(h.value),
                21 if name.eq_ignore_ascii_case(b"sec-websocket-version") => {
                    fields.version.add(h.value)
                }
                22 if name.eq_ignore_ascii_case(b"sec-websocket-protocol") => {
                    fields.protocols = true
                }
                24 if name.eq_ignore_ascii_case(b"sec-websocket-extensions") => {
                    fields.extensions_valid &= validate(h.value);
                }
                _ => {}
            }
        }
        fields
    }
}

/// RFC 9110 section 10.1.1: `100-continue` is the only expectation; with Upgrade it means a 100
/// goes before the 101 (section 7.8). Others get 417.
fn expectation(request: &Request<'_>) -> Result<bool, HandshakeError> {
    let mut send_continue = false;
    for element in request.list("expect") {
        if !element.eq_ignore_ascii_case(b"100-continue") {
            return Err(HandshakeError::UnsupportedExpectation);
        }
        send_continue = true;
    }
    Ok(send_continue)
}

/// RFC 6455 section 4.1 sends `/resource name` (origin-form); a proxy-style absolute-form
/// (`ws://host/path`, RFC 9112 section 3.2.2) is accepted too.
fn is_origin_or_absolute_form(target: &str) -> bool {
    if target.starts_with('/') {
        return true;
    }
    match target.split_once("://") {
        Some((scheme, _)) => {
            scheme
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_alphabetic)
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        }
        None => false,
    }
}

fn reject(error: HandshakeError, out: &mut [u8]) -> Result<Reject<'_>, InsufficientSize> {
    let n = write_rejection(&error, out)?;
    Ok(Reject {
        error,
        status: error.status(),
        response: &out[..n],
    })
}
