//! What the codec is told: the parameters agreed in the handshake ([`DeflateConfig`]) and the
//! local compression policy ([`CompressionPolicy`]).

use core::fmt;

use crate::config::Role;

/// The permessage-deflate parameters agreed in the opening handshake (RFC 7692 section 7.1):
/// the four negotiated parameters, nothing local. How hard we compress is
/// [`CompressionPolicy`], which nobody negotiates.
///
/// This mirrors `switchyard_handshake::DeflateParams` field for field. It is a type of its own
/// so that this crate stands alone (a client or a test needs no handshake crate); with the
/// `handshake` cargo feature, `DeflateConfig::from(params)` is the one conversion from the
/// handshake's result, so no caller copies fields one by one.
///
/// `Default` is the agreement for a bare `permessage-deflate` offer and answer (context kept
/// both ways, 15-bit windows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateConfig {
    /// The server resets its compression context after each message (section 7.1.1.1). Default
    /// `false`.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message (section 7.1.1.2). Default
    /// `false`.
    pub client_no_context_takeover: bool,
    /// Largest LZ77 window the server compresses with, as log2 (8..=15, section 7.1.2.1).
    /// Default 15. An agreed 8 is compressed with 9: zlib (and zlib-rs) cannot produce raw
    /// deflate with a 256-byte window, and substitute 9 themselves, as Chromium does. That stays
    /// within the agreement: zlib never emits a distance beyond the window minus 262 bytes of
    /// lookahead (`max_dist`), which for 512 bytes is 250, inside the peer's 256. We
    /// decompress with a 15-bit window whatever was agreed (zlib-rs allocates 32 KiB for any
    /// size, and a larger window reads every smaller one).
    pub server_max_window_bits: u8,
    /// Largest LZ77 window the client compresses with, as log2 (8..=15, section 7.1.2.2).
    /// Default 15; 8 is handled as for `server_max_window_bits`.
    pub client_max_window_bits: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// The one conversion from what the handshake agreed to what the codec is told.
#[cfg(feature = "handshake")]
impl From<switchyard_handshake::DeflateParams> for DeflateConfig {
    fn from(agreed: switchyard_handshake::DeflateParams) -> Self {
        // Destructured, so that a parameter added on either side breaks the build here.
        let switchyard_handshake::DeflateParams {
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        } = agreed;
        DeflateConfig {
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        }
    }
}

/// This endpoint's compression policy: local settings of the codec, never negotiated (RFC 7692
/// leaves both to the sender). A server builds one from its configuration and gives it to every
/// connection's [`PermessageDeflate`](super::PermessageDeflate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CompressionPolicy {
    /// zlib compression level for what we send, 0 (stored) to 9 (smallest). Default 1: a
    /// server compresses every message, and on 1 KiB JSON messages level 1 ran 4.7 times faster
    /// than level 3 and 9 times faster than zlib's default 6, for output 34 % and 43 % larger
    /// (0.37 of the input against 0.28 and 0.26; see `benches/deflate.rs`).
    pub level: u8,
    /// Messages we send shorter than this go uncompressed (RSV1 clear; RFC 7692 section 6
    /// allows mixing). Default 64 bytes: below that the deflate block overhead and the CPU
    /// rarely pay for themselves.
    pub min_size: usize,
}

impl Default for CompressionPolicy {
    fn default() -> Self {
        CompressionPolicy {
            level: 1,
            min_size: 64,
        }
    }
}

/// A [`DeflateConfig`] or [`CompressionPolicy`] value out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeflateConfigError {
    /// A window size outside 8..=15 (RFC 7692 section 7.1.2).
    WindowBits(u8),
    /// A compression level above 9.
    CompressionLevel(u8),
}

impl fmt::Display for DeflateConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeflateConfigError::WindowBits(bits) => {
                write!(f, "window bits {bits} outside 8..=15 (RFC 7692 7.1.2)")
            }
            DeflateConfigError::CompressionLevel(level) => {
                write!(f, "compression level {level} above 9")
            }
        }
    }
}

impl std::error::Error for DeflateConfigError {}

/// One direction of the codec, resolved for our role.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Direction {
    /// log2 of the window, 9..=15 (an agreed 8 becomes 9).
    pub(crate) window_bits: u8,
    /// Reset the context after every message: no context takeover.
    pub(crate) reset_after_message: bool,
}

impl CompressionPolicy {
    /// Checks the level's range.
    pub(crate) fn check(&self) -> Result<(), DeflateConfigError> {
        if self.level > 9 {
            return Err(DeflateConfigError::CompressionLevel(self.level));
        }
        Ok(())
    }
}

impl DeflateConfig {
    /// Checks the ranges and splits the agreement into what we send and what we receive.
    pub(crate) fn resolve(&self, role: Role) -> Result<(Direction, Direction), DeflateConfigError> {
        for bits in [self.server_max_window_bits, self.client_max_window_bits] {
            if !(8..=15).contains(&bits) {
                return Err(DeflateConfigError::WindowBits(bits));
            }
        }
        let server = Direction {
            window_bits: self.server_max_window_bits.max(9),
            reset_after_message: self.server_no_context_takeover,
        };
        let client = Direction {
            window_bits: self.client_max_window_bits.max(9),
            reset_after_message: self.client_no_context_takeover,
        };
        Ok(match role {
            Role::Server => (server, client),
            Role::Client => (client, server),
        })
    }
}

#[cfg(all(test, feature = "handshake"))]
mod tests {
    use super::DeflateConfig;
    use switchyard_handshake::DeflateParams;

    #[test]
    fn handshake_params_convert_field_for_field() {
        assert_eq!(
            DeflateConfig::from(DeflateParams::default()),
            DeflateConfig::default()
        );
        let agreed = DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: false,
            server_max_window_bits: 9,
            client_max_window_bits: 12,
        };
        assert_eq!(
            DeflateConfig::from(agreed),
            DeflateConfig {
                server_no_context_takeover: true,
                client_no_context_takeover: false,
                server_max_window_bits: 9,
                client_max_window_bits: 12,
            }
        );
    }
}
