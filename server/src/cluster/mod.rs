//! The cluster engine: broadcast topics shared by many Switchyard processes through Redis
//! pub/sub (any RESP server: Redis, Valkey, KeyDB), turned on with
//! `--cluster redis://HOST:PORT[/DB]` (or `cluster = "..."` in the file).
//!
//! # What it does
//! - Every publish of this process (a broadcast client's message, the publish API,
//!   [`crate::ServerHandle::publish`]) is delivered locally as before and handed, as the
//!   already encoded frame (one reference count, no copy), to a bounded queue
//!   ([`QUEUE_CAPACITY`] messages). One *publisher* thread drains it and sends each message
//!   once, as `PUBLISH switchyard:TOPIC <wire message>` ([`wire`]), pipelining whatever is
//!   queued into one write.
//! - One *subscriber* thread keeps one `SUBSCRIBE` connection, subscribed to exactly the topics
//!   that have a subscriber on some core of this process: a core tells the interest table when
//!   a topic appears or disappears on it (not per subscription), and the thread subscribes on
//!   the first core's interest and unsubscribes when the last core's ends. What arrives is
//!   decoded, encoded as a WebSocket frame once, and handed to every core's mailbox: the same
//!   shared bytes for every subscriber of the process, as a local publish.
//! - Messages carry the publishing node's random id; a node skips its own (it delivered them
//!   locally already), so nobody gets a message twice.
//!
//! So a process holds two connections to Redis whatever its cores and clients, and no reactor
//! ever waits on Redis: a reactor's whole part is a `try_send` on the queue, and when the queue
//! is full (Redis slow or gone) the message is dropped for the other nodes and counted
//! (`switchyard_cluster_dropped_total`), never queued without limit. Local delivery does not
//! depend on Redis at all.
//!
//! # Why the sync `redis` crate on two bus threads
//! The alternative was a RESP codec of our own driven by a reactor. The bus threads won: the
//! `redis` crate is the well-known client (URL parsing, AUTH, SELECT, RESP2 parsing, its
//! pub/sub state kept right), the traffic is two sockets per process (no reason to multiplex
//! them on a reactor), and a thread keeps reconnects, backoff and `SUBSCRIBE` bookkeeping out of
//! the reactors' code and timing entirely. The cost is a thread hop each way, which the
//! mailboxes already batch: measured in BENCHMARKS.md (cluster section), p99
//! publish-to-receive latency stays in single milliseconds at 50,000 deliveries/s across
//! three nodes on a 2-core machine. Its one drawback: the crate parses a whole reply before
//! handing it over, so an oversized message from Redis is checked against the maximum message
//! size *after* it was read into memory; what bounds it before is Redis's own limit on a
//! subscriber's output buffer (`client-output-buffer-limit pubsub`, 32 MB hard by default),
//! which disconnects a subscriber that falls that far behind. Our nodes never publish more than
//! their maximum message size.
//!
//! # Guarantees, and what is not guaranteed
//! - While every node and Redis live and stay connected, a message published on any node
//!   reaches every subscriber of its topic on every node exactly once, in the order its
//!   publisher sent it (one publisher connection per node and Redis keep order per
//!   connection; a client's messages enter the queue in order).
//! - Redis pub/sub is at-most-once: nothing is stored. A message published while this node is
//!   disconnected from Redis is delivered locally and counted as not shared
//!   (`switchyard_cluster_not_shared_total`); messages other nodes publish while this node's
//!   subscriber is disconnected never reach it; a message in flight when a connection breaks
//!   may be lost. After a reconnect every live topic is subscribed again, and delivery resumes.
//! - A subscriber that a node's core skips or closes as slow (`slow_subscriber`) is handled as
//!   for a local publish.
//! - Messages from Redis that are not ours (another prefix, another version, text that is not
//!   UTF-8, over `max_message_size`) are dropped and counted
//!   (`switchyard_cluster_malformed_total`), never delivered.
//!
//! # Operations
//! - The password goes in the URL (`redis://:PASSWORD@host:6379/0`) or, better, in the
//!   `SWITCHYARD_CLUSTER_PASSWORD` environment variable ([`PASSWORD_ENV`]), which wins. It is
//!   never logged: logs and errors show the URL with the password replaced by `***`.
//! - Redis absent at start: the server starts and serves locally; both threads retry with
//!   backoff (100 ms doubling to 2 s, with jitter). Until both connections are up, `/healthz`
//!   answers `200` with the body `degraded: cluster engine disconnected` (a balancer that
//!   checks for `ok` takes the node out; one that checks the status keeps it, since it still
//!   serves its own clients) and `/metrics` shows `switchyard_cluster_connected 0`.
//! - Channel names are `switchyard:` + topic ([`wire::CHANNEL_PREFIX`]); `PUBSUB CHANNELS
//!   switchyard:*` on Redis lists the topics some node has subscribers for.

mod bus;
pub mod wire;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use switchyard_netio::{Mailbox, SharedBytes};

use crate::reactor::Message;

/// The environment variable that gives the Redis password (it wins over one in the URL).
pub const PASSWORD_ENV: &str = "SWITCHYARD_CLUSTER_PASSWORD";

/// Messages the outbound queue holds before publishes are dropped for the other nodes: about
/// 40 ms of a 50,000 messages/s publisher, enough to ride out a scheduling hiccup of the
/// publisher thread, small enough that a stalled Redis costs at most this many frames of
/// memory (each a reference to bytes the local subscribers share anyway).
pub const QUEUE_CAPACITY: usize = 2048;

/// Where the cluster's Redis is: a checked `redis://` URL. Its `Display` and `Debug` never
/// show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterUrl {
    host: String,
    port: u16,
    db: i64,
    username: Option<String>,
    password: Option<String>,
}

/// Why a `--cluster` URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadClusterUrl(pub String);

impl fmt::Display for BadClusterUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ClusterUrl {
    /// Parses `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` (port 6379 and database 0 by
    /// default); `env_password` (the [`PASSWORD_ENV`] variable) replaces a password in the URL.
    pub fn parse(url: &str, env_password: Option<&str>) -> Result<ClusterUrl, BadClusterUrl> {
        let bad = |why: &str| BadClusterUrl(format!("cluster URL: {why}"));
        let rest = url.strip_prefix("redis://").ok_or_else(|| {
            bad("must start with redis:// (TLS and unix sockets are not supported)")
        })?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((auth, rest)) => (Some(auth), rest),
            None => (None, rest),
        };
        let (hostport, db) = match rest.split_once('/') {
            Some((hp, "")) => (hp, 0),
            Some((hp, db)) => (
                hp,
                db.parse::<i64>()
                    .ok()
                    .filter(|d| *d >= 0)
                    .ok_or_else(|| bad("the database must be a number"))?,
            ),
            None => (rest, 0),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, p) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in the host"))?;
            (h, p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("the port must be a number"))?,
            None => 6379,
        };
        let (username, password) = match auth {
            Some(a) => match a.split_once(':') {
                Some((u, p)) => ((!u.is_empty()).then(|| u.to_owned()), Some(p.to_owned())),
                None => (Some(a.to_owned()), None),
            },
            None => (None, None),
        };
        let password = env_password
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .or(password.filter(|p| !p.is_empty()));
        Ok(ClusterUrl {
            host: host.to_owned(),
            port,
            db,
            username,
            password,
        })
    }

    /// The `redis` crate's connection details.
    fn connection_info(&self) -> redis::ConnectionInfo {
        let addr = redis::ConnectionAddr::Tcp(self.host.clone(), self.port);
        let mut settings = redis::RedisConnectionInfo::default().set_db(self.db);
        if let Some(u) = &self.username {
            settings = settings.set_username(u);
        }
        if let Some(p) = &self.password {
            settings = settings.set_password(p);
        }
        redis::IntoConnectionInfo::into_connection_info(addr)
            .expect("a TCP address is a connection info")
            .set_redis_settings(settings)
    }
}

impl fmt::Display for ClusterUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redis://")?;
        match (&self.username, &self.password) {
            (Some(u), Some(_)) => write!(f, "{u}:***@")?,
            (None, Some(_)) => f.write_str(":***@")?,
            (Some(u), None) => write!(f, "{u}@")?,
            (None, None) => {}
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}/{}", self.host, self.port, self.db)
        } else {
            write!(f, "{}:{}/{}", self.host, self.port, self.db)
        }
    }
}

impl fmt::Debug for ClusterUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterUrl({self})")
    }
}

/// The engine's counters, read by `/metrics` and `/healthz`.
#[derive(Default)]
pub(crate) struct Stats {
    /// The subscriber connection is up and subscribed to every live topic.
    pub sub_connected: AtomicBool,
    /// The publisher connection is up.
    pub pub_connected: AtomicBool,
    /// Messages sent to Redis.
    pub published: AtomicU64,
    /// Messages from other nodes handed to the cores.
    pub received: AtomicU64,
    /// Publishes dropped because the outbound queue was full.
    pub dropped: AtomicU64,
    /// Publishes not sent because the publisher was disconnected.
    pub not_shared: AtomicU64,
    /// Messages from Redis that were not cluster messages.
    pub malformed: AtomicU64,
    /// Connections made after a failure (both threads).
    pub reconnects: AtomicU64,
    /// Redis channels subscribed now.
    pub channels: AtomicU64,
}

impl Stats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Topics with subscribers in this process: per topic, how many cores have it; and the names
/// whose interest changed since the subscriber thread last looked.
#[derive(Default)]
struct InterestTable {
    cores: HashMap<Arc<str>, u32>,
    changed: Vec<Arc<str>>,
}

/// A message for the publisher thread: a topic and the frame its local subscribers got.
pub(crate) struct Outgoing {
    topic: Arc<str>,
    frame: SharedBytes,
}

/// The part of the engine the cores use: the outbound queue and the interest table. Created
/// before the reactors (they hold it in their shared state); the threads start after, when the
/// mailboxes exist ([`Engine::start`]).
pub(crate) struct Engine {
    url: ClusterUrl,
    node: wire::NodeId,
    max_message_size: usize,
    outbound: Sender<Outgoing>,
    outbound_rx: Receiver<Outgoing>,
    interest: Mutex<InterestTable>,
    pub(crate) stats: Stats,
    stop: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Engine {
    /// An engine for `url`, not started.
    pub(crate) fn new(url: ClusterUrl, max_message_size: usize) -> Arc<Engine> {
        let (outbound, outbound_rx) = crossbeam_channel::bounded(QUEUE_CAPACITY);
        let mut node = [0u8; 8];
        if getrandom::getrandom(&mut node).is_err() {
            // No entropy source: the process id and the time still tell nodes apart.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            node = (t ^ (u64::from(std::process::id()) << 32)).to_le_bytes();
        }
        Arc::new(Engine {
            url,
            node,
            max_message_size,
            outbound,
            outbound_rx,
            interest: Mutex::new(InterestTable::default()),
            stats: Stats::default(),
            stop: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        })
    }

    /// Starts the subscriber and publisher threads, which hand what arrives to `mailboxes`.
    pub(crate) fn start(self: &Arc<Self>, mailboxes: Vec<Mailbox<Message>>) -> std::io::Result<()> {
        log::info!("cluster engine: Redis at {}", self.url);
        let sub = Arc::clone(self);
        let publisher = Arc::clone(self);
        let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        threads.push(
            std::thread::Builder::new()
                .name("cluster-sub".into())
                .spawn(move || bus::subscriber(&sub, &mailboxes))?,
        );
        threads.push(
            std::thread::Builder::new()
                .name("cluster-pub".into())
                .spawn(move || bus::publisher(&publisher))?,
        );
        Ok(())
    }

    /// Stops the threads and waits for them (each notices within its poll interval, or after
    /// a connect attempt's timeout).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Both connections are up.
    pub(crate) fn connected(&self) -> bool {
        self.stats.sub_connected.load(Ordering::Relaxed)
            && self.stats.pub_connected.load(Ordering::Relaxed)
    }

    /// Hands a local publish to the publisher thread (reactor side: never blocks). A full
    /// queue drops the message for the other nodes and counts it.
    #[inline]
    pub(crate) fn forward(&self, topic: &Arc<str>, frame: &SharedBytes) {
        let out = Outgoing {
            topic: Arc::clone(topic),
            frame: frame.clone(),
        };
        match self.outbound.try_send(out) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => Stats::add(&self.stats.dropped, 1),
            Err(TrySendError::Disconnected(_)) => Stats::add(&self.stats.not_shared, 1),
        }
    }

    /// A core now has subscribers of `topic` (`true`) or no longer has any (`false`).
    pub(crate) fn core_interest(&self, topic: &Arc<str>, interested: bool) {
        let mut table = self.interest.lock().unwrap_or_else(|p| p.into_inner());
        let changed = if interested {
            let n = table.cores.entry(Arc::clone(topic)).or_insert(0);
            *n += 1;
            *n == 1
        } else {
            match table.cores.get_mut(topic) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    table.cores.remove(topic);
                    true
                }
                None => false,
            }
        };
        if changed {
            table.changed.push(Arc::clone(topic));
        }
    }

    /// The `/metrics` lines.
    pub(crate) fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let s = &self.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let lines: [(&str, &str, &str, u64); 9] = [
            (
                "switchyard_cluster_connected",
                "gauge",
                "1 when both connections to Redis are up, else 0.",
                u64::from(self.connected()),
            ),
            (
                "switchyard_cluster_channels",
                "gauge",
                "Redis channels (topics with local subscribers) subscribed now.",
                get(&s.channels),
            ),
            (
                "switchyard_cluster_published_total",
                "counter",
                "Messages published to Redis for the other nodes.",
                get(&s.published),
            ),
            (
                "switchyard_cluster_received_total",
                "counter",
                "Messages from other nodes handed to the cores.",
                get(&s.received),
            ),
            (
                "switchyard_cluster_dropped_total",
                "counter",
                "Publishes not shared because the outbound queue was full (Redis slow).",
                get(&s.dropped),
            ),
            (
                "switchyard_cluster_not_shared_total",
                "counter",
                "Publishes not shared because Redis was disconnected.",
                get(&s.not_shared),
            ),
            (
                "switchyard_cluster_malformed_total",
                "counter",
                "Messages from Redis dropped as malformed or oversized.",
                get(&s.malformed),
            ),
            (
                "switchyard_cluster_reconnects_total",
                "counter",
                "Connections to Redis made again after a failure.",
                get(&s.reconnects),
            ),
            (
                "switchyard_cluster_queue",
                "gauge",
                "Messages waiting for the publisher thread.",
                self.outbound_rx.len() as u64,
            ),
        ];
        for (name, kind, help, v) in lines {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").field("url", &self.url).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_never_show_the_password() {
        let u = ClusterUrl::parse("redis://:s3cret@127.0.0.1:6380/2", None).unwrap();
        assert_eq!(u.to_string(), "redis://:***@127.0.0.1:6380/2");
        assert!(!format!("{u:?}").contains("s3cret"));
        let u = ClusterUrl::parse("redis://localhost", None).unwrap();
        assert_eq!(u.to_string(), "redis://localhost:6379/0");
        let u = ClusterUrl::parse("redis://user:pw@[::1]:7000/", Some("env")).unwrap();
        assert_eq!(u.password.as_deref(), Some("env"), "the variable wins");
        assert_eq!(u.to_string(), "redis://user:***@[::1]:7000/0");
        for bad in [
            "http://x",
            "rediss://x",
            "redis://",
            "redis://h:port",
            "redis://h/x",
            "redis://h/-1",
        ] {
            assert!(ClusterUrl::parse(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn interest_changes_only_on_the_first_and_last_core() {
        let e = Engine::new(ClusterUrl::parse("redis://h", None).unwrap(), 100);
        let t: Arc<str> = Arc::from("/a");
        e.core_interest(&t, true);
        e.core_interest(&t, true);
        e.core_interest(&t, false);
        assert_eq!(e.interest.lock().unwrap().changed.len(), 1);
        e.core_interest(&t, false);
        e.core_interest(&t, false);
        assert_eq!(e.interest.lock().unwrap().changed.len(), 2);
        assert!(e.interest.lock().unwrap().cores.is_empty());
    }
}
