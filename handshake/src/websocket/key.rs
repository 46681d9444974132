//! Sec-WebSocket-Key and Sec-WebSocket-Accept (RFC 6455 sections 4.1 and 4.2.2), computed in
//! stack arrays: no heap allocation.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use core::fmt;
use sha1::{Digest, Sha1};

/// The GUID RFC 6455 section 1.3 appends to the key before hashing.
pub const WEBSOCKET_GUID: &[u8; 36] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A client's Sec-WebSocket-Key: the base64 of a 16-byte nonce, 24 characters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WebSocketKey {
    text: [u8; 24],
}

impl WebSocketKey {
    /// A key from a fresh random nonce from the operating system (RFC 6455 section 4.1 asks
    /// for a randomly selected nonce for each connection).
    pub fn random() -> std::io::Result<Self> {
        let mut nonce = [0u8; 16];
        getrandom::getrandom(&mut nonce).map_err(|e| match e.raw_os_error() {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::other("getrandom failed"),
        })?;
        Ok(Self::from_nonce(nonce))
    }

    /// The key for a nonce the caller chose (a load generator with its own fast RNG, a test).
    pub fn from_nonce(nonce: [u8; 16]) -> Self {
        let mut text = [0u8; 24];
        let written = STANDARD.encode_slice(nonce, &mut text).unwrap_or(0);
        debug_assert_eq!(written, 24);
        WebSocketKey { text }
    }

    /// Validates a received key: exactly the base64 of 16 bytes (24 characters ending in `==`,
    /// canonical padding bits). Surrounding whitespace must have been trimmed.
    pub fn parse(value: &[u8]) -> Option<Self> {
        let text: [u8; 24] = value.try_into().ok()?;
        // 16 bytes need 22 characters plus two of padding; STANDARD also refuses non-zero
        // trailing bits, so each nonce has exactly one key.
        let mut nonce = [0u8; 18];
        match STANDARD.decode_slice(text, &mut nonce) {
            Ok(16) => Some(WebSocketKey { text }),
            _ => None,
        }
    }

    /// The key as sent in the header.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.text).unwrap_or_default()
    }

    /// The Sec-WebSocket-Accept value the server must answer this key with.
    pub fn accept(&self) -> AcceptKey {
        AcceptKey::for_key(&self.text)
    }
}

impl fmt::Debug for WebSocketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WebSocketKey").field(&self.as_str()).finish()
    }
}

/// A Sec-WebSocket-Accept value: base64(SHA-1(key ++ GUID)), 28 characters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AcceptKey {
    text: [u8; 28],
}

impl AcceptKey {
    /// The accept value for the key exactly as it appeared in the request (trimmed).
    pub fn for_key(key: &[u8]) -> Self {
        let mut sha1 = Sha1::new();
        sha1.update(key);
        sha1.update(WEBSOCKET_GUID);
        let digest: [u8; 20] = sha1.finalize().into();
        let mut text = [0u8; 28];
        let written = STANDARD.encode_slice(digest, &mut text).unwrap_or(0);
        debug_assert_eq!(written, 28);
        AcceptKey { text }
    }

    /// The value as sent in the header.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.text).unwrap_or_default()
    }

    /// The value's bytes.
    pub fn as_bytes(&self) -> &[u8; 28] {
        &self.text
    }
}

impl fmt::Debug for AcceptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AcceptKey").field(&self.as_str()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6455 section 1.3: the key "dGhlIHNhbXBsZSBub25jZQ==" gives the accept value
    /// "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=". (A value sometimes quoted for it,
    /// "s3pPLMBiTxaQ9kXsQ3vwQbsAB6o=", is neither what the RFC prints nor what SHA-1 gives:
    /// `python3 -c` with hashlib and base64 over the key and the GUID yields the RFC's value.)
    #[test]
    fn rfc6455_section_1_3_sample_key() {
        let key = WebSocketKey::parse(b"dGhlIHNhbXBsZSBub25jZQ==").unwrap();
        assert_eq!(key.accept().as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_ne!(key.accept().as_str(), "s3pPLMBiTxaQ9kXsQ3vwQbsAB6o=");
    }

    /// RFC 6455 section 1.2: "x3JJHMbDL1EzLkh9GBhXDw==" gives "HSmrc0sMlYUkAGmm5OPpG2HaGWk=".
    #[test]
    fn rfc6455_section_1_2_sample_key() {
        assert_eq!(
            AcceptKey::for_key(b"x3JJHMbDL1EzLkh9GBhXDw==").as_str(),
            "HSmrc0sMlYUkAGmm5OPpG2HaGWk="
        );
    }

    /// RFC 6455 section 1.3's nonce is the 16 bytes "the sample nonce".
    #[test]
    fn from_nonce_encodes_rfc_sample() {
        assert_eq!(
            WebSocketKey::from_nonce(*b"the sample nonce").as_str(),
            "dGhlIHNhbXBsZSBub25jZQ=="
        );
    }

    #[test]
    fn keys_must_be_base64_of_exactly_16_bytes() {
        assert!(
            WebSocketKey::parse(b"dGhlIHNhbXBsZSBub25jZQ=").is_none(),
            "23 chars"
        );
        assert!(
            WebSocketKey::parse(b"dGhlIHNhbXBsZSBub25jZQ===").is_none(),
            "25 chars"
        );
        assert!(
            WebSocketKey::parse(b"dGhlIHNhbXBsZSBub25jZXg=").is_none(),
            "17 bytes"
        );
        assert!(
            WebSocketKey::parse(b"dGhlIHNhbXBsZSBub25jZR==").is_none(),
            "non-zero pad bits"
        );
        assert!(
            WebSocketKey::parse(b"dGhlIHNhbXBsZSBub25jZ*==").is_none(),
            "not base64"
        );
        assert!(WebSocketKey::parse(b"").is_none());
    }

    #[test]
    fn random_keys_are_valid_and_differ() {
        let a = WebSocketKey::random().unwrap();
        let b = WebSocketKey::random().unwrap();
        assert_ne!(a, b);
        assert_eq!(WebSocketKey::parse(a.as_str().as_bytes()), Some(a));
    }
}
