//! One compressed frame for many connections: a server's broadcast under permessage-deflate.
//!
//! Without server context takeover (RFC 7692 section 7.1.1.1) the server compresses each
//! message on its own, from an empty history, so the output depends only on the message, the
//! window size and the local policy: every connection that agreed the same window can be sent
//! the same compressed bytes. A broadcast then costs one compression per message (per
//! distinct window), not one per subscriber, and the frame is shared like an uncompressed one.
//! With context takeover each connection's output depends on what it was sent before, so
//! nothing can be shared: such connections take the uncompressed frame (RSV1 clear, which
//! section 6 allows at any time).

use super::compress::Deflater;
use super::config::{CompressionPolicy, DeflateConfig, DeflateConfigError, Direction};
use crate::config::Role;
use crate::extension::ExtensionError;
use crate::opcode::OpCode;
use crate::send::data_header;

/// The settings that make compressed frames interchangeable between connections: connections
/// with equal values can be sent the same bytes.
///
/// ```
/// use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, SharedCompression};
/// use switchyard_frame::OpCode;
///
/// // What the handshake agreed with two clients; only the server's side matters.
/// let agreed = DeflateConfig { server_no_context_takeover: true, ..DeflateConfig::default() };
/// let policy = CompressionPolicy::default();
/// let a = SharedCompression::for_server(agreed, policy).unwrap().expect("no takeover");
/// let b = SharedCompression::for_server(agreed, policy).unwrap().unwrap();
/// assert_eq!(a, b); // one compressed frame serves both
///
/// let message = "{\"price\": 101.25, \"symbol\": \"ABC\"} ".repeat(4);
/// let mut frame = Vec::new();
/// assert!(a.encode_frame(OpCode::Text, message.as_bytes(), &mut frame).unwrap());
/// assert_eq!(frame[0], 0xc1); // FIN + RSV1 + text
/// assert!(frame.len() < message.len());
///
/// // With context takeover the server's output depends on each connection's history.
/// assert_eq!(SharedCompression::for_server(DeflateConfig::default(), policy).unwrap(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SharedCompression {
    window_bits: u8,
    level: u8,
    min_size: usize,
}

impl SharedCompression {
    /// For a server under the agreement `config` and its `policy`: `Some` when the agreement
    /// has no server context takeover (the frames can be shared), `None` when it keeps the
    /// context. An out-of-range parameter is an error, as for
    /// [`PermessageDeflate::new`](super::PermessageDeflate::new).
    pub fn for_server(
        config: DeflateConfig,
        policy: CompressionPolicy,
    ) -> Result<Option<Self>, DeflateConfigError> {
        let (send, _) = config.resolve(Role::Server)?;
        policy.check()?;
        Ok(send.reset_after_message.then_some(SharedCompression {
            window_bits: send.window_bits,
            level: policy.level,
            min_size: policy.min_size,
        }))
    }

    /// log2 of the compression window, 9..=15 (an agreed 8 is compressed with 9, see
    /// [`DeflateConfig::server_max_window_bits`]). Under one policy, connections with the same
    /// window share frames.
    pub fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Writes one whole unmasked data frame carrying `payload` compressed (FIN and RSV1 set)
    /// into `out`, replacing its contents, and returns `true`; or returns `false` and leaves
    /// `out` empty when the message should go uncompressed (shorter than the policy's minimum,
    /// or incompressible): then send the plain frame
    /// ([`encode_shared_frame`](crate::encode_shared_frame)). `opcode` is `Text` or `Binary`.
    /// Uses the thread's spare compressor, as connections without context takeover do.
    pub fn encode_frame(
        &self,
        opcode: OpCode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, ExtensionError> {
        out.clear();
        if !matches!(opcode, OpCode::Text | OpCode::Binary) {
            return Err(ExtensionError::InvalidData);
        }
        let direction = Direction {
            window_bits: self.window_bits,
            reset_after_message: true,
        };
        let mut deflater = Deflater::new(direction, self.level, self.min_size);
        if !deflater.encode(payload, out)? {
            return Ok(false);
        }
        // The header goes in front once the compressed length is known: one move of the
        // compressed bytes per message, whatever the number of receivers.
        let header = data_header(opcode, true, true, None, out.len());
        out.splice(0..0, header.iter().copied());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::PermessageDeflate;
    use crate::{Config, Connection, Event};

    fn no_takeover(bits: u8) -> DeflateConfig {
        DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: bits,
            client_max_window_bits: 15,
        }
    }

    /// The shared frame is exactly what the connection's own codec would send, and a client
    /// that agreed the same parameters reads it.
    #[test]
    fn a_shared_frame_equals_each_connections_own_and_decodes() {
        let policy = CompressionPolicy::default();
        let message = "{\"seq\": 1, \"text\": \"hello, hello, hello\"} ".repeat(8);
        for bits in [8, 9, 12, 15] {
            let shared = SharedCompression::for_server(no_takeover(bits), policy)
                .unwrap()
                .unwrap();
            assert_eq!(shared.window_bits(), bits.max(9));
            let mut frame = Vec::new();
            assert!(shared
                .encode_frame(OpCode::Text, message.as_bytes(), &mut frame)
                .unwrap());

            let ext = PermessageDeflate::new(Role::Server, no_takeover(bits), policy).unwrap();
            let mut server = Connection::new(Role::Server, Config::default());
            server.set_extension(Box::new(ext));
            let mut own = Vec::new();
            server
                .encode_message(OpCode::Text, message.as_bytes(), &mut own)
                .unwrap();
            assert_eq!(frame, own, "window bits {bits}");

            let ext = PermessageDeflate::new(Role::Client, no_takeover(bits), policy).unwrap();
            let mut client = Connection::new(Role::Client, Config::default());
            client.set_extension(Box::new(ext));
            // Twice: the second frame must not depend on the first (no shared history).
            for _ in 0..2 {
                let mut wire = frame.clone();
                let progress = client.handle_bytes(&mut wire).unwrap();
                assert_eq!(progress.event, Some(Event::Text(message.as_str().into())));
            }
        }
    }

    #[test]
    fn short_or_incompressible_messages_go_plain() {
        let shared = SharedCompression::for_server(no_takeover(15), CompressionPolicy::default())
            .unwrap()
            .unwrap();
        let mut out = vec![1, 2, 3];
        assert!(!shared
            .encode_frame(OpCode::Binary, b"short", &mut out)
            .unwrap());
        assert!(out.is_empty());
        // A pseudo-random payload does not shrink.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(!shared
            .encode_frame(OpCode::Binary, &noise, &mut out)
            .unwrap());
        assert!(out.is_empty());
        assert!(shared
            .encode_frame(OpCode::Ping, &[0; 100], &mut out)
            .is_err());
    }

    #[test]
    fn context_takeover_is_not_shared_and_bad_parameters_are_errors() {
        let policy = CompressionPolicy::default();
        let takeover = DeflateConfig {
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        assert_eq!(SharedCompression::for_server(takeover, policy), Ok(None));
        let bad = DeflateConfig {
            server_max_window_bits: 16,
            ..no_takeover(15)
        };
        assert!(SharedCompression::for_server(bad, policy).is_err());
        let loud = CompressionPolicy {
            level: 10,
            ..policy
        };
        assert!(SharedCompression::for_server(no_takeover(15), loud).is_err());
    }

    /// Large messages take the header's 64-bit length form.
    #[test]
    fn large_messages_get_the_long_length_form() {
        let shared = SharedCompression::for_server(no_takeover(15), CompressionPolicy::default())
            .unwrap()
            .unwrap();
        let message: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut frame = Vec::new();
        assert!(shared
            .encode_frame(OpCode::Binary, &message, &mut frame)
            .unwrap());
        assert_eq!(frame[0], 0xc2);
        let ext = PermessageDeflate::new(Role::Client, no_takeover(15), Default::default());
        let mut client = Connection::new(Role::Client, Config::default());
        client.set_extension(Box::new(ext.unwrap()));
        let progress = client.handle_bytes(&mut frame).unwrap();
        assert_eq!(
            progress.event,
            Some(Event::Binary(message.as_slice().into()))
        );
    }
}
