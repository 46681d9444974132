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

    /// Live ids, copied into `out` (cleared first), so the caller may act on connections while
    /// the table changes.
    pub fn ids_into(&self, out: &mut Vec<ConnId>) {
        out.clear();
        out.extend(self.iter().map(|(_, id, _)| id));
    }
}
