//! The send side: data frame headers, whole frames, messages through the extension, control
//! frames, and our half of the close handshake.

use crate::close::CloseCode;
use crate::config::Role;
use crate::connection::{CloseState, Connection};
use crate::control::ControlFrame;
use crate::error::SendError;
use crate::header::{FrameHeader, HeaderBytes};
use crate::mask::apply_mask;
use crate::opcode::OpCode;

impl Connection {
    /// Server role: the header for a data frame whose `payload_len` payload bytes you send as
    /// they are, right after it (e.g. `writev([header, payload])`: no copy). This is the echo hot
    /// path: the payload may be the `Cow::Borrowed` slice of an event.
    ///
    /// `opcode` is `Text`, `Binary` or (after a frame without `fin`) `Continuation`. In the client
    /// role this returns [`SendError::ClientMustMaskPayload`]: use
    /// [`encode_frame`](Connection::encode_frame) or [`encode_frame_into`](Connection::encode_frame_into).
    #[inline]
    pub fn encode_header(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload_len: usize,
    ) -> Result<HeaderBytes, SendError> {
        if self.role == Role::Client {
            return Err(SendError::ClientMustMaskPayload);
        }
        self.check_data_frame(opcode)?;
        self.sending_fragmented = !fin;
        Ok(data_header(opcode, fin, false, None, payload_len))
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
        self.check_data_frame(opcode)?;
        self.sending_fragmented = !fin;
        let mask = self.next_mask();
        if let Some(key) = mask {
            apply_mask(payload, key);
        }
        Ok(data_header(opcode, fin, false, mask, payload.len()))
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
        self.check_data_frame(opcode)?;
        let header_len =
            data_header(opcode, fin, false, self.mask_placeholder(), payload.len()).len();
        let required = header_len + payload.len();
        if out.len() < required {
            return Err(SendError::InsufficientSize { required });
        }
        self.sending_fragmented = !fin;
        let mask = self.next_mask();
        let header = data_header(opcode, fin, false, mask, payload.len());
        out[..header_len].copy_from_slice(&header);
        let body = &mut out[header_len..required];
        body.copy_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(body, key);
        }
        Ok(required)
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
        if opcode == OpCode::Continuation {
            return Err(SendError::NotADataOpcode(opcode));
        }
        self.check_data_frame(opcode)?;
        let mut transformed = Vec::new();
        let compressed = match self.extension.as_deref_mut() {
            Some(extension) => extension
                .as_mut()
                .encode_message(payload, &mut transformed)
                .map_err(|_| SendError::Extension)?,
            None => false,
        };
        let body: &[u8] = if compressed { &transformed } else { payload };
        let mask = self.next_mask();
        let header = data_header(opcode, true, compressed, mask, body.len());
        out.reserve(header.len() + body.len());
        out.extend_from_slice(&header);
        let start = out.len();
        out.extend_from_slice(body);
        if let Some(key) = mask {
            apply_mask(&mut out[start..], key);
        }
        Ok(())
    }

    /// A ping frame carrying `payload` (at most 125 bytes).
    pub fn encode_ping(&mut self, payload: &[u8]) -> Result<ControlFrame, SendError> {
        self.control(OpCode::Ping, payload)
    }

    /// A pong frame carrying `payload` (at most 125 bytes): the answer to
    /// [`Event::Ping`](crate::Event::Ping) with the same payload, or an unsolicited heartbeat.
    pub fn encode_pong(&mut self, payload: &[u8]) -> Result<ControlFrame, SendError> {
        self.control(OpCode::Pong, payload)
    }

    /// Our close frame: starts the close handshake (state becomes
    /// [`Closing`](CloseState::Closing)); nothing can be sent after it. `code` `None` sends an
    /// empty body (then `reason` must be empty); codes must be valid on the wire and code plus
    /// reason must fit in 125 bytes.
    pub fn encode_close(
        &mut self,
        code: Option<CloseCode>,
        reason: &str,
    ) -> Result<ControlFrame, SendError> {
        if self.state != CloseState::Open {
            return Err(SendError::Closed);
        }
        match code {
            Some(code) if !code.is_valid_on_wire() => {
                return Err(SendError::InvalidCloseCode(code.0))
            }
            Some(_) if reason.len() > 123 => {
                return Err(SendError::ControlPayloadTooLong(2 + reason.len()))
            }
            None if !reason.is_empty() => {
                return Err(SendError::ControlPayloadTooLong(reason.len()))
            }
            _ => {}
        }
        let frame = self.close_frame(code, reason);
        self.state = CloseState::Closing;
        Ok(frame)
    }

    /// Builds a close frame (no state checks; the reason is cut at a char boundary to fit `N`).
    pub(crate) fn close_frame<const N: usize>(
        &mut self,
        code: Option<CloseCode>,
        reason: &str,
    ) -> ControlFrame<N> {
        let Some(code) = code else {
            return self.control_frame(OpCode::Close, &[]);
        };
        // Room after the longest header (6) and the code (2).
        let mut cut = reason.len().min(123).min(N.saturating_sub(8));
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        self.control_frame(
            OpCode::Close,
            &[&code.0.to_be_bytes(), &reason.as_bytes()[..cut]],
        )
    }

    fn control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<ControlFrame, SendError> {
        if self.state != CloseState::Open {
            return Err(SendError::Closed);
        }
        if payload.len() > 125 {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        Ok(self.control_frame(opcode, &[payload]))
    }

    fn control_frame<const N: usize>(
        &mut self,
        opcode: OpCode,
        parts: &[&[u8]],
    ) -> ControlFrame<N> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mask = self.next_mask();
        let header = FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len: len as u64,
        }
        .encode();
        let mut frame = ControlFrame::new(&header, parts);
        if let Some(key) = mask {
            apply_mask(frame.payload_mut(header.len()), key);
        }
        frame
    }

    #[inline]
    fn check_data_frame(&self, opcode: OpCode) -> Result<(), SendError> {
        if self.state != CloseState::Open {
            return Err(SendError::Closed);
        }
        match opcode {
            OpCode::Continuation if !self.sending_fragmented => Err(SendError::NoMessageInProgress),
            OpCode::Text | OpCode::Binary if self.sending_fragmented => {
                Err(SendError::MessageInProgress)
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => Err(SendError::NotADataOpcode(opcode)),
            _ => Ok(()),
        }
    }

    #[inline]
    fn next_mask(&mut self) -> Option<[u8; 4]> {
        match self.role {
            Role::Server => None,
            Role::Client => Some(self.rng.next_mask()),
        }
    }

    /// A mask of the right presence for sizing a header without drawing a key.
    fn mask_placeholder(&self) -> Option<[u8; 4]> {
        match self.role {
            Role::Server => None,
            Role::Client => Some([0; 4]),
        }
    }
}

#[inline]
fn data_header(
    opcode: OpCode,
    fin: bool,
    rsv1: bool,
    mask: Option<[u8; 4]>,
    payload_len: usize,
) -> HeaderBytes {
    FrameHeader {
        fin,
        rsv1,
        rsv2: false,
        rsv3: false,
        opcode,
        mask,
        payload_len: payload_len as u64,
    }
    .encode()
}
