//! Configuration: command-line flags over an optional TOML file over built-in defaults.
//!
//! One type, [`Settings`], holds every setting as an `Option`; clap fills it from the command
//! line and serde from the TOML file, so a flag and its key cannot drift apart. [`Settings::or`]
//! merges two of them field by field (flag, then file), [`Config::default`] is the one place the
//! defaults live (`--help` shows them from there), and [`Settings::resolve`] turns the merge into
//! the [`Config`] the server runs with, refusing impossible values with a [`ConfigError`].

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, ValueEnum};
use serde::{Deserialize, Deserializer};

use crate::routes::{RouteError, RouteTable};

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

/// A route as given: `(path, app)`, from `--route PATH=APP` or a `[routes]` entry.
pub type RouteSpec = (String, String);

/// Every setting, each optional: the command line (clap) and the TOML file (serde) both parse
/// into this type, with the same names (`--max-head-size` is `max_head_size`). `None` means
/// "not given here"; [`Config::default`] fills what no source gave.
#[derive(Debug, Default, Parser, Deserialize)]
#[serde(deny_unknown_fields)]
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
        Every flag is also a key of that file, in snake_case (--max-head-size is \
        max_head_size; --route is a [routes] table, --no-pin is pin = false). \
        See server/switchyard.example.toml.",
    after_help = "Examples:\n  \
        switchyard                                   # 127.0.0.1:8080, every core\n  \
        switchyard --listen 0.0.0.0:9000 --workers 2 --subprotocol chat.v1\n  \
        switchyard --route /chat=broadcast --route /vnc=bridge:127.0.0.1:5900\n  \
        switchyard --config /etc/switchyard.toml --log-level debug"
)]
pub struct Settings {
    /// TOML configuration file; flags given here override its settings.
    #[arg(long, short = 'c', value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on, HOST:PORT (a host name listens on every address it resolves to);
    /// repeat for several.
    #[arg(long, short = 'l', value_name = "ADDR")]
    pub listen: Option<Vec<String>>,

    /// Subprotocol to accept, in order of preference; repeat for several. A client offering none
    /// of them still gets a WebSocket, without a subprotocol.
    #[arg(long = "subprotocol", value_name = "NAME")]
    pub subprotocols: Option<Vec<String>>,

    /// Route a path to an app: PATH=echo, PATH=broadcast or PATH=bridge:HOST:PORT; repeat for
    /// several. Paths without a route echo. Routes add to the file's, path by path.
    #[arg(long = "route", short = 'r', value_name = "PATH=APP", value_parser = parse_route)]
    #[serde(default, deserialize_with = "routes_table")]
    pub routes: Option<Vec<RouteSpec>>,

    /// Number of reactor threads; may exceed the number of CPUs, which the reactors then share
    /// round-robin.
    #[arg(long, short = 'w', value_name = "N")]
    pub workers: Option<usize>,

    /// CPUs to pin the reactors to, comma-separated (e.g. 0,1); reactor i runs on the
    /// (i mod len)-th. Each must be a CPU this process may run on.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub cpus: Option<Vec<usize>>,

    /// Do not pin reactor threads to cores (file: pin = false).
    #[arg(long = "no-pin", num_args = 0, default_missing_value = "false")]
    pub pin: Option<bool>,

    /// Give each reactor thread its own file-descriptor table, so that the process holds about
    /// workers x RLIMIT_NOFILE connections instead of RLIMIT_NOFILE: the way past a
    /// per-process descriptor limit that cannot be raised (a container's hard limit, no
    /// CAP_SYS_RESOURCE). Pair it with enough --workers (connections / limit, rounded up, plus
    /// headroom: the kernel spreads connections over the reactors by a hash). Costs a kernel
    /// descriptor table per worker; /proc/PID/fd (lsof) then shows none of the connections.
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub private_fd_tables: Option<bool>,

    /// Origins allowed to open a WebSocket (exact match, e.g. `https://example.com`); repeat for
    /// several. Others get 403. Requests without an Origin header (non-browser clients) are
    /// allowed.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allowed_origins: Option<Vec<String>>,

    /// Maximum simultaneous connections; beyond it a new client gets 503 and is closed.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,

    /// Maximum size of a request head in bytes; beyond it 431.
    #[arg(long, value_name = "BYTES")]
    pub max_head_size: Option<usize>,

    /// Seconds a client has to send a complete request head; then 408.
    #[arg(long, value_name = "SECS")]
    pub head_timeout: Option<f64>,

    /// Maximum WebSocket message size in bytes; beyond it close 1009.
    #[arg(long, value_name = "BYTES")]
    pub max_message_size: Option<usize>,

    /// Seconds of silence from a client before it is sent a ping.
    #[arg(long, value_name = "SECS")]
    pub ping_interval: Option<f64>,

    /// Seconds of silence after which a connection is closed, ping or not.
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<f64>,

    /// Cap in bytes on one connection's queued outbound data; over it echo and bridge stop
    /// reading from the sender and broadcast applies --slow-subscriber.
    #[arg(long, value_name = "BYTES")]
    pub outbound_cap: Option<usize>,

    /// What broadcast does with a subscriber over --outbound-cap.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub slow_subscriber: Option<SlowSubscriber>,

    /// Seconds that graceful shutdown (SIGINT, SIGTERM) waits for closes and writes to drain.
    #[arg(long, value_name = "SECS")]
    pub shutdown_timeout: Option<f64>,

    /// Log level: error, warn, info, debug, trace or off; RUST_LOG overrides it.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// permessage-deflate (RFC 7692) for clients that offer it: `on` (no context takeover, about
    /// 0.5 KiB per idle connection), `takeover` (better ratio, about 331 KiB per connection) or
    /// `off`; `--deflate off` and `--deflate=off` are the same, and a bare `--deflate` means
    /// `on`. The file also takes true (on) and false (off). Echo replies are compressed;
    /// broadcast and bridge output go uncompressed (RFC 7692 allows it per message).
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, default_missing_value = "on")]
    #[serde(default, deserialize_with = "deflate_setting")]
    pub deflate: Option<DeflateMode>,
}

/// The command line: the same type as the file (the name the binary and tests know it by).
pub type Cli = Settings;

/// `--route PATH=APP`, split at the first `=` (the app is checked when the table is built).
fn parse_route(spec: &str) -> Result<RouteSpec, RouteError> {
    let (path, app) = spec
        .split_once('=')
        .ok_or_else(|| RouteError::MissingEquals(spec.to_owned()))?;
    Ok((path.trim().to_owned(), app.trim().to_owned()))
}

/// The file's `[routes]` table, `"/chat" = "broadcast"`.
fn routes_table<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<RouteSpec>>, D::Error> {
    Ok(Some(
        BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .collect(),
    ))
}

/// The file's `deflate`: a mode name, or a boolean (`true` is `on`).
fn deflate_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DeflateMode>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Setting {
        Bool(bool),
        Mode(DeflateMode),
    }
    Ok(Some(match Setting::deserialize(d)? {
        Setting::Bool(true) => DeflateMode::On,
        Setting::Bool(false) => DeflateMode::Off,
        Setting::Mode(mode) => mode,
    }))
}

/// `self`'s fields where given, else `lower`'s (the same shape for every field, so adding a
/// field without merging it does not compile).
macro_rules! merge_fields {
    ($high:ident, $low:ident, routes, $($field:ident),*) => {
        Settings {
            // Routes are keyed by path: the lower source's routes first, so a higher source
            // adds to them and replaces only the paths it names.
            routes: match ($high.routes, $low.routes) {
                (Some(high), Some(mut low)) => {
                    low.extend(high);
                    Some(low)
                }
                (high, low) => high.or(low),
            },
            $($field: $high.$field.or($low.$field),)*
        }
    };
}

impl Settings {
    /// The command with each flag's default, taken from [`Config::default`], in its help.
    pub fn command_with_defaults() -> clap::Command {
        let d = Config::default();
        let or_none = |v: &[String], none: &str| {
            if v.is_empty() {
                none.to_owned()
            } else {
                v.join(", ")
            }
        };
        let defaults = [
            (
                "listen",
                or_none(
                    &d.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                    "",
                ),
            ),
            ("subprotocols", or_none(&d.subprotocols, "none")),
            ("routes", d.routes.describe().replace("*=echo ", "")),
            (
                "workers",
                format!("one per --cpus entry, else per core ({} here)", d.workers),
            ),
            ("cpus", "every CPU the process may run on".to_owned()),
            ("private_fd_tables", d.private_fd_tables.to_string()),
            ("allowed_origins", or_none(&d.allowed_origins, "any origin")),
            ("max_connections", d.max_connections.to_string()),
            ("max_head_size", d.max_head_size.to_string()),
            ("head_timeout", d.head_timeout.as_secs_f64().to_string()),
            ("max_message_size", d.max_message_size.to_string()),
            ("ping_interval", d.ping_interval.as_secs_f64().to_string()),
            ("idle_timeout", d.idle_timeout.as_secs_f64().to_string()),
            ("outbound_cap", d.outbound_cap.to_string()),
            ("slow_subscriber", value_name(d.slow_subscriber)),
            (
                "shutdown_timeout",
                d.shutdown_timeout.as_secs_f64().to_string(),
            ),
            ("log_level", d.log_level.clone()),
            ("deflate", d.deflate.as_str().to_owned()),
        ];
        defaults
            .into_iter()
            .fold(Self::command(), |cmd, (id, default)| {
                cmd.mut_arg(id, |arg| {
                    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                    arg.help(format!("{help} [default: {default}]"))
                })
            })
    }

    /// Parses the process's arguments (exiting with clap's message and status 2 on a bad one)
    /// with the defaults in `--help`.
    pub fn from_args() -> Self {
        let matches = Self::command_with_defaults().get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }

    /// Reads and parses a TOML file.
    pub fn read_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Field by field, `self`'s value where given, else `lower`'s.
    pub fn or(self, lower: Settings) -> Settings {
        merge_fields!(
            self,
            lower,
            routes,
            config,
            listen,
            subprotocols,
            workers,
            cpus,
            pin,
            private_fd_tables,
            allowed_origins,
            max_connections,
            max_head_size,
            head_timeout,
            max_message_size,
            ping_interval,
            idle_timeout,
            outbound_cap,
            slow_subscriber,
            shutdown_timeout,
            log_level,
            deflate
        )
    }

    /// The configuration these settings give over the defaults, checked with
    /// [`Config::validate`]. Resolves listen host names (a blocking DNS lookup).
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let d = Config::default();
        let mut routes = d.routes;
        for (path, app) in self.routes.unwrap_or_default() {
            routes.insert(&path, &app).map_err(ConfigError::Route)?;
        }
        let listen = match self.listen {
            Some(addrs) => resolve_listen(&addrs)?,
            None => d.listen,
        };
        let cpus = self.cpus.unwrap_or(d.cpus);
        let seconds = |key, value: Option<f64>, default| match value {
            None => Ok(default),
            Some(v) => Duration::try_from_secs_f64(v)
                .map_err(|_| ConfigError::BadSeconds { key, value: v }),
        };
        let config = Config {
            listen,
            subprotocols: self.subprotocols.unwrap_or(d.subprotocols),
            routes,
            workers: (self.workers).unwrap_or(if cpus.is_empty() {
                d.workers
            } else {
                cpus.len()
            }),
            cpus,
            pin: self.pin.unwrap_or(d.pin),
            private_fd_tables: self.private_fd_tables.unwrap_or(d.private_fd_tables),
            allowed_origins: self.allowed_origins.unwrap_or(d.allowed_origins),
            max_connections: self.max_connections.unwrap_or(d.max_connections),
            max_head_size: self.max_head_size.unwrap_or(d.max_head_size),
            head_timeout: seconds("head_timeout", self.head_timeout, d.head_timeout)?,
            max_message_size: self.max_message_size.unwrap_or(d.max_message_size),
            ping_interval: seconds("ping_interval", self.ping_interval, d.ping_interval)?,
            idle_timeout: seconds("idle_timeout", self.idle_timeout, d.idle_timeout)?,
            outbound_cap: self.outbound_cap.unwrap_or(d.outbound_cap),
            slow_subscriber: self.slow_subscriber.unwrap_or(d.slow_subscriber),
            shutdown_timeout: seconds(
                "shutdown_timeout",
                self.shutdown_timeout,
                d.shutdown_timeout,
            )?,
            log_level: self.log_level.unwrap_or(d.log_level),
            deflate: self.deflate.unwrap_or(d.deflate),
        };
        config.validate()?;
        Ok(config)
    }
}

/// The name a value-enum value has on the command line and in the file.
fn value_name<T: ValueEnum>(value: T) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_owned())
}

/// Every address each `HOST:PORT` resolves to, in order.
fn resolve_listen(addrs: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut out = Vec::new();
    for addr in addrs {
        let unresolvable = |reason: String| ConfigError::Unresolvable {
            addr: addr.clone(),
            reason,
        };
        let resolved: Vec<_> = addr
            .to_socket_addrs()
            .map_err(|e| unresolvable(e.to_string()))?
            .collect();
        if resolved.is_empty() {
            return Err(unresolvable("no addresses".to_owned()));
        }
        out.extend(resolved);
    }
    Ok(out)
}

/// The CPUs this process may run on (its affinity mask), or `None` where that is unknown.
pub fn available_cpus() -> Option<Vec<usize>> {
    core_affinity::get_core_ids().map(|ids| ids.into_iter().map(|c| c.id).collect())
}

/// Why a configuration was refused. Each message names the setting (as its file key and its
/// flag) and the value that was refused.
#[derive(Debug)]
pub enum ConfigError {
    /// The TOML file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it said.
        source: std::io::Error,
    },
    /// The TOML file is not valid TOML, has a value of the wrong type or an unknown key.
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, naming the key and line.
        message: String,
    },
    /// A route is malformed or its bridge target does not resolve.
    Route(RouteError),
    /// A listen address is not `HOST:PORT` or its host does not resolve.
    Unresolvable {
        /// The address as given.
        addr: String,
        /// The resolver's answer.
        reason: String,
    },
    /// The listen list is empty.
    NoListen,
    /// The same address (other than port 0) is listed twice, possibly through a host name.
    DuplicateListen(SocketAddr),
    /// A number below its minimum.
    TooSmall {
        /// The file key (the flag is the same in kebab-case).
        key: &'static str,
        /// The value given.
        value: usize,
        /// The smallest value allowed.
        min: usize,
    },
    /// A number above its maximum.
    TooLarge {
        /// The file key.
        key: &'static str,
        /// The value given.
        value: usize,
        /// The largest value allowed.
        max: usize,
    },
    /// A duration that is negative, not a number, or outside [`MIN_DURATION`]..=[`MAX_DURATION`].
    BadSeconds {
        /// The file key.
        key: &'static str,
        /// The seconds given.
        value: f64,
    },
    /// `idle_timeout` is not longer than `ping_interval`, so a ping never has time to be answered.
    IdleNotAfterPing {
        /// The ping interval.
        ping_interval: Duration,
        /// The idle timeout.
        idle_timeout: Duration,
    },
    /// A CPU this process may not run on (or the machine does not have).
    NoSuchCpu {
        /// The CPU given.
        cpu: usize,
        /// The CPUs the process may run on.
        available: Vec<usize>,
    },
    /// A log level other than error, warn, info, debug, trace, off.
    LogLevel(String),
    /// A subprotocol that is not an HTTP token (RFC 6455 section 4.1).
    Subprotocol(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = |key: &str| key.replace('_', "-");
        match self {
            Self::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::Parse { path, message } => {
                write!(f, "invalid config file {}: {message}", path.display())
            }
            Self::Route(e) => write!(f, "invalid route (--route, [routes]): {e}"),
            Self::Unresolvable { addr, reason } => {
                write!(
                    f,
                    "listen address {addr:?} (--listen) does not resolve: {reason}"
                )
            }
            Self::NoListen => f.write_str("at least one listen address (--listen) is needed"),
            Self::DuplicateListen(a) => write!(f, "listen address {a} (--listen) is given twice"),
            Self::TooSmall { key, value, min } => {
                write!(
                    f,
                    "{key} must be at least {min}, got {value} (--{})",
                    flag(key)
                )
            }
            Self::TooLarge { key, value, max } => {
                write!(
                    f,
                    "{key} must be at most {max}, got {value} (--{})",
                    flag(key)
                )
            }
            Self::BadSeconds { key, value } => write!(
                f,
                "{key} must be between {} and {} seconds, got {value} (--{})",
                MIN_DURATION.as_secs_f64(),
                MAX_DURATION.as_secs_f64(),
                flag(key)
            ),
            Self::IdleNotAfterPing {
                ping_interval,
                idle_timeout,
            } => write!(
                f,
                "idle_timeout ({}) must be longer than ping_interval ({}), or a ping never has \
                 time to be answered (--idle-timeout, --ping-interval)",
                idle_timeout.as_secs_f64(),
                ping_interval.as_secs_f64()
            ),
            Self::NoSuchCpu { cpu, available } => write!(
                f,
                "cpus: CPU {cpu} is not one this process may run on (available: {available:?}) \
                 (--cpus)"
            ),
            Self::LogLevel(l) => write!(
                f,
                "log_level {l:?} is not one of error, warn, info, debug, trace, off (--log-level)"
            ),
            Self::Subprotocol(p) => {
                write!(f, "subprotocol {p:?} is not an HTTP token (--subprotocol)")
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Route(e) => Some(e),
            _ => None,
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

impl Config {
    /// Resolves flags over the file they name (if any) over the defaults.
    pub fn from_cli(flags: Settings) -> Result<Self, ConfigError> {
        let file = match &flags.config {
            Some(path) => Settings::read_file(path)?,
            None => Settings::default(),
        };
        flags.or(file).resolve()
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

    /// Refuses what cannot work: empty or repeated listen addresses, numbers and durations out
    /// of range, CPUs the process may not run on, a ping that cannot be answered before the idle
    /// close, unknown log levels, subprotocols that are not tokens.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.is_empty() {
            return Err(ConfigError::NoListen);
        }
        let mut seen = HashSet::new();
        if let Some(a) = (self.listen.iter()).find(|a| a.port() != 0 && !seen.insert(**a)) {
            return Err(ConfigError::DuplicateListen(*a));
        }
        for (key, value, min, max) in [
            ("workers", self.workers, 1, MAX_WORKERS),
            ("max_connections", self.max_connections, 1, MAX_CONNECTIONS),
            ("max_head_size", self.max_head_size, 64, MAX_HEAD_SIZE),
            ("max_message_size", self.max_message_size, 1, MAX_BUFFER),
            ("outbound_cap", self.outbound_cap, 1, MAX_BUFFER),
        ] {
            if value < min {
                return Err(ConfigError::TooSmall { key, value, min });
            }
            if value > max {
                return Err(ConfigError::TooLarge { key, value, max });
            }
        }
        for (key, d) in [
            ("head_timeout", self.head_timeout),
            ("ping_interval", self.ping_interval),
            ("idle_timeout", self.idle_timeout),
            ("shutdown_timeout", self.shutdown_timeout),
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
            (self.subprotocols.iter()).find(|p| p.is_empty() || !p.bytes().all(is_token_byte))
        {
            return Err(ConfigError::Subprotocol(p.clone()));
        }
        Ok(())
    }
}

/// RFC 9110 section 5.6.2 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests;
