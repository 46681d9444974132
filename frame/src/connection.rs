//! The per-connection state: what a server or client keeps for each WebSocket.

use std::borrow::Cow;

use crate::close::CloseCode;
use crate::config::{Config, Role};
use crate::control::CloseFrame;
use crate::extension::Extension;
use crate::header::MAX_HEADER_LEN;
use crate::opcode::OpCode;
use crate::rng::MaskRng;
use crate::utf8::Utf8Stream;

/// One WebSocket connection's codec state, sans-IO: bytes in, events and bytes out.
///
/// # Calling order
///
/// **Receiving.** After reading bytes from the socket into your buffer, call
/// [`handle_bytes`](Connection::handle_bytes) with the unread part, repeatedly:
///
/// 1. it returns a [`Progress`]: `consumed` bytes of the input are done with, and maybe one
///    [`Event`]; call again with `&mut input[consumed..]` until `consumed` reaches the end;
/// 2. a call that returns no event has consumed the whole input: partial frames (even a partial
///    header) are kept inside the connection, so you never keep unconsumed bytes between reads;
/// 3. a text or binary message that is one complete frame inside your buffer is delivered as
///    `Cow::Borrowed` from your buffer (unmasked in place: no copy, no allocation); fragmented or
///    split messages come as `Cow::Owned`, and the connection then holds no heap memory;
/// 4. answer each [`Event::Ping`] with [`encode_pong`](Connection::encode_pong); send the
///    `reply` of an [`Event::Close`] if present, then close the TCP connection;
/// 5. on `Err(Failure)`: send `failure.close_frame` if present, log `failure.error`, close TCP.
///
/// **Sending.** Each `encode_*` method writes one frame: [`encode_header`](Connection::encode_header)
/// (server, payload sent as is), [`encode_frame`](Connection::encode_frame) (masks in place for
/// the client), [`encode_frame_into`](Connection::encode_frame_into) (copies into your buffer),
/// [`encode_message`](Connection::encode_message) (through the extension), and the control
/// frames. After our close frame ([`encode_close`](Connection::encode_close)) they return
/// [`SendError::Closed`](crate::SendError::Closed), and the receive side keeps delivering data
/// until the peer's close.
///
/// The event borrows only your input buffer, not the connection, so you may call `encode_*`
/// while holding it (the echo server's hot path).
pub struct Connection {
    pub(crate) recv: RecvPhase,
    /// Fragmented or split messages and split control frames; `None` when idle.
    pub(crate) assembly: Option<Box<Assembly>>,
    /// Boxed twice so the field is one thin pointer (8 bytes, not 16): the extension is only
    /// reached once per compressed piece, and idle connections are what we count.
    pub(crate) extension: Option<Box<Box<dyn Extension>>>,
    pub(crate) max_frame_size: usize,
    pub(crate) max_message_size: usize,
    pub(crate) max_fragments: u32,
    pub(crate) rng: MaskRng,
    pub(crate) role: Role,
    pub(crate) state: CloseState,
    /// We sent a data frame without FIN: the next data frame must be a continuation.
    pub(crate) sending_fragmented: bool,
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

/// The close handshake (RFC 6455 section 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseState {
    /// Both directions open.
    Open,
    /// We sent our close frame and wait for the peer's; we send nothing more, but still deliver
    /// incoming data messages (pings are not delivered: they could not be answered).
    Closing,
    /// The handshake completed, or the connection failed: close the TCP connection. Further input
    /// is discarded.
    Closed,
}

/// What one [`Connection::handle_bytes`] call did.
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
    /// A ping: answer with [`Connection::encode_pong`] carrying the same payload.
    Ping(Cow<'a, [u8]>),
    /// A pong (unsolicited ones are allowed, RFC 6455 section 5.5.3).
    Pong(Cow<'a, [u8]>),
    /// The peer's close frame. The connection is now [`CloseState::Closed`].
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

impl Connection {
    /// A connection in the given role with the given receive limits, with no extension.
    ///
    /// The server role makes no system call; the client role seeds its masking key generator
    /// from the operating system once.
    pub fn new(role: Role, config: Config) -> Connection {
        Connection {
            recv: RecvPhase::IDLE,
            assembly: None,
            extension: None,
            max_frame_size: config.max_frame_size,
            max_message_size: config.max_message_size,
            max_fragments: config
                .max_fragments_per_message
                .map_or(u32::MAX, |n| n.get()),
            rng: match role {
                Role::Server => MaskRng::unused(),
                Role::Client => MaskRng::from_os(),
            },
            role,
            state: CloseState::Open,
            sending_fragmented: false,
        }
    }

    /// Installs the extension negotiated in the opening handshake (e.g. permessage-deflate). Call
    /// before the first `handle_bytes`: RSV1 is a protocol error without it.
    pub fn set_extension(&mut self, extension: Box<dyn Extension>) {
        self.extension = Some(Box::new(extension));
    }

    /// Whether an extension is installed.
    pub fn has_extension(&self) -> bool {
        self.extension.is_some()
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The close handshake state.
    pub fn state(&self) -> CloseState {
        self.state
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

    /// True when the connection holds nothing between frames: no partial header, frame or
    /// message, no fragmented message being sent, close handshake not started. An idle
    /// connection without extension behaves exactly like a new one with the same role and
    /// config, so a server may pool it.
    pub fn is_idle(&self) -> bool {
        matches!(self.recv, RecvPhase::Header { len: 0, .. })
            && self.assembly.is_none()
            && !self.sending_fragmented
            && self.state == CloseState::Open
    }

    /// Heap bytes held by the codec for assembly (not counting an extension's own state). Zero
    /// whenever no fragmented message or split frame is in progress.
    pub fn heap_bytes(&self) -> usize {
        self.assembly.as_ref().map_or(0, |a| {
            core::mem::size_of::<Assembly>() + a.message.capacity() + a.control.capacity()
        })
    }
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("recv", &self.recv)
            .field("assembling", &self.assembly.is_some())
            .field("extension", &self.extension.is_some())
            .finish()
    }
}
