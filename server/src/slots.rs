//! Slot tables: dense per-reactor lists of connections with stable slot numbers.
//!
//! A connection remembers its slot (a `u32` in its state), so removal is O(1) without moving
//! any other entry (a moved entry would need its owner's state updated, which may be
//! unreachable while netio is closing it). Freed slots are reused first, so a table is as long
//! as the most connections it ever held at once, and iteration skips the few vacant ones.

use switchyard_netio::ConnId;

/// Value of a vacant slot.
const VACANT: u32 = u32::MAX;

/// Connections with a `u32` of data each (a keepalive timestamp, or just "present").
#[derive(Default)]
pub struct SlotTable {
    ids: Vec<ConnId>,
    data: Vec<u32>,
    free: Vec<u32>,
}

impl SlotTable {
    /// Adds `id` with `value` (which must not be `u32::MAX`) and returns its slot.
    pub fn insert(&mut self, id: ConnId, value: u32) -> u32 {
        debug_assert_ne!(value, VACANT);
        if let Some(slot) = self.free.pop() {
            self.ids[slot as usize] = id;
            self.data[slot as usize] = value;
            return slot;
        }
        self.ids.push(id);
        self.data.push(value);
        (self.ids.len() - 1) as u32
    }

    /// Removes the entry in `slot` if it belongs to `id` (a stale slot is ignored).
    pub fn remove(&mut self, slot: u32, id: ConnId) {
        let i = slot as usize;
        if i < self.ids.len() && self.data[i] != VACANT && self.ids[i] == id {
            self.data[i] = VACANT;
            self.free.push(slot);
        }
    }

    /// Sets the value of `slot` (hot path: one bounds check and a store).
    #[inline]
    pub fn set(&mut self, slot: u32, value: u32) {
        debug_assert_ne!(value, VACANT);
        if let Some(v) = self.data.get_mut(slot as usize) {
            if *v != VACANT {
                *v = value;
            }
        }
    }

    /// Live entries: `(slot, id, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (u32, ConnId, u32)> + '_ {
        self.ids
            .iter()
            .zip(&self.data)
            .enumerate()
            .filter(|(_, (_, &v))| v != VACANT)
            .map(|(i, (&id, &v))| (i as u32, id, v))
    }

    /// The id in a live slot.
    pub fn id(&self, slot: u32) -> Option<ConnId> {
        let i = slot as usize;
        (i < self.ids.len() && self.data[i] != VACANT).then(|| self.ids[i])
    }
}

/// A broadcast route's subscribers on one reactor, as slots of the reactor's keepalive table
/// (4 bytes each rather than a second copy of the 8-byte id: every WebSocket is already in that
/// table, and a subscriber leaves both tables at once, so a slot is never stale).
#[derive(Default)]
pub struct SubscriberTable {
    slots: Vec<u32>,
    free: Vec<u32>,
}

impl SubscriberTable {
    /// Adds keepalive slot `keepalive` and returns the subscriber index.
    pub fn insert(&mut self, keepalive: u32) -> u32 {
        debug_assert_ne!(keepalive, VACANT);
        if let Some(i) = self.free.pop() {
            self.slots[i as usize] = keepalive;
            return i;
        }
        self.slots.push(keepalive);
        (self.slots.len() - 1) as u32
    }

    /// Removes subscriber index `index` if it holds `keepalive`.
    pub fn remove(&mut self, index: u32, keepalive: u32) {
        if let Some(s) = self.slots.get_mut(index as usize) {
            if *s == keepalive {
                *s = VACANT;
                self.free.push(index);
            }
        }
    }

    /// The live subscribers' keepalive slots.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().copied().filter(|&s| s != VACANT)
    }
}
