//! Frame headers (RFC 6455 section 5.2): parsing the 2-14 header bytes and writing them.
//!
//! Non-minimal length encodings (e.g. a 16-bit length field holding 100) are rejected with
//! [`Error::NonMinimalLength`]: section 5.2 says "the minimal number of bytes MUST be used to
//! encode the length", and accepting them would let a frame have several encodings, which
//! smuggling-style attacks and differential fuzzing both exploit. No mainstream client sends them.

use crate::error::Error;
use crate::opcode::OpCode;

/// The longest header: 2 fixed bytes, 8 length bytes, 4 mask bytes.
pub const MAX_HEADER_LEN: usize = 14;

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Last frame of its message.
    pub fin: bool,
    /// RSV1: "compressed" when permessage-deflate is negotiated.
    pub rsv1: bool,
    /// RSV2 (no extension we know uses it).
    pub rsv2: bool,
    /// RSV3 (no extension we know uses it).
    pub rsv3: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present iff the mask bit is set.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes (at most 2^63 - 1).
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses a header from the start of `bytes`.
    ///
    /// Returns `Ok(None)` if `bytes` is a valid but incomplete prefix (fewer than 2 bytes, or fewer
    /// than the header length the first two bytes announce), else the header and its length in
    /// bytes. Context-free rules are checked here (reserved opcodes, 64-bit top bit, minimal
    /// length, control frames <= 125 bytes and unfragmented); rules that depend on the role and on
    /// negotiated extensions (mask bit, RSV bits) are checked by the
    /// [`Connection`](crate::Connection).
    #[inline]
    pub fn parse(bytes: &[u8]) -> Result<Option<(FrameHeader, usize)>, Error> {
        let [b0, b1, ..] = *bytes else {
            return Ok(None);
        };
        let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(Error::ReservedOpcode(b0 & 0x0F))?;
        let fin = b0 & 0x80 != 0;
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7F;
        let (payload_len, len_bytes) = match len7 {
            126 => {
                let Some(ext) = bytes.get(2..4) else {
                    return Ok(None);
                };
                let len = u16::from_be_bytes([ext[0], ext[1]]) as u64;
                if len < 126 {
                    return Err(Error::NonMinimalLength);
                }
                (len, 2)
            }
            127 => {
                let Some(ext) = bytes.get(2..10) else {
                    return Ok(None);
                };
                let mut raw = [0u8; 8];
                raw.copy_from_slice(ext);
                let len = u64::from_be_bytes(raw);
                if len >> 63 != 0 {
                    return Err(Error::LengthMsbSet);
                }
                if len <= u16::MAX as u64 {
                    return Err(Error::NonMinimalLength);
                }
                (len, 8)
            }
            short => (short as u64, 0),
        };
        if opcode.is_control() {
            if payload_len > 125 {
                return Err(Error::ControlFrameTooLong(payload_len));
            }
            if !fin {
                return Err(Error::FragmentedControlFrame);
            }
        }
        let mut len = 2 + len_bytes;
        let mask = if masked {
            let Some(key) = bytes.get(len..len + 4) else {
                return Ok(None);
            };
            len += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        let header = FrameHeader {
            fin,
            rsv1: b0 & 0x40 != 0,
            rsv2: b0 & 0x20 != 0,
            rsv3: b0 & 0x10 != 0,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, len)))
    }

    /// Writes the header with the minimal length encoding. Infallible: the result is at most
    /// [`MAX_HEADER_LEN`] bytes.
    #[inline]
    pub fn encode(&self) -> HeaderBytes {
        let mut bytes = [0u8; MAX_HEADER_LEN];
        bytes[0] = (self.fin as u8) << 7
            | (self.rsv1 as u8) << 6
            | (self.rsv2 as u8) << 5
            | (self.rsv3 as u8) << 4
            | self.opcode.as_u8();
        let mask_bit = (self.mask.is_some() as u8) << 7;
        let mut len = 2;
        if self.payload_len < 126 {
            bytes[1] = mask_bit | self.payload_len as u8;
        } else if self.payload_len <= u16::MAX as u64 {
            bytes[1] = mask_bit | 126;
            bytes[2..4].copy_from_slice(&(self.payload_len as u16).to_be_bytes());
            len = 4;
        } else {
            bytes[1] = mask_bit | 127;
            // Lengths at or above 2^63 cannot come from a slice; clear the top bit regardless.
            let wire = self.payload_len & (u64::MAX >> 1);
            bytes[2..10].copy_from_slice(&wire.to_be_bytes());
            len = 10;
        }
        if let Some(mask) = self.mask {
            bytes[len..len + 4].copy_from_slice(&mask);
            len += 4;
        }
        HeaderBytes {
            bytes,
            len: len as u8,
        }
    }
}

/// An encoded frame header, returned by value (no allocation). Send it before the payload, e.g.
/// as the first buffer of a vectored write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderBytes {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
}

impl HeaderBytes {
    /// The header bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Header length: 2, 4, 6, 8, 10 or 14.
    #[inline]
    #[allow(clippy::len_without_is_empty)] // a header is never empty
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
}

impl core::ops::Deref for HeaderBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for HeaderBytes {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(opcode: OpCode, fin: bool, mask: Option<[u8; 4]>, len: u64) -> FrameHeader {
        FrameHeader {
            fin,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len: len,
        }
    }

    #[test]
    fn every_prefix_of_a_header_is_partial() {
        for len in [0u64, 125, 126, 65535, 65536, 1 << 40] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let h = header(OpCode::Binary, true, mask, len);
                let bytes = h.encode();
                for cut in 0..bytes.len() {
                    assert_eq!(FrameHeader::parse(&bytes[..cut]), Ok(None), "{len} {cut}");
                }
                assert_eq!(FrameHeader::parse(&bytes), Ok(Some((h, bytes.len()))));
            }
        }
    }

    #[test]
    fn length_boundaries_use_minimal_encoding() {
        for (len, expected) in [(0u64, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            assert_eq!(
                header(OpCode::Text, true, None, len).encode().len(),
                expected
            );
        }
    }

    #[test]
    fn non_minimal_lengths_are_rejected() {
        assert_eq!(
            FrameHeader::parse(&[0x82, 126, 0, 125]),
            Err(Error::NonMinimalLength)
        );
        assert_eq!(
            FrameHeader::parse(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]),
            Err(Error::NonMinimalLength)
        );
    }

    #[test]
    fn top_bit_of_64_bit_length_is_rejected() {
        assert_eq!(
            FrameHeader::parse(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::LengthMsbSet)
        );
    }

    #[test]
    fn reserved_opcodes_and_bad_control_frames_are_rejected() {
        for op in [3u8, 4, 5, 6, 7, 11, 12, 13, 14, 15] {
            assert_eq!(
                FrameHeader::parse(&[0x80 | op, 0]),
                Err(Error::ReservedOpcode(op))
            );
        }
        assert_eq!(
            FrameHeader::parse(&[0x89, 126, 0, 126]),
            Err(Error::ControlFrameTooLong(126))
        );
        assert_eq!(
            FrameHeader::parse(&[0x09, 0]),
            Err(Error::FragmentedControlFrame)
        );
    }
}
