//! Control frames we send (ping, pong, close): small, so built whole in an inline array.

use crate::header::MAX_HEADER_LEN;

/// Largest control frame: a 6-byte header (2 bytes plus mask) and 125 payload bytes.
pub const MAX_CONTROL_FRAME_LEN: usize = 6 + 125;

/// Capacity of a [`CloseFrame`]: header with mask (6), code (2) and a reason of up to 32 bytes.
pub const CLOSE_FRAME_CAPACITY: usize = 6 + 2 + 32;

/// A complete control frame ready to send (header and payload, masked in the client role).
/// Returned by value: no allocation. `N` is the capacity; the default holds any control frame.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ControlFrame<const N: usize = MAX_CONTROL_FRAME_LEN> {
    bytes: [u8; N],
    len: u8,
}

/// A close frame the codec builds for you (the answer to the peer's close, or the close of a
/// failed connection): code plus at most 32 bytes of reason. Small, so that the events and
/// errors carrying it stay cheap to return on the hot path.
pub type CloseFrame = ControlFrame<CLOSE_FRAME_CAPACITY>;

impl<const N: usize> ControlFrame<N> {
    /// Assembles a frame from an encoded header and the (already masked) payload.
    /// The caller guarantees header plus parts fit in `N` (checked in debug builds).
    pub(crate) fn new(header: &[u8], payload_parts: &[&[u8]]) -> ControlFrame<N> {
        debug_assert!(header.len() <= MAX_HEADER_LEN);
        debug_assert!(header.len() + payload_parts.iter().map(|p| p.len()).sum::<usize>() <= N);
        let mut bytes = [0u8; N];
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

impl<const N: usize> core::ops::Deref for ControlFrame<N> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<const N: usize> AsRef<[u8]> for ControlFrame<N> {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<const N: usize> core::fmt::Debug for ControlFrame<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ControlFrame({:02x?})", self.as_bytes())
    }
}
