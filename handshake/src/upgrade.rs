//! RFC 9110 section 7.8 Upgrade: offers in the client's order, and the registry of protocols
//! (other than WebSocket) that the embedding program supports.

use crate::tokens::{is_token, CommaList};
use crate::{Header, Request};
use core::fmt;

/// One element of an Upgrade list: `protocol-name ["/" protocol-version]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpgradeOffer<'a> {
    /// The protocol name, e.g. `websocket`, `tcp`, `h2c` (compare case-insensitively).
    pub name: &'a str,
    /// The version after `/`, if any.
    pub version: Option<&'a str>,
    /// The element as written (`name/version`): echoed in the 101's Upgrade field.
    pub text: &'a str,
}

impl<'a> UpgradeOffer<'a> {
    /// Parses one list element; `None` if it is not `token ["/" token]`.
    pub fn parse(element: &'a [u8]) -> Option<Self> {
        let text = core::str::from_utf8(element).ok()?;
        let (name, version) = match text.split_once('/') {
            Some((name, version)) => (name, Some(version)),
            None => (text, None),
        };
        if !is_token(name.as_bytes()) || version.is_some_and(|v| !is_token(v.as_bytes())) {
            return None;
        }
        Some(UpgradeOffer {
            name,
            version,
            text,
        })
    }
}

/// The Upgrade offers of a request, in the client's order of preference, across repeated
/// Upgrade field lines. Yields `Err(())` for an element that is not `token ["/" token]`.
pub(crate) fn offers<'h, 'a: 'h>(
    headers: &'h [Header<'a>],
) -> impl Iterator<Item = Result<UpgradeOffer<'a>, ()>> + Clone + 'h {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("upgrade"))
        .flat_map(|h| CommaList::new(h.value))
        .map(|element| UpgradeOffer::parse(element).ok_or(()))
}

/// What a registered protocol says about one upgrade request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Switch to this protocol.
    Accept,
    /// Not this one: try the client's next offer (and if none is left, serve the request as
    /// plain HTTP).
    Decline,
    /// Refuse the request with this status (4xx or 5xx); the connection closes.
    Reject(u16),
}

/// An upgrade protocol the embedding program implements, registered with
/// [`Acceptor::register`](crate::Acceptor::register). The acceptor calls [`check`] when the
/// protocol is the client's most preferred supported offer; the program then speaks it on the
/// connection after the 101, starting with [`Switch::leftover`](crate::Switch::leftover).
///
/// [`check`]: UpgradeProtocol::check
pub trait UpgradeProtocol: Send + Sync {
    /// The protocol name in Upgrade (a token, compared case-insensitively), e.g. `tcp`.
    fn token(&self) -> &str;

    /// Decides on `request` (whose Upgrade lists `offer`) and adds any fields the 101 must
    /// carry to `response`.
    fn check(
        &self,
        request: &Request<'_>,
        offer: &UpgradeOffer<'_>,
        response: &mut ResponseHeaders,
    ) -> Verdict;
}

/// Identifies a registered protocol in a [`Switch`](crate::Switch) decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolId(pub(crate) usize);

impl ProtocolId {
    /// The position of the protocol in registration order, from 0.
    pub fn index(&self) -> usize {
        self.0
    }
}

/// Why a protocol could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// The token is not an RFC 9110 token.
    InvalidToken,
    /// `websocket` is built in; `h2c` is recognised and always declined (HTTP/2 over cleartext
    /// upgrade was deprecated by RFC 9113 section 3.1).
    Reserved,
    /// A protocol with this token is registered already.
    Duplicate,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegisterError::InvalidToken => "upgrade protocol name is not a token",
            RegisterError::Reserved => "upgrade protocol name is reserved (websocket, h2c)",
            RegisterError::Duplicate => "upgrade protocol registered twice",
        })
    }
}

impl std::error::Error for RegisterError {}

/// Room for the extra fields a registered protocol adds to its 101.
pub const RESPONSE_HEADERS_CAPACITY: usize = 512;

/// Extra response fields, kept in a stack array: names must be tokens and values must not hold
/// CR, LF or NUL, so nothing can be smuggled into the response.
#[derive(Clone)]
pub struct ResponseHeaders {
    buf: [u8; RESPONSE_HEADERS_CAPACITY],
    len: usize,
}

/// A response field was refused: bad name or value, or no room left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidHeader;

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid response header field or no room left")
    }
}

impl std::error::Error for InvalidHeader {}

impl Default for ResponseHeaders {
    fn default() -> Self {
        ResponseHeaders {
            buf: [0; RESPONSE_HEADERS_CAPACITY],
            len: 0,
        }
    }
}

impl fmt::Debug for ResponseHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResponseHeaders")
            .field(&String::from_utf8_lossy(self.as_bytes()))
            .finish()
    }
}

impl ResponseHeaders {
    /// Appends `name: value`.
    pub fn push(&mut self, name: &str, value: &[u8]) -> Result<(), InvalidHeader> {
        if !is_valid_field(name, value) {
            return Err(InvalidHeader);
        }
        let end = self.len + name.len() + 2 + value.len() + 2;
        if end > self.buf.len() {
            return Err(InvalidHeader);
        }
        for part in [name.as_bytes(), b": ", value, b"\r\n"] {
            self.buf[self.len..self.len + part.len()].copy_from_slice(part);
            self.len += part.len();
        }
        Ok(())
    }

    /// The field lines, each ending in CRLF.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Removes every field.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// A field line that cannot break the response: a token name and a value without CR, LF, NUL.
pub(crate) fn is_valid_field(name: &str, value: &[u8]) -> bool {
    is_token(name.as_bytes()) && !value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
}
