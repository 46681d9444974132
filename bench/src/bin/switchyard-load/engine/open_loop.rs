//! Open loop (`--rate`): messages leave on a fixed schedule whatever comes back, and each is
//! timed from when it was due (no coordinated omission).

use std::time::Duration;

use super::{Engine, Mode, Nanos, Phase};

/// Open loop: messages leave on a fixed schedule, `rate` per second from `start` (after a linear
/// ramp from 0 over `ramp` nanoseconds), whatever comes back.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// When message 0 is due.
    pub start: Nanos,
    /// Messages per second at full rate (this thread's share).
    pub rate: f64,
    /// Nanoseconds of linear ramp-up.
    pub ramp: Nanos,
}

impl Schedule {
    /// When message `k` is due: during the ramp the rate grows as `rate * t / ramp`, so `k`
    /// messages are due by `t = sqrt(2 * ramp * k / rate)`; after it, one every `1 / rate`.
    pub fn due(&self, k: u64) -> Nanos {
        let per_ns = self.rate / 1e9;
        let ramp = self.ramp as f64;
        let in_ramp = per_ns * ramp / 2.0;
        let k = k as f64;
        let t = if k < in_ramp {
            (2.0 * ramp * k / per_ns).sqrt()
        } else {
            ramp + (k - in_ramp) / per_ns
        };
        self.start + t as Nanos
    }
}

impl Engine {
    /// Open loop: how long until the next message is due (None: closed loop).
    pub fn until_due(&self) -> Option<Duration> {
        let (schedule, next) = self.schedule?;
        Some(Duration::from_nanos(
            schedule.due(next).saturating_sub(self.now()),
        ))
    }

    /// Open loop from now on: messages leave by `schedule`, on every open connection that sends
    /// (echo: all; broadcast: the publisher, or every client with --all-publish), in turn.
    pub fn start_open_loop(&mut self, schedule: Schedule) {
        self.sending = true;
        self.senders = match self.mode {
            Mode::Echo { .. }
            | Mode::Broadcast {
                all_publish: true, ..
            } => self
                .conns
                .iter()
                .filter(|(_, c)| c.phase == Phase::Open)
                .map(|(key, _)| key)
                .collect(),
            Mode::Broadcast { .. } => self.fanout.publisher.into_iter().collect(),
            Mode::Upgrade | Mode::Idle => Vec::new(),
        };
        if !self.senders.is_empty() && schedule.rate > 0.0 {
            self.schedule = Some((schedule, 0));
        }
    }

    /// Open loop: sends every message whose time has come, each stamped (broadcast) or timed
    /// (echo) with its intended send time, not the time it actually leaves.
    pub(super) fn send_due(&mut self) {
        let Some((schedule, mut next)) = self.schedule else {
            return;
        };
        if !self.sending {
            return;
        }
        let now = self.now();
        let mut turn = next as usize;
        let mut touched = Vec::new();
        while schedule.due(next) <= now && !self.senders.is_empty() {
            let key = self.senders[turn % self.senders.len()];
            turn += 1;
            if !self.conns.contains(key) {
                self.senders.retain(|&k| k != key);
                continue;
            }
            let intended = schedule.due(next);
            next += 1;
            match self.mode {
                Mode::Echo { .. } => self.send_echo(key, intended),
                _ => self.publish_from(key, intended),
            }
            if touched.last() != Some(&key) {
                touched.push(key);
            }
        }
        self.schedule = Some((schedule, next));
        touched.sort_unstable();
        touched.dedup();
        for key in touched {
            if self.conns.contains(key) {
                self.flush(key);
            }
        }
    }
}
