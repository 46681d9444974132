//! Limits a connection enforces on what it receives.

use core::num::NonZeroU32;

/// Who we are: the masking rules and the send side depend on it (RFC 6455 section 5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// We accepted the connection: incoming frames must be masked, ours are not.
    Server,
    /// We opened the connection: incoming frames must not be masked, ours are, with a fresh key.
    Client,
}

/// Receive limits (RFC 6455 section 10.4: "implementations SHOULD impose implementation-specific
/// limits on frame sizes and the total message size after reassembly"). `Default` gives the values
/// documented on each field.
///
/// ```
/// let mut config = switchyard_frame::Config::default();
/// config.max_message_size = 1 << 20;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest frame payload accepted, else close 1009. Default 16 MiB: the biggest single frame
    /// Autobahn sends (case 9.1.6) while bounding what one frame header can make us buffer.
    pub max_frame_size: usize,
    /// Largest message (sum of its fragments, after decompression) accepted, else close 1009.
    /// Default 64 MiB: four times the largest Autobahn message, the same default as tungstenite.
    /// This is the only bound on the number of fragments unless `max_fragments_per_message` is set.
    pub max_message_size: usize,
    /// Optional policy limit on fragments per message, else close 1008. Default `None`: the
    /// message size limit alone bounds fragments (Autobahn 9.3 and 9.4 send 4 MiB in 64-byte
    /// fragments and expect it to work). Set it to refuse floods of tiny fragments.
    pub max_fragments_per_message: Option<NonZeroU32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_fragments_per_message: None,
        }
    }
}
