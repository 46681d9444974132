//! Topics on one reactor: which of its connections subscribe to which topic.
//!
//! A topic is any string. Each reactor keeps its own table (no lock, no shared map): a publish
//! encodes the message once into shared bytes, delivers it to the publisher's reactor's
//! subscribers, and sends the bytes with the topic's name to every other reactor's mailbox,
//! where the name is looked up once per message (a hash of a short string), never per
//! delivery. A topic exists on a reactor while it has subscribers there: the last
//! unsubscribe frees it.
//!
//! Subscribers are kept as slots of the reactor's keepalive table (4 bytes each; every
//! WebSocket is in that table, and leaves it after its subscriptions), so delivery walks a
//! dense `Vec<u32>` per topic. A connection's own subscriptions are a small list in a side
//! table, present only for connections that subscribe: a connection that never subscribes
//! costs the 4-byte index in its state and nothing else.
//!
//! Where a bus plugs in (the cluster engine of issue 15): every publish, from a connection or
//! from [`crate::ServerHandle::publish`], goes through `Topics::publish_frame` in one place
//! (`reactor.rs`); a bus forwards local publishes to other processes there and injects what it
//! receives through the same path as the server handle, marked so it is not forwarded again.

use std::collections::HashMap;
use std::sync::Arc;

use crate::slots::SubscriberTable;

/// Index of a topic in a reactor's table (reused after the topic is freed).
pub type TopicId = u32;

/// "No subscriptions": the value of a connection's subscription index.
pub const NO_SUBSCRIPTIONS: u32 = u32::MAX;

struct Topic {
    name: Arc<str>,
    subscribers: SubscriberTable,
    count: u32,
}

/// One reactor's topics and its connections' subscriptions.
#[derive(Default)]
pub struct Topics {
    by_name: HashMap<Arc<str>, TopicId>,
    topics: Vec<Option<Topic>>,
    free_topics: Vec<TopicId>,
    /// Per subscribing connection: `(topic, index in the topic's subscriber table)`.
    lists: Vec<Vec<(TopicId, u32)>>,
    free_lists: Vec<u32>,
    subscriptions: u64,
    /// With a cluster engine: topics created (`true`) and freed (`false`) on this reactor since
    /// the core last took them ([`Topics::take_changes`]). Unused without one.
    track: bool,
    changes: Vec<(Arc<str>, bool)>,
}

impl Topics {
    /// A table that records topics created and freed, for a cluster engine's interest table.
    pub fn tracking() -> Self {
        Topics {
            track: true,
            ..Topics::default()
        }
    }

    /// Topics created (`true`) and freed (`false`) since the last call, oldest first (empty
    /// unless [`Topics::tracking`]).
    pub fn take_changes(&mut self) -> std::vec::Drain<'_, (Arc<str>, bool)> {
        self.changes.drain(..)
    }

    /// Whether there are changes to take.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The topic named `name`, if it has subscribers on this reactor.
    pub fn find(&self, name: &str) -> Option<TopicId> {
        self.by_name.get(name).copied()
    }

    /// The shared name of a live topic (for sending to other reactors without allocating).
    pub fn name(&self, topic: TopicId) -> Option<&Arc<str>> {
        self.topic(topic).map(|t| &t.name)
    }

    fn topic(&self, topic: TopicId) -> Option<&Topic> {
        self.topics.get(topic as usize).and_then(Option::as_ref)
    }

    /// The keepalive slots of a topic's subscribers.
    pub fn subscribers(&self, topic: TopicId) -> impl Iterator<Item = u32> + '_ {
        self.topic(topic)
            .into_iter()
            .flat_map(|t| t.subscribers.iter())
    }

    /// Subscribes the connection whose keepalive slot is `keepalive` and whose subscription
    /// index is `*list` to `name`. Returns `false` if it already was.
    pub fn subscribe(&mut self, list: &mut u32, keepalive: u32, name: &str) -> bool {
        let topic = match self.by_name.get(name) {
            Some(&t) => t,
            None => self.create(name),
        };
        let entries = self.list_mut(list);
        if entries.iter().any(|&(t, _)| t == topic) {
            return false;
        }
        let t = self.topics[topic as usize]
            .as_mut()
            .expect("a topic found by name is live");
        let index = t.subscribers.insert(keepalive);
        t.count += 1;
        self.lists[*list as usize].push((topic, index));
        self.subscriptions += 1;
        true
    }

    /// Unsubscribes a connection from `name`. Returns `false` if it was not subscribed.
    pub fn unsubscribe(&mut self, list: &mut u32, keepalive: u32, name: &str) -> bool {
        let Some(topic) = self.find(name) else {
            return false;
        };
        let Some(entries) = self.lists.get_mut(*list as usize) else {
            return false;
        };
        let Some(pos) = entries.iter().position(|&(t, _)| t == topic) else {
            return false;
        };
        let (_, index) = entries.swap_remove(pos);
        if entries.is_empty() {
            self.release_list(list);
        }
        self.leave(topic, index, keepalive);
        true
    }

    /// Whether a connection subscribes to `name`.
    pub fn is_subscribed(&self, list: u32, name: &str) -> bool {
        let Some(topic) = self.find(name) else {
            return false;
        };
        self.lists
            .get(list as usize)
            .is_some_and(|l| l.iter().any(|&(t, _)| t == topic))
    }

    /// Removes every subscription of a connection (it is closing).
    pub fn unsubscribe_all(&mut self, list: &mut u32, keepalive: u32) {
        let Some(entries) = self.lists.get_mut(*list as usize) else {
            return;
        };
        let entries = std::mem::take(entries);
        self.release_list(list);
        for (topic, index) in entries {
            self.leave(topic, index, keepalive);
        }
    }

    /// The topics of a connection's subscription list.
    pub fn of(&self, list: u32) -> impl Iterator<Item = TopicId> + '_ {
        self.lists
            .get(list as usize)
            .into_iter()
            .flat_map(|l| l.iter().map(|&(t, _)| t))
    }

    /// Topics with at least one subscriber here, and subscriptions in all.
    pub fn counts(&self) -> (u64, u64) {
        (self.by_name.len() as u64, self.subscriptions)
    }

    fn create(&mut self, name: &str) -> TopicId {
        let name: Arc<str> = Arc::from(name);
        let topic = Topic {
            name: Arc::clone(&name),
            subscribers: SubscriberTable::default(),
            count: 0,
        };
        let id = match self.free_topics.pop() {
            Some(id) => {
                self.topics[id as usize] = Some(topic);
                id
            }
            None => {
                self.topics.push(Some(topic));
                (self.topics.len() - 1) as TopicId
            }
        };
        if self.track {
            self.changes.push((Arc::clone(&name), true));
        }
        self.by_name.insert(name, id);
        id
    }

    fn leave(&mut self, topic: TopicId, index: u32, keepalive: u32) {
        let Some(slot) = self.topics.get_mut(topic as usize) else {
            return;
        };
        let Some(t) = slot.as_mut() else { return };
        t.subscribers.remove(index, keepalive);
        t.count -= 1;
        self.subscriptions -= 1;
        if t.count == 0 {
            let t = slot.take().expect("checked above");
            self.by_name.remove(&t.name);
            self.free_topics.push(topic);
            if self.track {
                self.changes.push((t.name, false));
            }
        }
    }

    fn list_mut(&mut self, list: &mut u32) -> &mut Vec<(TopicId, u32)> {
        if *list == NO_SUBSCRIPTIONS {
            *list = match self.free_lists.pop() {
                Some(i) => i,
                None => {
                    self.lists.push(Vec::new());
                    (self.lists.len() - 1) as u32
                }
            };
        }
        &mut self.lists[*list as usize]
    }

    fn release_list(&mut self, list: &mut u32) {
        if let Some(l) = self.lists.get_mut(*list as usize) {
            // A connection with many subscriptions must not pin their memory after it leaves.
            if l.capacity() > 8 {
                *l = Vec::new();
            }
            self.free_lists.push(*list);
        }
        *list = NO_SUBSCRIPTIONS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_live_while_they_have_subscribers() {
        let mut t = Topics::default();
        let (mut a, mut b) = (NO_SUBSCRIPTIONS, NO_SUBSCRIPTIONS);
        assert!(t.subscribe(&mut a, 1, "room"));
        assert!(!t.subscribe(&mut a, 1, "room"), "twice is once");
        assert!(t.subscribe(&mut b, 2, "room"));
        assert!(t.subscribe(&mut b, 2, "other"));
        assert_eq!(t.counts(), (2, 3));
        let room = t.find("room").unwrap();
        let mut subs: Vec<u32> = t.subscribers(room).collect();
        subs.sort();
        assert_eq!(subs, [1, 2]);
        assert!(t.is_subscribed(a, "room") && !t.is_subscribed(a, "other"));
        assert!(t.unsubscribe(&mut a, 1, "room"));
        assert!(!t.unsubscribe(&mut a, 1, "room"));
        assert_eq!(a, NO_SUBSCRIPTIONS, "an empty list is given back");
        t.unsubscribe_all(&mut b, 2);
        assert_eq!(t.counts(), (0, 0));
        assert!(t.find("room").is_none() && t.find("other").is_none());
        // Freed ids and lists are reused.
        assert!(t.subscribe(&mut a, 3, "new"));
        assert!(t.topics.len() <= 2 && t.lists.len() <= 2);
        assert!(!t.has_changes(), "untracked");
    }

    #[test]
    fn a_tracking_table_reports_topics_created_and_freed() {
        let mut t = Topics::tracking();
        let (mut a, mut b) = (NO_SUBSCRIPTIONS, NO_SUBSCRIPTIONS);
        t.subscribe(&mut a, 1, "x");
        t.subscribe(&mut b, 2, "x");
        t.unsubscribe(&mut a, 1, "x");
        t.unsubscribe_all(&mut b, 2);
        let changes: Vec<(String, bool)> =
            t.take_changes().map(|(n, c)| (n.to_string(), c)).collect();
        assert_eq!(changes, [("x".into(), true), ("x".into(), false)]);
        assert!(!t.has_changes());
    }
}
