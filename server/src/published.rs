//! A published message as it travels to subscribers: encoded once, compressed once.
//!
//! A publish becomes one [`Published`] value shared by every reactor (and by the cluster
//! engine, which forwards the plain frame): the plain frame, which every subscriber can take,
//! and up to seven compressed frames, one per permessage-deflate window (9..=15 bits), made
//! the first time a subscriber that agreed that window without server context takeover is
//! reached, on whichever core that happens, and then shared by all such subscribers on every
//! core (see `switchyard_frame::deflate::SharedCompression`). A broadcast to N deflate
//! subscribers therefore costs one compression, not N; a message nobody compressed costs one
//! byte compare per delivery more than before.
//!
//! Cores never wait for each other here: two cores that need the same compressed frame at the
//! same moment may both compress it, and the first one stored wins (the bytes are equal).

use std::sync::{Arc, OnceLock};

use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, SharedCompression};
use switchyard_frame::OpCode;
use switchyard_netio::SharedBytes;

/// Smallest window the codec compresses with (an agreed 8 is compressed with 9).
const MIN_WINDOW_BITS: u8 = 9;
/// One compressed frame per window size, 9..=15.
const WINDOWS: usize = 7;

/// One published message: cheap to clone (a reference count).
#[derive(Clone)]
pub(crate) struct Published(Arc<Frames>);

struct Frames {
    plain: SharedBytes,
    opcode: OpCode,
    /// Where the payload starts in `plain`.
    payload_start: usize,
    /// Per window size: `None` inside until a subscriber needs it; `Some(None)` when the
    /// message goes uncompressed (too short, incompressible).
    compressed: [OnceLock<Option<SharedBytes>>; WINDOWS],
}

impl Published {
    /// Encodes `payload` as one unmasked frame, using `scratch` to build it. `opcode` is `Text`
    /// or `Binary` (anything else gives an empty frame, which is never sent: callers only
    /// publish data messages).
    pub(crate) fn encode(opcode: OpCode, payload: &[u8], scratch: &mut Vec<u8>) -> Published {
        scratch.clear();
        scratch.resize(switchyard_frame::shared_frame_len(payload.len()), 0);
        let len = switchyard_frame::encode_shared_frame(opcode, payload, scratch).unwrap_or(0);
        Published(Arc::new(Frames {
            plain: SharedBytes::new(Arc::from(&scratch[..len])),
            opcode,
            payload_start: len - payload.len().min(len),
            compressed: Default::default(),
        }))
    }

    /// The uncompressed frame, for every subscriber.
    #[inline]
    pub(crate) fn plain(&self) -> &SharedBytes {
        &self.0.plain
    }

    /// The frame for a subscriber that agreed permessage-deflate without server context
    /// takeover and a window of `window_bits` (9..=15): compressed the first time it is
    /// asked for, with `policy`; the plain frame when compression does not pay (short or
    /// incompressible message) or fails. `compressions` counts compressions made here.
    pub(crate) fn for_window(
        &self,
        window_bits: u8,
        policy: CompressionPolicy,
        compressions: &mut u64,
    ) -> &SharedBytes {
        let index = usize::from(window_bits.saturating_sub(MIN_WINDOW_BITS));
        let Some(cell) = self.0.compressed.get(index) else {
            return self.plain();
        };
        let frame = cell.get_or_init_racy(|| {
            *compressions += 1;
            self.compress(window_bits, policy)
        });
        frame.as_ref().unwrap_or(self.plain())
    }

    fn compress(&self, window_bits: u8, policy: CompressionPolicy) -> Option<SharedBytes> {
        let agreed = DeflateConfig {
            server_no_context_takeover: true,
            server_max_window_bits: window_bits,
            ..DeflateConfig::default()
        };
        let shared = SharedCompression::for_server(agreed, policy).ok()??;
        let payload = &self.0.plain[self.0.payload_start..];
        let mut out = Vec::new();
        match shared.encode_frame(self.0.opcode, payload, &mut out) {
            Ok(true) => Some(SharedBytes::new(Arc::from(out))),
            Ok(false) => None,
            Err(e) => {
                log::warn!("broadcast compression failed, sending uncompressed: {e:?}");
                None
            }
        }
    }
}

/// `OnceLock::get_or_init` without waiting for another thread that is initializing: both
/// compute, the first stored wins. A reactor must not block on another core.
trait GetOrInitRacy<T> {
    fn get_or_init_racy(&self, f: impl FnOnce() -> T) -> &T;
}

impl<T> GetOrInitRacy<T> for OnceLock<T> {
    fn get_or_init_racy(&self, f: impl FnOnce() -> T) -> &T {
        if let Some(value) = self.get() {
            return value;
        }
        let _ = self.set(f());
        self.get().expect("set above, by us or by another thread")
    }
}

/// The window of the compressed broadcast frames a connection can share, from what its
/// handshake agreed: `0` (take the plain frame) with context takeover or without deflate.
pub(crate) fn shared_window(agreed: DeflateConfig, policy: CompressionPolicy) -> u8 {
    match SharedCompression::for_server(agreed, policy) {
        Ok(Some(shared)) => shared.window_bits(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_once_per_window_and_plain_when_it_does_not_pay() {
        let policy = CompressionPolicy::default();
        let text = "{\"symbol\": \"ABC\", \"price\": 101.25} ".repeat(10);
        let p = Published::encode(OpCode::Text, text.as_bytes(), &mut Vec::new());
        assert_eq!(p.plain()[0], 0x81);
        assert_eq!(&p.plain()[p.0.payload_start..], text.as_bytes());
        let mut n = 0;
        let a = p.for_window(15, policy, &mut n).clone();
        let b = p.clone().for_window(15, policy, &mut n).clone();
        assert_eq!(n, 1, "one compression for two subscribers");
        assert_eq!(a[0], 0xc1, "FIN + RSV1 + text");
        assert!(a.len() < p.plain().len());
        assert_eq!(&a[..], &b[..]);
        let c = p.for_window(10, policy, &mut n);
        assert_eq!(n, 2, "another window, another compression");
        assert_eq!(c[0], 0xc1);
        // Out of range: the plain frame.
        assert_eq!(&p.for_window(40, policy, &mut n)[..], &p.plain()[..]);

        let short = Published::encode(OpCode::Binary, b"tiny", &mut Vec::new());
        assert_eq!(
            &short.for_window(15, policy, &mut n)[..],
            &short.plain()[..]
        );
        assert_eq!(n, 3, "tried once");
        assert_eq!(
            &short.for_window(15, policy, &mut n)[..],
            &short.plain()[..]
        );
        assert_eq!(n, 3, "and remembered");
    }

    #[test]
    fn only_agreements_without_server_context_takeover_share() {
        let policy = CompressionPolicy::default();
        let shared = DeflateConfig {
            server_no_context_takeover: true,
            server_max_window_bits: 8,
            ..DeflateConfig::default()
        };
        assert_eq!(shared_window(shared, policy), 9);
        assert_eq!(shared_window(DeflateConfig::default(), policy), 0);
    }
}
