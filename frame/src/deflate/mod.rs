//! permessage-deflate (RFC 7692): an [`Extension`] that compresses the messages we send and
//! decompresses the ones we receive.
//!
//! Install it with [`Connection::set_extension`](crate::Connection::set_extension) after a
//! handshake that agreed on permessage-deflate. It takes two things:
//!
//! - [`DeflateConfig`]: the four parameters the handshake agreed (RFC 7692 section 7.1). The
//!   handshake crate's `DeflateNegotiator` (server) or `DeflateOffer::verify` (client) gives them
//!   as `switchyard_handshake::DeflateParams`; with this crate's `handshake` cargo feature,
//!   `DeflateConfig::from(params)` converts them. The feature is optional, and `DeflateConfig`
//!   a type of its own, so that this crate never requires the handshake crate: a codec can be
//!   driven after any handshake, or none (tests, benchmarks).
//! - [`CompressionPolicy`]: how hard we compress (level, minimum size). Never negotiated, so
//!   not part of the agreement: an endpoint sets it once, from its own configuration.
//!
//! ```
//! use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, PermessageDeflate};
//! use switchyard_frame::{Config, Connection, Event, OpCode, Role};
//!
//! let agreed = DeflateConfig::default(); // from the handshake: `DeflateConfig::from(params)`
//! let policy = CompressionPolicy::default(); // ours, from our configuration
//! let mut server = Connection::new(Role::Server, Config::default());
//! server.set_extension(Box::new(PermessageDeflate::new(Role::Server, agreed, policy).unwrap()));
//! let mut client = Connection::new(Role::Client, Config::default());
//! client.set_extension(Box::new(PermessageDeflate::new(Role::Client, agreed, policy).unwrap()));
//!
//! let text = "a message long enough to be compressed, ".repeat(4);
//! let mut wire = Vec::new();
//! client.encode_message(OpCode::Text, text.as_bytes(), &mut wire).unwrap();
//! assert_eq!(wire[0], 0xc1); // FIN + RSV1 + text: compressed
//! assert!(wire.len() < text.len());
//! let progress = server.handle_bytes(&mut wire).unwrap();
//! assert_eq!(progress.event, Some(Event::Text(text.into())));
//! ```
//!
//! # What it does
//!
//! - Sending (section 7.2.1): the message is compressed with a sync flush and the trailing
//!   `00 00 ff ff` removed; the frame goes out with RSV1 (the frame encoder sets it on the one
//!   frame of the message). Messages shorter than [`CompressionPolicy::min_size`] go
//!   uncompressed, and so do incompressible ones when our context is reset anyway.
//! - Receiving (section 7.2.2): the decoder streams each compressed frame's payload through
//!   [`Extension::decode_piece`]; `00 00 ff ff` is appended at the message's end. The output is
//!   bounded by the message size limit *while* inflating, in steps that never raise the buffer's
//!   capacity past the limit: a zip bomb is refused (close 1009) after at most that much memory.
//!   Corrupt data is close 1007; RSV1 on a continuation or control frame is close 1002 (the
//!   frame decoder checks that).
//! - Broadcasts: [`SharedCompression`] compresses a message once for every connection that
//!   agreed no server context takeover with the same window; the frame is shared.
//! - Contexts: kept across messages unless the agreement says `*_no_context_takeover` for that
//!   direction, in which case the (de)compressor is dropped after each message.
//!
//! # Memory
//!
//! Both halves are allocated on first use only, so a connection that never sends or receives a
//! compressed message costs nothing beyond this struct. With context takeover they stay: with
//! 15-bit windows zlib-rs holds about 370 KiB for the compressor (window, chains, a fixed
//! 64 Ki-entry hash head, pending and symbol buffers; about 256 KiB of it zeroed at init) and
//! about 40 KiB for the decompressor (zlib-rs always allocates a 32 KiB window). Without context
//! takeover no connection keeps either between messages: each message borrows the thread's
//! spare compressor or decompressor and returns it reset (a reset clears the 128 KiB hash head;
//! creating one per message would allocate and zero 256 KiB). Smaller windows shrink only the
//! compressor's window and chains: `flate2` offers no memLevel, and the hash head is fixed.
//!
//! Resident memory per idle connection after one compressed message each way, 10,000
//! connections (`examples/deflate_memory.rs`, release build):
//!
//! | agreement                                    | per connection |
//! |----------------------------------------------|----------------|
//! | no extension                                 | 0.07 KiB       |
//! | context takeover both ways, 15-bit windows   | 331 KiB        |
//! | context takeover both ways, 9-bit windows    | 207 KiB        |
//! | `server_no_context_takeover` only            | 19 KiB         |
//! | no context takeover either way               | 0.5 KiB        |
//!
//! The price of no context takeover is ratio (each message compressed alone) and a reset per
//! message: 5.8 us against 1.9 us to compress a 256-byte JSON message, 1.1 us against 1.2 us to
//! decompress one (`benches/deflate.rs`).
//!
//! # Why flate2 on zlib-rs
//!
//! `flate2` is the de-facto Rust deflate API; its `zlib-rs` backend is a memory-safe Rust port
//! of zlib-ng (no C toolchain) that supports raw streams with a chosen window size, sync flush
//! and reset, which permessage-deflate needs; flate2's miniz_oxide backend cannot set window
//! bits. Against `miniz_oxide` driven directly (`benches/deflate.rs`: a stream of distinct JSON
//! messages through one context, as a connection with context takeover sends them; one core,
//! shared machine), in MiB/s of uncompressed data:
//!
//! | operation               | zlib-rs | miniz_oxide | ratio (zlib-rs / miniz_oxide out) |
//! |-------------------------|---------|-------------|-----------------------------------|
//! | compress 1 KiB, level 1 | 272     | 52          | 0.369 / 0.325                     |
//! | compress 1 KiB, level 3 | 58      | 27          | 0.275 / 0.274                     |
//! | compress 1 KiB, level 6 | 29      | 13          | 0.258 / 0.246                     |
//! | compress 64 KiB, level 1| 157     | 91          | 0.360 / 0.292                     |
//! | compress 64 KiB, level 6| 29      | 11          | 0.226 / 0.218                     |
//! | decompress 1 KiB        | 257     | 107         |                                   |
//! | decompress 64 KiB       | 310     | 265         |                                   |
//!
//! zlib-rs is faster everywhere (2 to 5 times on the small messages WebSocket traffic is made
//! of); miniz_oxide's output is a little smaller at level 1. Speed per core is what a server
//! pays for, so zlib-rs.

mod compress;
mod config;
mod decompress;
mod shared;

pub use config::{CompressionPolicy, DeflateConfig, DeflateConfigError};
pub use shared::SharedCompression;

use crate::config::Role;
use crate::extension::{Extension, ExtensionError};
use compress::Deflater;
use decompress::Inflater;

/// The end of a sync flush, removed by the sender and restored by the receiver (RFC 7692
/// section 7.2.1).
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The permessage-deflate codec of one connection: install it on the [`Connection`] with
/// [`set_extension`](crate::Connection::set_extension).
///
/// [`Connection`]: crate::Connection
pub struct PermessageDeflate {
    deflater: Deflater,
    inflater: Inflater,
}

impl PermessageDeflate {
    /// The codec for our `role` under the agreed `config`, compressing by our `policy`.
    /// Allocates nothing: the compressor and decompressor are created on first use.
    pub fn new(
        role: Role,
        config: DeflateConfig,
        policy: CompressionPolicy,
    ) -> Result<Self, DeflateConfigError> {
        let (send, receive) = config.resolve(role)?;
        policy.check()?;
        Ok(PermessageDeflate {
            deflater: Deflater::new(send, policy.level, policy.min_size),
            inflater: Inflater::new(receive),
        })
    }

    /// Whether a compressor is allocated (after a compressed message with context takeover).
    pub fn has_compressor(&self) -> bool {
        self.deflater.is_allocated()
    }

    /// Whether a decompressor is allocated (after a compressed message with context takeover,
    /// or in the middle of one).
    pub fn has_decompressor(&self) -> bool {
        self.inflater.is_allocated()
    }
}

impl core::fmt::Debug for PermessageDeflate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PermessageDeflate")
            .field("compressor", &self.has_compressor())
            .field("decompressor", &self.has_decompressor())
            .finish()
    }
}

impl Extension for PermessageDeflate {
    fn decode_piece(
        &mut self,
        piece: &[u8],
        end_of_message: bool,
        out: &mut Vec<u8>,
        max_len: usize,
    ) -> Result<(), ExtensionError> {
        self.inflater.decode(piece, end_of_message, out, max_len)
    }

    fn encode_message(
        &mut self,
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, ExtensionError> {
        self.deflater.encode(message, out)
    }
}
