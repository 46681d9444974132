//! The send side: data frame headers, whole frames, messages through the extension, control
//! frames, and our half of the close handshake. Everything is written into caller-owned memory
//! (a returned header or control frame by value, a caller's slice or `Vec`): nothing is allocated
//! per frame.
//!
//! The public methods of [`Session`] are the server role's (frames go out unmasked). The
//! `*_with` variants take the masking key generator of a client-role session; [`Connection`]
//! calls them with its own.
//!
//! [`Connection`]: crate::Connection

use crate::close::CloseCode;
use crate::config::Role;
use crate::control::ControlFrame;
use crate::decoder::Decoder;
use crate::error::SendError;
use crate::extension::Extension;
use crate::header::{FrameHeader, HeaderBytes, MAX_HEADER_LEN};
use crate::mask::apply_mask;
use crate::opcode::OpCode;
use crate::rng::MaskRng;
use crate::session::{CloseState, Session};

impl Session {
    /// The header for a data frame whose `payload_len` payload bytes you send as they are,
    /// right after it (e.g. `writev([header, payload])`: no copy). This is the echo hot path:
    /// the payload may be the `Cow::Borrowed` slice of an event.
    ///
    /// `opcode` is `Text`, `Binary` or (after a frame without `fin`) `Continuation`. In the
    /// client role (a [`Connection`](crate::Connection)'s) this returns
    /// [`SendError::ClientMustMaskPayload`]: client payloads must be masked.
    #[inline]
    pub fn encode_header(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload_len: usize,
    ) -> Result<HeaderBytes, SendError> {
        // The echo hot path: a whole text or binary message from an open server session.
        if fin
            && self.is_open_server_between_messages()
            && matches!(opcode, OpCode::Text | OpCode::Binary)
        {
            return Ok(data_header(opcode, true, false, None, payload_len));
        }
        if self.role() == Role::Client {
            return Err(SendError::ClientMustMaskPayload);
        }
        self.check_data_frame(opcode)?;
        self.set_fragmented(!fin);
        Ok(data_header(opcode, fin, false, None, payload_len))
    }

    /// Writes a whole data frame (header, then `payload`) to the start of `out`, returning its
    /// length. If `out` is too short it returns [`SendError::InsufficientSize`] with the length
    /// needed and leaves `out` untouched.
    pub fn encode_frame_into(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.encode_frame_into_with(&mut MaskRng::unused(), opcode, fin, payload, out)
    }

    /// Appends one complete single-frame message to `out`, through the extension of `decoder`
    /// if it has one (which may compress the payload and set RSV1, or leave it as is). `opcode`
    /// is `Text` or `Binary`; no fragmented message may be in progress. Compressed output is
    /// written straight into `out`: nothing is allocated once `out` has grown to the size of
    /// the messages sent.
    pub fn encode_message(
        &mut self,
        decoder: &mut Decoder,
        opcode: OpCode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        let extension = decoder.extension_mut();
        self.encode_message_with(&mut MaskRng::unused(), extension, opcode, payload, out)
    }

    /// A ping frame carrying `payload` (at most 125 bytes).
    pub fn encode_ping(&mut self, payload: &[u8]) -> Result<ControlFrame, SendError> {
        self.control(&mut MaskRng::unused(), OpCode::Ping, payload)
    }

    /// A pong frame carrying `payload` (at most 125 bytes): the answer to
    /// [`Event::Ping`](crate::Event::Ping) with the same payload, or an unsolicited heartbeat.
    pub fn encode_pong(&mut self, payload: &[u8]) -> Result<ControlFrame, SendError> {
        self.control(&mut MaskRng::unused(), OpCode::Pong, payload)
    }

    /// Our close frame: starts the close handshake (state becomes
    /// [`Closing`](CloseState::Closing)); nothing can be sent after it, and a second call returns
    /// [`SendError::Closed`]. `code` `None` sends an empty body (then `reason` must be empty);
    /// codes must be valid on the wire and code plus reason must fit in 125 bytes.
    pub fn encode_close(
        &mut self,
        code: Option<CloseCode>,
        reason: &str,
    ) -> Result<ControlFrame, SendError> {
        self.encode_close_with(&mut MaskRng::unused(), code, reason)
    }

    pub(crate) fn encode_frame_into_with(
        &mut self,
        rng: &mut MaskRng,
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
        self.set_fragmented(!fin);
        let mask = self.next_mask(rng);
        let header = data_header(opcode, fin, false, mask, payload.len());
        out[..header_len].copy_from_slice(&header);
        let body = &mut out[header_len..required];
        body.copy_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(body, key);
        }
        Ok(required)
    }

    /// The header for `payload`, masking it in place in the client role.
    pub(crate) fn encode_frame_with(
        &mut self,
        rng: &mut MaskRng,
        opcode: OpCode,
        fin: bool,
        payload: &mut [u8],
    ) -> Result<HeaderBytes, SendError> {
        self.check_data_frame(opcode)?;
        self.set_fragmented(!fin);
        let mask = self.next_mask(rng);
        if let Some(key) = mask {
            apply_mask(payload, key);
        }
        Ok(data_header(opcode, fin, false, mask, payload.len()))
    }

    pub(crate) fn encode_message_with(
        &mut self,
        rng: &mut MaskRng,
        extension: Option<&mut dyn Extension>,
        opcode: OpCode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        if opcode == OpCode::Continuation {
            return Err(SendError::NotADataOpcode(opcode));
        }
        self.check_data_frame(opcode)?;
        let start = out.len();
        if let Some(extension) = extension {
            // The extension appends after room for the longest header; the real header, known
            // once the compressed length is, goes in front and the body moves down to it.
            let body_start = start + MAX_HEADER_LEN;
            out.resize(body_start, 0);
            match extension.encode_message(payload, out) {
                Ok(true) => {
                    let body_len = out.len() - body_start;
                    let mask = self.next_mask(rng);
                    let header = data_header(opcode, true, true, mask, body_len);
                    let header_end = start + header.len();
                    out.copy_within(body_start.., header_end);
                    out.truncate(header_end + body_len);
                    out[start..header_end].copy_from_slice(&header);
                    if let Some(key) = mask {
                        apply_mask(&mut out[header_end..], key);
                    }
                    return Ok(());
                }
                Ok(false) => out.truncate(start),
                Err(_) => {
                    out.truncate(start);
                    return Err(SendError::Extension);
                }
            }
        }
        let mask = self.next_mask(rng);
        let header = data_header(opcode, true, false, mask, payload.len());
        out.reserve(header.len() + payload.len());
        out.extend_from_slice(&header);
        let body_start = out.len();
        out.extend_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut out[body_start..], key);
        }
        Ok(())
    }

    pub(crate) fn control(
        &mut self,
        rng: &mut MaskRng,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<ControlFrame, SendError> {
        if self.state() != CloseState::Open {
            return Err(SendError::Closed);
        }
        if payload.len() > 125 {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        Ok(self.control_frame(rng, opcode, &[payload]))
    }

    pub(crate) fn encode_close_with(
        &mut self,
        rng: &mut MaskRng,
        code: Option<CloseCode>,
        reason: &str,
    ) -> Result<ControlFrame, SendError> {
        if self.state() != CloseState::Open {
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
        let frame = self.close_frame(rng, code, reason);
        self.set_state(CloseState::Closing);
        Ok(frame)
    }

    /// Builds a close frame (no state checks; the reason is cut at a char boundary to fit `N`).
    pub(crate) fn close_frame<const N: usize>(
        &mut self,
        rng: &mut MaskRng,
        code: Option<CloseCode>,
        reason: &str,
    ) -> ControlFrame<N> {
        let Some(code) = code else {
            return self.control_frame(rng, OpCode::Close, &[]);
        };
        // Room after the longest header (6) and the code (2).
        let mut cut = reason.len().min(123).min(N.saturating_sub(8));
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        self.control_frame(
            rng,
            OpCode::Close,
            &[&code.0.to_be_bytes(), &reason.as_bytes()[..cut]],
        )
    }

    fn control_frame<const N: usize>(
        &mut self,
        rng: &mut MaskRng,
        opcode: OpCode,
        parts: &[&[u8]],
    ) -> ControlFrame<N> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mask = self.next_mask(rng);
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
        if self.state() != CloseState::Open {
            return Err(SendError::Closed);
        }
        match opcode {
            OpCode::Continuation if !self.fragmented() => Err(SendError::NoMessageInProgress),
            OpCode::Text | OpCode::Binary if self.fragmented() => Err(SendError::MessageInProgress),
            OpCode::Close | OpCode::Ping | OpCode::Pong => Err(SendError::NotADataOpcode(opcode)),
            OpCode::Continuation | OpCode::Text | OpCode::Binary => Ok(()),
        }
    }

    #[inline]
    fn next_mask(&self, rng: &mut MaskRng) -> Option<[u8; 4]> {
        match self.role() {
            Role::Server => None,
            Role::Client => Some(rng.next_mask()),
        }
    }

    /// A mask of the right presence for sizing a header without drawing a key.
    fn mask_placeholder(&self) -> Option<[u8; 4]> {
        match self.role() {
            Role::Server => None,
            Role::Client => Some([0; 4]),
        }
    }
}

/// The length of a whole unmasked data frame carrying `payload_len` bytes: what
/// [`encode_shared_frame`] writes.
pub fn shared_frame_len(payload_len: usize) -> usize {
    data_header(OpCode::Binary, true, false, None, payload_len).len() + payload_len
}

/// Writes a whole unfragmented, uncompressed data frame as a server sends it (unmasked) to the
/// start of `out`, returning its length: the bytes of one message encoded once for many
/// sessions (a broadcast). Send them only to sessions whose
/// [`can_send_message`](Session::can_send_message) is true. `opcode` is `Text` or `Binary`;
/// `out` too short gives [`SendError::InsufficientSize`] and is left untouched.
pub fn encode_shared_frame(
    opcode: OpCode,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, SendError> {
    if !matches!(opcode, OpCode::Text | OpCode::Binary) {
        return Err(SendError::NotADataOpcode(opcode));
    }
    let header = data_header(opcode, true, false, None, payload.len());
    let required = header.len() + payload.len();
    if out.len() < required {
        return Err(SendError::InsufficientSize { required });
    }
    out[..header.len()].copy_from_slice(&header);
    out[header.len()..required].copy_from_slice(payload);
    Ok(required)
}

#[inline]
pub(crate) fn data_header(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn shared_frames_match_rfc_6455_section_5_7() {
        let mut out = [0u8; 16];
        // "A single-frame unmasked text message (contains "Hello")".
        let n = encode_shared_frame(OpCode::Text, b"Hello", &mut out).unwrap();
        assert_eq!(&out[..n], [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(shared_frame_len(5), n);
        // "256 bytes binary message in a single unmasked frame": 0x82 0x7E 0x0100.
        let mut big = vec![0u8; shared_frame_len(256)];
        assert_eq!(big.len(), 4 + 256);
        encode_shared_frame(OpCode::Binary, &[7; 256], &mut big).unwrap();
        assert_eq!(big[..4], [0x82, 0x7E, 0x01, 0x00]);
        // "64KiB binary message in a single unmasked frame".
        assert_eq!(shared_frame_len(65536), 10 + 65536);
        assert_eq!(
            encode_shared_frame(OpCode::Text, b"Hello", &mut out[..6]),
            Err(SendError::InsufficientSize { required: 7 })
        );
        assert_eq!(out[..7], [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(
            encode_shared_frame(OpCode::Ping, b"", &mut out),
            Err(SendError::NotADataOpcode(OpCode::Ping))
        );
    }

    #[test]
    fn nothing_is_sent_after_our_close() {
        let mut session = Session::new();
        let mut decoder = Decoder::new(Config::default());
        let close = session
            .encode_close(Some(CloseCode::GOING_AWAY), "bye")
            .unwrap();
        assert_eq!(close.as_bytes(), [0x88, 5, 0x03, 0xE9, b'b', b'y', b'e']);
        assert_eq!(session.state(), CloseState::Closing);
        assert!(!session.can_send_message());
        let mut out = Vec::new();
        assert_eq!(
            session.encode_header(OpCode::Text, true, 1),
            Err(SendError::Closed)
        );
        assert_eq!(
            session.encode_message(&mut decoder, OpCode::Text, b"x", &mut out),
            Err(SendError::Closed)
        );
        assert_eq!(session.encode_ping(b""), Err(SendError::Closed));
        assert_eq!(session.encode_pong(b""), Err(SendError::Closed));
        assert_eq!(
            session.encode_close(Some(CloseCode::NORMAL), ""),
            Err(SendError::Closed)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_fragmented_send_blocks_whole_messages_until_it_ends() {
        let mut session = Session::new();
        session.encode_header(OpCode::Text, false, 3).unwrap();
        assert!(!session.can_send_message());
        assert_eq!(
            session.encode_header(OpCode::Binary, true, 1),
            Err(SendError::MessageInProgress)
        );
        session
            .encode_header(OpCode::Continuation, true, 2)
            .unwrap();
        assert!(session.can_send_message());
        assert_eq!(
            session.encode_header(OpCode::Continuation, true, 2),
            Err(SendError::NoMessageInProgress)
        );
    }

    #[test]
    fn messages_append_after_what_out_holds() {
        let mut session = Session::new();
        let mut decoder = Decoder::new(Config::default());
        let mut out = b"before".to_vec();
        session
            .encode_message(&mut decoder, OpCode::Text, b"Hello", &mut out)
            .unwrap();
        assert_eq!(out, b"before\x81\x05Hello");
    }
}

#[cfg(test)]
mod deflate_tests {
    use crate::deflate::{CompressionPolicy, DeflateConfig, PermessageDeflate};
    use crate::{Config, Connection, Decoder, Event, OpCode, Role, Session};

    fn deflate(role: Role) -> Box<PermessageDeflate> {
        let config = DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        Box::new(PermessageDeflate::new(role, config, CompressionPolicy::default()).unwrap())
    }

    #[test]
    fn compressed_messages_append_after_what_out_holds() {
        let mut session = Session::new();
        let mut decoder = Decoder::new(Config::default());
        decoder.set_extension(deflate(Role::Server));
        let text = "a compressible message, a compressible message, ".repeat(20);
        let mut out = b"before".to_vec();
        let capacity_before = {
            session
                .encode_message(&mut decoder, OpCode::Text, text.as_bytes(), &mut out)
                .unwrap();
            out.capacity()
        };
        assert_eq!(&out[..6], b"before");
        assert_eq!(out[6], 0xC1, "FIN, RSV1, text");
        assert!(out.len() - 6 < text.len() / 4, "{} bytes", out.len() - 6);
        let mut client = Connection::new(Role::Client, Config::default());
        client.set_extension(deflate(Role::Client));
        let mut wire = out[6..].to_vec();
        let wire_len = wire.len();
        let progress = client.handle_bytes(&mut wire).unwrap();
        assert_eq!(progress.consumed, wire_len);
        assert_eq!(progress.event, Some(Event::Text(text.as_str().into())));
        // The same message again into the cleared buffer needs no more room.
        out.clear();
        session
            .encode_message(&mut decoder, OpCode::Text, text.as_bytes(), &mut out)
            .unwrap();
        assert_eq!(out.capacity(), capacity_before);
    }

    #[test]
    fn short_messages_go_uncompressed_after_what_out_holds() {
        let mut session = Session::new();
        let mut decoder = Decoder::new(Config::default());
        decoder.set_extension(deflate(Role::Server));
        let mut out = b"xy".to_vec();
        session
            .encode_message(&mut decoder, OpCode::Binary, b"tiny", &mut out)
            .unwrap();
        assert_eq!(out, b"xy\x82\x04tiny");
    }
}
