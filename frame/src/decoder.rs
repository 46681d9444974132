//! The receive machinery of a WebSocket: what a read can leave half done.

use std::borrow::Cow;

use crate::close::CloseCode;
use crate::config::Config;
use crate::control::CloseFrame;
use crate::extension::Extension;
use crate::header::MAX_HEADER_LEN;
use crate::opcode::OpCode;
use crate::utf8::Utf8Stream;

/// Decodes what the peer sends: frame headers cut by the end of a read, messages being
/// assembled, the negotiated extension. Sans-IO: [`decode`](Decoder::decode) takes bytes and the
/// connection's [`Session`](crate::Session) and returns at most one event per call.
///
/// A decoder that [`is_idle`](Decoder::is_idle) and has no extension is indistinguishable from a
/// new one with the same [`Config`], so a server can keep one spare per thread and lend it to
/// whichever connection has bytes to read, storing a decoder with a connection only while that
/// connection is in the middle of a frame or message (or for life, with an extension, whose
/// compression contexts are per connection). The extension also encodes outgoing messages:
/// [`Session::encode_message`](crate::Session::encode_message) takes the decoder for that.
///
/// # Calling order
///
/// After reading bytes from the socket into your buffer, call [`decode`](Decoder::decode) with
/// the unread part, repeatedly:
///
/// 1. it returns a [`Progress`]: `consumed` bytes of the input are done with, and maybe one
///    [`Event`]; call again with `&mut input[consumed..]` until `consumed` reaches the end;
/// 2. a call that returns no event has consumed the whole input: partial frames (even a partial
///    header) are kept inside the decoder, so you never keep unconsumed bytes between reads;
/// 3. a text or binary message that is one complete frame inside your buffer is delivered as
///    `Cow::Borrowed` from your buffer (unmasked in place: no copy, no allocation); fragmented or
///    split messages come as `Cow::Owned`, and the decoder then holds no heap memory;
/// 4. answer each [`Event::Ping`] with [`Session::encode_pong`](crate::Session::encode_pong);
///    send the `reply` of an [`Event::Close`] if present, then close the TCP connection;
/// 5. on `Err(Failure)`: send `failure.close_frame` if present, log `failure.error`, close TCP.
///
/// The event borrows only your input buffer, not the decoder or the session, so you may encode
/// replies while holding it (the echo server's hot path).
pub struct Decoder {
    pub(crate) recv: RecvPhase,
    /// Fragmented or split messages and split control frames; `None` when idle.
    pub(crate) assembly: Option<Box<Assembly>>,
    /// Boxed twice so the field is one thin pointer (8 bytes, not 16): the extension is only
    /// reached once per compressed piece.
    pub(crate) extension: Option<Box<Box<dyn Extension>>>,
    pub(crate) max_frame_size: usize,
    pub(crate) max_message_size: usize,
    /// Most bytes the message in progress may hold (see `set_memory_limit`).
    pub(crate) memory_limit: usize,
    pub(crate) max_fragments: u32,
}

/// Where the receive side is inside the byte stream.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RecvPhase {
    /// Between frames; `buf[..len]` holds the start of a header cut by the end of an input.
    Header {
        buf: [u8; MAX_HEADER_LEN - 1],
        len: u8,
    },
    /// Inside a frame's payload that did not arrive whole.
    Payload {
        remaining: u64,
        /// Masking key rotated to the next payload byte.
        mask: Option<[u8; 4]>,
        opcode: OpCode,
        fin: bool,
    },
}

impl RecvPhase {
    pub(crate) const IDLE: RecvPhase = RecvPhase::Header {
        buf: [0; MAX_HEADER_LEN - 1],
        len: 0,
    };
}

/// Heap state that exists only while a message or control frame is being assembled.
#[derive(Default)]
pub(crate) struct Assembly {
    pub(crate) message: Vec<u8>,
    pub(crate) control: Vec<u8>,
    pub(crate) utf8: Utf8Stream,
    /// Opcode of the message in progress (text or binary), `None` if no message is open.
    pub(crate) kind: Option<OpCode>,
    /// The message's first frame had RSV1: its payload goes through the extension.
    pub(crate) compressed: bool,
    pub(crate) fragments: u32,
}

/// What one [`Decoder::decode`] (or [`Connection::handle_bytes`](crate::Connection::handle_bytes))
/// call did.
#[must_use = "consumed says where to continue, and an event may require an answer"]
#[derive(Debug, PartialEq, Eq)]
pub struct Progress<'a> {
    /// Input bytes done with. If `event` is `None` this is the whole input.
    pub consumed: usize,
    /// At most one event per call.
    pub event: Option<Event<'a>>,
}

/// Something the peer sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete text message, validated as UTF-8.
    Text(Cow<'a, str>),
    /// A complete binary message.
    Binary(Cow<'a, [u8]>),
    /// A ping: answer with a pong carrying the same payload
    /// ([`Session::encode_pong`](crate::Session::encode_pong)).
    Ping(Cow<'a, [u8]>),
    /// A pong (unsolicited ones are allowed, RFC 6455 section 5.5.3).
    Pong(Cow<'a, [u8]>),
    /// The peer's close frame. The session is now [`Closed`](crate::CloseState::Closed).
    Close {
        /// The status code; `None` if the frame had no body (report it as 1005 if you need one).
        code: Option<CloseCode>,
        /// The reason, validated as UTF-8 (may be empty).
        reason: Cow<'a, str>,
        /// Our answering close frame (echoing the code) if we had not sent ours yet: send it,
        /// then close the TCP connection.
        reply: Option<CloseFrame>,
    },
}

impl Decoder {
    /// A decoder enforcing the given receive limits, with no extension. Allocates nothing.
    pub fn new(config: Config) -> Decoder {
        Decoder {
            recv: RecvPhase::IDLE,
            assembly: None,
            extension: None,
            max_frame_size: config.max_frame_size,
            max_message_size: config.max_message_size,
            memory_limit: usize::MAX,
            max_fragments: config
                .max_fragments_per_message
                .map_or(u32::MAX, |n| n.get()),
        }
    }

    /// Installs the extension negotiated in the opening handshake (e.g. permessage-deflate). Call
    /// before the first `decode`: RSV1 is a protocol error without it.
    pub fn set_extension(&mut self, extension: Box<dyn Extension>) {
        self.extension = Some(Box::new(extension));
    }

    /// Whether an extension is installed.
    pub fn has_extension(&self) -> bool {
        self.extension.is_some()
    }

    /// The installed extension, to encode an outgoing message.
    pub(crate) fn extension_mut(&mut self) -> Option<&mut dyn Extension> {
        match self.extension.as_deref_mut() {
            Some(extension) => Some(extension.as_mut()),
            None => None,
        }
    }

    /// Limits the bytes the message in progress may hold (assembled fragments, or inflated
    /// output) to `bytes`, below the message size limit: a server sets it before each read from
    /// what its memory budget has left, so that memory is refused before it is allocated (a
    /// compressed message stops inflating at the limit). A message that would pass it fails
    /// with [`Error::OverMemoryLimit`](crate::Error::OverMemoryLimit) (close 1009). Whole
    /// single-frame messages delivered from the caller's buffer hold nothing and are not
    /// limited. Default: no limit beyond the [`Config`].
    pub fn set_memory_limit(&mut self, bytes: usize) {
        self.memory_limit = bytes;
    }

    /// The receive limits in force.
    pub fn config(&self) -> Config {
        Config {
            max_frame_size: self.max_frame_size,
            max_message_size: self.max_message_size,
            max_fragments_per_message: core::num::NonZeroU32::new(self.max_fragments)
                .filter(|n| n.get() != u32::MAX),
        }
    }

    /// True when the decoder holds nothing between frames: no partial header, frame or message.
    /// An idle decoder without extension behaves exactly like a new one with the same config.
    pub fn is_idle(&self) -> bool {
        matches!(self.recv, RecvPhase::Header { len: 0, .. }) && self.assembly.is_none()
    }

    /// Heap bytes held for assembly (not counting an extension's own state). Zero whenever no
    /// fragmented message or split frame is in progress.
    pub fn heap_bytes(&self) -> usize {
        self.assembly.as_ref().map_or(0, |a| {
            core::mem::size_of::<Assembly>() + a.message.capacity() + a.control.capacity()
        })
    }

    /// Forgets everything in progress (after a close or a failure): nothing is kept on the heap.
    pub(crate) fn reset(&mut self) {
        self.assembly = None;
        self.recv = RecvPhase::IDLE;
    }
}

impl core::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decoder")
            .field("recv", &self.recv)
            .field("assembling", &self.assembly.is_some())
            .field("extension", &self.extension.is_some())
            .finish()
    }
}
