//! The receive side: header parsing, role and extension rules, unmasking, message assembly,
//! incoming close frames.

use std::borrow::Cow;

use crate::close::{parse_close_payload, CloseCode};
use crate::config::Role;
use crate::control::CloseFrame;
use crate::decoder::{Decoder, Event, Progress, RecvPhase};
use crate::error::{Error, Failure};
use crate::extension::ExtensionError;
use crate::header::{FrameHeader, MAX_HEADER_LEN};
use crate::mask::{apply_mask, rotate_mask};
use crate::opcode::OpCode;
use crate::rng::MaskRng;
use crate::session::{CloseState, Session};
use crate::utf8;

impl Decoder {
    /// Decodes `input` (bytes read from the peer, in order) up to the next event, for the
    /// connection whose `session` this is. See the calling order on [`Decoder`]. Unmasks
    /// payloads in place, which is why `input` is `&mut`.
    ///
    /// Any split of the byte stream into inputs yields the same events.
    #[inline]
    pub fn decode<'a>(
        &mut self,
        session: &mut Session,
        input: &'a mut [u8],
    ) -> Result<Progress<'a>, Failure> {
        // A `Session` outside a `Connection` is always a server's: no masking keys to draw, and
        // the hot path below checks the server's masking rule as a constant.
        debug_assert_eq!(session.role(), Role::Server);
        if !session.is_closed() {
            if let Some(frame) = self.whole_small_message(Role::Server, input) {
                return self.deliver_whole(session, None, input, frame);
            }
        }
        self.decode_general(session, &mut MaskRng::unused(), input)
    }

    /// [`decode`](Decoder::decode) for a [`Connection`](crate::Connection) of either role, with
    /// its masking key generator (for the close frames the decoder builds).
    #[inline]
    pub(crate) fn decode_with<'a>(
        &mut self,
        session: &mut Session,
        rng: &mut MaskRng,
        input: &'a mut [u8],
    ) -> Result<Progress<'a>, Failure> {
        if !session.is_closed() {
            if let Some(frame) = self.whole_small_message(session.role(), input) {
                return self.deliver_whole(session, Some(rng), input, frame);
            }
        }
        self.decode_general(session, rng, input)
    }

    /// Everything but a whole small message: closed sessions discard input here.
    fn decode_general<'a>(
        &mut self,
        session: &mut Session,
        rng: &mut MaskRng,
        input: &'a mut [u8],
    ) -> Result<Progress<'a>, Failure> {
        match self.decode_frames(session, rng, input) {
            Ok(progress) => Ok(progress),
            Err(error) => Err(self.fail(session, rng, error)),
        }
    }

    fn decode_frames<'a>(
        &mut self,
        session: &mut Session,
        rng: &mut MaskRng,
        input: &'a mut [u8],
    ) -> Result<Progress<'a>, Error> {
        if session.is_closed() {
            // RFC 6455 section 1.4: after the close handshake further data is discarded.
            return Ok(Progress {
                consumed: input.len(),
                event: None,
            });
        }
        let mut pos = 0;
        loop {
            if let RecvPhase::Payload { .. } = self.recv {
                let (used, event) = self.payload_step(session, rng, &mut input[pos..])?;
                pos += used;
                if event.is_some() || matches!(self.recv, RecvPhase::Payload { .. }) {
                    // Either an event, or the input ended inside the payload.
                    return Ok(Progress {
                        consumed: pos,
                        event,
                    });
                }
                continue;
            }
            let Some((header, header_len)) = self.take_header(&input[pos..])? else {
                return Ok(Progress {
                    consumed: input.len(),
                    event: None,
                });
            };
            pos += header_len;
            self.check_header(session.role(), &header)?;
            let available = (input.len() - pos) as u64;
            let opcode = header.opcode;
            if opcode == OpCode::Ping && session.state() == CloseState::Closing {
                // We may send nothing after our close, so a ping cannot be answered: skip it.
                if header.payload_len <= available {
                    pos += header.payload_len as usize;
                    continue;
                }
            } else if header.payload_len <= available
                && (opcode.is_control()
                    || (header.fin && opcode != OpCode::Continuation && !header.rsv1))
            {
                // Hot path: the whole frame is in the input and is a whole message or a control
                // frame: deliver it borrowed.
                return self.deliver_borrowed(session, rng, input, pos, header);
            }
            self.check_memory(&header)?;
            self.start_payload(&header);
        }
    }

    /// The common case, decided from the first few bytes without building a [`FrameHeader`]:
    /// between frames, nothing being assembled, and `input` starts with a whole unfragmented
    /// text or binary frame with a 7- or 16-bit length, no RSV bit, masked as the role requires
    /// and within the limits. Anything else returns `None` and takes the general path, which
    /// also reports every error: this path only accepts, so it cannot change what is rejected.
    #[inline]
    fn whole_small_message(&self, role: Role, input: &[u8]) -> Option<WholeFrame> {
        if !matches!(self.recv, RecvPhase::Header { len: 0, .. }) || self.assembly.is_some() {
            return None;
        }
        let [b0, b1, ..] = *input else {
            return None;
        };
        // FIN set, RSV1-3 clear, opcode text (1) or binary (2).
        let text = match b0 {
            0x81 => true,
            0x82 => false,
            _ => return None,
        };
        let masked = b1 & 0x80 != 0;
        if masked != (role == Role::Server) {
            return None;
        }
        let (payload_len, mut start) = match b1 & 0x7F {
            127 => return None,
            126 => {
                let len = u16::from_be_bytes([*input.get(2)?, *input.get(3)?]);
                // Non-minimal encodings are rejected by the general path.
                if len < 126 {
                    return None;
                }
                (usize::from(len), 4)
            }
            short => (usize::from(short), 2),
        };
        if payload_len > self.max_frame_size || payload_len > self.max_message_size {
            return None;
        }
        let mask = if masked {
            let key = input.get(start..start + 4)?;
            start += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        let end = start + payload_len;
        (end <= input.len()).then_some(WholeFrame {
            text,
            start,
            end,
            mask,
        })
    }

    /// Unmasks and delivers a [`WholeFrame`] borrowed from `input`. Builds the caller's result
    /// directly: converting an inner `Result` costs a copy of the event per message.
    #[inline]
    fn deliver_whole<'a>(
        &mut self,
        session: &mut Session,
        rng: Option<&mut MaskRng>,
        input: &'a mut [u8],
        frame: WholeFrame,
    ) -> Result<Progress<'a>, Failure> {
        let payload = &mut input[frame.start..frame.end];
        if let Some(key) = frame.mask {
            apply_mask(payload, key);
        }
        let payload: &'a [u8] = payload;
        let event = if frame.text {
            match utf8::validate(payload) {
                Ok(text) => Event::Text(Cow::Borrowed(text)),
                Err(_) => {
                    let mut unused = MaskRng::unused();
                    let rng = rng.unwrap_or(&mut unused);
                    return Err(self.fail(session, rng, Error::InvalidUtf8));
                }
            }
        } else {
            Event::Binary(Cow::Borrowed(payload))
        };
        Ok(Progress {
            consumed: frame.end,
            event: Some(event),
        })
    }

    /// Completes a header from the bytes stashed by the previous input and `rest`. Returns the
    /// header and how many bytes of `rest` it used, or `None` (having stashed `rest`) if the
    /// header is still incomplete.
    #[inline]
    fn take_header(&mut self, rest: &[u8]) -> Result<Option<(FrameHeader, usize)>, Error> {
        let RecvPhase::Header { buf, len } = &mut self.recv else {
            return Ok(None);
        };
        let have = usize::from(*len);
        if have == 0 {
            return match FrameHeader::parse(rest)? {
                Some(parsed) => Ok(Some(parsed)),
                None => {
                    // Incomplete means shorter than the header length, which is at most 14.
                    buf[..rest.len()].copy_from_slice(rest);
                    *len = rest.len() as u8;
                    Ok(None)
                }
            };
        }
        let mut joined = [0u8; MAX_HEADER_LEN];
        joined[..have].copy_from_slice(&buf[..have]);
        let take = (MAX_HEADER_LEN - have).min(rest.len());
        joined[have..have + take].copy_from_slice(&rest[..take]);
        match FrameHeader::parse(&joined[..have + take])? {
            Some((header, header_len)) => {
                *len = 0;
                Ok(Some((header, header_len - have)))
            }
            None => {
                // Still incomplete: fewer than 14 bytes in total, so `rest` was used up.
                buf[..have + take].copy_from_slice(&joined[..have + take]);
                *len = (have + take) as u8;
                Ok(None)
            }
        }
    }

    /// Rules that depend on the role, the extension and the message in progress.
    #[inline]
    fn check_header(&self, role: Role, header: &FrameHeader) -> Result<(), Error> {
        if header.rsv2 || header.rsv3 {
            return Err(Error::ReservedBitsSet);
        }
        match (role, header.mask.is_some()) {
            (Role::Server, false) => return Err(Error::UnmaskedFrameFromClient),
            (Role::Client, true) => return Err(Error::MaskedFrameFromServer),
            _ => {}
        }
        let opcode = header.opcode;
        if header.rsv1 {
            if self.extension.is_none() {
                return Err(Error::Rsv1WithoutExtension);
            }
            if opcode.is_control() {
                return Err(Error::Rsv1OnControlFrame);
            }
            if opcode == OpCode::Continuation {
                return Err(Error::Rsv1OnContinuation);
            }
        }
        if opcode.is_control() {
            return Ok(());
        }
        let open = self.assembly.as_deref().and_then(|a| a.kind.map(|_| a));
        match (opcode, open) {
            (OpCode::Continuation, None) => return Err(Error::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, Some(_)) => return Err(Error::ExpectedContinuation),
            _ => {}
        }
        if header.payload_len > self.max_frame_size as u64 {
            return Err(Error::FrameTooLarge {
                len: header.payload_len,
                max: self.max_frame_size,
            });
        }
        let compressed = header.rsv1 || open.is_some_and(|a| a.compressed);
        // Compressed payloads are streamed through the extension, which bounds its output.
        if !compressed {
            let so_far = open.map_or(0, |a| a.message.len()) as u64;
            if so_far + header.payload_len > self.max_message_size as u64 {
                return Err(Error::MessageTooLarge {
                    max: self.max_message_size,
                });
            }
        }
        if let Some(open) = open {
            if open.fragments >= self.max_fragments {
                return Err(Error::TooManyFragments {
                    max: self.max_fragments,
                });
            }
        }
        Ok(())
    }

    /// The memory limit, for a data frame about to be assembled: an uncompressed payload is
    /// copied whole into the message buffer (compressed ones are bounded while inflating).
    fn check_memory(&self, header: &FrameHeader) -> Result<(), Error> {
        let open = self.assembly.as_deref().filter(|a| a.kind.is_some());
        let compressed = header.rsv1 || open.is_some_and(|a| a.compressed);
        if header.opcode.is_control() || compressed {
            return Ok(());
        }
        let so_far = open.map_or(0, |a| a.message.len()) as u64;
        if so_far + header.payload_len > self.memory_limit as u64 {
            return Err(Error::OverMemoryLimit {
                limit: self.memory_limit,
            });
        }
        Ok(())
    }

    /// The hot path: a control frame or a single-frame message wholly inside `input`.
    #[inline]
    fn deliver_borrowed<'a>(
        &mut self,
        session: &mut Session,
        rng: &mut MaskRng,
        input: &'a mut [u8],
        start: usize,
        header: FrameHeader,
    ) -> Result<Progress<'a>, Error> {
        let end = start + header.payload_len as usize;
        let payload = &mut input[start..end];
        if let Some(mask) = header.mask {
            apply_mask(payload, mask);
        }
        let payload: &'a [u8] = payload;
        let event = match header.opcode {
            OpCode::Text => Event::Text(Cow::Borrowed(
                utf8::validate(payload).map_err(|_| Error::InvalidUtf8)?,
            )),
            OpCode::Binary => Event::Binary(Cow::Borrowed(payload)),
            OpCode::Ping => Event::Ping(Cow::Borrowed(payload)),
            OpCode::Pong => Event::Pong(Cow::Borrowed(payload)),
            OpCode::Close => {
                let (code, reason) = parse_close_payload(payload)?;
                let reply = self.receive_close(session, rng, code);
                Event::Close {
                    code,
                    reason: Cow::Borrowed(reason),
                    reply,
                }
            }
            // Excluded by the caller; no panic even so.
            OpCode::Continuation => return Err(Error::UnexpectedContinuation),
        };
        Ok(Progress {
            consumed: end,
            event: Some(event),
        })
    }

    /// Enters the payload phase for a frame that must be assembled or streamed.
    fn start_payload(&mut self, header: &FrameHeader) {
        let assembly = self.assembly.get_or_insert_with(Box::default);
        match header.opcode {
            OpCode::Text | OpCode::Binary => {
                assembly.kind = Some(header.opcode);
                assembly.compressed = header.rsv1;
                assembly.fragments = 1;
            }
            OpCode::Continuation => assembly.fragments += 1,
            _ => {}
        }
        self.recv = RecvPhase::Payload {
            remaining: header.payload_len,
            mask: header.mask,
            opcode: header.opcode,
            fin: header.fin,
        };
    }

    /// Consumes payload bytes of the current frame from `chunk`. Returns how many were used and
    /// the event if the frame completed one.
    fn payload_step(
        &mut self,
        session: &mut Session,
        rng: &mut MaskRng,
        chunk: &mut [u8],
    ) -> Result<(usize, Option<Event<'static>>), Error> {
        let RecvPhase::Payload {
            remaining,
            mask,
            opcode,
            fin,
        } = &mut self.recv
        else {
            return Ok((0, None));
        };
        let take = (*remaining).min(chunk.len() as u64) as usize;
        let piece = &mut chunk[..take];
        if let Some(key) = mask {
            apply_mask(piece, *key);
            *key = rotate_mask(*key, take);
        }
        *remaining -= take as u64;
        let rest_of_frame = *remaining;
        let done = rest_of_frame == 0;
        let (opcode, fin) = (*opcode, *fin);
        if done {
            self.recv = RecvPhase::IDLE;
        }
        let piece: &[u8] = piece;
        let Some(assembly) = self.assembly.as_deref_mut() else {
            // start_payload always creates it; treat a violation as the protocol error it hides.
            return Err(Error::UnexpectedContinuation);
        };
        if opcode.is_control() {
            assembly.control.extend_from_slice(piece);
            if !done {
                return Ok((take, None));
            }
            let payload = core::mem::take(&mut assembly.control);
            self.release_if_idle();
            if opcode == OpCode::Ping && session.state() == CloseState::Closing {
                return Ok((take, None));
            }
            return Ok((
                take,
                Some(self.control_event(session, rng, opcode, payload)?),
            ));
        }

        let end_of_message = done && fin;
        let text = assembly.kind == Some(OpCode::Text);
        if assembly.compressed {
            if take > 0 || end_of_message {
                let before = assembly.message.len();
                let extension = self
                    .extension
                    .as_deref_mut()
                    .ok_or(Error::Rsv1WithoutExtension)?
                    .as_mut();
                let max_len = self.max_message_size.min(self.memory_limit);
                let decoded =
                    extension.decode_piece(piece, end_of_message, &mut assembly.message, max_len);
                // Validate what was produced before looking at an extension error: output that
                // precedes corrupt data comes first in the stream, so the reported rule does not
                // depend on how the input was split.
                if text {
                    assembly
                        .utf8
                        .feed(assembly.message.get(before..).unwrap_or_default())
                        .map_err(|_| Error::InvalidUtf8)?;
                }
                decoded.map_err(|e| match e {
                    ExtensionError::TooBig if self.memory_limit < self.max_message_size => {
                        Error::OverMemoryLimit {
                            limit: self.memory_limit,
                        }
                    }
                    ExtensionError::TooBig => Error::DecompressedMessageTooLarge {
                        max: self.max_message_size,
                    },
                    _ => Error::InvalidCompressedData,
                })?;
                if assembly.message.len() > self.max_message_size {
                    return Err(Error::DecompressedMessageTooLarge {
                        max: self.max_message_size,
                    });
                }
            }
        } else {
            if text {
                // Validate before copying: fail as soon as the sequence is certainly invalid.
                assembly.utf8.feed(piece).map_err(|_| Error::InvalidUtf8)?;
            }
            // Never more capacity than the frame announced (checked against the limits).
            let frame_end = assembly.message.len() + take + rest_of_frame as usize;
            push_bounded(&mut assembly.message, piece, frame_end);
        }
        if !end_of_message {
            return Ok((take, None));
        }
        let message = core::mem::take(&mut assembly.message);
        let event = if text {
            assembly.utf8.finish().map_err(|_| Error::InvalidUtf8)?;
            Event::Text(Cow::Owned(
                String::from_utf8(message).map_err(|_| Error::InvalidUtf8)?,
            ))
        } else {
            Event::Binary(Cow::Owned(message))
        };
        assembly.kind = None;
        self.release_if_idle();
        Ok((take, Some(event)))
    }

    /// Drops the assembly state once nothing is in progress, so an idle connection holds no heap.
    fn release_if_idle(&mut self) {
        let idle = self
            .assembly
            .as_deref()
            .is_some_and(|a| a.kind.is_none() && a.control.is_empty());
        if idle && matches!(self.recv, RecvPhase::Header { .. }) {
            self.assembly = None;
        }
    }

    fn control_event(
        &mut self,
        session: &mut Session,
        rng: &mut MaskRng,
        opcode: OpCode,
        payload: Vec<u8>,
    ) -> Result<Event<'static>, Error> {
        Ok(match opcode {
            OpCode::Ping => Event::Ping(Cow::Owned(payload)),
            OpCode::Pong => Event::Pong(Cow::Owned(payload)),
            _ => {
                let (code, reason) = parse_close_payload(&payload)?;
                let reason = reason.to_owned();
                let reply = self.receive_close(session, rng, code);
                Event::Close {
                    code,
                    reason: Cow::Owned(reason),
                    reply,
                }
            }
        })
    }

    /// The peer's close arrived: answer it unless we already sent ours (RFC 6455 section 5.5.1).
    fn receive_close(
        &mut self,
        session: &mut Session,
        rng: &mut MaskRng,
        code: Option<CloseCode>,
    ) -> Option<CloseFrame> {
        let reply = match session.state() {
            CloseState::Open => Some(session.close_frame(rng, code, "")),
            _ => None,
        };
        session.set_state(CloseState::Closed);
        self.reset();
        reply
    }

    /// Fails the connection (RFC 6455 section 7.1.7): close frame unless ours was sent, then
    /// Closed, with all assembly memory released.
    fn fail(&mut self, session: &mut Session, rng: &mut MaskRng, error: Error) -> Failure {
        let close_frame = match session.state() {
            CloseState::Open => {
                Some(session.close_frame(rng, Some(error.close_code()), error.reason()))
            }
            _ => None,
        };
        session.set_state(CloseState::Closed);
        self.reset();
        Failure { error, close_frame }
    }
}

/// Appends `piece`, growing `buf` by doubling as `Vec` does but never past `ceiling` bytes of
/// capacity (the end of the frame being copied), so the memory held is the memory accounted.
fn push_bounded(buf: &mut Vec<u8>, piece: &[u8], ceiling: usize) {
    let needed = buf.len() + piece.len();
    if needed > buf.capacity() {
        let target = (buf.capacity() * 2).min(ceiling).max(needed);
        buf.reserve_exact(target - buf.len());
    }
    buf.extend_from_slice(piece);
}

/// A whole single-frame data message found by [`Decoder::whole_small_message`]: its payload is
/// `input[start..end]`.
struct WholeFrame {
    text: bool,
    start: usize,
    end: usize,
    mask: Option<[u8; 4]>,
}
