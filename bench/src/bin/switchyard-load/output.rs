//! Output: masked client frames built in place, the shared batch buffer they are built in, and
//! each connection's bytes that the socket did not take.
//!
//! Why: a 16 KiB echo costs the generator a copy of the payload (it must be masked with a fresh
//! key, so the bytes on the wire exist nowhere else) and the kernel's copy into the socket. Built
//! in one buffer shared by all connections and written at once, that copy lands in memory the
//! cache already holds, and the kernel reads it back from there; a per-connection queue of up to a
//! whole window per connection (256 KiB at 16 x 16 KiB, 25 MiB over 100 connections) was written
//! and read back cold. A connection's own queue ([`Unsent`]) is only used for what a full socket
//! refused, and is sent from an offset instead of being shifted down after every short write.

use std::io;

use switchyard_frame::{Connection, OpCode, SendError, MAX_HEADER_LEN};

/// Appends one whole masked frame (FIN set) carrying `payload` to `out`: the header, then the
/// payload copied and masked in place by the codec with its own fresh key
/// ([`Connection::encode_frame`]). The generator negotiates no extension, so this is the frame
/// [`Connection::encode_message`] would write, without its staging copy.
pub fn push_frame(
    codec: &mut Connection,
    opcode: OpCode,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), SendError> {
    // Leave room for the header, copy the payload after it, mask that copy in place, then write
    // the header into the room. Fixed-size copies for the three possible lengths: this runs once
    // per message, and for 16-byte messages a call to memset or memcpy costs more than the rest.
    let header_len = masked_header_len(payload.len());
    let start = out.len();
    out.reserve(header_len + payload.len());
    match header_len {
        6 => out.extend_from_slice(&[0; 6]),
        8 => out.extend_from_slice(&[0; 8]),
        _ => out.extend_from_slice(&[0; MAX_HEADER_LEN]),
    }
    out.extend_from_slice(payload);
    let header = match codec.encode_frame(opcode, true, &mut out[start + header_len..]) {
        Ok(header) => header,
        Err(e) => {
            out.truncate(start);
            return Err(e);
        }
    };
    let room = &mut out[start..start + header_len];
    match (header.len(), header_len) {
        (6, 6) => room.copy_from_slice(&header[..6]),
        (8, 8) => room.copy_from_slice(&header[..8]),
        (14, 14) => room.copy_from_slice(&header[..14]),
        // Not a client codec (no mask): another header length. Correct, if slower.
        _ => drop(out.splice(start..start + header_len, header.iter().copied())),
    }
    Ok(())
}

/// Length of a masked frame's header (RFC 6455 section 5.2): 2 bytes, then 2 or 8 more for
/// payloads of 126 to 65,535 bytes or longer, then the 4-byte masking key.
fn masked_header_len(payload_len: usize) -> usize {
    6 + match payload_len {
        0..=125 => 0,
        126..=0xFFFF => 2,
        _ => 8,
    }
}

/// Bytes queued for one connection that the socket has not taken yet, oldest first.
#[derive(Debug, Default)]
pub struct Unsent {
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    sent: usize,
}

impl Unsent {
    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.sent == self.buf.len()
    }

    /// The buffer to append to (after what is already queued).
    pub fn queue(&mut self) -> &mut Vec<u8> {
        if self.sent > 0 && self.sent >= self.buf.len() / 2 {
            // Shift the rest down once it is at most half the buffer: bounded work per byte.
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
        &mut self.buf
    }

    /// Hands everything queued to `take` at once and empties the queue (with --tls, frames go
    /// into the session, which keeps what the socket does not take).
    pub fn take_all(&mut self, take: impl FnOnce(&[u8]) -> io::Result<()>) {
        if !self.is_empty() {
            let _ = take(&self.buf[self.sent..]);
        }
        self.buf.clear();
        self.sent = 0;
    }

    /// Writes what is queued with `write` until done, a short write or an error. A short write
    /// means the socket buffer is full: rather than spend a system call on EAGAIN, wait for
    /// writability.
    pub fn write_with(
        &mut self,
        mut write: impl FnMut(&[u8]) -> io::Result<usize>,
    ) -> io::Result<()> {
        while !self.is_empty() {
            match write(&self.buf[self.sent..]) {
                Ok(n) => {
                    let all = self.sent + n == self.buf.len();
                    self.sent += n;
                    if all {
                        self.buf.clear();
                        self.sent = 0;
                    } else {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Writes `batch` with `write`, then queues the part not taken in `unsent` (which must be empty:
/// what it held goes first). Clears `batch`.
pub fn write_batch(
    batch: &mut Vec<u8>,
    unsent: &mut Unsent,
    mut write: impl FnMut(&[u8]) -> io::Result<usize>,
) -> io::Result<()> {
    debug_assert!(unsent.is_empty(), "older bytes must be written first");
    let mut done = 0;
    let result = loop {
        if done == batch.len() {
            break Ok(());
        }
        match write(&batch[done..]) {
            Ok(n) => {
                done += n;
                if done < batch.len() {
                    // Socket full: keep the rest, wait for writability.
                    break Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    if result.is_ok() && done < batch.len() {
        unsent.queue().extend_from_slice(&batch[done..]);
    }
    batch.clear();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_frame::{Config, Event, FrameHeader, Role};

    /// Decodes every frame of `wire` as the server would and returns the payloads.
    fn server_reads(wire: &mut [u8]) -> Vec<Vec<u8>> {
        let mut server = Connection::new(Role::Server, Config::default());
        let mut payloads = Vec::new();
        let mut pos = 0;
        while pos < wire.len() {
            let progress = server.handle_bytes(&mut wire[pos..]).expect("valid frames");
            pos += progress.consumed;
            match progress.event {
                Some(Event::Binary(data)) => payloads.push(data.into_owned()),
                Some(Event::Text(text)) => payloads.push(text.into_owned().into_bytes()),
                Some(other) => panic!("unexpected {other:?}"),
                None => break,
            }
        }
        payloads
    }

    #[test]
    fn frames_are_masked_and_decode_to_the_payload_for_every_header_size() {
        let mut client = Connection::new(Role::Client, Config::default());
        for len in [0, 1, 125, 126, 16_384, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut wire = vec![0xAA; 3]; // frames are appended after what is there
            push_frame(&mut client, OpCode::Binary, &payload, &mut wire).unwrap();
            push_frame(&mut client, OpCode::Binary, &payload, &mut wire).unwrap();
            assert_eq!(&wire[..3], &[0xAA; 3]);
            let (header, header_len) = FrameHeader::parse(&wire[3..]).unwrap().unwrap();
            assert!(header.fin && header.mask.is_some(), "len {len}");
            assert_eq!(header.payload_len, len as u64);
            if len >= 8 {
                assert_ne!(
                    &wire[3 + header_len..3 + header_len + 8],
                    &payload[..8],
                    "payload sent unmasked, len {len}"
                );
            }
            assert_eq!(wire.len(), 3 + 2 * (header_len + len));
            let payloads = server_reads(&mut wire[3..]);
            assert_eq!(payloads, vec![payload.clone(), payload], "len {len}");
        }
    }

    #[test]
    fn header_room_matches_the_codec_header_at_every_length_boundary() {
        for len in [0, 125, 126, 65_535, 65_536, 1 << 20] {
            let header = FrameHeader {
                fin: true,
                rsv1: false,
                rsv2: false,
                rsv3: false,
                opcode: OpCode::Binary,
                mask: Some([1, 2, 3, 4]),
                payload_len: len as u64,
            }
            .encode();
            assert_eq!(masked_header_len(len), header.len(), "len {len}");
        }
    }

    #[test]
    fn a_server_codec_gets_its_unmasked_header() {
        let mut server = Connection::new(Role::Server, Config::default());
        let mut out = Vec::new();
        push_frame(&mut server, OpCode::Text, b"Hello", &mut out).unwrap();
        // RFC 6455 section 5.7: a single-frame unmasked text message.
        assert_eq!(out, b"\x81\x05Hello");
    }

    #[test]
    fn consecutive_frames_use_different_keys() {
        let mut client = Connection::new(Role::Client, Config::default());
        let mut keys = std::collections::HashSet::new();
        for _ in 0..64 {
            let mut wire = Vec::new();
            push_frame(&mut client, OpCode::Text, b"hello", &mut wire).unwrap();
            let (header, _) = FrameHeader::parse(&wire).unwrap().unwrap();
            keys.insert(header.mask.unwrap());
        }
        assert!(keys.len() > 60, "{} distinct keys of 64", keys.len());
    }

    #[test]
    fn a_closed_codec_appends_nothing() {
        let mut client = Connection::new(Role::Client, Config::default());
        let _ = client.encode_close(None, "").unwrap();
        let mut out = b"kept".to_vec();
        assert_eq!(
            push_frame(&mut client, OpCode::Binary, b"x", &mut out),
            Err(SendError::Closed)
        );
        assert_eq!(out, b"kept");
    }

    /// A socket that takes at most `room` bytes per call, then `WouldBlock` once per `room`.
    struct Socket {
        got: Vec<u8>,
        room: usize,
        calls: usize,
    }

    impl Socket {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(3) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = data.len().min(self.room);
            self.got.extend_from_slice(&data[..n]);
            Ok(n)
        }
    }

    #[test]
    fn short_writes_keep_every_byte_in_order() {
        let mut socket = Socket {
            got: Vec::new(),
            room: 7,
            calls: 0,
        };
        let mut unsent = Unsent::default();
        let mut batch = Vec::new();
        let mut expected = Vec::new();
        for round in 0..200u32 {
            let chunk: Vec<u8> = (0..round % 23).map(|i| (round * 31 + i) as u8).collect();
            expected.extend_from_slice(&chunk);
            // The engine's rule: new bytes go to the batch only if nothing older is waiting.
            if unsent.is_empty() {
                batch.extend_from_slice(&chunk);
                write_batch(&mut batch, &mut unsent, |d| socket.write(d)).unwrap();
            } else {
                unsent.queue().extend_from_slice(&chunk);
                unsent.write_with(|d| socket.write(d)).unwrap();
            }
            assert!(batch.is_empty());
        }
        while !unsent.is_empty() {
            unsent.write_with(|d| socket.write(d)).unwrap();
        }
        assert_eq!(socket.got, expected);
    }

    #[test]
    fn the_queue_is_shifted_down_once_half_is_sent() {
        let mut unsent = Unsent::default();
        unsent.queue().extend_from_slice(&[7; 1000]);
        unsent.write_with(|d| Ok(d.len().min(400))).unwrap();
        unsent.queue().extend_from_slice(&[8; 10]);
        assert_eq!((unsent.sent, unsent.buf.len()), (400, 1010), "not yet");
        unsent.write_with(|d| Ok(d.len().min(200))).unwrap();
        unsent.queue().extend_from_slice(&[9; 10]);
        assert_eq!((unsent.sent, unsent.buf.len()), (0, 420), "shifted");
        let mut got = Vec::new();
        unsent
            .write_with(|d| {
                got.extend_from_slice(d);
                Ok(d.len())
            })
            .unwrap();
        assert!(unsent.is_empty());
        assert_eq!(got.len(), 420);
        assert_eq!((got[0], got[399], got[400], got[410]), (7, 7, 8, 9));
    }

    #[test]
    fn write_errors_are_reported() {
        let mut unsent = Unsent::default();
        let mut batch = b"abc".to_vec();
        let reset = || io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(write_batch(&mut batch, &mut unsent, |_| Err(reset())).is_err());
        assert!(batch.is_empty());
        unsent.queue().extend_from_slice(b"abc");
        assert!(unsent.write_with(|_| Err(reset())).is_err());
    }
}
