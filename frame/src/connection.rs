//! One WebSocket's whole codec in one value: a [`Session`], a [`Decoder`] and, for clients, the
//! masking key generator.

use crate::close::CloseCode;
use crate::config::{Config, Role};
use crate::control::ControlFrame;
use crate::decoder::{Decoder, Progress};
use crate::error::{Failure, SendError};
use crate::extension::Extension;
use crate::header::HeaderBytes;
use crate::opcode::OpCode;
use crate::rng::MaskRng;
use crate::session::{CloseState, Session};

/// One WebSocket connection's codec, sans-IO: bytes in, events and bytes out, either role.
///
/// This is the simple way to use the crate: it owns the connection's [`Session`] and
/// [`Decoder`] (see their docs for the split a server with many idle connections uses) and, in
/// the client role, draws a fresh masking key for every frame it sends.
///
/// # Calling order
///
/// **Receiving.** After reading bytes from the socket into your buffer, call
/// [`handle_bytes`](Connection::handle_bytes) with the unread part, repeatedly, as described on
/// [`Decoder`]: each call returns a [`Progress`] (bytes consumed, at most one event); partial
/// frames are kept inside; answer pings with [`encode_pong`](Connection::encode_pong), send the
/// `reply` of a close, and on `Err(Failure)` send its close frame and close the socket.
///
/// **Sending.** Each `encode_*` method writes one frame: [`encode_header`](Connection::encode_header)
/// (server, payload sent as is), [`encode_frame`](Connection::encode_frame) (masks in place for
/// the client), [`encode_frame_into`](Connection::encode_frame_into) (copies into your buffer),
/// [`encode_message`](Connection::encode_message) (through the extension), and the control
/// frames. After our close frame ([`encode_close`](Connection::encode_close)) they return
/// [`SendError::Closed`], and the receive side keeps delivering data until the peer's close.
///
/// The event borrows only your input buffer, not the connection, so you may call `encode_*`
/// while holding it (the echo server's hot path).
pub struct Connection {
    decoder: Decoder,
    rng: MaskRng,
    session: Session,
}

impl Connection {
    /// A connection in the given role with the given receive limits, with no extension.
    ///
    /// The server role makes no system call; the client role seeds its masking key generator
    /// from the operating system once.
    pub fn new(role: Role, config: Config) -> Connection {
        Connection {
            decoder: Decoder::new(config),
            rng: match role {
                Role::Server => MaskRng::unused(),
                Role::Client => MaskRng::from_os(),
            },
            session: Session::with_role(role),
        }
    }

    /// Decodes `input` (bytes read from the peer, in order) up to the next event; see
    /// [`Decoder::decode`]. Unmasks payloads in place, which is why `input` is `&mut`.
    #[inline]
    pub fn handle_bytes<'a>(&mut self, input: &'a mut [u8]) -> Result<Progress<'a>, Failure> {
        self.decoder
            .decode_with(&mut self.session, &mut self.rng, input)
    }

    /// Installs the extension negotiated in the opening handshake (e.g. permessage-deflate). Call
    /// before the first `handle_bytes`: RSV1 is a protocol error without it.
    pub fn set_extension(&mut self, extension: Box<dyn Extension>) {
        self.decoder.set_extension(extension);
    }

    /// Whether an extension is installed.
    pub fn has_extension(&self) -> bool {
        self.decoder.has_extension()
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.session.role()
    }

    /// The close handshake state.
    pub fn state(&self) -> CloseState {
        self.session.state()
    }

    /// The receive limits in force.
    pub fn config(&self) -> Config {
        self.decoder.config()
    }

    /// True when the connection holds nothing between frames: no partial header, frame or
    /// message, no fragmented message being sent, close handshake not started.
    pub fn is_idle(&self) -> bool {
        self.decoder.is_idle() && self.session.can_send_message()
    }

    /// Heap bytes held by the codec for assembly (not counting an extension's own state). Zero
    /// whenever no fragmented message or split frame is in progress.
    pub fn heap_bytes(&self) -> usize {
        self.decoder.heap_bytes()
    }

    /// Server role: the header for a data frame whose payload you send as it is; see
    /// [`Session::encode_header`].
    #[inline]
    pub fn encode_header(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload_len: usize,
    ) -> Result<HeaderBytes, SendError> {
        self.session.encode_header(opcode, fin, payload_len)
    }

    /// The header for a data frame carrying `payload`; in the client role `payload` is masked in
    /// place with a fresh key (so send it right after the header, and only once). Both roles.
    #[inline]
    pub fn encode_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &mut [u8],
    ) -> Result<HeaderBytes, SendError> {
        self.session
            .encode_frame_with(&mut self.rng, opcode, fin, payload)
    }

    /// Writes a whole data frame (header, then `payload` copied and masked in the client role) to
    /// the start of `out`, returning its length. If `out` is too short it returns
    /// [`SendError::InsufficientSize`] with the length needed and leaves `out` untouched.
    pub fn encode_frame_into(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.session
            .encode_frame_into_with(&mut self.rng, opcode, fin, payload, out)
    }

    /// Appends one complete single-frame message to `out`, through the extension if one is
    /// installed (it may compress the payload and set RSV1, or leave it as is). `opcode` is `Text`
    /// or `Binary`; no fragmented message may be in progress.
    pub fn encode_message(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        let extension = self.decoder.extension_mut();
        self.session
            .encode_message_with(&mut self.rng, extension, opcode, payload, out)
    }

    /// A ping frame carrying `payload` (at most 125 bytes).
    pub fn encode_ping(&mut self, payload: &[u8]) -> Result<ControlFrame, SendError> {
        self.session.control(&mut self.rng, OpCode::Ping, payload)
    }

    /// A pong frame carrying `payload` (at most 125 bytes): the answer to
    /// [`Event::Ping`](crate::Event::Ping) with the same payload, or an unsolicited heartbeat.
    pub fn encode_pong(&mut self, payload: &[u8]) -> Result<ControlFrame, SendError> {
        self.session.control(&mut self.rng, OpCode::Pong, payload)
    }

    /// Our close frame: starts the close handshake; see [`Session::encode_close`].
    pub fn encode_close(
        &mut self,
        code: Option<CloseCode>,
        reason: &str,
    ) -> Result<ControlFrame, SendError> {
        self.session.encode_close_with(&mut self.rng, code, reason)
    }
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("session", &self.session)
            .field("decoder", &self.decoder)
            .finish()
    }
}
