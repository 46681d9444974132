//! A hashed timer wheel owned by one reactor: O(1) insert and cancel, entries in a slab linked
//! into per-slot doubly linked lists, a bitmap of non-empty slots to find the next deadline.
//!
//! Entries whose deadline is more than one rotation away stay in their slot and are skipped
//! until their round comes (the wheel does not cascade).
//!
//! The timers of a connection are also linked into a list per connection (headed by the
//! connection's slab key), so that closing a connection removes all of them at once
//! ([`Wheel::cancel_owner`]): none outlives its connection, none holds memory until a deadline
//! long after the close, and none can reach a later connection in the same slab slot.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use slab::Slab;

const SLOTS: usize = 1024;
const NONE: u32 = u32::MAX;

/// Identifies a timer set with [`crate::Ctx::set_timer`], for [`crate::Ctx::cancel_timer`].
/// Carries a generation: cancelling a timer that already fired never cancels a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

impl TimerId {
    /// A timer that was never set (of a connection that was not open): cancels nothing. Its
    /// slab key is beyond any the wheel reaches.
    pub(crate) const NONE: TimerId = TimerId(u64::MAX);
}

/// What a timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerKind {
    // User and Linger belong to a connection (owner is its `ConnId`); the others to the
    // reactor.
    /// A handler's timer: `on_timer(tag)`.
    User,
    /// A handler's reactor timer: `on_reactor_timer(tag)`.
    Reactor,
    /// End of a lingering close.
    Linger,
    /// End of an accept backoff (owner unused).
    AcceptBackoff,
}

impl TimerKind {
    /// Whether the owner is a connection, whose close cancels the timer.
    fn of_connection(self) -> bool {
        matches!(self, TimerKind::User | TimerKind::Linger)
    }
}

/// A timer that fired.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expired {
    pub owner: u64,
    pub tag: u64,
    pub kind: TimerKind,
}

struct Entry {
    deadline: u64,
    owner: u64,
    tag: u64,
    prev: u32,
    next: u32,
    /// Neighbours in the owning connection's list (`NONE` for reactor timers).
    owner_prev: u32,
    owner_next: u32,
    generation: u32,
    kind: TimerKind,
}

/// Bytes one pending timer occupies in the wheel's slab (for the memory budget).
#[cfg(test)]
pub(crate) fn entry_slot_size() -> usize {
    std::mem::size_of::<crate::slab_entry::Entry<Entry>>()
}

pub(crate) struct Wheel {
    entries: Slab<Entry>,
    heads: Vec<u32>,
    /// First timer of each connection that has one, by the connection's slab key. A map, not
    /// a table by key: only connections with pending timers (a request head being read, a
    /// close in progress) are in it, so an idle connection costs the wheel nothing.
    owned: HashMap<u32, u32, BuildHasherDefault<KeyHasher>>,
    nonempty: [u64; SLOTS / 64],
    start: Instant,
    tick_nanos: u64,
    /// Every deadline at or before this tick has been expired.
    now_tick: u64,
    generation: u32,
}

impl Wheel {
    /// A wheel starting at `start` with ticks of `tick`.
    pub(crate) fn new(start: Instant, tick: Duration) -> Wheel {
        Wheel {
            entries: Slab::new(),
            heads: vec![NONE; SLOTS],
            owned: HashMap::default(),
            nonempty: [0; SLOTS / 64],
            start,
            tick_nanos: (tick.as_nanos() as u64).max(1),
            now_tick: 0,
            generation: 0,
        }
    }

    /// Pending timers, of connections and of the reactor.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn tick_of(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.start).as_nanos() as u64) / self.tick_nanos
    }

    /// Adds a timer that fires `delay` after `now` (rounded up to the next tick).
    pub(crate) fn insert(
        &mut self,
        now: Instant,
        delay: Duration,
        owner: u64,
        tag: u64,
        kind: TimerKind,
    ) -> TimerId {
        let at = now
            .checked_add(delay)
            .unwrap_or(now + Duration::from_secs(86400 * 365));
        let nanos = at.saturating_duration_since(self.start).as_nanos() as u64;
        let deadline = nanos.div_ceil(self.tick_nanos).max(self.now_tick + 1);
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let slot = (deadline % SLOTS as u64) as usize;
        let head = self.heads[slot];
        let owner_head = if kind.of_connection() {
            self.owned.get(&owner_key(owner)).copied().unwrap_or(NONE)
        } else {
            NONE
        };
        let key = self.entries.insert(Entry {
            deadline,
            owner,
            tag,
            prev: NONE,
            next: head,
            owner_prev: NONE,
            owner_next: owner_head,
            generation,
            kind,
        });
        let key32 = key as u32;
        if head != NONE {
            self.entries[head as usize].prev = key32;
        }
        if kind.of_connection() {
            if owner_head != NONE {
                self.entries[owner_head as usize].owner_prev = key32;
            }
            self.owned.insert(owner_key(owner), key32);
        }
        self.heads[slot] = key32;
        self.nonempty[slot / 64] |= 1 << (slot % 64);
        TimerId(u64::from(key32) | (u64::from(generation) << 32))
    }

    /// Removes a pending timer; false if it already fired or was cancelled.
    pub(crate) fn cancel(&mut self, id: TimerId) -> bool {
        let key = (id.0 & 0xFFFF_FFFF) as usize;
        let generation = (id.0 >> 32) as u32;
        match self.entries.get(key) {
            Some(e) if e.generation == generation => {
                self.unlink(key);
                self.entries.remove(key);
                true
            }
            _ => false,
        }
    }

    /// Removes every pending timer of connection `owner` (its `ConnId`); returns how many.
    /// Costs one step per timer of that connection.
    pub(crate) fn cancel_owner(&mut self, owner: u64) -> usize {
        let mut key = self.owned.get(&owner_key(owner)).copied().unwrap_or(NONE);
        let mut removed = 0;
        while key != NONE {
            let e = &self.entries[key as usize];
            let next = e.owner_next;
            // Every timer in the list is this connection's: the list is emptied when a
            // connection in the slot closes, before the slot is reused.
            debug_assert_eq!(
                e.owner, owner,
                "a timer of an earlier connection in the slot"
            );
            self.unlink(key as usize);
            self.entries.remove(key as usize);
            removed += 1;
            key = next;
        }
        removed
    }

    fn unlink(&mut self, key: usize) {
        let (prev, next, deadline) = {
            let e = &self.entries[key];
            (e.prev, e.next, e.deadline)
        };
        let e = &self.entries[key];
        if e.kind.of_connection() {
            let (owner_prev, owner_next, conn) = (e.owner_prev, e.owner_next, owner_key(e.owner));
            if owner_prev == NONE {
                if owner_next == NONE {
                    self.owned.remove(&conn);
                } else {
                    self.owned.insert(conn, owner_next);
                }
            } else {
                self.entries[owner_prev as usize].owner_next = owner_next;
            }
            if owner_next != NONE {
                self.entries[owner_next as usize].owner_prev = owner_prev;
            }
        }
        let slot = (deadline % SLOTS as u64) as usize;
        if prev == NONE {
            self.heads[slot] = next;
            if next == NONE {
                self.nonempty[slot / 64] &= !(1 << (slot % 64));
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NONE {
            self.entries[next as usize].prev = prev;
        }
    }

    /// How long until the next non-empty slot comes due (`None` if no timer is pending).
    pub(crate) fn next_timeout(&self, now: Instant) -> Option<Duration> {
        if self.entries.is_empty() {
            return None;
        }
        let from = self.now_tick + 1;
        let mut ahead = SLOTS as u64; // at worst a full rotation
        let mut step = 0u64;
        while step < SLOTS as u64 {
            let slot = ((from + step) % SLOTS as u64) as usize;
            let word = self.nonempty[slot / 64] >> (slot % 64);
            if word != 0 {
                ahead = step + u64::from(word.trailing_zeros());
                break;
            }
            step += 64 - (slot % 64) as u64; // nothing in the rest of this word
        }
        let due_tick = from + ahead;
        let due = self.start + Duration::from_nanos(due_tick.saturating_mul(self.tick_nanos));
        Some(due.saturating_duration_since(now))
    }

    /// Expires every timer whose deadline tick has passed, appending them to `out`.
    pub(crate) fn advance(&mut self, now: Instant, out: &mut Vec<Expired>) {
        let target = self.tick_of(now);
        if target <= self.now_tick {
            return;
        }
        let span = (target - self.now_tick).min(SLOTS as u64);
        for step in 1..=span {
            let slot = ((self.now_tick + step) % SLOTS as u64) as usize;
            if self.nonempty[slot / 64] & (1 << (slot % 64)) == 0 {
                continue;
            }
            let mut key = self.heads[slot];
            while key != NONE {
                let e = &self.entries[key as usize];
                let next = e.next;
                if e.deadline <= target {
                    out.push(Expired {
                        owner: e.owner,
                        tag: e.tag,
                        kind: e.kind,
                    });
                    self.unlink(key as usize);
                    self.entries.remove(key as usize);
                }
                key = next;
            }
        }
        self.now_tick = target;
    }
}

/// Hashes a slab key with one multiplication (Fibonacci hashing: the high bits, which the map
/// uses first, mix every bit of the key). Keys are slab indices the reactor hands out, not
/// values a peer chooses, so a keyed hash (SipHash, 10 times the cost on every upgrade) buys
/// nothing here.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, key: u32) {
        self.0 = u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The slab key in a `ConnId`'s bits (see `handler.rs`).
fn owner_key(owner: u64) -> u32 {
    (owner & 0xFFFF_FFFF) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fires_in_deadline_order_of_ticks_and_not_before() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, ms(10));
        w.insert(t0, ms(25), 1, 10, TimerKind::User);
        w.insert(t0, ms(5), 2, 20, TimerKind::User);
        let mut out = Vec::new();
        w.advance(t0 + ms(9), &mut out);
        assert!(out.is_empty());
        w.advance(t0 + ms(10), &mut out);
        assert_eq!(out.iter().map(|e| e.tag).collect::<Vec<_>>(), vec![20]);
        out.clear();
        w.advance(t0 + ms(29), &mut out);
        assert!(out.is_empty(), "25 ms rounds up to tick 3");
        w.advance(t0 + ms(30), &mut out);
        assert_eq!(out[0].owner, 1);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_timeout(t0), None);
    }

    #[test]
    fn cancel_is_exact_and_stale_ids_do_nothing() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, ms(1));
        let a = w.insert(t0, ms(3), 0, 1, TimerKind::User);
        let b = w.insert(t0, ms(3), 0, 2, TimerKind::User);
        let c = w.insert(t0, ms(3), 0, 3, TimerKind::User);
        assert!(w.cancel(b));
        assert!(!w.cancel(b));
        let mut out = Vec::new();
        w.advance(t0 + ms(3), &mut out);
        let mut tags: Vec<_> = out.iter().map(|e| e.tag).collect();
        tags.sort();
        assert_eq!(tags, vec![1, 3]);
        assert!(!w.cancel(a) && !w.cancel(c));
        // The slot is reused: an old id must not cancel the new timer.
        let d = w.insert(t0 + ms(3), ms(1), 0, 4, TimerKind::User);
        assert!(!w.cancel(a));
        assert!(w.cancel(d));
    }

    #[test]
    fn long_timers_wait_for_their_round_and_big_jumps_expire_everything() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, ms(1));
        w.insert(t0, ms(SLOTS as u64 + 5), 0, 1, TimerKind::User);
        w.insert(t0, ms(5), 0, 2, TimerKind::User);
        let mut out = Vec::new();
        w.advance(t0 + ms(6), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].tag, 2);
        out.clear();
        let left = w.next_timeout(t0 + ms(6)).unwrap();
        assert!(left <= ms(SLOTS as u64), "{left:?}");
        w.advance(t0 + ms(SLOTS as u64 + 4), &mut out);
        assert!(out.is_empty());
        w.advance(t0 + ms(10 * SLOTS as u64), &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn cancelling_an_owner_removes_its_timers_and_only_its() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, ms(1));
        let (a, b) = (3u64 | (7 << 32), 1u64 | (9 << 32));
        let a1 = w.insert(t0, ms(5), a, 1, TimerKind::User);
        w.insert(t0, ms(5), b, 2, TimerKind::User);
        w.insert(t0, ms(500), a, 3, TimerKind::User);
        w.insert(t0, ms(5), a, 4, TimerKind::Linger);
        w.insert(t0, ms(5), 0, 5, TimerKind::Reactor);
        assert!(w.cancel(a1), "one of a's, from the middle of both lists");
        assert_eq!(w.len(), 4);
        assert_eq!(w.cancel_owner(a), 2);
        assert_eq!(w.cancel_owner(a), 0);
        assert_eq!(w.len(), 2, "b's timer and the reactor's stay");
        let mut out = Vec::new();
        w.advance(t0 + ms(1000), &mut out);
        let mut tags: Vec<_> = out.iter().map(|e| e.tag).collect();
        tags.sort();
        assert_eq!(tags, vec![2, 5]);
        // Expiry unlinked b's timer from b's list too: a new timer of b is b's only one.
        w.insert(t0 + ms(1000), ms(5), b, 6, TimerKind::User);
        assert_eq!(w.cancel_owner(b), 1);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_timeout(t0 + ms(1000)), None);
    }

    #[test]
    fn next_timeout_points_at_the_nearest_slot() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, ms(10));
        w.insert(t0, ms(500), 0, 1, TimerKind::User);
        w.insert(t0, ms(70), 0, 2, TimerKind::User);
        assert_eq!(w.next_timeout(t0), Some(ms(70)));
        assert_eq!(w.next_timeout(t0 + ms(100)), Some(ms(0)));
    }
}
