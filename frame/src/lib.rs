//! Sans-IO RFC 6455 WebSocket framing codec: decode, unmask, assemble, close handshake, encode.
//!
//! No sockets, no clock, no threads: bytes in, events and bytes out. One [`Connection`] per
//! WebSocket holds the codec state (64 bytes on 64-bit targets, no heap while idle); its
//! documentation gives the calling order.
//!
//! # Server echo loop
//!
//! ```
//! use switchyard_frame::{Config, Connection, Event, OpCode, Role};
//!
//! let mut conn = Connection::new(Role::Server, Config::default());
//! // A masked "Hello" from a client (RFC 6455 section 5.7), as read from the socket.
//! let mut input = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
//! let mut out: Vec<u8> = Vec::new(); // stands in for a vectored socket write
//! let mut pos = 0;
//! while pos < input.len() {
//!     let progress = match conn.handle_bytes(&mut input[pos..]) {
//!         Ok(progress) => progress,
//!         Err(failure) => {
//!             // Log failure.error, send failure.close_frame, close the socket.
//!             if let Some(frame) = failure.close_frame { out.extend_from_slice(&frame); }
//!             break;
//!         }
//!     };
//!     pos += progress.consumed;
//!     match progress.event {
//!         Some(Event::Text(text)) => {
//!             // Borrowed from `input`: header + payload go out without a copy.
//!             let header = conn.encode_header(OpCode::Text, true, text.len()).unwrap();
//!             out.extend_from_slice(&header);
//!             out.extend_from_slice(text.as_bytes());
//!         }
//!         Some(Event::Binary(data)) => {
//!             let header = conn.encode_header(OpCode::Binary, true, data.len()).unwrap();
//!             out.extend_from_slice(&header);
//!             out.extend_from_slice(&data);
//!         }
//!         Some(Event::Ping(payload)) => out.extend_from_slice(&conn.encode_pong(&payload).unwrap()),
//!         Some(Event::Close { reply, .. }) => {
//!             if let Some(frame) = reply { out.extend_from_slice(&frame); }
//!             break; // then close the socket
//!         }
//!         Some(Event::Pong(_)) | None => {}
//!     }
//! }
//! assert_eq!(out, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
//! ```
//!
//! # Client
//!
//! ```
//! use switchyard_frame::{Config, Connection, Event, OpCode, Role};
//!
//! let mut client = Connection::new(Role::Client, Config::default());
//! let mut out = [0u8; 64];
//! let n = client.encode_frame_into(OpCode::Text, true, b"hi", &mut out).unwrap();
//! // ... write out[..n] to the socket; the server answers unmasked:
//! let mut input = [0x81, 0x02, b'h', b'i'];
//! let progress = client.handle_bytes(&mut input).unwrap();
//! assert_eq!(progress.event, Some(Event::Text("hi".into())));
//! # assert_eq!(n, 2 + 4 + 2);
//! ```
//!
//! # Design notes
//!
//! - Incremental: any split of the input decodes the same; a partial header is kept inside the
//!   connection (at most 13 bytes, inside the 64-byte state), so callers never keep leftovers.
//! - Zero-copy hot path: a single-frame message or control frame that is whole in the input is
//!   unmasked in place and delivered as `Cow::Borrowed`. Only fragmented or split messages are
//!   copied into an assembly buffer, which is handed to the caller as `Cow::Owned` and so not kept.
//! - UTF-8 is validated with [`simdutf8`] (SIMD, several times faster than `core::str::from_utf8`
//!   on non-ASCII text; a well-kept crate doing one job), incrementally across fragments with a
//!   3-byte carry so that invalid text fails as soon as it is certain (Autobahn 6.x).
//! - Masking keys come from a per-connection generator seeded by [`getrandom`] (see `rng.rs`).
//! - Non-minimal length encodings are rejected (RFC 6455 section 5.2 "MUST").
//! - Extensions (permessage-deflate) plug in through [`Extension`], a per-message transform keyed
//!   on RSV1; the decoder validates UTF-8 on its output and passes it the message size limit.
//! - One unsafe block, in [`utf8::ascii_str`]: text already known to be ASCII becomes `&str`
//!   without a second validation (the 16-byte text hot path spent more on that second pass than
//!   on everything else). The word-at-a-time unmasking is safe Rust that LLVM vectorizes.

#![deny(unsafe_code)]

mod close;
mod config;
mod connection;
mod control;
mod decoder;
pub mod deflate;
mod error;
mod extension;
mod header;
pub mod mask;
mod opcode;
mod recv;
mod rng;
mod send;
mod session;
pub mod utf8;

pub use close::{parse_close_payload, CloseCode};
pub use config::{Config, Role};
pub use connection::Connection;
pub use control::{CloseFrame, ControlFrame, CLOSE_FRAME_CAPACITY, MAX_CONTROL_FRAME_LEN};
pub use decoder::{Decoder, Event, Progress};
pub use error::{Error, Failure, SendError};
pub use extension::{Extension, ExtensionError};
pub use header::{FrameHeader, HeaderBytes, MAX_HEADER_LEN};
pub use opcode::OpCode;
pub use send::{encode_shared_frame, shared_frame_len};
pub use session::{CloseState, Session};

#[cfg(test)]
mod size_tests {
    #[test]
    fn connection_state_is_small() {
        // What a server keeps per connection, and what it lends per read.
        let session = core::mem::size_of::<crate::Session>();
        println!("size_of::<Session>() = {session}");
        assert_eq!(session, 1, "Session is {session} bytes");
        let decoder = core::mem::size_of::<crate::Decoder>();
        println!("size_of::<Decoder>() = {decoder}");
        assert!(decoder <= 64, "Decoder is {decoder} bytes");
        let size = core::mem::size_of::<crate::Connection>();
        println!("size_of::<Connection>() = {size}");
        assert!(size <= 80, "Connection is {size} bytes");
        // What handle_bytes returns is moved on every call: keep it small.
        let result = core::mem::size_of::<Result<crate::Progress<'_>, crate::Failure>>();
        println!("size_of::<Result<Progress, Failure>>() = {result}");
        assert!(result <= 80, "handle_bytes result is {result} bytes");
    }
}
