//! Control frames we send (ping, pong, close): small, so built whole in an inline array.

use crate::header::MAX_HEADER_LEN;

/// Largest control frame: a 6-byte header (2 bytes plus mask) and 125 payload bytes.
const MAX_CONTROL_FRAME: usize = 6 + 125;

/// A complete control frame ready to send (header and payload, masked in the client role).
/// Returned by value: no allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ControlFrame {
    bytes: [u8; MAX_CONTROL_FRAME],
    len: u8,
}

impl ControlFrame {
    /// Assembles a frame from an encoded header and the (already masked) payload.
    pub(crate) fn new(header: &[u8], payload_parts: &[&[u8]]) -> ControlFrame {
        debug_assert!(header.len() <= MAX_HEADER_LEN);
        let mut bytes = [0u8; MAX_CONTROL_FRAME];
        bytes[..header.len()].copy_from_slice(header);
        let mut len = header.len();
        for part in payload_parts {
            bytes[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
        ControlFrame {
            bytes,
            len: len as u8,
        }
    }

    /// Mutable payload bytes after the header of length `header_len`, to mask in place.
    pub(crate) fn payload_mut(&mut self, header_len: usize) -> &mut [u8] {
        &mut self.bytes[header_len..usize::from(self.len)]
    }

    /// The frame bytes to write.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl core::ops::Deref for ControlFrame {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for ControlFrame {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl core::fmt::Debug for ControlFrame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ControlFrame({:02x?})", self.as_bytes())
    }
}
