//! Frame opcodes (RFC 6455 section 5.2, section 11.8 registry).

use core::fmt;

/// A frame opcode. Reserved values (3-7, 11-15) are not representable: the decoder rejects them
/// with [`Error::ReservedOpcode`](crate::Error::ReservedOpcode) before an `OpCode` exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// `0x0`: continues a fragmented data message.
    Continuation = 0x0,
    /// `0x1`: first (or only) frame of a text message.
    Text = 0x1,
    /// `0x2`: first (or only) frame of a binary message.
    Binary = 0x2,
    /// `0x8`: connection close (control frame).
    Close = 0x8,
    /// `0x9`: ping (control frame).
    Ping = 0x9,
    /// `0xA`: pong (control frame).
    Pong = 0xA,
}

impl OpCode {
    /// The opcode for the low four bits `value`, or `None` for a reserved or out-of-range value.
    #[inline]
    pub const fn from_u8(value: u8) -> Option<OpCode> {
        match value {
            0x0 => Some(OpCode::Continuation),
            0x1 => Some(OpCode::Text),
            0x2 => Some(OpCode::Binary),
            0x8 => Some(OpCode::Close),
            0x9 => Some(OpCode::Ping),
            0xA => Some(OpCode::Pong),
            _ => None,
        }
    }

    /// The four-bit wire value.
    #[inline]
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Control frames (close, ping, pong) have the high opcode bit set (RFC 6455 section 5.5).
    #[inline]
    pub const fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }

    /// Text, binary or continuation.
    #[inline]
    pub const fn is_data(self) -> bool {
        !self.is_control()
    }
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            OpCode::Continuation => "continuation",
            OpCode::Text => "text",
            OpCode::Binary => "binary",
            OpCode::Close => "close",
            OpCode::Ping => "ping",
            OpCode::Pong => "pong",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_four_bit_value_round_trips_or_is_reserved() {
        for value in 0u8..16 {
            match OpCode::from_u8(value) {
                Some(op) => assert_eq!(op.as_u8(), value),
                None => assert!(matches!(value, 3..=7 | 11..=15), "{value}"),
            }
        }
        assert!(OpCode::from_u8(16).is_none());
    }

    #[test]
    fn control_bit_classifies() {
        assert!(
            OpCode::Close.is_control() && OpCode::Ping.is_control() && OpCode::Pong.is_control()
        );
        assert!(
            OpCode::Text.is_data() && OpCode::Binary.is_data() && OpCode::Continuation.is_data()
        );
    }
}
