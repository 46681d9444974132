//! The server side: pick the first acceptable permessage-deflate offer and answer it.

use super::params::{check_bits, DeflateParams, DeflatePolicyError, Written};
use super::PERMESSAGE_DEFLATE;
use crate::websocket::extensions::{
    ExtensionList, ExtensionNegotiator, ExtensionResponse, NegotiationFailed,
};

/// The server's permessage-deflate negotiation policy: what it accepts and asks for. How hard
/// it compresses is not negotiated and not here (the `frame` crate's `CompressionPolicy`).
/// `Default` gives the values documented per field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflatePolicy {
    /// Accept permessage-deflate at all. Default `true`: browsers offer it on every
    /// connection; a server that must keep per-connection memory minimal can turn it off.
    pub enabled: bool,
    /// Largest window we compress with (log2, 8..=15). An offer's `server_max_window_bits`
    /// lowers it; below 15 we announce it even unasked (RFC 7692 section 7.1.2.1 allows that).
    /// Default 15: the best ratio, and with zlib-rs the compressor's size hardly depends on it.
    pub server_max_window_bits: u8,
    /// Window we ask clients to compress with (log2, 8..=15), if they offered
    /// `client_max_window_bits` (a client that did not offer it may use 15; RFC 7692 section
    /// 7.1.2.2 forbids asking it). Default 15.
    pub client_max_window_bits: u8,
    /// Reset our compression context after every message: no compressor memory is kept
    /// between messages, at the price of ratio and of an initialisation per message. Default
    /// `false`.
    pub server_no_context_takeover: bool,
    /// Ask clients to reset theirs, so that we keep no decompressor between messages. Default
    /// `false`.
    pub client_no_context_takeover: bool,
}

impl Default for DeflatePolicy {
    fn default() -> Self {
        DeflatePolicy {
            enabled: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
        }
    }
}

/// The permessage-deflate [`ExtensionNegotiator`] (RFC 7692 section 7): give it to
/// [`Acceptor::extensions`](crate::Acceptor::extensions); the switch decision then carries
/// `Option<DeflateParams>` (`None`: not negotiated, send uncompressed).
///
/// Offers are taken in the client's order. An offer with an unknown, repeated or invalid
/// parameter is declined and the next one considered (section 7). The answer carries only what
/// both sides agreed:
///
/// - `server_no_context_takeover` if the client asked for it or our policy resets anyway;
/// - `client_no_context_takeover` if the client announced it or our policy asks for it;
/// - `server_max_window_bits=N` with N the smaller of the client's limit and ours, when the
///   client gave one or ours is below 15;
/// - `client_max_window_bits=N` only if the client offered that parameter (section 7.1.2.2),
///   with N the smaller of its hint and our policy, when below 15.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeflateNegotiator {
    policy: DeflatePolicy,
}

impl DeflateNegotiator {
    /// A negotiator with `policy`, checked for ranges.
    pub fn new(policy: DeflatePolicy) -> Result<Self, DeflatePolicyError> {
        check_bits(policy.server_max_window_bits)?;
        check_bits(policy.client_max_window_bits)?;
        Ok(DeflateNegotiator { policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> &DeflatePolicy {
        &self.policy
    }

    /// What we agree to for one well-formed offer.
    fn agree(&self, offer: Written) -> DeflateParams {
        let policy = &self.policy;
        DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || policy.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || policy.client_no_context_takeover,
            server_max_window_bits: offer
                .server_max_window_bits
                .unwrap_or(15)
                .min(policy.server_max_window_bits),
            client_max_window_bits: match offer.client_max_window_bits {
                None => 15,
                Some(hint) => hint.unwrap_or(15).min(policy.client_max_window_bits),
            },
        }
    }
}

impl ExtensionNegotiator for DeflateNegotiator {
    type Agreed = Option<DeflateParams>;

    fn negotiate(
        &self,
        offers: ExtensionList<'_>,
        response: &mut ExtensionResponse,
    ) -> Result<Option<DeflateParams>, NegotiationFailed> {
        if !self.policy.enabled {
            return Ok(None);
        }
        for offer in offers.filter(|o| o.name().eq_ignore_ascii_case(PERMESSAGE_DEFLATE)) {
            let Ok(written) = Written::parse(&offer) else {
                continue; // declined: try the client's next preference
            };
            let agreed = self.agree(written);
            let mut answer = response.accept(&offer)?;
            if agreed.server_no_context_takeover {
                answer.param("server_no_context_takeover", None)?;
            }
            if agreed.client_no_context_takeover {
                answer.param("client_no_context_takeover", None)?;
            }
            if written.server_max_window_bits.is_some() || agreed.server_max_window_bits < 15 {
                answer.param(
                    "server_max_window_bits",
                    Some(decimal(agreed.server_max_window_bits)),
                )?;
            }
            if written.client_max_window_bits.is_some() && agreed.client_max_window_bits < 15 {
                answer.param(
                    "client_max_window_bits",
                    Some(decimal(agreed.client_max_window_bits)),
                )?;
            }
            return Ok(Some(agreed));
        }
        Ok(None)
    }
}

/// 8..=15 as text, without allocating.
pub(crate) fn decimal(bits: u8) -> &'static str {
    const TEXT: [&str; 16] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
    ];
    TEXT[usize::from(bits.min(15))]
}
