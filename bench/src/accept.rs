//! The `Sec-WebSocket-Accept` value of RFC 6455 section 4.2.2.

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The GUID that RFC 6455 section 1.3 appends to the client's key.
pub const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Length of an accept value: base64 of a 20-byte SHA-1 digest.
pub const ACCEPT_LEN: usize = 28;

/// Computes base64(SHA-1(key + GUID)) without allocating.
pub fn accept_value(key: &[u8]) -> [u8; ACCEPT_LEN] {
    let mut hasher = Sha1::new();
    hasher.update(key);
    hasher.update(WEBSOCKET_GUID);
    let digest = hasher.finalize();
    let mut out = [0u8; ACCEPT_LEN];
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(digest, &mut out)
        .expect("28 bytes hold the base64 of 20");
    debug_assert_eq!(written, ACCEPT_LEN);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6455 section 1.3's worked example. (A result sometimes quoted for it,
    /// `s3pPLMBiTxaQ9kXsQ3vwQbsAB6o=`, is wrong: the RFC's text, and every client, say otherwise.)
    #[test]
    fn rfc6455_sample_key() {
        assert_eq!(
            &accept_value(b"dGhlIHNhbXBsZSBub25jZQ=="),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
