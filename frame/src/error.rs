//! Errors: one variant per RFC rule a peer can break, each mapped to the close code it earns.

use core::fmt;

use crate::close::CloseCode;
use crate::control::CloseFrame;
use crate::opcode::OpCode;

/// A rule the peer broke. The connection is failed (RFC 6455 section 7.1.7): send the close
/// frame of the [`Failure`] that carried this error, then close the TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    // --- 1002 protocol error ---
    /// RSV2 or RSV3 set: no negotiated extension defines them (section 5.2).
    ReservedBitsSet,
    /// RSV1 set but no extension using it was negotiated (section 5.2).
    Rsv1WithoutExtension,
    /// RSV1 set on a control frame (RFC 7692 section 6.1: only data messages are compressed).
    Rsv1OnControlFrame,
    /// RSV1 set on a continuation frame (RFC 7692 section 6.1: only on the first frame).
    Rsv1OnContinuation,
    /// Opcode 0x3-0x7 or 0xB-0xF (section 5.2: "MUST Fail the WebSocket Connection").
    ReservedOpcode(u8),
    /// Server role: a client frame without the mask bit (section 5.1).
    UnmaskedFrameFromClient,
    /// Client role: a server frame with the mask bit (section 5.1).
    MaskedFrameFromServer,
    /// A 64-bit payload length with the most significant bit set (section 5.2).
    LengthMsbSet,
    /// A length encoded in more bytes than needed (section 5.2: "the minimal number of bytes MUST
    /// be used to encode the length").
    NonMinimalLength,
    /// A control frame payload over 125 bytes (section 5.5).
    ControlFrameTooLong(u64),
    /// A control frame without FIN (section 5.5: "Control frames MUST NOT be fragmented").
    FragmentedControlFrame,
    /// A continuation frame with no fragmented message in progress (section 5.4).
    UnexpectedContinuation,
    /// A text or binary frame while a fragmented message awaits its continuation (section 5.4).
    ExpectedContinuation,
    /// A close payload of exactly one byte (section 5.5.1: a body starts with a 2-byte code).
    CloseFrameTooShort,
    /// A close code that must not appear on the wire (section 7.4).
    InvalidCloseCode(u16),

    // --- 1007 invalid payload data ---
    /// A text message that is not UTF-8 (section 8.1), detected as soon as it is certain.
    InvalidUtf8,
    /// A close reason that is not UTF-8 (section 5.5.1).
    InvalidCloseReason,
    /// The extension could not decode a message (e.g. corrupt deflate data).
    InvalidCompressedData,

    // --- 1009 message too big ---
    /// A frame payload over [`Config::max_frame_size`](crate::Config::max_frame_size).
    FrameTooLarge {
        /// Announced payload length.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message (sum of its fragments) over
    /// [`Config::max_message_size`](crate::Config::max_message_size).
    MessageTooLarge {
        /// The configured limit.
        max: usize,
    },
    /// A compressed message that inflates past
    /// [`Config::max_message_size`](crate::Config::max_message_size) (a "zip bomb").
    DecompressedMessageTooLarge {
        /// The configured limit.
        max: usize,
    },
    /// A message (assembled or inflated) that would hold more memory than the caller allows this
    /// decoder now ([`Decoder::set_memory_limit`](crate::Decoder::set_memory_limit)): a server's
    /// memory budget is spent.
    OverMemoryLimit {
        /// The limit in force.
        limit: usize,
    },

    // --- 1008 policy violation ---
    /// More fragments in one message than
    /// [`Config::max_fragments_per_message`](crate::Config::max_fragments_per_message) allows.
    TooManyFragments {
        /// The configured limit.
        max: u32,
    },
}

impl Error {
    /// The close code this error earns (RFC 6455 section 7.4.1).
    pub const fn close_code(&self) -> CloseCode {
        match self {
            Error::InvalidUtf8 | Error::InvalidCloseReason | Error::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            Error::FrameTooLarge { .. }
            | Error::MessageTooLarge { .. }
            | Error::DecompressedMessageTooLarge { .. }
            | Error::OverMemoryLimit { .. } => CloseCode::MESSAGE_TOO_BIG,
            Error::TooManyFragments { .. } => CloseCode::POLICY_VIOLATION,
            // Listed one by one: a new variant must be given its code, not fall into 1002.
            Error::ReservedBitsSet
            | Error::Rsv1WithoutExtension
            | Error::Rsv1OnControlFrame
            | Error::Rsv1OnContinuation
            | Error::ReservedOpcode(_)
            | Error::UnmaskedFrameFromClient
            | Error::MaskedFrameFromServer
            | Error::LengthMsbSet
            | Error::NonMinimalLength
            | Error::ControlFrameTooLong(_)
            | Error::FragmentedControlFrame
            | Error::UnexpectedContinuation
            | Error::ExpectedContinuation
            | Error::CloseFrameTooShort
            | Error::InvalidCloseCode(_) => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// A short reason for the close frame we send (the peer sees it; keep it terse and free of
    /// peer data).
    pub const fn reason(&self) -> &'static str {
        match self {
            Error::ReservedBitsSet => "reserved bits set",
            Error::Rsv1WithoutExtension => "RSV1 without extension",
            Error::Rsv1OnControlFrame => "RSV1 on control frame",
            Error::Rsv1OnContinuation => "RSV1 on continuation frame",
            Error::ReservedOpcode(_) => "reserved opcode",
            Error::UnmaskedFrameFromClient => "unmasked client frame",
            Error::MaskedFrameFromServer => "masked server frame",
            Error::LengthMsbSet => "64-bit length with top bit set",
            Error::NonMinimalLength => "non-minimal length encoding",
            Error::ControlFrameTooLong(_) => "control frame over 125 bytes",
            Error::FragmentedControlFrame => "fragmented control frame",
            Error::UnexpectedContinuation => "continuation without message",
            Error::ExpectedContinuation => "expected continuation frame",
            Error::CloseFrameTooShort => "close payload of 1 byte",
            Error::InvalidCloseCode(_) => "invalid close code",
            Error::InvalidUtf8 => "invalid UTF-8 in text",
            Error::InvalidCloseReason => "invalid UTF-8 in close reason",
            Error::InvalidCompressedData => "invalid compressed data",
            Error::FrameTooLarge { .. } => "frame too large",
            Error::MessageTooLarge { .. } => "message too large",
            Error::DecompressedMessageTooLarge { .. } => "decompressed message too large",
            Error::OverMemoryLimit { .. } => "over the memory budget",
            Error::TooManyFragments { .. } => "too many fragments",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x} (RFC 6455 5.2)"),
            Error::ControlFrameTooLong(len) => {
                write!(
                    f,
                    "control frame payload of {len} bytes, over 125 (RFC 6455 5.5)"
                )
            }
            Error::InvalidCloseCode(code) => {
                write!(
                    f,
                    "close code {code} may not appear on the wire (RFC 6455 7.4)"
                )
            }
            Error::FrameTooLarge { len, max } => {
                write!(f, "frame payload of {len} bytes exceeds the limit of {max}")
            }
            Error::MessageTooLarge { max } => write!(f, "message exceeds the limit of {max} bytes"),
            Error::DecompressedMessageTooLarge { max } => {
                write!(f, "decompressed message exceeds the limit of {max} bytes")
            }
            Error::TooManyFragments { max } => {
                write!(f, "message has more than {max} fragments")
            }
            Error::OverMemoryLimit { limit } => {
                write!(
                    f,
                    "message would hold more than the {limit} bytes of memory allowed"
                )
            }
            other => {
                let rule = match other {
                    Error::ReservedBitsSet
                    | Error::Rsv1WithoutExtension
                    | Error::LengthMsbSet
                    | Error::NonMinimalLength => "RFC 6455 5.2",
                    Error::Rsv1OnControlFrame | Error::Rsv1OnContinuation => "RFC 7692 6.1",
                    Error::UnmaskedFrameFromClient | Error::MaskedFrameFromServer => "RFC 6455 5.1",
                    Error::FragmentedControlFrame => "RFC 6455 5.5",
                    Error::UnexpectedContinuation | Error::ExpectedContinuation => "RFC 6455 5.4",
                    Error::CloseFrameTooShort | Error::InvalidCloseReason => "RFC 6455 5.5.1",
                    Error::InvalidUtf8 => "RFC 6455 8.1",
                    Error::InvalidCompressedData => "extension",
                    // Written with their values by the arms above.
                    Error::ReservedOpcode(_)
                    | Error::ControlFrameTooLong(_)
                    | Error::InvalidCloseCode(_)
                    | Error::FrameTooLarge { .. }
                    | Error::MessageTooLarge { .. }
                    | Error::DecompressedMessageTooLarge { .. }
                    | Error::OverMemoryLimit { .. }
                    | Error::TooManyFragments { .. } => unreachable!(),
                };
                write!(f, "{} ({rule})", other.reason())
            }
        }
    }
}

impl std::error::Error for Error {}

/// What [`Connection::handle_bytes`](crate::Connection::handle_bytes) returns when the peer broke
/// a rule: the rule (log it) and the close frame to send before closing the TCP connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The rule that was broken; `error.close_code()` is the code in `close_frame`.
    pub error: Error,
    /// The close frame to send, or `None` if our close frame was already sent (RFC 6455 section
    /// 5.5.1: nothing is sent after it). The connection is now [`Closed`](crate::CloseState).
    pub close_frame: Option<CloseFrame>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (close {})", self.error, self.error.close_code())
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// A misuse of the sending side; the output buffer is left untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// Our close frame was already sent, or the connection is closed (RFC 6455 section 5.5.1).
    Closed,
    /// The output buffer is too small; `required` bytes would fit (rustls style).
    InsufficientSize {
        /// Bytes needed for header and payload.
        required: usize,
    },
    /// The opcode is a control opcode; use `encode_ping`, `encode_pong` or `encode_close`.
    NotADataOpcode(OpCode),
    /// [`encode_header`](crate::Connection::encode_header) in the client role: client payloads
    /// must be masked, use `encode_frame` or `encode_frame_into`.
    ClientMustMaskPayload,
    /// A control payload over 125 bytes (for close: code plus reason over 125).
    ControlPayloadTooLong(usize),
    /// A close code that may not be sent ([`CloseCode::is_valid_on_wire`]).
    InvalidCloseCode(u16),
    /// A continuation frame with no fragmented message started.
    NoMessageInProgress,
    /// A text or binary frame while a fragmented message is unfinished.
    MessageInProgress,
    /// The extension failed to encode the message.
    Extension,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("close frame already sent"),
            SendError::InsufficientSize { required } => {
                write!(f, "output buffer too small, {required} bytes required")
            }
            SendError::NotADataOpcode(op) => write!(f, "{op} is not a data opcode"),
            SendError::ClientMustMaskPayload => {
                f.write_str("client frames must be masked; use encode_frame")
            }
            SendError::ControlPayloadTooLong(len) => {
                write!(f, "control payload of {len} bytes, over 125")
            }
            SendError::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
            SendError::NoMessageInProgress => f.write_str("continuation without a started message"),
            SendError::MessageInProgress => f.write_str("previous fragmented message unfinished"),
            SendError::Extension => f.write_str("extension failed to encode the message"),
        }
    }
}

impl std::error::Error for SendError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_fit_a_close_frame_and_display_names_the_rule() {
        let all = [
            Error::ReservedBitsSet,
            Error::Rsv1WithoutExtension,
            Error::Rsv1OnControlFrame,
            Error::Rsv1OnContinuation,
            Error::ReservedOpcode(3),
            Error::UnmaskedFrameFromClient,
            Error::MaskedFrameFromServer,
            Error::LengthMsbSet,
            Error::NonMinimalLength,
            Error::ControlFrameTooLong(126),
            Error::FragmentedControlFrame,
            Error::UnexpectedContinuation,
            Error::ExpectedContinuation,
            Error::CloseFrameTooShort,
            Error::InvalidCloseCode(1005),
            Error::InvalidUtf8,
            Error::InvalidCloseReason,
            Error::InvalidCompressedData,
            Error::FrameTooLarge { len: 2, max: 1 },
            Error::MessageTooLarge { max: 1 },
            Error::DecompressedMessageTooLarge { max: 1 },
            Error::OverMemoryLimit { limit: 1 },
            Error::TooManyFragments { max: 1 },
        ];
        for e in all {
            // The whole reason fits a CloseFrame.
            assert!(e.reason().len() <= 32, "{e:?}");
            assert!(!e.to_string().is_empty());
            assert!(e.close_code().is_valid_on_wire());
        }
    }
}
