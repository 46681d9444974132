//! Metrics: per-core counters, merged into Prometheus text on scrape.
//!
//! Each reactor owns one [`CoreMetrics`] and is its only writer, so a counter update is a
//! relaxed load and a relaxed store - two plain moves on x86 and ARM, no locked
//! read-modify-write and no cache line shared between cores (each block is aligned to 128
//! bytes). A scrape, on whichever core serves `GET /metrics`, reads every block with relaxed
//! loads and sums them; a sum may be a few events behind, never torn.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use switchyard_handshake::HandshakeError;

use crate::http;
use crate::tls::TlsFailure;

/// A counter with a single writer thread (the reactor that owns it).
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning reactor calls this; see the module docs.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts one (gauges only).
    #[inline]
    pub fn dec(&self) {
        self.0.store(self.0.load(Relaxed).wrapping_sub(1), Relaxed);
    }

    /// Sets the value (gauges only).
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }

    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Statuses of plain responses counted separately: exactly those [`http::respond`] sends;
/// anything else is counted as `other`.
pub const PLAIN_STATUSES: [u16; PLAIN_LEN] = http::PLAIN_STATUSES;
const PLAIN_LEN: usize = http::PLAIN_STATUSES.len();

/// Statuses the publish API answers with (`publish_api.rs`), counted separately.
pub const PUBLISH_STATUSES: [u16; 8] = [204, 400, 401, 403, 404, 405, 408, 413];

/// Statuses of rejects counted separately, ascending: exactly those the server can reject with,
/// the handshake crate's ([`HandshakeError::STATUSES`]) and this crate's own
/// ([`http::REJECT_STATUSES`]). A reject is never a 200, so no such series is shown; anything
/// else is counted as `other`.
pub const REJECT_STATUSES: [u16; REJECT_LEN] =
    union(&HandshakeError::STATUSES, &http::REJECT_STATUSES);
const REJECT_LEN: usize = union_len(&HandshakeError::STATUSES, &http::REJECT_STATUSES);

/// Whether `list[..len]` holds `value`.
const fn holds(list: &[u16], len: usize, value: u16) -> bool {
    let mut i = 0;
    while i < len {
        if list[i] == value {
            return true;
        }
        i += 1;
    }
    false
}

/// The number of distinct values in `a` and `b` together (at most 64: more fails the build).
const fn union_len(a: &[u16], b: &[u16]) -> usize {
    let mut seen = [0u16; 64];
    let mut n = 0;
    let mut i = 0;
    while i < a.len() + b.len() {
        let value = if i < a.len() { a[i] } else { b[i - a.len()] };
        if !holds(&seen, n, value) {
            seen[n] = value;
            n += 1;
        }
        i += 1;
    }
    n
}

/// The distinct values of `a` and `b`, ascending; `N` is their [`union_len`].
const fn union<const N: usize>(a: &[u16], b: &[u16]) -> [u16; N] {
    let mut out = [0u16; N];
    let mut n = 0;
    let mut i = 0;
    while i < a.len() + b.len() {
        let value = if i < a.len() { a[i] } else { b[i - a.len()] };
        if !holds(&out, n, value) {
            // Insertion into the sorted prefix.
            let mut j = n;
            while j > 0 && out[j - 1] > value {
                out[j] = out[j - 1];
                j -= 1;
            }
            out[j] = value;
            n += 1;
        }
        i += 1;
    }
    assert!(n == N, "N must be the union's length");
    out
}

/// Close codes counted separately; anything else is counted as `other`.
pub const CLOSE_CODES: [u16; 12] = [
    1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012,
];

/// A counter per value of a small label set, plus `other`.
#[derive(Debug)]
pub struct Labeled<const N: usize> {
    keys: &'static [u16; N],
    counts: [Counter; N],
    other: Counter,
}

impl<const N: usize> Labeled<N> {
    fn new(keys: &'static [u16; N]) -> Self {
        Self {
            keys,
            counts: std::array::from_fn(|_| Counter::default()),
            other: Counter::default(),
        }
    }

    /// Counts one event with label `key`.
    pub fn inc(&self, key: u16) {
        match self.keys.iter().position(|&k| k == key) {
            Some(i) => self.counts[i].inc(),
            None => self.other.inc(),
        }
    }

    /// Count for `key` (or for `other` when `key` is not one of the listed values).
    pub fn get(&self, key: u16) -> u64 {
        match self.keys.iter().position(|&k| k == key) {
            Some(i) => self.counts[i].get(),
            None => self.other.get(),
        }
    }
}

/// Which side sent the first close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseBy {
    /// The client closed (or the TCP connection was lost: code 1006).
    Client,
    /// The server closed: a limit, a protocol error, shutdown.
    Server,
}

/// One reactor's counters. Only that reactor writes them.
#[derive(Debug)]
#[repr(align(128))]
pub struct CoreMetrics {
    /// Open TCP connections (gauge).
    pub connections: Counter,
    /// Accepted TCP connections.
    pub accepted: Counter,
    /// Successful WebSocket upgrades.
    pub upgrades_websocket: Counter,
    /// Successful raw `Upgrade: tcp` tunnels.
    pub upgrades_tcp: Counter,
    /// Rejected handshakes and connections, by status ([`REJECT_STATUSES`]).
    pub rejects: Labeled<REJECT_LEN>,
    /// Plain HTTP responses, by status ([`PLAIN_STATUSES`]).
    pub http_responses: Labeled<PLAIN_LEN>,
    /// Publish API answers, by status ([`PUBLISH_STATUSES`]).
    pub publish_api: Labeled<8>,
    /// WebSocket messages received.
    pub messages_in: Counter,
    /// WebSocket messages sent (a broadcast counts once per recipient).
    pub messages_out: Counter,
    /// Payload bytes received (messages and tunnel bytes).
    pub bytes_in: Counter,
    /// Payload bytes sent (messages and tunnel bytes).
    pub bytes_out: Counter,
    /// Closes started by the client, by code.
    pub closes_by_client: Labeled<12>,
    /// Closes started by the server, by code.
    pub closes_by_server: Labeled<12>,
    /// Broadcast messages skipped for a slow subscriber.
    pub broadcast_skipped: Counter,
    /// Broadcast messages compressed (once per message and deflate window, shared by the
    /// subscribers that agreed it).
    pub broadcast_compressions: Counter,
    /// Times a sender stopped being read because a receiver's queue was over its cap.
    pub backpressure_pauses: Counter,
    /// Bridge backend connections that failed (refused, errored or timed out).
    pub bridge_connect_failures: Counter,
    /// Bridges (raw tunnels and WebSockets) closed after `tunnel_idle_timeout` of silence.
    pub tunnel_idle_closes: Counter,
    /// Request head bytes the parsers examined: equal to the head bytes received, however the
    /// heads were split across reads (each connection keeps its parser while a head is
    /// incomplete, so nothing is scanned twice).
    pub head_bytes_scanned: Counter,
    /// Bytes held in unfinished incoming messages and outbound queues (gauge, sampled on each
    /// keepalive sweep).
    pub memory_held: Counter,
    /// Connections closed with 1013 because the memory budget was spent (the largest holder).
    pub budget_sheds: Counter,
    /// Connections closed with 1009 because their message could not fit in the budget.
    pub budget_too_big: Counter,
    /// Connections closed with 1008 because a message took longer than `message_timeout`.
    pub message_timeouts: Counter,
    /// Topics with subscribers on this core (gauge).
    pub topics: Counter,
    /// Topic subscriptions on this core (gauge).
    pub subscriptions: Counter,
    /// Upgrades the app refused (`Upgrade::Reject`).
    pub app_rejects: Counter,
    /// TLS handshakes completed: full, resumed.
    pub tls_handshakes: [Counter; 2],
    /// TLS connections that failed, by [`TlsFailure::index`].
    pub tls_failures: [Counter; TlsFailure::ALL.len()],
}

impl Default for CoreMetrics {
    fn default() -> Self {
        Self {
            connections: Counter::default(),
            accepted: Counter::default(),
            upgrades_websocket: Counter::default(),
            upgrades_tcp: Counter::default(),
            rejects: Labeled::new(&REJECT_STATUSES),
            http_responses: Labeled::new(&PLAIN_STATUSES),
            publish_api: Labeled::new(&PUBLISH_STATUSES),
            messages_in: Counter::default(),
            messages_out: Counter::default(),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            closes_by_client: Labeled::new(&CLOSE_CODES),
            closes_by_server: Labeled::new(&CLOSE_CODES),
            broadcast_skipped: Counter::default(),
            broadcast_compressions: Counter::default(),
            backpressure_pauses: Counter::default(),
            bridge_connect_failures: Counter::default(),
            tunnel_idle_closes: Counter::default(),
            head_bytes_scanned: Counter::default(),
            memory_held: Counter::default(),
            budget_sheds: Counter::default(),
            budget_too_big: Counter::default(),
            message_timeouts: Counter::default(),
            topics: Counter::default(),
            subscriptions: Counter::default(),
            app_rejects: Counter::default(),
            tls_handshakes: Default::default(),
            tls_failures: Default::default(),
        }
    }
}

impl CoreMetrics {
    /// Counts a close sequence.
    pub fn close(&self, by: CloseBy, code: u16) {
        match by {
            CloseBy::Client => self.closes_by_client.inc(code),
            CloseBy::Server => self.closes_by_server.inc(code),
        }
    }
}

/// The app's own metrics, appended to the rendering.
pub type ExtraMetrics = Arc<dyn Fn(&mut String) + Send + Sync>;

/// Every core's counters; cloned (cheaply) into each reactor.
#[derive(Clone)]
pub struct Registry {
    cores: Arc<[CoreMetrics]>,
    extra: Option<ExtraMetrics>,
    cluster: Option<Arc<crate::cluster::Engine>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("cores", &self.cores.len())
            .finish()
    }
}

impl Registry {
    /// A registry for `cores` reactors.
    pub fn new(cores: usize) -> Self {
        Self {
            cores: (0..cores.max(1)).map(|_| CoreMetrics::default()).collect(),
            extra: None,
            cluster: None,
        }
    }

    /// Renders the cluster engine's metrics too, and lets `/healthz` report its state.
    pub(crate) fn with_cluster(mut self, engine: Arc<crate::cluster::Engine>) -> Self {
        self.cluster = Some(engine);
        self
    }

    /// Why the node is degraded, if it is: the cluster engine is configured but not connected
    /// to Redis.
    pub(crate) fn degraded(&self) -> Option<&'static str> {
        match &self.cluster {
            Some(engine) if !engine.connected() => Some("cluster engine disconnected"),
            _ => None,
        }
    }

    /// Appends `extra` (the app's metrics) to every rendering.
    pub fn with_extra(mut self, extra: ExtraMetrics) -> Self {
        self.extra = Some(extra);
        self
    }

    /// The counters of reactor `core`.
    pub fn core(&self, core: usize) -> &CoreMetrics {
        &self.cores[core % self.cores.len()]
    }

    fn sum(&self, f: impl Fn(&CoreMetrics) -> u64) -> u64 {
        self.cores.iter().map(f).fold(0, u64::wrapping_add)
    }

    /// The shutdown summary: totals over every core, in plain words.
    pub fn summary(&self) -> String {
        format!(
            "accepted {} connections, {} WebSocket upgrades, {} tunnels; {} messages in ({} bytes), \
             {} messages out ({} bytes); {} budget closes",
            self.sum(|c| c.accepted.get()),
            self.sum(|c| c.upgrades_websocket.get()),
            self.sum(|c| c.upgrades_tcp.get()),
            self.sum(|c| c.messages_in.get()),
            self.sum(|c| c.bytes_in.get()),
            self.sum(|c| c.messages_out.get()),
            self.sum(|c| c.bytes_out.get()),
            self.sum(|c| {
                c.budget_sheds.get() + c.budget_too_big.get() + c.message_timeouts.get()
            }),
        )
    }

    /// Open TCP connections over every core.
    pub fn connections(&self) -> u64 {
        self.sum(|c| c.connections.get())
    }

    /// Renders every metric in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };

        head(
            &mut out,
            "switchyard_connections",
            "gauge",
            "Open TCP connections, per reactor core.",
        );
        for (i, c) in self.cores.iter().enumerate() {
            // A gauge decremented by its only writer never goes below zero; the cast guards
            // against a torn read during a wrap that cannot happen in practice.
            let v = c.connections.get() as i64;
            let _ = writeln!(out, "switchyard_connections{{core=\"{i}\"}} {v}");
        }
        head(
            &mut out,
            "switchyard_memory_held_bytes",
            "gauge",
            "Bytes held in unfinished incoming messages and outbound queues, per reactor core \
             (sampled about once a second), against --memory-budget split between the cores.",
        );
        for (i, c) in self.cores.iter().enumerate() {
            let _ = writeln!(
                out,
                "switchyard_memory_held_bytes{{core=\"{i}\"}} {}",
                c.memory_held.get()
            );
        }
        head(
            &mut out,
            "switchyard_budget_closes_total",
            "counter",
            "Connections closed by the memory budget, by reason: shed (1013, the largest holder \
             when the budget ran out), too_big (1009, a message that could not fit), \
             message_timeout (1008, a message slower than --message-timeout).",
        );
        for (reason, f) in [
            (
                "shed",
                (|c: &CoreMetrics| c.budget_sheds.get()) as fn(&CoreMetrics) -> u64,
            ),
            ("too_big", |c| c.budget_too_big.get()),
            ("message_timeout", |c| c.message_timeouts.get()),
        ] {
            let _ = writeln!(
                out,
                "switchyard_budget_closes_total{{reason=\"{reason}\"}} {}",
                self.sum(f)
            );
        }
        head(
            &mut out,
            "switchyard_connections_accepted_total",
            "counter",
            "Accepted TCP connections, per reactor core.",
        );
        for (i, c) in self.cores.iter().enumerate() {
            let _ = writeln!(
                out,
                "switchyard_connections_accepted_total{{core=\"{i}\"}} {}",
                c.accepted.get()
            );
        }

        head(
            &mut out,
            "switchyard_upgrades_total",
            "counter",
            "Successful protocol upgrades, by protocol.",
        );
        let _ = writeln!(
            out,
            "switchyard_upgrades_total{{protocol=\"websocket\"}} {}",
            self.sum(|c| c.upgrades_websocket.get())
        );
        let _ = writeln!(
            out,
            "switchyard_upgrades_total{{protocol=\"tcp\"}} {}",
            self.sum(|c| c.upgrades_tcp.get())
        );

        head(
            &mut out,
            "switchyard_tls_handshakes_total",
            "counter",
            "TLS handshakes completed, by kind: full, or resumed from a ticket or session id.",
        );
        for (i, kind) in ["full", "resumed"].into_iter().enumerate() {
            let _ = writeln!(
                out,
                "switchyard_tls_handshakes_total{{kind=\"{kind}\"}} {}",
                self.sum(|c| c.tls_handshakes[i].get())
            );
        }
        head(
            &mut out,
            "switchyard_tls_failures_total",
            "counter",
            "TLS connections that failed, by reason: plain_http, not_tls, truncated (the stream \
             ended inside the handshake), handshake_timeout, no_alpn (no http/1.1 offered), \
             incompatible (no version, suite or group in common), alert_received, protocol.",
        );
        for f in TlsFailure::ALL {
            let _ = writeln!(
                out,
                "switchyard_tls_failures_total{{reason=\"{}\"}} {}",
                f.label(),
                self.sum(|c| c.tls_failures[f.index()].get())
            );
        }

        self.labeled(
            &mut out,
            "switchyard_rejects_total",
            "Rejected handshakes and connections, by HTTP status.",
            "status",
            &REJECT_STATUSES,
            |c| &c.rejects,
        );
        self.labeled(
            &mut out,
            "switchyard_http_responses_total",
            "Plain HTTP responses (page, healthz, metrics, 404), by status.",
            "status",
            &PLAIN_STATUSES,
            |c| &c.http_responses,
        );
        self.labeled(
            &mut out,
            "switchyard_publish_api_total",
            "Publish API requests (POST to a broadcast route), by HTTP status.",
            "status",
            &PUBLISH_STATUSES,
            |c| &c.publish_api,
        );

        for (name, help, f) in [
            (
                "switchyard_messages_in_total",
                "WebSocket messages received.",
                (|c: &CoreMetrics| c.messages_in.get()) as fn(&CoreMetrics) -> u64,
            ),
            (
                "switchyard_messages_out_total",
                "WebSocket messages sent; a broadcast counts once per recipient.",
                |c| c.messages_out.get(),
            ),
            (
                "switchyard_bytes_in_total",
                "Payload bytes received (messages and tunnels).",
                |c| c.bytes_in.get(),
            ),
            (
                "switchyard_bytes_out_total",
                "Payload bytes sent (messages and tunnels).",
                |c| c.bytes_out.get(),
            ),
            (
                "switchyard_broadcast_skipped_total",
                "Broadcast messages skipped for a subscriber over its outbound cap.",
                |c| c.broadcast_skipped.get(),
            ),
            (
                "switchyard_broadcast_compressions_total",
                "Broadcast messages compressed for permessage-deflate subscribers (once per \
                 message and window, the frame shared by all of them).",
                |c| c.broadcast_compressions.get(),
            ),
            (
                "switchyard_backpressure_pauses_total",
                "Times a sender stopped being read because a receiver was over its outbound cap.",
                |c| c.backpressure_pauses.get(),
            ),
            (
                "switchyard_bridge_connect_failures_total",
                "Bridge backend connections that failed (refused, errored or timed out).",
                |c| c.bridge_connect_failures.get(),
            ),
            (
                "switchyard_tunnel_idle_closes_total",
                "Bridges (raw tunnels and WebSockets) closed for carrying no byte either way.",
                |c| c.tunnel_idle_closes.get(),
            ),
            (
                "switchyard_head_bytes_scanned_total",
                "Request head bytes examined by the parsers (each byte once, however split).",
                |c| c.head_bytes_scanned.get(),
            ),
        ] {
            head(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", self.sum(f));
        }

        head(
            &mut out,
            "switchyard_closes_total",
            "counter",
            "WebSocket closes, by close code and by the side that closed first.",
        );
        for (by, pick) in [
            (
                "client",
                (|c: &CoreMetrics| &c.closes_by_client) as fn(&CoreMetrics) -> &Labeled<12>,
            ),
            ("server", |c| &c.closes_by_server),
        ] {
            for &code in &CLOSE_CODES {
                let _ = writeln!(
                    out,
                    "switchyard_closes_total{{by=\"{by}\",code=\"{code}\"}} {}",
                    self.sum(|c| pick(c).get(code))
                );
            }
            let _ = writeln!(
                out,
                "switchyard_closes_total{{by=\"{by}\",code=\"other\"}} {}",
                self.sum(|c| pick(c).other.get())
            );
        }
        for (name, help, get) in [
            (
                "switchyard_topics",
                "Topics with at least one subscriber, per reactor core (a topic with \
                 subscribers on two cores counts on both).",
                (|c: &CoreMetrics| c.topics.get()) as fn(&CoreMetrics) -> u64,
            ),
            (
                "switchyard_topic_subscriptions",
                "Topic subscriptions, per reactor core.",
                |c| c.subscriptions.get(),
            ),
        ] {
            head(&mut out, name, "gauge", help);
            for (i, c) in self.cores.iter().enumerate() {
                let _ = writeln!(out, "{name}{{core=\"{i}\"}} {}", get(c));
            }
        }
        head(
            &mut out,
            "switchyard_app_rejects_total",
            "counter",
            "Upgrades the app refused (its upgrade handler answered a status).",
        );
        let _ = writeln!(
            out,
            "switchyard_app_rejects_total {}",
            self.sum(|c| c.app_rejects.get())
        );
        if let Some(cluster) = &self.cluster {
            cluster.render(&mut out);
        }
        if let Some(extra) = &self.extra {
            extra(&mut out);
        }
        out
    }

    fn labeled<const N: usize>(
        &self,
        out: &mut String,
        name: &str,
        help: &str,
        label: &str,
        keys: &[u16; N],
        pick: impl Fn(&CoreMetrics) -> &Labeled<N>,
    ) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for &k in keys {
            let _ = writeln!(
                out,
                "{name}{{{label}=\"{k}\"}} {}",
                self.sum(|c| pick(c).get(k))
            );
        }
        let _ = writeln!(
            out,
            "{name}{{{label}=\"other\"}} {}",
            self.sum(|c| pick(c).other.get())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} missing from\n{text}"))
    }

    #[test]
    fn counters_merge_across_cores_on_render() {
        let r = Registry::new(2);
        r.core(0).messages_in.add(3);
        r.core(1).messages_in.add(4);
        r.core(0).connections.inc();
        r.core(1).connections.inc();
        r.core(1).connections.inc();
        r.core(1).connections.dec();
        r.core(1).rejects.inc(431);
        r.core(0).rejects.inc(431);
        r.core(0).rejects.inc(999);
        r.core(0).close(CloseBy::Server, 1009);
        r.core(1).close(CloseBy::Client, 4000);
        let t = r.render();
        assert_eq!(value(&t, "switchyard_messages_in_total"), 7);
        assert_eq!(value(&t, "switchyard_connections{core=\"0\"}"), 1);
        assert_eq!(value(&t, "switchyard_connections{core=\"1\"}"), 1);
        assert_eq!(value(&t, "switchyard_rejects_total{status=\"431\"}"), 2);
        assert_eq!(value(&t, "switchyard_rejects_total{status=\"other\"}"), 1);
        // A reject is never a success: no 200 series to misread; plain responses have one.
        assert!(!t.contains("switchyard_rejects_total{status=\"200\"}"));
        assert!(t.contains("switchyard_http_responses_total{status=\"200\"}"));
        assert_eq!(
            value(&t, "switchyard_closes_total{by=\"server\",code=\"1009\"}"),
            1
        );
        assert_eq!(
            value(&t, "switchyard_closes_total{by=\"client\",code=\"other\"}"),
            1
        );
    }

    #[test]
    fn every_sample_line_is_well_formed() {
        let t = Registry::new(3).render();
        for line in t.lines() {
            if line.starts_with('#') {
                assert!(line.starts_with("# HELP ") || line.starts_with("# TYPE "));
                continue;
            }
            let (series, v) = line.rsplit_once(' ').unwrap();
            assert!(series.starts_with("switchyard_"), "{line}");
            v.parse::<i64>().unwrap();
        }
    }

    #[test]
    fn every_status_the_server_sends_has_its_own_series() {
        assert_eq!(
            REJECT_STATUSES,
            [400, 403, 408, 417, 426, 431, 500, 501, 502, 503, 504, 505]
        );
        let r = Registry::new(1);
        // Every status a HandshakeError is answered with, and the server's own rejects.
        for status in HandshakeError::STATUSES
            .into_iter()
            .chain(http::REJECT_STATUSES)
        {
            r.core(0).rejects.inc(status);
        }
        for status in PLAIN_STATUSES {
            r.core(0).http_responses.inc(status);
        }
        let t = r.render();
        for status in HandshakeError::STATUSES
            .into_iter()
            .chain(http::REJECT_STATUSES)
        {
            let series = format!("switchyard_rejects_total{{status=\"{status}\"}}");
            assert_eq!(value(&t, &series), 1, "{series}");
        }
        assert_eq!(value(&t, "switchyard_rejects_total{status=\"other\"}"), 0);
        for status in PLAIN_STATUSES {
            let series = format!("switchyard_http_responses_total{{status=\"{status}\"}}");
            assert_eq!(value(&t, &series), 1, "{series}");
        }
        // Only the publish API sends 413, counted in its own series, not as a reject.
        assert!(!t.contains("switchyard_rejects_total{status=\"413\"}"));
        assert!(t.contains("switchyard_publish_api_total{status=\"413\"} 0"));
    }

    #[test]
    fn status_union_is_sorted_and_distinct() {
        const U: [u16; 4] = union(&[503, 400, 408], &[408, 200, 400]);
        assert_eq!(union_len(&[503, 400, 408], &[408, 200, 400]), 4);
        assert_eq!(U, [200, 400, 408, 503]);
    }

    #[test]
    fn core_blocks_do_not_share_cache_lines() {
        assert_eq!(std::mem::align_of::<CoreMetrics>(), 128);
    }
}
