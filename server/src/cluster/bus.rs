//! The two bus threads: the subscriber (one `SUBSCRIBE` connection: interest changes out,
//! messages in, to every core's mailbox) and the publisher (one connection: the outbound queue
//! out, pipelined). Neither is ever called by a reactor; each reconnects on its own with
//! backoff.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use redis::RedisResult;
use switchyard_netio::Mailbox;

use crate::published::Published;

use super::{wire, Engine, Outgoing, Stats};
use crate::reactor::Message;

/// How long the subscriber waits for a message before it looks at the interest table again:
/// the most a new topic waits before its `SUBSCRIBE` goes out.
const POLL: Duration = Duration::from_millis(10);
/// Read and write timeout for commands (SUBSCRIBE, PUBLISH, PING): past it, Redis is taken for
/// gone and the connection is made again.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// A PING after this much quiet tells a dead connection from a quiet one.
const PING_EVERY: Duration = Duration::from_secs(2);
/// Most messages in one pipelined write.
const BATCH: usize = 512;
/// Channels per SUBSCRIBE or UNSUBSCRIBE command.
const CHANNELS_PER_COMMAND: usize = 256;

/// Reconnect delays: 100 ms doubling to 2 s, each with up to 25% jitter either way so that
/// many nodes that lost Redis together do not come back as one storm.
struct Backoff {
    next: Duration,
    seed: u64,
}

impl Backoff {
    fn new(seed: u64) -> Self {
        Backoff {
            next: Duration::from_millis(100),
            seed: seed | 1,
        }
    }

    fn reset(&mut self) {
        self.next = Duration::from_millis(100);
    }

    fn delay(&mut self) -> Duration {
        // xorshift64: jitter needs no quality, only difference between nodes.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let base = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(2));
        let quarter = base.as_millis() as u64 / 4;
        let jitter = self.seed % (2 * quarter + 1);
        Duration::from_millis(base.as_millis() as u64 - quarter + jitter)
    }
}

fn connect(engine: &Engine) -> RedisResult<redis::Connection> {
    let client = redis::Client::open(engine.url.connection_info())?;
    let con = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    con.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    con.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    Ok(con)
}

/// Sleeps `d`, waking early when the engine stops.
fn sleep(engine: &Engine, d: Duration) {
    let end = Instant::now() + d;
    while !engine.stopping() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Logs a failure: a warning for the first of a streak, then quietly (Redis down for an hour
/// must not fill the log). Errors of the `redis` crate do not contain the password.
fn failed(engine: &Engine, what: &str, streak: &mut u32, e: &redis::RedisError) {
    if *streak == 0 {
        log::warn!(
            "cluster: {what} connection to {} failed: {e}; serving locally, retrying",
            engine.url
        );
    } else {
        log::debug!(
            "cluster: {what} connection to {} failed again: {e}",
            engine.url
        );
    }
    *streak += 1;
}

fn connected(engine: &Engine, what: &str, streak: &mut u32, ever: &mut bool) {
    if *ever {
        Stats::add(&engine.stats.reconnects, 1);
    }
    if *streak > 0 || *ever {
        log::info!("cluster: {what} connection to {} is up again", engine.url);
    } else {
        log::info!("cluster: {what} connection to {} is up", engine.url);
    }
    *streak = 0;
    *ever = true;
}

/// The subscriber thread's body: connect, subscribe to every live topic, relay; again.
pub(super) fn subscriber(engine: &Engine, mailboxes: &[Mailbox<Message>]) {
    let mut backoff = Backoff::new(u64::from_le_bytes(engine.node));
    let (mut streak, mut ever) = (0, false);
    while !engine.stopping() {
        match connect(engine) {
            Ok(mut con) => {
                connected(engine, "subscriber", &mut streak, &mut ever);
                backoff.reset();
                let result = relay(engine, &mut con, mailboxes);
                engine.stats.sub_connected.store(false, Ordering::Relaxed);
                engine.stats.channels.store(0, Ordering::Relaxed);
                match result {
                    Ok(()) => return,
                    Err(e) => failed(engine, "subscriber", &mut streak, &e),
                }
            }
            Err(e) => failed(engine, "subscriber", &mut streak, &e),
        }
        sleep(engine, backoff.delay());
    }
}

/// Channels subscribed on this connection: channel name to the topic's shared name (handed to
/// the cores with every message, so a message allocates no name).
type Subscribed = HashMap<String, Arc<str>>;

/// One connection's life: every live topic subscribed, then interest changes and messages
/// until the connection fails (`Err`) or the engine stops (`Ok`).
fn relay(
    engine: &Engine,
    con: &mut redis::Connection,
    mailboxes: &[Mailbox<Message>],
) -> RedisResult<()> {
    let mut pubsub = con.as_pubsub();
    let mut subscribed = Subscribed::new();
    // Everything live now; later changes come through the `changed` list.
    let live: Vec<Arc<str>> = {
        let mut table = engine.interest.lock().unwrap_or_else(|p| p.into_inner());
        table.changed.clear();
        table.cores.keys().cloned().collect()
    };
    change(engine, &mut pubsub, &mut subscribed, live, Vec::new())?;
    engine.stats.sub_connected.store(true, Ordering::Relaxed);
    pubsub.set_read_timeout(Some(POLL))?;
    let mut frame = Vec::new();
    let mut last_heard = Instant::now();
    loop {
        if engine.stopping() {
            return Ok(());
        }
        let (add, remove) = pending_changes(engine, &subscribed);
        if !add.is_empty() || !remove.is_empty() {
            pubsub.set_read_timeout(Some(COMMAND_TIMEOUT))?;
            change(engine, &mut pubsub, &mut subscribed, add, remove)?;
            pubsub.set_read_timeout(Some(POLL))?;
        }
        match pubsub.get_message() {
            Ok(msg) => {
                last_heard = Instant::now();
                deliver(engine, &msg, &subscribed, mailboxes, &mut frame);
            }
            Err(e) if e.is_timeout() => {
                if last_heard.elapsed() >= PING_EVERY {
                    pubsub.set_read_timeout(Some(COMMAND_TIMEOUT))?;
                    pubsub.ping::<redis::Value>()?;
                    pubsub.set_read_timeout(Some(POLL))?;
                    last_heard = Instant::now();
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The topics to subscribe and unsubscribe: the changed names whose interest differs from what
/// this connection has.
fn pending_changes(engine: &Engine, subscribed: &Subscribed) -> (Vec<Arc<str>>, Vec<Arc<str>>) {
    let mut table = engine.interest.lock().unwrap_or_else(|p| p.into_inner());
    if table.changed.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let changed = std::mem::take(&mut table.changed);
    let (mut add, mut remove) = (Vec::new(), Vec::new());
    for topic in changed {
        let wanted = table.cores.contains_key(&topic);
        let have = subscribed.contains_key(&wire::channel(&topic));
        if wanted && !have && !add.contains(&topic) {
            add.push(topic);
        } else if !wanted && have && !remove.contains(&topic) {
            remove.push(topic);
        }
    }
    (add, remove)
}

fn change(
    engine: &Engine,
    pubsub: &mut redis::PubSub<'_>,
    subscribed: &mut Subscribed,
    add: Vec<Arc<str>>,
    remove: Vec<Arc<str>>,
) -> RedisResult<()> {
    for chunk in add.chunks(CHANNELS_PER_COMMAND) {
        let channels: Vec<String> = chunk.iter().map(|t| wire::channel(t)).collect();
        pubsub.subscribe(&channels)?;
        for (c, t) in channels.into_iter().zip(chunk) {
            subscribed.insert(c, Arc::clone(t));
        }
    }
    for chunk in remove.chunks(CHANNELS_PER_COMMAND) {
        let channels: Vec<String> = chunk.iter().map(|t| wire::channel(t)).collect();
        pubsub.unsubscribe(&channels)?;
        for c in &channels {
            subscribed.remove(c);
        }
    }
    engine
        .stats
        .channels
        .store(subscribed.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// One message from Redis: checked, encoded as a frame once, handed to every core.
fn deliver(
    engine: &Engine,
    msg: &redis::Msg,
    subscribed: &Subscribed,
    mailboxes: &[Mailbox<Message>],
    frame: &mut Vec<u8>,
) {
    let channel = msg.get_channel_name();
    let Some(topic) = subscribed.get(channel) else {
        if let Err(e) = wire::topic(channel.as_bytes()) {
            malformed(engine, &e);
        }
        // Else a late message of a topic just unsubscribed: nobody here wants it.
        return;
    };
    let message = match wire::decode(msg.get_payload_bytes(), engine.max_message_size) {
        Ok(m) => m,
        Err(e) => return malformed(engine, &e),
    };
    if message.origin == engine.node {
        return;
    }
    // `wire::decode` gives only data opcodes.
    let bytes = Published::encode(message.opcode, message.payload, frame);
    for mailbox in mailboxes {
        let _ = mailbox.send(Message::Publish {
            topic: Arc::clone(topic),
            frame: bytes.clone(),
        });
    }
    Stats::add(&engine.stats.received, 1);
}

fn malformed(engine: &Engine, e: &wire::Malformed) {
    let n = engine.stats.malformed.fetch_add(1, Ordering::Relaxed);
    // The first, then one in a thousand: a flood of junk must not flood the log.
    if n.is_multiple_of(1000) {
        log::warn!(
            "cluster: dropped a malformed message from Redis: {e} ({} so far)",
            n + 1
        );
    }
}

/// The publisher thread's body: the outbound queue to Redis, pipelined; while disconnected,
/// what arrives is counted as not shared (local subscribers have it already).
pub(super) fn publisher(engine: &Engine) {
    let rx = &engine.outbound_rx;
    let mut backoff = Backoff::new(u64::from_le_bytes(engine.node).rotate_left(17));
    let (mut streak, mut ever) = (0, false);
    let mut con: Option<redis::Connection> = None;
    let mut next_attempt = Instant::now();
    let mut batch: Vec<Outgoing> = Vec::with_capacity(BATCH);
    let mut payload = Vec::new();
    let mut last_sent = Instant::now();
    while !engine.stopping() {
        if con.is_none() && Instant::now() >= next_attempt {
            match connect(engine) {
                Ok(c) => {
                    connected(engine, "publisher", &mut streak, &mut ever);
                    backoff.reset();
                    con = Some(c);
                    engine.stats.pub_connected.store(true, Ordering::Relaxed);
                    last_sent = Instant::now();
                }
                Err(e) => {
                    failed(engine, "publisher", &mut streak, &e);
                    next_attempt = Instant::now() + backoff.delay();
                }
            }
        }
        let wait = match con {
            Some(_) => Duration::from_millis(100),
            None => next_attempt
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(1), Duration::from_millis(100)),
        };
        match rx.recv_timeout(wait) {
            Ok(m) => batch.push(m),
            Err(RecvTimeoutError::Timeout) => {
                if let Some(c) = &mut con {
                    if last_sent.elapsed() >= PING_EVERY {
                        last_sent = Instant::now();
                        if let Err(e) = redis::cmd("PING").query::<redis::Value>(c) {
                            lost(engine, &mut con, &mut streak, &e);
                            next_attempt = Instant::now() + backoff.delay();
                        }
                    }
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        let Some(c) = &mut con else {
            Stats::add(&engine.stats.not_shared, n);
            batch.clear();
            continue;
        };
        let mut pipe = redis::pipe();
        for m in batch.drain(..) {
            let Some((opcode, body)) = wire::split_frame(&m.frame) else {
                continue;
            };
            wire::encode(engine.node, opcode, body, &mut payload);
            pipe.cmd("PUBLISH")
                .arg(wire::channel(&m.topic))
                .arg(&payload[..])
                .ignore();
        }
        last_sent = Instant::now();
        match pipe.query::<()>(c) {
            Ok(()) => Stats::add(&engine.stats.published, n),
            Err(e) => {
                // Whether Redis got some of them is unknown: counted as not shared.
                Stats::add(&engine.stats.not_shared, n);
                lost(engine, &mut con, &mut streak, &e);
                next_attempt = Instant::now() + backoff.delay();
            }
        }
    }
}

fn lost(
    engine: &Engine,
    con: &mut Option<redis::Connection>,
    streak: &mut u32,
    e: &redis::RedisError,
) {
    *con = None;
    engine.stats.pub_connected.store(false, Ordering::Relaxed);
    failed(engine, "publisher", streak, e);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_two_seconds_with_jitter() {
        let mut b = Backoff::new(42);
        let first = b.delay();
        assert!((75..=125).contains(&first.as_millis()), "{first:?}");
        for _ in 0..10 {
            b.delay();
        }
        let late = b.delay();
        assert!((1500..=2500).contains(&late.as_millis()), "{late:?}");
        b.reset();
        assert!(b.delay() <= Duration::from_millis(125));
    }
}
