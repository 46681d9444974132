//! Sec-WebSocket-Extensions (RFC 6455 section 9.1): offers parsed into names and parameters, and
//! the seam through which an extension (the `frame` crate's permessage-deflate) negotiates.
//!
//! ```text
//! Sec-WebSocket-Extensions = extension-list
//! extension-list = 1#extension
//! extension = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//!     ; a quoted-string value must be a token once unescaped
//! ```

use crate::tokens::{is_ows, is_tchar, is_token};
use crate::Header;
use core::fmt;

/// One extension of a Sec-WebSocket-Extensions list: a name and its parameters, as offered by a
/// client or accepted by a server. Borrowed from the request or response head.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ExtensionElement<'a> {
    name: &'a str,
    /// The text after the name, starting at its first `;` (or empty); known to be well formed.
    params: &'a [u8],
}

impl<'a> ExtensionElement<'a> {
    /// The extension token, e.g. `permessage-deflate`.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The parameters in the order written (duplicates included: rejecting them is the
    /// extension's call, RFC 7692 section 7 does).
    pub fn params(&self) -> ExtensionParams<'a> {
        ExtensionParams { rest: self.params }
    }
}

impl fmt::Debug for ExtensionElement<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtensionElement")
            .field("name", &self.name)
            .field("params", &self.params().collect::<Vec<_>>())
            .finish()
    }
}

/// One parameter of an [`ExtensionElement`]: `name` or `name=value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionParam<'a> {
    /// The parameter token, e.g. `client_max_window_bits`.
    pub name: &'a str,
    /// The value, if an `=` followed.
    pub value: Option<ParamValue<'a>>,
}

/// A parameter value, written as a token or as a quoted-string (`"10"`). Either way its
/// unescaped text is a token, as RFC 6455 section 9.1 requires.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParamValue<'a> {
    /// The text between the quotes, or the token; may contain `\` quoted-pairs.
    raw: &'a [u8],
}

impl<'a> ParamValue<'a> {
    /// The value as a borrowed string when it holds no quoted-pair (the common case); `None`
    /// when unescaping would be needed - use [`ParamValue::bytes`] then.
    pub fn as_str(&self) -> Option<&'a str> {
        if self.raw.contains(&b'\\') {
            None
        } else {
            core::str::from_utf8(self.raw).ok()
        }
    }

    /// The unescaped bytes of the value.
    pub fn bytes(&self) -> impl Iterator<Item = u8> + 'a {
        let mut escaped = false;
        self.raw.iter().filter_map(move |&b| {
            if !escaped && b == b'\\' {
                escaped = true;
                None
            } else {
                escaped = false;
                Some(b)
            }
        })
    }

    /// Whether the unescaped value equals `text`, ASCII case-insensitively.
    pub fn eq_ignore_ascii_case(&self, text: &str) -> bool {
        self.bytes()
            .map(|b| b.to_ascii_lowercase())
            .eq(text.bytes().map(|b| b.to_ascii_lowercase()))
    }

    /// The value as a decimal number without sign or leading zeros (the form RFC 7692 section
    /// 7.1.2 gives window bits); `None` otherwise or on overflow.
    pub fn parse_u32(&self) -> Option<u32> {
        let mut value: u32 = 0;
        let mut digits = 0;
        for b in self.bytes() {
            if !b.is_ascii_digit() || (digits == 1 && value == 0) {
                return None;
            }
            value = value.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
            digits += 1;
        }
        (digits > 0).then_some(value)
    }
}

impl fmt::Debug for ParamValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: String = self.bytes().map(char::from).collect();
        fmt::Debug::fmt(&text, f)
    }
}

/// The parameters of an [`ExtensionElement`].
#[derive(Debug, Clone)]
pub struct ExtensionParams<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ExtensionParams<'a> {
    type Item = ExtensionParam<'a>;

    fn next(&mut self) -> Option<ExtensionParam<'a>> {
        let mut cursor = Cursor {
            input: self.rest,
            pos: 0,
        };
        cursor.skip_ows();
        if !cursor.eat(b';') {
            return None;
        }
        let param = cursor.param().ok()?;
        self.rest = &self.rest[cursor.pos..];
        Some(param)
    }
}

/// Every extension in every Sec-WebSocket-Extensions field line, in order (for a request: the
/// client's order of preference). Only yields from values that are valid `extension-list`s; the
/// handshake validates before anyone iterates.
#[derive(Debug, Clone)]
pub struct ExtensionList<'a> {
    headers: &'a [Header<'a>],
    rest: &'a [u8],
}

impl<'a> ExtensionList<'a> {
    /// The extensions of the Sec-WebSocket-Extensions fields among `headers`.
    pub(crate) fn new(headers: &'a [Header<'a>]) -> Self {
        ExtensionList { headers, rest: &[] }
    }

    /// An iterator over one field value (tests, client verification).
    pub fn parse_value(value: &'a [u8]) -> Option<Self> {
        validate(value).then_some(ExtensionList {
            headers: &[],
            rest: value,
        })
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.clone().next().is_none()
    }
}

impl<'a> Iterator for ExtensionList<'a> {
    type Item = ExtensionElement<'a>;

    fn next(&mut self) -> Option<ExtensionElement<'a>> {
        loop {
            let mut cursor = Cursor {
                input: self.rest,
                pos: 0,
            };
            if let Ok(Some(extension)) = cursor.extension() {
                self.rest = &self.rest[cursor.pos..];
                return Some(extension);
            }
            // This field value is used up: on to the next Sec-WebSocket-Extensions line.
            let (next, later) = loop {
                let (first, later) = self.headers.split_first()?;
                self.headers = later;
                if first.name.eq_ignore_ascii_case("sec-websocket-extensions") {
                    break (first.value, later);
                }
            };
            self.headers = later;
            self.rest = next;
        }
    }
}

/// Whether `value` is a valid `extension-list` (empty elements allowed, RFC 9110 5.6.1).
pub(crate) fn validate(value: &[u8]) -> bool {
    let mut cursor = Cursor {
        input: value,
        pos: 0,
    };
    loop {
        match cursor.extension() {
            Ok(Some(_)) => {}
            Ok(None) => return true,
            Err(()) => return false,
        }
    }
}

struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_ows(&mut self) {
        while self.peek().is_some_and(is_ows) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> Result<&'a str, ()> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(());
        }
        core::str::from_utf8(&self.input[start..self.pos]).map_err(|_| ())
    }

    /// `quoted-string` after its opening quote; returns the text between the quotes.
    fn quoted_rest(&mut self) -> Result<&'a [u8], ()> {
        let start = self.pos;
        let mut unescaped_len = 0;
        loop {
            let b = self.peek().ok_or(())?;
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let escaped = self.peek().ok_or(())?;
                    self.pos += 1;
                    // The unescaped value must be a token (RFC 6455 section 9.1).
                    if !is_tchar(escaped) {
                        return Err(());
                    }
                }
                b if is_tchar(b) => {}
                _ => return Err(()),
            }
            unescaped_len += 1;
        }
        if unescaped_len == 0 {
            return Err(());
        }
        Ok(&self.input[start..self.pos - 1])
    }

    fn param(&mut self) -> Result<ExtensionParam<'a>, ()> {
        self.skip_ows();
        let name = self.token()?;
        let save = self.pos;
        self.skip_ows();
        if !self.eat(b'=') {
            self.pos = save;
            return Ok(ExtensionParam { name, value: None });
        }
        self.skip_ows();
        let raw = if self.eat(b'"') {
            self.quoted_rest()?
        } else {
            self.token()?.as_bytes()
        };
        Ok(ExtensionParam {
            name,
            value: Some(ParamValue { raw }),
        })
    }

    /// The next extension, skipping empty list elements; `Ok(None)` at the end.
    fn extension(&mut self) -> Result<Option<ExtensionElement<'a>>, ()> {
        loop {
            self.skip_ows();
            if !self.eat(b',') {
                break;
            }
        }
        if self.peek().is_none() {
            return Ok(None);
        }
        let name = self.token()?;
        let params_start = self.pos;
        loop {
            self.skip_ows();
            match self.peek() {
                None => break,
                Some(b',') => {
                    self.pos += 1;
                    break;
                }
                Some(b';') => {
                    self.pos += 1;
                    self.param()?;
                }
                Some(_) => return Err(()),
            }
        }
        let params = &self.input[params_start..self.pos];
        Ok(Some(ExtensionElement { name, params }))
    }
}

/// The extension negotiation was failed on purpose by an [`ExtensionNegotiator`], or its
/// answer did not fit: the handshake is answered with 400 ([`HandshakeError::ExtensionRejected`]).
///
/// [`HandshakeError::ExtensionRejected`]: crate::HandshakeError::ExtensionRejected
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiationFailed;

impl fmt::Display for NegotiationFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("extension negotiation failed")
    }
}

impl std::error::Error for NegotiationFailed {}

/// The seam through which WebSocket extensions negotiate (RFC 6455 section 9.1).
///
/// The acceptor calls [`negotiate`](ExtensionNegotiator::negotiate) once per WebSocket upgrade
/// with every offer in the client's order of preference (all Sec-WebSocket-Extensions lines,
/// already checked against the grammar). The negotiator picks, for each extension it
/// implements, the first offer it can accept - declining an offer (unknown, duplicate or
/// invalid parameter) just means looking at the next one - writes what it accepts into the
/// [`ExtensionResponse`], and returns what was agreed, which the
/// [`Switch`](crate::Switch) decision hands back to configure the codec. Extensions it does not
/// know it ignores: they are never echoed, because [`ExtensionResponse::accept`] only takes an
/// offer the client sent.
pub trait ExtensionNegotiator {
    /// What was agreed (say `Option<DeflateParams>`), returned in the switch decision.
    type Agreed;

    /// Picks from `offers`, writes the accepted ones into `response`. `Err` fails the
    /// handshake with 400; declining every offer is `Ok`, not an error.
    fn negotiate(
        &self,
        offers: ExtensionList<'_>,
        response: &mut ExtensionResponse,
    ) -> Result<Self::Agreed, NegotiationFailed>;
}

/// The negotiator that accepts no extension: every offer is declined, nothing is echoed.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoExtensions;

impl ExtensionNegotiator for NoExtensions {
    type Agreed = ();

    fn negotiate(
        &self,
        _offers: ExtensionList<'_>,
        _response: &mut ExtensionResponse,
    ) -> Result<(), NegotiationFailed> {
        Ok(())
    }
}

/// Room for the server's Sec-WebSocket-Extensions answer: the longest permessage-deflate answer
/// is about 110 bytes.
pub const EXTENSION_RESPONSE_CAPACITY: usize = 256;

/// The server's Sec-WebSocket-Extensions value under construction, in a stack array.
#[derive(Clone)]
pub struct ExtensionResponse {
    buf: [u8; EXTENSION_RESPONSE_CAPACITY],
    len: usize,
}

impl Default for ExtensionResponse {
    fn default() -> Self {
        ExtensionResponse {
            buf: [0; EXTENSION_RESPONSE_CAPACITY],
            len: 0,
        }
    }
}

impl fmt::Debug for ExtensionResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ExtensionResponse")
            .field(&self.as_str())
            .finish()
    }
}

impl ExtensionResponse {
    /// Accepts `offer` (one the client sent): appends its name. Parameters follow through the
    /// returned [`AcceptedExtension`]. An extension can be accepted once.
    pub fn accept(
        &mut self,
        offer: &ExtensionElement<'_>,
    ) -> Result<AcceptedExtension<'_>, NegotiationFailed> {
        if self
            .accepted()
            .any(|e| e.name.eq_ignore_ascii_case(offer.name))
        {
            return Err(NegotiationFailed);
        }
        if self.len > 0 {
            self.push(b", ")?;
        }
        self.push(offer.name.as_bytes())?;
        Ok(AcceptedExtension { response: self })
    }

    /// The extensions accepted so far.
    pub fn accepted(&self) -> ExtensionList<'_> {
        ExtensionList {
            headers: &[],
            rest: &self.buf[..self.len],
        }
    }

    /// The header value, e.g. `permessage-deflate; client_max_window_bits=15`.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }

    /// Whether nothing was accepted (then no Sec-WebSocket-Extensions field is sent).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), NegotiationFailed> {
        let end = self.len + bytes.len();
        if end > self.buf.len() {
            return Err(NegotiationFailed);
        }
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

/// Adds parameters to an extension just accepted.
#[derive(Debug)]
pub struct AcceptedExtension<'r> {
    response: &'r mut ExtensionResponse,
}

impl AcceptedExtension<'_> {
    /// Appends `; name` or `; name=value`. Both must be tokens (no quoting is ever needed for
    /// values that are tokens, and RFC 6455 allows no others).
    pub fn param(
        &mut self,
        name: &str,
        value: Option<&str>,
    ) -> Result<&mut Self, NegotiationFailed> {
        if !is_token(name.as_bytes()) || value.is_some_and(|v| !is_token(v.as_bytes())) {
            return Err(NegotiationFailed);
        }
        self.response.push(b"; ")?;
        self.response.push(name.as_bytes())?;
        if let Some(value) = value {
            self.response.push(b"=")?;
            self.response.push(value.as_bytes())?;
        }
        Ok(self)
    }
}
