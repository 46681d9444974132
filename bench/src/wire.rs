//! The client side of the protocol, as the load generator speaks it: build the upgrade request,
//! verify the 101, encode masked client frames, decode server frames.
//!
//! This is the seam to the `switchyard-handshake` and `switchyard-frame` crates: the load
//! generator calls only what is here.

use std::fmt;
use std::ops::Range;

pub use switchyard_handshake::ClientError;
use switchyard_handshake::{ClientRequest, Status, WebSocketKey, EMPTY_HEADER};

use crate::mask::apply_mask;

/// WebSocket opcodes (RFC 6455 section 5.2) the generator sends or expects.
pub mod opcode {
    /// A text data frame.
    pub const TEXT: u8 = 0x1;
    /// A binary data frame.
    pub const BINARY: u8 = 0x2;
    /// A close control frame.
    pub const CLOSE: u8 = 0x8;
    /// A ping control frame.
    pub const PING: u8 = 0x9;
    /// A pong control frame.
    pub const PONG: u8 = 0xA;
}

/// A small, fast, non-cryptographic generator (xorshift64*) for keys and masks. RFC 6455 asks
/// for unpredictable masks to protect intermediaries; on loopback a load generator needs only
/// distinct ones, and a getrandom call per frame would cost more than the frame.
#[derive(Debug, Clone)]
pub struct FastRng(u64);

impl FastRng {
    /// Seeds the generator (a zero seed is replaced: xorshift never leaves zero).
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A fresh 4-byte mask.
    pub fn mask(&mut self) -> [u8; 4] {
        (self.next_u64() as u32).to_ne_bytes()
    }
}

/// Header fields a 101 may carry that the generator has room for.
const MAX_RESPONSE_HEADERS: usize = 32;

/// One client's opening handshake, through `switchyard-handshake`'s client side: writes the
/// upgrade request and checks the server's 101 (status, Upgrade, Connection, accept value).
#[derive(Debug, Clone)]
pub struct ClientHandshake<'a>(switchyard_handshake::ClientHandshake<'a>);

impl<'a> ClientHandshake<'a> {
    /// A handshake for `GET path` with `Host: host` and a fresh 16-byte nonce as its key
    /// (RFC 6455 section 4.1), drawn from `rng` (a getrandom call per connection would cost
    /// more than the rest of the client's work).
    pub fn new(host: &'a str, path: &'a str, rng: &mut FastRng) -> Result<Self, ClientError> {
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&rng.next_u64().to_ne_bytes());
        nonce[8..].copy_from_slice(&rng.next_u64().to_ne_bytes());
        switchyard_handshake::ClientHandshake::new(
            ClientRequest::new(host, path),
            WebSocketKey::from_nonce(nonce),
        )
        .map(Self)
    }

    /// Appends the upgrade request to `out`.
    pub fn write_request(&self, out: &mut Vec<u8>) {
        let mut request = [0u8; 1024];
        let len = self
            .0
            .write_request(&mut request)
            .expect("1 KiB holds a request with a loopback host and a short path");
        out.extend_from_slice(&request[..len]);
    }

    /// Reads the server's response from `buf` (everything received so far): `Ok(None)` until
    /// the head is complete, then `Ok(Some(consumed))` if it is a valid 101 for our key; bytes
    /// after `consumed` are frames.
    pub fn read_response(&mut self, buf: &[u8]) -> Result<Option<usize>, ClientError> {
        let mut headers = [EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        match self.0.read_response(buf, &mut headers)? {
            Status::Partial => Ok(None),
            Status::Complete(accepted) => Ok(Some(accepted.head_len)),
        }
    }
}

/// Appends one final client frame (masked with `mask`) carrying `payload` to `out`.
pub fn encode_client_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

/// A server frame found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    /// FIN bit: last frame of its message.
    pub fin: bool,
    /// The frame's opcode.
    pub opcode: u8,
    /// Where the payload lies in the buffer that was decoded.
    pub payload: Range<usize>,
    /// Bytes the whole frame occupies.
    pub consumed: usize,
}

/// A server frame broke a rule the client checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Server frames must not be masked (RFC 6455 section 5.1).
    MaskedServerFrame,
    /// RSV bits set though no extension was negotiated.
    ReservedBits,
    /// The frame is larger than the generator accepts.
    TooLarge,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MaskedServerFrame => f.write_str("masked frame from server"),
            Self::ReservedBits => f.write_str("RSV bits set without an extension"),
            Self::TooLarge => f.write_str("frame too large"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Largest server frame the generator accepts (the comparison sends at most 16 KiB).
const MAX_SERVER_FRAME: u64 = 64 << 20;

/// Decodes the server frame at the start of `buf`: `Ok(None)` if it is not complete yet.
pub fn decode_server_frame(buf: &[u8]) -> Result<Option<ServerFrame>, FrameError> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    if b0 & 0x70 != 0 {
        return Err(FrameError::ReservedBits);
    }
    if b1 & 0x80 != 0 {
        return Err(FrameError::MaskedServerFrame);
    }
    let (header, len) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (4, u64::from(u16::from_be_bytes([buf[2], buf[3]]))),
        127 if buf.len() >= 10 => (
            10,
            u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")),
        ),
        126 | 127 => return Ok(None),
        small => (2, u64::from(small)),
    };
    if len > MAX_SERVER_FRAME {
        return Err(FrameError::TooLarge);
    }
    let end = header + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some(ServerFrame {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0f,
        payload: header..end,
        consumed: end,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_round_trip() {
        let mut rng = FastRng::new(7);
        let mut hs = ClientHandshake::new("localhost", "/chat", &mut rng).unwrap();
        let mut req = Vec::new();
        hs.write_request(&mut req);
        let text = String::from_utf8(req).unwrap();
        assert!(text.starts_with("GET /chat HTTP/1.1\r\nHost: localhost\r\n"));
        let key = text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let accept =
            String::from_utf8(crate::accept::accept_value(key.as_bytes()).to_vec()).unwrap();
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n\x01\x00"
        );
        for cut in 0..resp.len() - 2 {
            assert_eq!(hs.clone().read_response(&resp.as_bytes()[..cut]), Ok(None));
        }
        assert_eq!(
            hs.clone().read_response(resp.as_bytes()),
            Ok(Some(resp.len() - 2))
        );
        let wrong = resp.replace(&accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(
            hs.clone().read_response(wrong.as_bytes()),
            Err(ClientError::InvalidAccept)
        );
        let refused = "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            hs.read_response(refused.as_bytes()),
            Err(ClientError::UnexpectedStatus { status: 400 })
        );
    }

    /// RFC 6455 section 5.7's examples.
    #[test]
    fn rfc6455_example_frames() {
        let mut out = Vec::new();
        encode_client_frame(&mut out, opcode::TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(out, b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        let unmasked = b"\x81\x05\x48\x65\x6c\x6c\x6f";
        let frame = decode_server_frame(unmasked).unwrap().unwrap();
        assert_eq!(&unmasked[frame.payload.clone()], b"Hello");
        assert_eq!((frame.fin, frame.opcode, frame.consumed), (true, 1, 7));
        for cut in 0..unmasked.len() {
            assert_eq!(decode_server_frame(&unmasked[..cut]), Ok(None));
        }
        assert_eq!(
            decode_server_frame(&out),
            Err(FrameError::MaskedServerFrame)
        );
        // 256 bytes binary, 16-bit length.
        let mut big = vec![0x82, 0x7e, 0x01, 0x00];
        big.extend(std::iter::repeat_n(0u8, 256));
        let frame = decode_server_frame(&big).unwrap().unwrap();
        assert_eq!((frame.payload, frame.consumed), (4..260, 260));
    }

    #[test]
    fn encodes_all_length_forms() {
        let mut rng = FastRng::new(1);
        for len in [0usize, 125, 126, 65535, 65536] {
            let payload = vec![0xabu8; len];
            let mut out = Vec::new();
            let mask = rng.mask();
            encode_client_frame(&mut out, opcode::BINARY, &payload, mask);
            let header = out.len() - len;
            assert_eq!(
                header,
                2 + if len < 126 {
                    0
                } else if len < 65536 {
                    2
                } else {
                    8
                } + 4
            );
            let mut body = out[header..].to_vec();
            apply_mask(&mut body, mask);
            assert_eq!(body, payload);
        }
    }
}
