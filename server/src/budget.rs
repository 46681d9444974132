//! Each reactor's memory budget: what its connections hold in unfinished incoming messages
//! (fragments assembled, data inflated) and in outbound queues, against its share of
//! `--memory-budget`.
//!
//! Per-connection limits (message size, outbound cap) bound one client; this bounds their sum,
//! which an attacker multiplies by opening connections. The policy:
//! - before each read, the connection's decoder is told how much it may hold
//!   (`frame::Decoder::set_memory_limit`): the budget minus what the other connections and
//!   the outbound queues hold. Memory is refused before it is allocated, a compressed message
//!   stops inflating at the limit, and a message that cannot fit gets 1009;
//! - when less than a margin is left, the connection holding the most (a decoder's message
//!   or an outbound queue) is closed with 1013 (try again later) until the margin is back.
//!   Clients whose messages arrive whole are decoded in the read buffer and hold nothing, so
//!   they are never the ones closed;
//! - a message must arrive whole within `--message-timeout` of its first byte, or 1008: no
//!   client parks a buffer indefinitely while answering pings.
//!
//! Only connections that keep a decoder between reads (a frame or message split across reads)
//! are tracked, in a map touched only when what they hold changes: an idle connection, or one
//! whose messages arrive whole, costs nothing here.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

/// A connection holding part of a message between reads.
#[derive(Clone, Copy, Debug)]
struct Holder {
    bytes: usize,
    /// When its current message started (approximately: the read that began it).
    since: Instant,
}

/// One reactor's account, of connections named by `Id` (netio's `ConnId`).
#[derive(Debug)]
pub(crate) struct Budget<Id> {
    /// This reactor's share of the budget.
    limit: usize,
    /// Bytes held by decoders between reads: the sum of `holders`.
    held: usize,
    holders: HashMap<Id, Holder>,
}

impl<Id: Copy + Eq + Hash> Budget<Id> {
    /// An empty account with `limit` bytes.
    pub(crate) fn new(limit: usize) -> Budget<Id> {
        Budget {
            limit,
            held: 0,
            holders: HashMap::new(),
        }
    }

    /// This reactor's share of the budget.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held by decoders between reads.
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// Connections holding part of a message.
    #[cfg(test)]
    pub(crate) fn holders(&self) -> usize {
        self.holders.len()
    }

    /// What connection `id` holds after a read: `bytes` (0 forgets it). `message_done`: a
    /// message completed during the read, so what it holds now belongs to a newer one.
    pub(crate) fn update(&mut self, id: Id, bytes: usize, now: Instant, message_done: bool) {
        if bytes == 0 {
            self.forget(id);
            return;
        }
        let holder = self.holders.entry(id).or_insert(Holder {
            bytes: 0,
            since: now,
        });
        if message_done {
            holder.since = now;
        }
        self.held = self.held - holder.bytes + bytes;
        holder.bytes = bytes;
    }

    /// Connection `id` holds nothing any more (it finished its message, or closed).
    pub(crate) fn forget(&mut self, id: Id) {
        if let Some(holder) = self.holders.remove(&id) {
            self.held -= holder.bytes;
        }
    }

    /// The connection other than `except` holding the most, and how much.
    pub(crate) fn largest(&self, except: Id) -> Option<(Id, usize)> {
        self.holders
            .iter()
            .filter(|(id, _)| **id != except)
            .map(|(id, h)| (*id, h.bytes))
            .max_by_key(|&(_, bytes)| bytes)
    }

    /// Connections whose message started before `deadline`.
    pub(crate) fn overdue(&self, deadline: Instant) -> Vec<Id> {
        self.holders
            .iter()
            .filter(|(_, h)| h.since < deadline)
            .map(|(id, _)| *id)
            .collect()
    }
}

/// Below this much room left for a read, the largest holder is shed first: an eighth of the
/// reactor's share, at most 4 MiB (a read is at most 256 KiB, and a compressed one may inflate
/// to more).
pub(crate) fn margin(limit: usize) -> usize {
    (limit / 8).min(4 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn id(n: u64) -> u64 {
        n
    }

    #[test]
    fn holders_are_summed_and_forgotten() {
        let mut b = Budget::new(1000);
        let t = Instant::now();
        b.update(id(1), 300, t, false);
        b.update(id(2), 500, t, false);
        assert_eq!(b.held(), 800);
        b.update(id(1), 100, t, false);
        assert_eq!(b.held(), 600);
        assert_eq!(b.largest(id(9)), Some((id(2), 500)));
        assert_eq!(b.largest(id(2)), Some((id(1), 100)));
        b.update(id(2), 0, t, false);
        assert_eq!((b.held(), b.holders()), (100, 1));
        b.forget(id(1));
        b.forget(id(1));
        assert_eq!((b.held(), b.holders()), (0, 0));
    }

    #[test]
    fn a_message_is_overdue_from_its_start_not_from_the_connections() {
        let mut b = Budget::new(1000);
        let t0 = Instant::now();
        b.update(id(1), 10, t0, false);
        let t1 = t0 + Duration::from_secs(5);
        // More of the same message: still dated t0.
        b.update(id(1), 20, t1, false);
        // A message ended and another began in this read: dated t1.
        b.update(id(2), 10, t0, false);
        b.update(id(2), 10, t1, true);
        assert_eq!(b.overdue(t0 + Duration::from_secs(1)), vec![id(1)]);
    }

    #[test]
    fn the_margin_is_an_eighth_up_to_4_mib() {
        assert_eq!(margin(1 << 20), 128 << 10);
        assert_eq!(margin(1 << 30), 4 << 20);
    }
}
