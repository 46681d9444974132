//! What the generator's threads share during one run: the time base, the broadcast bookkeeping
//! of a single publisher's messages, and what every connection offers in its handshake.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use switchyard_bench::wire::DeflateOffer;
use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, PermessageDeflate};
use switchyard_frame::Role;
use switchyard_frame::{Extension, ExtensionError};

/// Slots of the broadcast ring: a closed-loop publisher keeps at most this many messages in
/// flight (`-w` is checked against it).
pub const RING: usize = 1 << 16;

/// Shared by every thread of one run.
pub struct Shared {
    /// The origin of every time stamp, in every thread (broadcast payloads carry send times
    /// relative to it, so a subscriber in another thread than the publisher can time them).
    pub epoch: Instant,
    /// Closed-loop broadcast: per message in flight (slot `seq % RING`), how many subscribers got
    /// it, over all threads.
    pub delivered: Vec<AtomicU32>,
    /// Broadcast subscribers open, over all threads.
    pub live: AtomicUsize,
    /// Wakes the publisher's thread when a message has reached every subscriber.
    pub publisher_waker: OnceLock<mio::Waker>,
    /// Broadcast with --all-publish: the number of clients (publisher numbers are below it).
    pub clients: usize,
    /// Broadcast with --all-publish: messages published by every thread.
    pub published: AtomicU64,
}

impl Shared {
    /// Shared state for a run starting now; `ring` only for a closed-loop single publisher.
    pub fn new(ring: bool, clients: usize) -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            delivered: (0..if ring { RING } else { 0 })
                .map(|_| AtomicU32::new(0))
                .collect(),
            live: AtomicUsize::new(0),
            publisher_waker: OnceLock::new(),
            clients,
            published: AtomicU64::new(0),
        })
    }

    /// A subscriber got message `seq`; true if that made it complete.
    pub fn deliver(&self, seq: u64) -> bool {
        if self.delivered.is_empty() {
            return false;
        }
        let slot = &self.delivered[(seq % RING as u64) as usize];
        let count = slot.fetch_add(1, Ordering::AcqRel) + 1;
        count as usize >= self.live.load(Ordering::Acquire)
    }

    /// Whether message `seq` reached every live subscriber.
    pub fn is_complete(&self, seq: u64) -> bool {
        !self.delivered.is_empty()
            && self.delivered[(seq % RING as u64) as usize].load(Ordering::Acquire) as usize
                >= self.live.load(Ordering::Acquire)
    }

    /// Frees the slot of retired message `seq` for message `seq + RING`.
    pub fn retire(&self, seq: u64) {
        self.delivered[(seq % RING as u64) as usize].store(0, Ordering::Release);
    }

    /// Wakes the publisher's thread (if it has registered a waker).
    pub fn wake_publisher(&self) {
        if let Some(waker) = self.publisher_waker.get() {
            let _ = waker.wake();
        }
    }
}

/// What every connection offers in its upgrade request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offer {
    /// Subprotocols, in order of preference.
    pub subprotocols: &'static [&'static str],
    /// The Sec-WebSocket-Extensions value and the offer it was written from.
    pub deflate: Option<(&'static str, DeflateOffer)>,
}

/// Received compressed messages, counted by the extension that decompresses them.
#[derive(Debug, Default)]
pub struct DeflateStats {
    /// Messages that arrived compressed (RSV1).
    pub messages: AtomicU64,
    /// Their payload bytes as received.
    pub wire_bytes: AtomicU64,
    /// Their payload bytes once decompressed.
    pub inflated_bytes: AtomicU64,
}

/// permessage-deflate in the client role, counting what it decompresses (only compressed
/// messages reach an extension: the decoder calls it on RSV1).
pub struct CountingDeflate {
    inner: PermessageDeflate,
    stats: Arc<DeflateStats>,
}

impl CountingDeflate {
    /// The client's codec under the agreed `config`.
    pub fn new(config: DeflateConfig, stats: Arc<DeflateStats>) -> Option<Self> {
        let inner =
            PermessageDeflate::new(Role::Client, config, CompressionPolicy::default()).ok()?;
        Some(Self { inner, stats })
    }
}

impl Extension for CountingDeflate {
    fn decode_piece(
        &mut self,
        piece: &[u8],
        end_of_message: bool,
        out: &mut Vec<u8>,
        max_len: usize,
    ) -> Result<(), ExtensionError> {
        let before = out.len();
        let result = self.inner.decode_piece(piece, end_of_message, out, max_len);
        let stats = &self.stats;
        stats
            .wire_bytes
            .fetch_add(piece.len() as u64, Ordering::Relaxed);
        stats
            .inflated_bytes
            .fetch_add(out.len().saturating_sub(before) as u64, Ordering::Relaxed);
        if end_of_message {
            stats.messages.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn encode_message(
        &mut self,
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, ExtensionError> {
        self.inner.encode_message(message, out)
    }
}
