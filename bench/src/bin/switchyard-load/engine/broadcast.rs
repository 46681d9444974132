//! Broadcast publishing: the closed loop of a single publisher (messages retired once every
//! subscriber, on any thread, has them), every client publishing (--all-publish), and the
//! stamped payload of each message.

use std::sync::atomic::Ordering;

use switchyard_frame::{Config, Connection, Role as CodecRole};

use super::{output, Engine, Mode, Nanos, Phase};
use crate::output::push_frame;
use crate::payload::stamp;

impl Engine {
    /// Broadcast, closed loop: the publisher (or with --all-publish every client of this
    /// thread) starts publishing (`in_flight` messages).
    pub fn start_publishing(&mut self) {
        let Mode::Broadcast {
            in_flight,
            all_publish,
            ..
        } = self.mode
        else {
            return;
        };
        self.sending = true;
        let now = self.now();
        let keys: Vec<usize> = if all_publish {
            self.conns
                .iter()
                .filter(|(_, c)| c.phase == Phase::Open)
                .map(|(key, _)| key)
                .collect()
        } else {
            self.fanout.publisher.into_iter().collect()
        };
        for key in keys {
            self.batch_owner = Some(key);
            for _ in 0..in_flight {
                self.publish_from(key, now);
            }
            self.flush(key);
        }
        self.batch_owner = None;
    }

    /// The single publisher's thread, closed loop: retires messages every live subscriber (on
    /// any thread) has received, and publishes one more for each.
    pub(super) fn retire_broadcasts(&mut self, now: Nanos) {
        let Some(key) = self.fanout.publisher else {
            return;
        };
        if matches!(
            self.mode,
            Mode::Broadcast {
                all_publish: true,
                ..
            }
        ) {
            return;
        }
        while self.fanout.base < self.fanout.published && self.shared.is_complete(self.fanout.base)
        {
            self.shared.retire(self.fanout.base);
            self.fanout.base += 1;
            self.counters.broadcasts_complete += 1;
            if self.sending {
                self.publish_from(key, now);
            }
        }
    }

    /// Publishes the next message of connection `key`, stamped with its publisher number, its
    /// sequence number and `sent` (when it was meant to leave).
    pub(super) fn publish_from(&mut self, key: usize, sent: Nanos) {
        let Mode::Broadcast { size, opcode, .. } = self.mode else {
            return;
        };
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let seq = conn.sent;
        conn.sent += 1;
        self.stamped.clear();
        stamp::write(
            &mut self.stamped,
            &self.pattern,
            size,
            stamp::Stamp {
                publisher: conn.publisher_id,
                seq,
                sent,
            },
        );
        let codec = conn
            .codec
            .get_or_insert_with(|| Connection::new(CodecRole::Client, Config::default()));
        push_frame(
            codec,
            opcode,
            &self.stamped,
            output(&mut self.batch, self.batch_owner, key, &mut conn.unsent),
        )
        .expect("a text or binary message can always be sent while open");
        if self.fanout.publisher == Some(key) {
            self.fanout.published += 1;
        } else {
            self.shared.published.fetch_add(1, Ordering::Relaxed);
        }
    }
}
