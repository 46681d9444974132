//! Parameters of one permessage-deflate offer or answer, and what was agreed.

use core::fmt;

use crate::websocket::extensions::{ExtensionElement, ParamValue};

/// What a permessage-deflate handshake agreed (RFC 7692 section 7.1): the four negotiated
/// parameters and nothing else. How hard to compress (level, minimum size) is local policy that
/// nobody negotiates; it belongs to the `frame` crate's codec (`CompressionPolicy`). The `frame`
/// crate turns this into its `DeflateConfig` with one `From` conversion (its `handshake`
/// feature).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// log2 of the largest window the server compresses with (8..=15; 15 when not limited).
    pub server_max_window_bits: u8,
    /// log2 of the largest window the client compresses with (8..=15; 15 when not limited).
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    /// The agreement of a bare `permessage-deflate` offer and answer: context kept both ways,
    /// 15-bit windows (RFC 7692 sections 7.1.1 and 7.1.2).
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// A policy or offer window size out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeflatePolicyError {
    /// A window size outside 8..=15 (RFC 7692 section 7.1.2).
    WindowBits(u8),
}

impl fmt::Display for DeflatePolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeflatePolicyError::WindowBits(bits) => {
                write!(f, "window bits {bits} outside 8..=15 (RFC 7692 7.1.2)")
            }
        }
    }
}

impl std::error::Error for DeflatePolicyError {}

pub(crate) fn check_bits(bits: u8) -> Result<u8, DeflatePolicyError> {
    if (8..=15).contains(&bits) {
        Ok(bits)
    } else {
        Err(DeflatePolicyError::WindowBits(bits))
    }
}

/// The four parameters of one permessage-deflate element, as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Written {
    pub(crate) server_no_context_takeover: bool,
    pub(crate) client_no_context_takeover: bool,
    /// `server_max_window_bits=N`.
    pub(crate) server_max_window_bits: Option<u8>,
    /// `client_max_window_bits` (inner `None`) or `client_max_window_bits=N`.
    pub(crate) client_max_window_bits: Option<Option<u8>>,
}

/// Why an element's parameters are not acceptable (RFC 7692 section 7: unknown, repeated or
/// invalid parameters make an offer to decline, or an answer to fail the connection on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParamProblem {
    Unknown,
    Duplicate,
    InvalidValue,
}

impl Written {
    /// Reads the parameters of `element`. Names are matched ASCII case-insensitively; values
    /// may be tokens or quoted strings (RFC 7692 section 7.1 allows both).
    pub(crate) fn parse(element: &ExtensionElement<'_>) -> Result<Written, ParamProblem> {
        let mut written = Written::default();
        let mut seen = [false; 4];
        for param in element.params() {
            let index = [
                "server_no_context_takeover",
                "client_no_context_takeover",
                "server_max_window_bits",
                "client_max_window_bits",
            ]
            .iter()
            .position(|known| param.name.eq_ignore_ascii_case(known))
            .ok_or(ParamProblem::Unknown)?;
            if core::mem::replace(&mut seen[index], true) {
                return Err(ParamProblem::Duplicate);
            }
            match (index, param.value) {
                (0, None) => written.server_no_context_takeover = true,
                (1, None) => written.client_no_context_takeover = true,
                (2, Some(value)) => written.server_max_window_bits = Some(window_bits(value)?),
                (3, None) => written.client_max_window_bits = Some(None),
                (3, Some(value)) => {
                    written.client_max_window_bits = Some(Some(window_bits(value)?));
                }
                // A value on a flag, or no value on server_max_window_bits.
                _ => return Err(ParamProblem::InvalidValue),
            }
        }
        Ok(written)
    }
}

/// RFC 7692 section 7.1.2: a decimal integer without leading zeros, 8 to 15.
fn window_bits(value: ParamValue<'_>) -> Result<u8, ParamProblem> {
    value
        .parse_u32()
        .filter(|bits| (8..=15).contains(bits))
        .map(|bits| bits as u8)
        .ok_or(ParamProblem::InvalidValue)
}
