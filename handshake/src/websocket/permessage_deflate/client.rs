//! The client side: write a permessage-deflate offer, check the server's answer.

use core::fmt;

use super::params::{check_bits, DeflateParams, DeflatePolicyError, ParamProblem, Written};
use super::server::decimal;
use super::PERMESSAGE_DEFLATE;
use crate::output::InsufficientSize;
use crate::websocket::extensions::ExtensionList;

/// A client's permessage-deflate offer (RFC 7692 section 7.1). `Default` offers what browsers
/// do: `permessage-deflate; client_max_window_bits`.
///
/// Calling order: [`write`](DeflateOffer::write) the value into a buffer and pass it to
/// [`ClientRequest::extensions`](crate::ClientRequest::extensions); after the 101, give
/// [`Accepted::extensions`](crate::Accepted::extensions) to
/// [`verify`](DeflateOffer::verify) and configure the codec from the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateOffer {
    /// Ask the server to reset its context after each message. Default `false`.
    pub server_no_context_takeover: bool,
    /// Announce that we reset ours after each message. Default `false`.
    pub client_no_context_takeover: bool,
    /// Ask the server to compress with at most this window (8..=15). Default `None`: no limit.
    pub server_max_window_bits: Option<u8>,
    /// Offer `client_max_window_bits`, letting the server limit our window: `Some(15)` writes
    /// it bare, `Some(n)` below 15 promises at most `n`. Default `Some(15)`.
    pub client_max_window_bits: Option<u8>,
}

impl Default for DeflateOffer {
    fn default() -> Self {
        DeflateOffer {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: Some(15),
        }
    }
}

/// The server's permessage-deflate answer breaks RFC 7692 section 7.1: the client must fail the
/// WebSocket connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeflateResponseError {
    /// A parameter RFC 7692 does not define.
    UnknownParameter,
    /// A parameter given twice.
    DuplicateParameter,
    /// A value where none belongs, none where one must be, or a window outside 8..=15.
    InvalidValue,
    /// `server_max_window_bits` larger than the limit we asked for (section 7.1.2.1).
    ServerWindowAboveOffer,
    /// `client_max_window_bits` although we did not offer it (section 7.1.2.2).
    UnofferedClientWindowBits,
    /// We asked for `server_max_window_bits` and the answer lacks it (section 7.1.2.1: the
    /// server accepts that offer only by including it).
    ServerWindowBitsMissing,
    /// We asked for `server_no_context_takeover` and the answer lacks it (section 7.1.1.1).
    ServerNoContextTakeoverMissing,
}

impl fmt::Display for DeflateResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeflateResponseError::UnknownParameter => "unknown permessage-deflate parameter",
            DeflateResponseError::DuplicateParameter => "repeated permessage-deflate parameter",
            DeflateResponseError::InvalidValue => "invalid permessage-deflate parameter value",
            DeflateResponseError::ServerWindowAboveOffer => {
                "server_max_window_bits above the offered limit"
            }
            DeflateResponseError::UnofferedClientWindowBits => {
                "client_max_window_bits in the answer but not in the offer"
            }
            DeflateResponseError::ServerWindowBitsMissing => {
                "server_max_window_bits asked for but not in the answer"
            }
            DeflateResponseError::ServerNoContextTakeoverMissing => {
                "server_no_context_takeover asked for but not in the answer"
            }
        })
    }
}

impl std::error::Error for DeflateResponseError {}

impl From<ParamProblem> for DeflateResponseError {
    fn from(problem: ParamProblem) -> Self {
        match problem {
            ParamProblem::Unknown => DeflateResponseError::UnknownParameter,
            ParamProblem::Duplicate => DeflateResponseError::DuplicateParameter,
            ParamProblem::InvalidValue => DeflateResponseError::InvalidValue,
        }
    }
}

impl DeflateOffer {
    /// Checks the ranges of the window sizes.
    pub fn validate(&self) -> Result<(), DeflatePolicyError> {
        for bits in [self.server_max_window_bits, self.client_max_window_bits]
            .into_iter()
            .flatten()
        {
            check_bits(bits)?;
        }
        Ok(())
    }

    /// Writes the Sec-WebSocket-Extensions value of this offer into `buf` (128 bytes always
    /// suffice) and returns it.
    pub fn write<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, InsufficientSize> {
        let mut parts: [&str; 10] = [""; 10];
        let mut n = 0;
        let mut push = |part: &'static str| {
            parts[n] = part;
            n += 1;
        };
        push(PERMESSAGE_DEFLATE);
        if self.server_no_context_takeover {
            push("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            push("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            push("; server_max_window_bits=");
            push(decimal(bits));
        }
        match self.client_max_window_bits {
            Some(15) => push("; client_max_window_bits"),
            Some(bits) => {
                push("; client_max_window_bits=");
                push(decimal(bits));
            }
            None => {}
        }
        let parts = &parts[..n];
        let required: usize = parts.iter().map(|p| p.len()).sum();
        if buf.len() < required {
            return Err(InsufficientSize { required });
        }
        let mut len = 0;
        for part in parts {
            buf[len..len + part.len()].copy_from_slice(part.as_bytes());
            len += part.len();
        }
        // Only ASCII was copied.
        Ok(core::str::from_utf8(&buf[..len]).unwrap_or_default())
    }

    /// Checks the server's answer (the accepted extensions of the 101) against this offer.
    /// `Ok(None)`: the server did not accept permessage-deflate; send uncompressed.
    pub fn verify(
        &self,
        accepted: ExtensionList<'_>,
    ) -> Result<Option<DeflateParams>, DeflateResponseError> {
        let mut answers = accepted.filter(|e| e.name().eq_ignore_ascii_case(PERMESSAGE_DEFLATE));
        let Some(answer) = answers.next() else {
            return Ok(None);
        };
        if answers.next().is_some() {
            return Err(DeflateResponseError::DuplicateParameter);
        }
        let written = Written::parse(&answer)?;
        match (written.server_max_window_bits, self.server_max_window_bits) {
            (Some(answered), Some(asked)) if answered > asked => {
                return Err(DeflateResponseError::ServerWindowAboveOffer);
            }
            (None, Some(_)) => return Err(DeflateResponseError::ServerWindowBitsMissing),
            _ => {}
        }
        if self.server_no_context_takeover && !written.server_no_context_takeover {
            return Err(DeflateResponseError::ServerNoContextTakeoverMissing);
        }
        let client_max_window_bits =
            match (written.client_max_window_bits, self.client_max_window_bits) {
                (Some(_), None) => return Err(DeflateResponseError::UnofferedClientWindowBits),
                // A bare client_max_window_bits in an answer has no meaning: it needs a value.
                (Some(None), Some(_)) => return Err(DeflateResponseError::InvalidValue),
                (Some(Some(answered)), Some(hint)) => answered.min(hint),
                (None, hint) => hint.unwrap_or(15),
            };
        Ok(Some(DeflateParams {
            server_no_context_takeover: written.server_no_context_takeover,
            // We announced it: we keep to it even if the server did not echo it.
            client_no_context_takeover: written.client_no_context_takeover
                || self.client_no_context_takeover,
            server_max_window_bits: written.server_max_window_bits.unwrap_or(15),
            client_max_window_bits,
        }))
    }
}
