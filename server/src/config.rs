//! Configuration: command-line flags (clap) over an optional TOML file over built-in defaults.
//!
//! Precedence is flag, then file, then default, field by field, so a file can hold the
//! deployment's settings and a flag can still override one of them for a single run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::routes::{RouteError, RouteTable};

/// What a broadcast route does with a subscriber whose outbound queue is over its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
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

/// The `deflate` key of the TOML file: a mode, or a boolean (`true` = `on`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum DeflateSetting {
    /// `deflate = true` or `false`.
    Bool(bool),
    /// `deflate = "off" | "on" | "takeover"`.
    Mode(DeflateMode),
}

impl From<DeflateSetting> for DeflateMode {
    fn from(setting: DeflateSetting) -> Self {
        match setting {
            DeflateSetting::Bool(true) => DeflateMode::On,
            DeflateSetting::Bool(false) => DeflateMode::Off,
            DeflateSetting::Mode(mode) => mode,
        }
    }
}

/// Command-line interface of the `switchyard` binary.
#[derive(Debug, Parser, Default)]
#[command(
    name = "switchyard",
    version,
    about = "Switchyard: a thread-per-core HTTP/1.1 Upgrade and WebSocket server",
    long_about = "Switchyard: a thread-per-core HTTP/1.1 Upgrade and WebSocket server.\n\n\
        Every path echoes WebSocket messages unless a route says otherwise; by default \
        /broadcast is a broadcast route (every message goes to every client of that path). \
        Plain HTTP on the same port: GET / is a demo page, GET /healthz, GET /metrics \
        (Prometheus text).\n\n\
        Flags override the TOML file given with --config, which overrides the defaults. \
        See server/switchyard.example.toml for every setting.",
    after_help = "Examples:\n  \
        switchyard                                   # 127.0.0.1:8080, every core\n  \
        switchyard --listen 0.0.0.0:9000 --workers 2 --subprotocol chat.v1\n  \
        switchyard --route /chat=broadcast --route /vnc=bridge:127.0.0.1:5900\n  \
        switchyard --config /etc/switchyard.toml --log-level debug"
)]
pub struct Cli {
    /// TOML configuration file; flags given here override its settings.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to listen on; repeat for several [default: 127.0.0.1:8080].
    #[arg(long, short = 'l', value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,

    /// Subprotocol to accept, in order of preference; repeat for several. A client offering none
    /// of them still gets a WebSocket, without a subprotocol.
    #[arg(long = "subprotocol", value_name = "NAME")]
    pub subprotocols: Vec<String>,

    /// Route a path to an app: PATH=echo, PATH=broadcast or PATH=bridge:HOST:PORT; repeat for
    /// several. Paths without a route echo [default: /broadcast=broadcast].
    #[arg(long = "route", short = 'r', value_name = "PATH=APP")]
    pub routes: Vec<String>,

    /// Number of reactor threads; may exceed the number of CPUs, which the reactors then share
    /// round-robin [default: one per CPU in --cpus, or per available core].
    #[arg(long, short = 'w', value_name = "N")]
    pub workers: Option<usize>,

    /// CPUs to pin the reactors to, comma-separated (e.g. 0,1); reactor i runs on the
    /// (i mod len)-th [default: every available core, round-robin].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub cpus: Vec<usize>,

    /// Give each reactor thread its own file-descriptor table, so that the process holds about
    /// workers x RLIMIT_NOFILE connections instead of RLIMIT_NOFILE: the way past a
    /// per-process descriptor limit that cannot be raised (a container's hard limit, no
    /// CAP_SYS_RESOURCE). Pair it with enough --workers (connections / limit, rounded up, plus
    /// headroom: the kernel spreads connections over the reactors by a hash). Costs a kernel
    /// descriptor table per worker; /proc/PID/fd (lsof) then shows none of the connections
    /// [default: off]
    #[arg(long)]
    pub private_fd_tables: bool,

    /// Do not pin reactor threads to cores.
    #[arg(long)]
    pub no_pin: bool,

    /// Origins allowed to open a WebSocket (exact match, e.g. `https://example.com`); repeat for
    /// several. Others get 403. Requests without an Origin header (non-browser clients) are
    /// allowed [default: any origin].
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,

    /// Maximum simultaneous connections; beyond it a new client gets 503 and is closed
    /// [default: 262144].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,

    /// Maximum size of a request head in bytes; beyond it 431 [default: 8192].
    #[arg(long, value_name = "BYTES")]
    pub max_head_size: Option<usize>,

    /// Seconds a client has to send a complete request head; then 408 [default: 10].
    #[arg(long, value_name = "SECS")]
    pub head_timeout: Option<f64>,

    /// Maximum WebSocket message size in bytes; beyond it close 1009 [default: 67108864].
    #[arg(long, value_name = "BYTES")]
    pub max_message_size: Option<usize>,

    /// Seconds of silence from a client before it is sent a ping [default: 30].
    #[arg(long, value_name = "SECS")]
    pub ping_interval: Option<f64>,

    /// Seconds of silence after which a connection is closed, ping or not [default: 75].
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<f64>,

    /// Cap in bytes on one connection's queued outbound data; over it echo and bridge stop
    /// reading from the sender and broadcast applies --slow-subscriber [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    pub outbound_cap: Option<usize>,

    /// What broadcast does with a subscriber over --outbound-cap [default: close].
    #[arg(long, value_enum, value_name = "POLICY")]
    pub slow_subscriber: Option<SlowSubscriber>,

    /// Seconds that graceful shutdown (SIGINT, SIGTERM) waits for closes and writes to drain
    /// [default: 5].
    #[arg(long, value_name = "SECS")]
    pub shutdown_timeout: Option<f64>,

    /// Log level: error, warn, info, debug or trace; RUST_LOG overrides it [default: info].
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// permessage-deflate (RFC 7692) for clients that offer it: `on` (no context takeover, about
    /// 0.5 KiB per idle connection), `takeover` (better ratio, about 331 KiB per connection) or
    /// `off`. Echo replies are compressed; broadcast and bridge output go uncompressed (RFC 7692
    /// allows it per message). A bare `--deflate` means `on` [default: on]
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "on")]
    pub deflate: Option<DeflateMode>,
}

/// The TOML file: the same settings as the flags, with the same names in snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// See [`Cli::listen`].
    pub listen: Vec<SocketAddr>,
    /// See [`Cli::subprotocols`].
    pub subprotocols: Vec<String>,
    /// Path to app, e.g. `"/chat" = "broadcast"`.
    pub routes: std::collections::BTreeMap<String, String>,
    /// See [`Cli::workers`].
    pub workers: Option<usize>,
    /// See [`Cli::cpus`].
    pub cpus: Vec<usize>,
    /// Pin reactors to cores (default true).
    pub pin: Option<bool>,
    /// See [`Cli::private_fd_tables`] (default false).
    pub private_fd_tables: Option<bool>,
    /// See [`Cli::allowed_origins`].
    pub allowed_origins: Vec<String>,
    /// See [`Cli::max_connections`].
    pub max_connections: Option<usize>,
    /// See [`Cli::max_head_size`].
    pub max_head_size: Option<usize>,
    /// See [`Cli::head_timeout`].
    pub head_timeout: Option<f64>,
    /// See [`Cli::max_message_size`].
    pub max_message_size: Option<usize>,
    /// See [`Cli::ping_interval`].
    pub ping_interval: Option<f64>,
    /// See [`Cli::idle_timeout`].
    pub idle_timeout: Option<f64>,
    /// See [`Cli::outbound_cap`].
    pub outbound_cap: Option<usize>,
    /// See [`Cli::slow_subscriber`].
    pub slow_subscriber: Option<SlowSubscriber>,
    /// See [`Cli::shutdown_timeout`].
    pub shutdown_timeout: Option<f64>,
    /// See [`Cli::log_level`].
    pub log_level: Option<String>,
    /// See [`Cli::deflate`].
    pub deflate: Option<DeflateSetting>,
}

/// Why a configuration was refused.
#[derive(Debug)]
pub enum ConfigError {
    /// The TOML file could not be read.
    Read(PathBuf, std::io::Error),
    /// The TOML file is not valid or has an unknown key.
    Parse(PathBuf, String),
    /// A route is malformed.
    Route(RouteError),
    /// A value is out of range; the message says which and why.
    Invalid(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            Self::Parse(p, e) => write!(f, "invalid config file {}: {e}", p.display()),
            Self::Route(e) => write!(f, "invalid route: {e}"),
            Self::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listening addresses. Default `127.0.0.1:8080`: loopback only, so a first run exposes
    /// nothing to the network.
    pub listen: Vec<SocketAddr>,
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
    /// Time allowed for a complete request head. Default 10 s (issue 5), a slowloris guard.
    pub head_timeout: Duration,
    /// Maximum message size. Default 64 MiB: above Autobahn's largest message (16 MiB) and the
    /// same as tungstenite's default.
    pub max_message_size: usize,
    /// Silence before a keepalive ping. Default 30 s, below common NAT and proxy idle timeouts.
    pub ping_interval: Duration,
    /// Silence before a connection is closed. Default 75 s: a ping at 30 s and its pong have
    /// had 45 s more to arrive.
    pub idle_timeout: Duration,
    /// Outbound queue cap per connection. Default 1 MiB: enough to keep a fast link busy,
    /// small enough that 10,000 stalled clients cost at most 10 GiB in the worst case.
    pub outbound_cap: usize,
    /// Broadcast policy for slow subscribers. Default [`SlowSubscriber::Close`].
    pub slow_subscriber: SlowSubscriber,
    /// Graceful shutdown deadline. Default 5 s: systemd's default stop timeout is 90 s, a
    /// container's 10 s; 5 s leaves room for both.
    pub shutdown_timeout: Duration,
    /// Log level filter. Default `info`.
    pub log_level: String,
    /// permessage-deflate policy. Default [`DeflateMode::On`] (no context takeover); the
    /// variant docs give the memory figures behind that choice.
    pub deflate: DeflateMode,
}

impl Default for Config {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 8080))],
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
            max_message_size: 64 << 20,
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            outbound_cap: 1 << 20,
            slow_subscriber: SlowSubscriber::Close,
            shutdown_timeout: Duration::from_secs(5),
            log_level: "info".to_owned(),
            deflate: DeflateMode::On,
        }
    }
}

/// The flag's list if given, else the file's, else the default.
fn pick_vec<T>(flag: Vec<T>, file: Vec<T>, default: Vec<T>) -> Vec<T> {
    if !flag.is_empty() {
        flag
    } else if !file.is_empty() {
        file
    } else {
        default
    }
}

fn secs(name: &str, v: f64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| ConfigError::Invalid(format!("{name} must be a positive number of seconds")))
}

impl Config {
    /// Resolves flags over the file they name (if any) over the defaults.
    pub fn from_cli(cli: Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => Self::read_file(path)?,
            None => FileConfig::default(),
        };
        Self::merge(cli, file)
    }

    /// Reads and parses a TOML file.
    pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_owned(), e))?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse(path.to_owned(), e.to_string()))
    }

    /// Merges flags over a parsed file over the defaults, and checks the result.
    pub fn merge(cli: Cli, file: FileConfig) -> Result<Self, ConfigError> {
        let d = Self::default();
        let mut routes = RouteTable::default_table();
        for (path, app) in &file.routes {
            routes.insert(path, app).map_err(ConfigError::Route)?;
        }
        for spec in &cli.routes {
            routes.insert_spec(spec).map_err(ConfigError::Route)?;
        }
        let cpus = pick_vec(cli.cpus, file.cpus, Vec::new());
        let workers = cli.workers.or(file.workers).unwrap_or(if cpus.is_empty() {
            d.workers
        } else {
            cpus.len()
        });
        let cfg = Self {
            listen: pick_vec(cli.listen, file.listen, d.listen),
            subprotocols: pick_vec(cli.subprotocols, file.subprotocols, Vec::new()),
            routes,
            workers,
            cpus,
            pin: if cli.no_pin {
                false
            } else {
                file.pin.unwrap_or(d.pin)
            },
            private_fd_tables: cli.private_fd_tables
                || file.private_fd_tables.unwrap_or(d.private_fd_tables),
            allowed_origins: pick_vec(cli.allowed_origins, file.allowed_origins, Vec::new()),
            max_connections: cli
                .max_connections
                .or(file.max_connections)
                .unwrap_or(d.max_connections),
            max_head_size: cli
                .max_head_size
                .or(file.max_head_size)
                .unwrap_or(d.max_head_size),
            head_timeout: match cli.head_timeout.or(file.head_timeout) {
                Some(v) => secs("head_timeout", v)?,
                None => d.head_timeout,
            },
            max_message_size: cli
                .max_message_size
                .or(file.max_message_size)
                .unwrap_or(d.max_message_size),
            ping_interval: match cli.ping_interval.or(file.ping_interval) {
                Some(v) => secs("ping_interval", v)?,
                None => d.ping_interval,
            },
            idle_timeout: match cli.idle_timeout.or(file.idle_timeout) {
                Some(v) => secs("idle_timeout", v)?,
                None => d.idle_timeout,
            },
            outbound_cap: cli
                .outbound_cap
                .or(file.outbound_cap)
                .unwrap_or(d.outbound_cap),
            slow_subscriber: cli
                .slow_subscriber
                .or(file.slow_subscriber)
                .unwrap_or(d.slow_subscriber),
            shutdown_timeout: match cli.shutdown_timeout.or(file.shutdown_timeout) {
                Some(v) => secs("shutdown_timeout", v)?,
                None => d.shutdown_timeout,
            },
            log_level: cli.log_level.or(file.log_level).unwrap_or(d.log_level),
            deflate: cli
                .deflate
                .or(file.deflate.map(DeflateMode::from))
                .unwrap_or(d.deflate),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The start-up log line's description: workers, pinning, routes, limits.
    pub fn summary(&self) -> String {
        let pinning = if !self.pin {
            "unpinned".to_owned()
        } else if self.cpus.is_empty() {
            "pinned round-robin over the available cores".to_owned()
        } else if self.workers > self.cpus.len() {
            format!("pinned round-robin over cpus {:?}", self.cpus)
        } else {
            format!("pinned to cpus {:?}", &self.cpus[..self.workers])
        };
        let tables = if self.private_fd_tables {
            ", a descriptor table each"
        } else {
            ""
        };
        format!(
            "workers={} ({pinning}{tables}) routes=[{}] subprotocols={:?} max_message_size={} max_connections={} deflate={}",
            self.workers,
            self.routes.describe(),
            self.subprotocols,
            self.max_message_size,
            self.max_connections,
            self.deflate.as_str(),
        )
    }

    /// Checks cross-field rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.listen.is_empty() {
            return bad("at least one listen address is needed");
        }
        if self.workers == 0 {
            return bad("workers must be at least 1");
        }
        if self.max_connections == 0 {
            return bad("max_connections must be at least 1");
        }
        if self.max_head_size < 64 {
            return bad("max_head_size must be at least 64 bytes");
        }
        if self.max_message_size == 0 {
            return bad("max_message_size must be at least 1 byte");
        }
        if self.outbound_cap == 0 {
            return bad("outbound_cap must be at least 1 byte");
        }
        if self.idle_timeout <= self.ping_interval {
            return bad("idle_timeout must be longer than ping_interval, or a ping never has time to be answered");
        }
        if !["error", "warn", "info", "debug", "trace", "off"]
            .contains(&self.log_level.to_ascii_lowercase().as_str())
        {
            return bad("log_level must be one of error, warn, info, debug, trace, off");
        }
        for p in &self.subprotocols {
            if !switchyard_handshake::is_token(p.as_bytes()) {
                return Err(ConfigError::Invalid(format!(
                    "subprotocol {p:?} is not an HTTP token"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::App;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let mut v = vec!["switchyard"];
        v.extend_from_slice(args);
        Config::from_cli(Cli::try_parse_from(v).expect("flags parse"))
    }

    #[test]
    fn defaults_listen_on_loopback_8080_with_autobahn_sized_messages() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen, vec!["127.0.0.1:8080".parse().unwrap()]);
        assert!(c.max_message_size >= 16 << 20);
        assert_eq!(c.head_timeout, Duration::from_secs(10));
        assert!(matches!(c.routes.lookup("/broadcast").1, App::Broadcast));
        assert!(matches!(c.routes.lookup("/anything").1, App::Echo));
    }

    #[test]
    fn flags_repeat_and_override_file() {
        let file: FileConfig = toml::from_str(
            r#"
            listen = ["127.0.0.1:1"]
            workers = 3
            max_message_size = 1000
            [routes]
            "/chat" = "broadcast"
            "#,
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "switchyard",
            "--listen",
            "127.0.0.1:2",
            "--listen",
            "[::1]:3",
            "--subprotocol",
            "a",
            "--subprotocol",
            "b",
            "--workers",
            "2",
        ])
        .unwrap();
        let c = Config::merge(cli, file).unwrap();
        assert_eq!(c.listen.len(), 2);
        assert_eq!(c.subprotocols, ["a", "b"]);
        assert_eq!(c.workers, 2);
        assert_eq!(c.max_message_size, 1000);
        assert!(matches!(c.routes.lookup("/chat").1, App::Broadcast));
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("lisen = []").is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["--workers", "0"]).is_err());
        assert!(parse(&["--head-timeout=-1"]).is_err());
        assert!(parse(&["--head-timeout", "0"]).is_err());
        assert!(parse(&["--ping-interval", "80"]).is_err());
        assert!(parse(&["--subprotocol", "has space"]).is_err());
        assert!(parse(&["--subprotocol", ""]).is_err());
        assert!(parse(&["--subprotocol", "a/b"]).is_err());
        assert!(parse(&["--route", "nopath"]).is_err());
        assert!(parse(&["--log-level", "loud"]).is_err());
    }

    #[test]
    fn cpus_set_the_default_worker_count() {
        let c = parse(&["--cpus", "0,1"]).unwrap();
        assert_eq!(c.workers, 2);
        assert_eq!(c.cpus, [0, 1]);
        assert!(c.pin);
        assert!(!parse(&["--no-pin"]).unwrap().pin);
    }

    #[test]
    fn workers_may_outnumber_cpus_and_share_them_round_robin() {
        let c = parse(&["--workers", "6", "--cpus", "0,1"]).unwrap();
        assert_eq!((c.workers, c.cpus.as_slice()), (6, &[0, 1][..]));
        assert!(
            c.summary().contains("round-robin over cpus [0, 1]"),
            "{}",
            c.summary()
        );
        let c = parse(&["--workers", "1", "--cpus", "0,1"]).unwrap();
        assert!(
            c.summary().contains("pinned to cpus [0]"),
            "{}",
            c.summary()
        );
    }

    #[test]
    fn private_fd_tables_are_off_by_default_and_set_by_flag_or_file() {
        assert!(!parse(&[]).unwrap().private_fd_tables);
        let c = parse(&["--private-fd-tables", "--workers", "6"]).unwrap();
        assert!(c.private_fd_tables);
        assert!(
            c.summary().contains("a descriptor table each"),
            "{}",
            c.summary()
        );
        let file: FileConfig = toml::from_str("private_fd_tables = true").unwrap();
        assert!(
            Config::merge(Cli::default(), file)
                .unwrap()
                .private_fd_tables
        );
        let file: FileConfig = toml::from_str("private_fd_tables = false").unwrap();
        assert!(
            !Config::merge(Cli::default(), file)
                .unwrap()
                .private_fd_tables
        );
    }

    #[test]
    fn the_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("switchyard.example.toml");
        let file = Config::read_file(&path).unwrap();
        Config::merge(Cli::default(), file).unwrap();
    }
}
