//! Configuration: command-line flags over an optional TOML file over built-in defaults.
//!
//! One type, [`Settings`], holds every setting as an `Option`; clap fills it from the command
//! line and serde from the TOML file, so a flag and its key cannot drift apart. [`Settings::or`]
//! merges two of them field by field (flag, then file), [`Config::default`] is the one place the
//! defaults live (`--help` shows them from there), and [`Settings::resolve`] turns the merge into
//! the [`Config`] the server runs with, refusing impossible values with a [`ConfigError`]
//! ([`Config::validate`]).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use serde::Deserialize;

use crate::access_log::LogFormat;
use crate::auth::{JwtVerifier, SUBPROTOCOL_PREFIX};
use crate::cluster::ClusterUrl;
use crate::routes::RouteTable;
use crate::tls::CertStore;

mod error;
mod settings;

pub use error::ConfigError;
pub use settings::{Cli, RouteSpec, Settings};

/// What a broadcast route does with a subscriber whose outbound queue is over its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SlowSubscriber {
    /// Close the subscriber with 1008 (policy violation): it cannot keep up, and a fan-out must
    /// not hold memory for it. The default, because silently missing messages is worse for most
    /// pub/sub users than a clean close they can reconnect after.
    Close,
    /// Skip the message for that subscriber and keep it connected (lossy, like UDP multicast).
    Skip,
}

/// What the server does with a client's permessage-deflate (RFC 7692) offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DeflateMode {
    /// Decline every offer: messages go uncompressed.
    Off,
    /// Accept, imposing no context takeover in both directions (each message is compressed on
    /// its own). The default: browsers offer deflate on every connection, and without context
    /// takeover an idle connection keeps about 0.5 KiB of codec state (compressors are borrowed
    /// per message from a per-core spare) against about 331 KiB with it (the frame crate's
    /// `deflate_memory` example at 10,000 connections): 3.3 GB per 10,000 idle browsers is not a
    /// sane default. The cost is a worse ratio on streams of similar small messages.
    On,
    /// Accept with context takeover when the client allows it: better compression, about
    /// 331 KiB of resident memory per connection that negotiated it.
    Takeover,
}

impl DeflateMode {
    /// The name used on the command line and in the TOML file.
    pub fn as_str(self) -> &'static str {
        match self {
            DeflateMode::Off => "off",
            DeflateMode::On => "on",
            DeflateMode::Takeover => "takeover",
        }
    }
}

/// Shortest duration setting: the reactors' timers tick in milliseconds.
pub const MIN_DURATION: Duration = Duration::from_millis(1);
/// Longest duration setting, one day: longer keepalives or deadlines are typos, and reactor
/// timer arithmetic stays far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(86_400);
/// Most reactor threads: each is a thread, an epoll instance and a mailbox; thousands are a
/// typo, not a deployment.
pub const MAX_WORKERS: usize = 1024;
/// Largest message and outbound cap, 1 GiB: a message is held whole in memory (Autobahn's
/// largest is 16 MiB), and one client should not be allowed to take a machine's memory.
pub const MAX_BUFFER: usize = 1 << 30;
/// Largest request head, 1 MiB: the head is buffered per connection before any check runs.
pub const MAX_HEAD_SIZE: usize = 1 << 20;
/// Most connections, 2^24: far past what a process's memory holds at a few KiB each.
pub const MAX_CONNECTIONS: usize = 1 << 24;

/// Largest JWT leeway, 5 min: past that it no longer covers clock skew but extends every
/// token's life.
pub const MAX_JWT_LEEWAY: Duration = Duration::from_secs(300);

/// The environment variable an HS256 secret may come from (`--jwt-secret-file` is the other
/// way; a secret is never a flag, which `ps` would show to every user).
pub const JWT_SECRET_ENV: &str = "SWITCHYARD_JWT_SECRET";

/// Smallest memory budget, 64 KiB: less cannot hold one read's worth of a fragmented message.
pub const MIN_MEMORY_BUDGET: usize = 64 << 10;

/// A quarter of the machine's memory (`MemTotal` in `/proc/meminfo`), or 1 GiB where that
/// cannot be read.
fn default_memory_budget() -> usize {
    let total_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<usize>().ok()
        });
    match total_kib {
        Some(kib) => kib.saturating_mul(1024) / 4,
        None => 1 << 30,
    }
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listening addresses. Default `127.0.0.1:8080`: loopback only, so a first run exposes
    /// nothing to the network; none when TLS listeners are given without plain ones.
    pub listen: Vec<SocketAddr>,
    /// TLS listening addresses (`wss://`, `https://`), serving what the plain ones do. Default
    /// none. Needs [`Config::tls`]. Every route, the page, `/healthz` and `/metrics` are served
    /// over them as over the plain ones (TLS is netio's transport under the same code).
    pub listen_tls: Vec<SocketAddr>,
    /// The certificates of the TLS listeners, read and checked at start-up (see
    /// [`crate::tls::CertStore`]); shared with every reactor and reloaded in place. Default none.
    pub tls: Option<Arc<CertStore>>,
    /// Poll the certificate and key files every so often and reload them when one changed
    /// ([`CertStore::reload_if_changed`]). Default `None`: SIGHUP is the reload trigger, which
    /// certbot and most ACME clients can send from a deploy hook; a poll is for deployments
    /// that cannot signal (a mounted Kubernetes secret), and costs reading each file (a few KiB)
    /// per interval.
    pub tls_reload_interval: Option<Duration>,
    /// Share the listen addresses with other processes (`SO_REUSEPORT`, netio's `reuse_port`):
    /// a second Switchyard on the same address that also sets it starts, and the kernel
    /// spreads new connections over both (zero-downtime restarts). Default false: a second
    /// process on an address in use fails to start with an error naming the address, instead
    /// of silently taking a share of the connections.
    pub reuse_port: bool,
    /// Accepted subprotocols in server preference order. Default none.
    pub subprotocols: Vec<String>,
    /// Path to app. Default: `/broadcast` broadcasts, every other path echoes (the built-in page
    /// relies on both).
    pub routes: RouteTable,
    /// Reactor threads. Default: one per entry of `cpus`, else one per available core
    /// (thread-per-core).
    pub workers: usize,
    /// CPUs to pin to (reactor `i` gets `cpus[i % len]`); empty means every core the process
    /// may run on, likewise round-robin when `workers` exceeds them.
    pub cpus: Vec<usize>,
    /// Pin each reactor to a core. Default true: a pinned reactor keeps its caches warm.
    pub pin: bool,
    /// A file-descriptor table per reactor thread (netio's `private_descriptor_tables`), so
    /// that `RLIMIT_NOFILE` bounds each reactor rather than the process. Default false: it
    /// changes what `/proc/PID/fd` shows and costs a kernel table per reactor, and where the
    /// limit can be raised that is the simpler fix.
    pub private_fd_tables: bool,
    /// Allowed `Origin` values; empty allows any. Default empty: a server on loopback has no
    /// origin to protect until its operator names one.
    pub allowed_origins: Vec<String>,
    /// Connection limit. Default 262,144: enough for the 100,000-connection idle benchmark, far
    /// below what the kernel's memory allows.
    pub max_connections: usize,
    /// Request head size limit. Default 8 KiB, as most HTTP servers (nginx, the handshake crate).
    pub max_head_size: usize,
    /// Time allowed for a complete request head. Default 10 s, a slowloris guard.
    pub head_timeout: Duration,
    /// Maximum message size (after decompression). Default 16 MiB: Autobahn's largest
    /// message, which real clients of a conformant server may send; between the peers'
    /// choices (uWebSockets 16 KiB, Python `websockets` 1 MiB, Node `ws` 100 MiB, tungstenite
    /// 64 MiB). A single message is never held past the memory budget either.
    pub max_message_size: usize,
    /// Silence before a keepalive ping. Default 30 s, below common NAT and proxy idle timeouts.
    pub ping_interval: Duration,
    /// Silence before a connection is closed. Default 75 s: a ping at 30 s and its pong have
    /// had 45 s more to arrive.
    pub idle_timeout: Duration,
    /// Outbound queue cap per connection. Default 1 MiB: enough to keep a fast link busy,
    /// small enough that 10,000 stalled clients cost at most 10 GiB in the worst case.
    pub outbound_cap: usize,
    /// Memory the process may hold in unfinished incoming messages (fragments assembled, data
    /// inflated) and outbound queues, in bytes, split evenly between the reactors. When a
    /// reactor would pass its share, the connection holding the most is closed with 1013 (try
    /// again later), and a message that cannot fit even then gets 1009; well-behaved clients,
    /// whose whole messages are decoded in the read buffer and hold nothing, are never the
    /// ones closed. Default: a quarter of the machine's memory (`MemTotal`, 1 GiB where it
    /// cannot be read), so that the server can never take the machine down with it. The
    /// per-connection limits alone bound nothing in aggregate: 100,000 connections at 16 MiB
    /// messages and 1 MiB queues could claim 1.7 TB. On a modest 4 GiB machine the budget is
    /// 1 GiB, an average of 10 KiB for each of 100,000 connections, against the 80 bytes an
    /// idle one costs and nothing for one whose messages arrive whole: the budget only bites
    /// when many clients hold large unfinished messages or stop reading at once, and then it
    /// closes them, largest first.
    pub memory_budget: usize,
    /// Time a message may take to arrive whole, from its first byte. Default 60 s: a 16 MiB
    /// message needs about 2.2 Mbit/s to make it, and a client that parks a half-sent message
    /// while answering pings is cut well before keepalive would notice.
    pub message_timeout: Duration,
    /// Broadcast policy for slow subscribers. Default [`SlowSubscriber::Close`].
    pub slow_subscriber: SlowSubscriber,
    /// How long a connection the server decided to close (a close frame sent, or an HTTP
    /// response after which it closes) may take to flush what is queued and finish the close
    /// handshake before it is cut. Default 10 s: a close needs one round trip after the
    /// queued bytes leave, and 10 s covers a slow mobile link draining a full outbound queue
    /// while bounding how long a peer that never answers holds a connection.
    pub close_timeout: Duration,
    /// Graceful shutdown deadline. Default 5 s: systemd's default stop timeout is 90 s, a
    /// container's 10 s; 5 s leaves room for both.
    pub shutdown_timeout: Duration,
    /// Time a bridge route's backend has to accept the connection before the client, still
    /// waiting for its `101`, gets `504 Gateway Timeout`. Default 5 s: a backend on the same
    /// network answers in milliseconds, and a dropped SYN is retried after 1 s and 3 s, so 5 s
    /// covers two retries while a client is still willing to wait.
    pub backend_connect_timeout: Duration,
    /// Silence in both directions after which a bridge (raw tunnel or WebSocket) is closed: a
    /// WebSocket client with 1001, a raw client and the backend with a FIN. Default 5 min: the
    /// WebSocket keepalive proves only that the client is alive, not that the tunnel is used,
    /// and a backend that vanished without a FIN would otherwise hold two sockets forever.
    /// Common proxies close a silent proxied connection far sooner (nginx's
    /// `proxy_read_timeout` and AWS load balancers' idle timeout default to 60 s), so tunnelled
    /// protocols that expect to sit idle already send keepalives more often than that; 5 min
    /// leaves a wide margin for them.
    pub tunnel_idle_timeout: Duration,
    /// A second listening address for the operator's endpoints: when set, `/healthz` and
    /// `/metrics` (at [`Config::healthz_path`] and [`Config::metrics_path`]) are served only
    /// there, so they can stay off the public network, and the public listeners answer those
    /// paths like any other. Default none: both are served on every listener, as before.
    pub admin_listen: Option<SocketAddr>,
    /// Path of the built-in demo page (plain `GET`), or `None` for no page. Default `/`: the
    /// page checks echo and broadcast from a browser, the quickest proof that a deployment
    /// works; operators who serve their own front page turn it off.
    pub page_path: Option<String>,
    /// Path of the health check (`200 ok`), or `None` for none. Default `/healthz`, the name
    /// Kubernetes examples and most load balancers' docs use.
    pub healthz_path: Option<String>,
    /// Path of the Prometheus metrics, or `None` for none. Default `/metrics`, where Prometheus
    /// scrapes by default.
    pub metrics_path: Option<String>,
    /// JWT verification for every WebSocket and tunnel upgrade: without a valid token a client
    /// gets 401 (see [`crate::auth`]). Default `None`: no authentication, as before; the
    /// settings (`--jwt-secret-file`, [`JWT_SECRET_ENV`], `--jwt-public-key`, `--jwt-audience`,
    /// `--jwt-leeway`) are resolved into one verifier at start-up, the key read and checked
    /// once.
    pub jwt: Option<Arc<JwtVerifier>>,
    /// Log level filter. Default `info`.
    pub log_level: String,
    /// How log lines are written. Default [`LogFormat::Text`]: people read a terminal or the
    /// journal more often than a collector does, and `--log-format json` is one flag away.
    pub log_format: LogFormat,
    /// An access-log line (info level) for every finished connection: peer, path, subprotocol,
    /// duration, messages and bytes each way, close code and who closed. Default off: the
    /// line needs a record kept per connection from its upgrade to its close (start time,
    /// peer, path, subprotocol, four counters; `access.rs`), about 150 bytes for every open
    /// connection, against our target of at most 100 B per idle connection (80 B measured
    /// without it); a server with 100,000 idle connections would pay 15 MB for a log most
    /// deployments get from their load balancer. Off, it costs nothing.
    pub access_log: bool,
    /// permessage-deflate policy. Default [`DeflateMode::On`] (no context takeover); the
    /// variant docs give the memory figures behind that choice.
    pub deflate: DeflateMode,
    /// The cluster engine's Redis (`--cluster redis://HOST:PORT[/DB]`, see
    /// [`crate::cluster`]): broadcast topics shared with every other process using the same
    /// Redis. Default `None`: topics stop at the process boundary, and nothing of the engine
    /// runs or costs anything.
    pub cluster: Option<ClusterUrl>,
    /// The publish API's bearer token (`--publish-token-file`, or [`PUBLISH_TOKEN_ENV`]):
    /// `POST` to a broadcast route's path publishes the body (see `publish_api.rs`). Default
    /// `None`: the API is off, and a `POST` gets what it did before (404).
    pub publish_token: Option<Arc<PublishToken>>,
    /// On SIGTERM (graceful shutdown), the 1001 closes are spread evenly at random over this
    /// window instead of sent at once, so that clients do not reconnect as one storm
    /// (`--drain-window SECS`). The shutdown deadline grows by the window. Default zero: every
    /// close at once, as before.
    pub drain_window: Duration,
}

/// The environment variable the publish API's token may come from (`--publish-token-file` is
/// the other way; a token is never a flag, which `ps` would show to every user).
pub const PUBLISH_TOKEN_ENV: &str = "SWITCHYARD_PUBLISH_TOKEN";

/// The publish API's bearer token. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct PublishToken(Vec<u8>);

impl PublishToken {
    /// A token from its bytes (a trailing newline is the caller's to remove).
    pub fn new(token: impl Into<Vec<u8>>) -> Self {
        PublishToken(token.into())
    }

    /// Whether `given` is the token, in time that depends on the lengths only, not on where
    /// the first difference is (a timing side channel would let a client guess it byte by
    /// byte).
    pub fn matches(&self, given: &[u8]) -> bool {
        let mut diff = u8::from(given.len() != self.0.len());
        // Compare against the token's own bytes when the lengths differ, so the loop always
        // runs over the given token's length.
        for (i, b) in given.iter().enumerate() {
            let t = self.0.get(i).copied().unwrap_or(0);
            diff |= t ^ b;
        }
        std::hint::black_box(diff) == 0
    }
}

impl std::fmt::Debug for PublishToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublishToken(***)")
    }
}

impl Default for Config {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 8080))],
            listen_tls: Vec::new(),
            tls: None,
            tls_reload_interval: None,
            reuse_port: false,
            subprotocols: Vec::new(),
            routes: RouteTable::default_table(),
            workers,
            cpus: Vec::new(),
            pin: true,
            private_fd_tables: false,
            allowed_origins: Vec::new(),
            max_connections: 262_144,
            max_head_size: 8 * 1024,
            head_timeout: Duration::from_secs(10),
            max_message_size: 16 << 20,
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            outbound_cap: 1 << 20,
            memory_budget: default_memory_budget(),
            message_timeout: Duration::from_secs(60),
            slow_subscriber: SlowSubscriber::Close,
            close_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(5),
            backend_connect_timeout: Duration::from_secs(5),
            tunnel_idle_timeout: Duration::from_secs(300),
            admin_listen: None,
            page_path: Some("/".to_owned()),
            healthz_path: Some("/healthz".to_owned()),
            metrics_path: Some("/metrics".to_owned()),
            jwt: None,
            log_level: "info".to_owned(),
            log_format: LogFormat::Text,
            access_log: false,
            deflate: DeflateMode::On,
            cluster: None,
            publish_token: None,
            drain_window: Duration::ZERO,
        }
    }
}

impl Config {
    /// Resolves flags over the file they name (if any) over the defaults.
    pub fn from_cli(flags: Settings) -> Result<Self, ConfigError> {
        let file = match &flags.config {
            Some(path) => Settings::read_file(path)?,
            None => Settings::default(),
        };
        flags.or(file).resolve()
    }

    /// The start-up log line's description: workers, pinning, routes, limits (plain words,
    /// no Rust `Debug` syntax).
    pub fn summary(&self) -> String {
        fn join(items: &[usize]) -> String {
            let items: Vec<String> = items.iter().map(ToString::to_string).collect();
            items.join(",")
        }
        let pinning = if !self.pin {
            "unpinned".to_owned()
        } else if self.cpus.is_empty() {
            "pinned round-robin over the available cores".to_owned()
        } else if self.workers > self.cpus.len() {
            format!("pinned round-robin over cpus {}", join(&self.cpus))
        } else {
            format!("pinned to cpus {}", join(&self.cpus[..self.workers]))
        };
        let tables = if self.private_fd_tables {
            ", a descriptor table each"
        } else {
            ""
        };
        let path = |p: &Option<String>| p.clone().unwrap_or_else(|| "off".to_owned());
        let admin = match self.admin_listen {
            Some(addr) => format!(" admin_listen={addr}"),
            None => String::new(),
        };
        let jwt = match &self.jwt {
            Some(v) => match v.audience() {
                Some(aud) => format!("{} (audience {aud})", v.algorithm()),
                None => v.algorithm().to_string(),
            },
            None => "off".to_owned(),
        };
        let tls = match &self.tls {
            Some(store) => {
                let addrs: Vec<String> = self.listen_tls.iter().map(ToString::to_string).collect();
                format!(" listen_tls={} tls=[{}]", addrs.join(","), store.summary())
            }
            None => String::new(),
        };
        // The URL's Display never shows the password.
        let cluster = match &self.cluster {
            Some(url) => format!(" cluster={url}"),
            None => String::new(),
        };
        let publish = if self.publish_token.is_some() {
            " publish_api=on"
        } else {
            ""
        };
        format!(
            "workers={} ({pinning}{tables}) routes=[{}] subprotocols=[{}] max_message_size={} max_connections={} deflate={} page={} healthz={} metrics={}{admin} jwt={jwt} access_log={}{tls}{cluster}{publish}",
            self.workers,
            self.routes.describe(),
            self.subprotocols.join(" "),
            self.max_message_size,
            self.max_connections,
            self.deflate.as_str(),
            path(&self.page_path),
            path(&self.healthz_path),
            path(&self.metrics_path),
            if self.access_log { "on" } else { "off" },
        )
    }

    /// Refuses what cannot work: empty or repeated listen addresses, an admin address that is
    /// also a listen address, numbers and durations out of range, CPUs the process may not run
    /// on, a ping that cannot be answered before the idle close, unknown log levels,
    /// subprotocols that are not tokens or that would take a token's place (`bearer.`), page,
    /// health and metrics paths that are not paths or share one path, TLS listeners without
    /// certificates and certificates without TLS listeners.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.is_empty() && self.listen_tls.is_empty() {
            return Err(ConfigError::NoListen);
        }
        let mut seen = HashSet::new();
        let all = self.listen.iter().chain(&self.listen_tls);
        if let Some(a) = all.clone().find(|a| a.port() != 0 && !seen.insert(**a)) {
            return Err(ConfigError::DuplicateListen(*a));
        }
        self.validate_tls_listeners(self.tls.is_some())?;
        if let Some(d) = self.tls_reload_interval {
            if !(MIN_DURATION..=MAX_DURATION).contains(&d) {
                let value = d.as_secs_f64();
                return Err(ConfigError::BadSeconds {
                    key: "tls_reload_interval",
                    value,
                });
            }
        }
        for (key, value, min, max) in [
            ("workers", self.workers, 1, MAX_WORKERS),
            ("max_connections", self.max_connections, 1, MAX_CONNECTIONS),
            ("max_head_size", self.max_head_size, 64, MAX_HEAD_SIZE),
            ("max_message_size", self.max_message_size, 1, MAX_BUFFER),
            ("outbound_cap", self.outbound_cap, 1, MAX_BUFFER),
            (
                "memory_budget",
                self.memory_budget,
                MIN_MEMORY_BUDGET,
                usize::MAX,
            ),
        ] {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::OutOfRange {
                    key,
                    value,
                    min,
                    max,
                });
            }
        }
        for (key, d) in [
            ("head_timeout", self.head_timeout),
            ("ping_interval", self.ping_interval),
            ("idle_timeout", self.idle_timeout),
            ("close_timeout", self.close_timeout),
            ("message_timeout", self.message_timeout),
            ("shutdown_timeout", self.shutdown_timeout),
            ("backend_connect_timeout", self.backend_connect_timeout),
            ("tunnel_idle_timeout", self.tunnel_idle_timeout),
        ] {
            if !(MIN_DURATION..=MAX_DURATION).contains(&d) {
                let value = d.as_secs_f64();
                return Err(ConfigError::BadSeconds { key, value });
            }
        }
        if self.idle_timeout <= self.ping_interval {
            return Err(ConfigError::IdleNotAfterPing {
                ping_interval: self.ping_interval,
                idle_timeout: self.idle_timeout,
            });
        }
        if let Some(available) = available_cpus().filter(|a| !a.is_empty()) {
            if let Some(&cpu) = self.cpus.iter().find(|c| !available.contains(c)) {
                return Err(ConfigError::NoSuchCpu { cpu, available });
            }
        }
        if !["error", "warn", "info", "debug", "trace", "off"]
            .contains(&self.log_level.to_ascii_lowercase().as_str())
        {
            return Err(ConfigError::LogLevel(self.log_level.clone()));
        }
        if let Some(p) =
            (self.subprotocols.iter()).find(|p| !switchyard_handshake::is_token(p.as_bytes()))
        {
            return Err(ConfigError::Subprotocol(p.clone()));
        }
        if let Some(p) = (self.subprotocols.iter()).find(|p| p.starts_with(SUBPROTOCOL_PREFIX)) {
            return Err(ConfigError::ReservedSubprotocol(p.clone()));
        }
        if let Some(admin) = self.admin_listen {
            if admin.port() != 0 && all.clone().any(|a| *a == admin) {
                return Err(ConfigError::AdminListenIsListen(admin));
            }
        }
        let paths = [
            ("page", &self.page_path),
            ("healthz", &self.healthz_path),
            ("metrics_path", &self.metrics_path),
        ];
        for (i, (key, path)) in paths.iter().enumerate() {
            let Some(path) = path else { continue };
            if !is_endpoint_path(path) {
                return Err(ConfigError::EndpointPath {
                    key,
                    path: path.clone(),
                });
            }
            if let Some((other, _)) = paths[..i].iter().find(|(_, p)| p.as_ref() == Some(path)) {
                return Err(ConfigError::SameEndpointPath {
                    path: path.clone(),
                    keys: [other, key],
                });
            }
        }
        Ok(())
    }
}

impl Config {
    /// TLS listeners need certificates (`has_certs`), and certificates or a reload interval
    /// need a TLS listener to serve.
    pub(crate) fn validate_tls_listeners(&self, has_certs: bool) -> Result<(), ConfigError> {
        match (self.listen_tls.is_empty(), has_certs) {
            (false, false) => Err(ConfigError::TlsWithoutCert),
            (true, true) => Err(ConfigError::TlsWithoutListener("tls_cert")),
            (true, false) if self.tls_reload_interval.is_some() => {
                Err(ConfigError::TlsWithoutListener("tls_reload_interval"))
            }
            _ => Ok(()),
        }
    }
}

/// A path a plain `GET` can name: starts with `/`, printable ASCII, no `?` (a query is not part
/// of the path matched) and no `#`.
fn is_endpoint_path(path: &str) -> bool {
    path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#')
}

/// The CPUs this process may run on (its affinity mask), or `None` where that is unknown.
pub fn available_cpus() -> Option<Vec<usize>> {
    core_affinity::get_core_ids().map(|ids| ids.into_iter().map(|c| c.id).collect())
}

#[cfg(test)]
mod tests;
