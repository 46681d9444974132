//! [`Settings`]: every setting as an `Option`, parsed from flags and from the TOML file alike;
//! their merge, and their resolution over [`Config::default`].

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, ValueEnum};
use serde::{Deserialize, Deserializer};

use super::{
    Config, ConfigError, DeflateMode, PublishToken, SlowSubscriber, JWT_SECRET_ENV, MAX_JWT_LEEWAY,
    PUBLISH_TOKEN_ENV,
};
use crate::access_log::LogFormat;
use crate::auth::{AuthError, JwtVerifier, DEFAULT_LEEWAY};
use crate::cluster::ClusterUrl;
use crate::routes::RouteError;
use crate::tls::{CertSpec, CertStore};

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
        (Prometheus text); --page, --healthz and --metrics-path move or turn them off, \
        --admin-listen serves the last two on an address of their own.\n\n\
        With --jwt-secret-file (or the SWITCHYARD_JWT_SECRET variable) or --jwt-public-key, \
        every upgrade needs a valid JWT: Authorization: Bearer, ?token=, or a \
        Sec-WebSocket-Protocol entry bearer.<jwt>.\n\n\
        Flags override the TOML file given with --config, which overrides the defaults. \
        Every flag is also a key of that file, in snake_case (--max-head-size is \
        max_head_size; --route is a [routes] table, --no-pin is pin = false). \
        See server/switchyard.example.toml.",
    after_help = "Examples:\n  \
        switchyard                                   # 127.0.0.1:8080, every core\n  \
        switchyard --listen 0.0.0.0:9000 --workers 2 --subprotocol chat.v1\n  \
        switchyard --route /chat=broadcast --route /vnc=bridge:127.0.0.1:5900\n  \
        switchyard --route '/rooms/*=broadcast:exclude-sender' --route '*=none'\n  \
        switchyard --jwt-public-key /etc/switchyard/jwt.pem --jwt-audience chat\n  \
        switchyard --config /etc/switchyard.toml --log-level debug"
)]
pub struct Settings {
    /// TOML configuration file; flags given here override its settings.
    #[arg(long, short = 'c', value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on, HOST:PORT (a host name listens on every address it resolves to);
    /// repeat for several. With --listen-tls and no --listen there is no plain listener.
    #[arg(long, short = 'l', value_name = "ADDR")]
    pub listen: Option<Vec<String>>,

    /// Address of a TLS listener (wss://, https://), HOST:PORT; repeat for several. It serves
    /// what a plain listener does, beside the --listen ones; needs --tls-cert and --tls-key.
    #[arg(long, value_name = "ADDR")]
    pub listen_tls: Option<Vec<String>>,

    /// Certificate chain for the TLS listeners, PEM (the server's certificate, then the
    /// intermediates); repeat with --tls-key for several pairs, each served to clients asking
    /// (SNI) for one of its certificate's DNS names. The first pair also serves clients that
    /// send no name or an unknown one. SIGHUP re-reads every pair.
    #[arg(long, value_name = "FILE")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub tls_cert: Option<Vec<PathBuf>>,

    /// Private key of the --tls-cert in the same position, PEM: PKCS#8, SEC1 (EC) or PKCS#1
    /// (RSA), unencrypted; may be the certificate's own file.
    #[arg(long, value_name = "FILE")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub tls_key: Option<Vec<PathBuf>>,

    /// Certificate/key pairs as tables, the file's other way to give them:
    /// `[[tls_certs]]` with `cert`, `key` and optionally `names` (the SNI names this pair
    /// serves, each one its certificate covers; default: all its DNS names). They follow the
    /// `tls_cert`/`tls_key` pairs. No flag: --tls-cert and --tls-key are the flags.
    #[arg(skip)]
    pub tls_certs: Option<Vec<CertSpec>>,

    /// Seconds between checks of the certificate and key files' contents: a change reloads
    /// them, as SIGHUP does. For deployments that cannot send a signal on renewal
    /// (a mounted Kubernetes secret).
    #[arg(long, value_name = "SECS")]
    pub tls_reload_interval: Option<f64>,

    /// Share the listen addresses with other processes (SO_REUSEPORT): a second switchyard on
    /// the same address that also gives --reuse-port starts too, and the kernel spreads new
    /// connections over both (zero-downtime restarts). Without it a second process on an
    /// address in use fails to start, naming the address.
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub reuse_port: Option<bool>,

    /// Subprotocol to accept, in order of preference; repeat for several. A client offering none
    /// of them still gets a WebSocket, without a subprotocol.
    #[arg(long = "subprotocol", value_name = "NAME")]
    pub subprotocols: Option<Vec<String>>,

    /// Route a path to an app: PATH=echo, PATH=broadcast (every message to every client of the
    /// path), PATH=broadcast:exclude-sender (to every client but its sender),
    /// PATH=bridge:HOST:PORT, or PATH=none (no app: 404); repeat for several. PATH is exact
    /// (/chat), a wildcard (/rooms/*: every path below /rooms/, each its own broadcast topic),
    /// or * (the fallback for every other path: *=none makes unknown paths 404). Exact routes
    /// win, then the longest wildcard. A path given twice is an error; a flag's route replaces
    /// the file's for the same path.
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

    /// Bytes each process may hold in unfinished incoming messages (assembled or inflated) and
    /// outbound queues, split evenly between the workers; over it the connection holding the
    /// most is closed (1013), and a message that cannot fit gets 1009.
    #[arg(long, value_name = "BYTES")]
    pub memory_budget: Option<usize>,

    /// Seconds a message may take to arrive whole once its first byte came; slower ones are
    /// closed with 1008, so a client cannot park a large buffer while answering pings.
    #[arg(long, value_name = "SECS")]
    pub message_timeout: Option<f64>,

    /// What broadcast does with a subscriber over --outbound-cap.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub slow_subscriber: Option<SlowSubscriber>,

    /// Seconds a connection the server is closing has to flush its queue and answer our close
    /// frame before it is cut.
    #[arg(long, value_name = "SECS")]
    pub close_timeout: Option<f64>,

    /// Seconds that graceful shutdown (SIGINT, SIGTERM) waits for closes and writes to drain.
    #[arg(long, value_name = "SECS")]
    pub shutdown_timeout: Option<f64>,

    /// Seconds a bridge backend has to accept the connection; the client's 101 waits for it,
    /// and gets 502 if the connect fails, 504 if it takes longer than this.
    #[arg(long, value_name = "SECS")]
    pub backend_connect_timeout: Option<f64>,

    /// Seconds without a byte either way after which a bridge (raw tunnel or WebSocket) is
    /// closed, backend included.
    #[arg(long, value_name = "SECS")]
    pub tunnel_idle_timeout: Option<f64>,

    /// Serve /healthz and /metrics only on this address (HOST:PORT; a host name takes its first
    /// address), not on the --listen ones: keeps them off the public network.
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<String>,

    /// Path of the built-in demo page, or off.
    #[arg(long, value_name = "PATH|off")]
    pub page: Option<String>,

    /// Path of the health check (200 ok), or off.
    #[arg(long, value_name = "PATH|off")]
    pub healthz: Option<String>,

    /// Path of the Prometheus metrics, or off.
    #[arg(long, value_name = "PATH|off")]
    pub metrics_path: Option<String>,

    /// Require an HS256 JWT signed with the secret in FILE (at least 32 bytes; a trailing
    /// newline is dropped). The secret may come from the SWITCHYARD_JWT_SECRET environment
    /// variable instead, never from a flag.
    #[arg(long, value_name = "FILE")]
    pub jwt_secret_file: Option<PathBuf>,

    /// Require a JWT signed by the private half of the public key in FILE (PEM): ES256 for an
    /// EC P-256 key, RS256 for an RSA key of at least 2048 bits.
    #[arg(long, value_name = "FILE")]
    pub jwt_public_key: Option<PathBuf>,

    /// Require the token's aud claim to name AUD. Without it, tokens that carry an aud claim
    /// are refused (RFC 7519 section 4.1.3).
    #[arg(long, value_name = "AUD")]
    pub jwt_audience: Option<String>,

    /// Whole seconds of clock skew allowed when checking a token's exp and nbf claims (at most
    /// 300).
    #[arg(long, value_name = "SECS")]
    pub jwt_leeway: Option<u64>,

    /// Log level: error, warn, info, debug, trace or off; RUST_LOG overrides it.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log line format: text (key=value pairs) or json (one object per line).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Log a line for every finished connection (peer, path, subprotocol, duration, messages
    /// and bytes each way, close code, who closed). Off by default: it costs about 40 bytes
    /// per connection.
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub access_log: Option<bool>,

    /// permessage-deflate (RFC 7692) for clients that offer it: `on` (no context takeover, about
    /// 0.5 KiB per idle connection), `takeover` (better ratio, about 331 KiB per connection) or
    /// `off`; `--deflate off` and `--deflate=off` are the same, and a bare `--deflate` means
    /// `on`. The file also takes true (on) and false (off). Echo replies are compressed;
    /// broadcast and bridge output go uncompressed (RFC 7692 allows it per message).
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, default_missing_value = "on")]
    #[serde(default, deserialize_with = "deflate_setting")]
    pub deflate: Option<DeflateMode>,

    /// Share broadcast topics with every other switchyard on the same Redis (or Valkey,
    /// KeyDB): redis://HOST:PORT/DB (port 6379 and database 0 if left out). The password goes in
    /// the URL (redis://:PASS@HOST) or in the SWITCHYARD_CLUSTER_PASSWORD environment variable,
    /// which wins; it is never logged. Redis down: the server serves locally, /healthz says
    /// degraded, and it reconnects.
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,

    /// Turn on the publish API: POST to a broadcast route's path with `Authorization: Bearer
    /// TOKEN` publishes the body to the route's subscribers, cluster-wide. The token is the
    /// file's content (a trailing newline is dropped), or the SWITCHYARD_PUBLISH_TOKEN
    /// environment variable; never a flag.
    #[arg(long, value_name = "FILE")]
    pub publish_token_file: Option<PathBuf>,

    /// On SIGTERM, spread the 1001 closes over this many seconds, at random, so that clients
    /// do not all reconnect at once (the shutdown deadline grows by as much).
    #[arg(long, value_name = "SECS")]
    pub drain_window: Option<f64>,
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

/// The file's `tls_cert` or `tls_key`: one path or a list of them.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<PathBuf>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Paths {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(Some(match Paths::deserialize(d)? {
        Paths::One(path) => vec![path],
        Paths::Many(paths) => paths,
    }))
}

/// `self`'s fields where given, else `lower`'s (the same shape for every field, so adding a
/// field without merging it does not compile).
macro_rules! merge_fields {
    ($high:ident, $low:ident, routes, $($field:ident),*) => {
        Settings {
            // Routes are keyed by path: the lower source's routes first, less those the higher
            // source names, so a higher source adds to them and replaces only the paths it
            // names (a path named twice within one source stays a duplicate).
            routes: match ($high.routes, $low.routes) {
                (Some(high), Some(mut low)) => {
                    low.retain(|(path, _)| !high.iter().any(|(p, _)| p == path));
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
        let defaults = [
            ("listen", list(&d.listen, "none")),
            ("listen_tls", list(&d.listen_tls, "none")),
            ("tls_reload_interval", "off (SIGHUP reloads)".to_owned()),
            ("reuse_port", d.reuse_port.to_string()),
            ("subprotocols", list(&d.subprotocols, "none")),
            ("routes", d.routes.describe()),
            (
                "workers",
                format!("one per --cpus entry, else per core ({} here)", d.workers),
            ),
            ("cpus", "every CPU the process may run on".to_owned()),
            ("private_fd_tables", d.private_fd_tables.to_string()),
            ("allowed_origins", list(&d.allowed_origins, "any origin")),
            ("max_connections", d.max_connections.to_string()),
            ("max_head_size", d.max_head_size.to_string()),
            ("head_timeout", d.head_timeout.as_secs_f64().to_string()),
            ("max_message_size", d.max_message_size.to_string()),
            ("ping_interval", d.ping_interval.as_secs_f64().to_string()),
            ("idle_timeout", d.idle_timeout.as_secs_f64().to_string()),
            ("outbound_cap", d.outbound_cap.to_string()),
            ("memory_budget", d.memory_budget.to_string()),
            (
                "message_timeout",
                d.message_timeout.as_secs_f64().to_string(),
            ),
            ("close_timeout", d.close_timeout.as_secs_f64().to_string()),
            ("slow_subscriber", value_name(d.slow_subscriber)),
            (
                "shutdown_timeout",
                d.shutdown_timeout.as_secs_f64().to_string(),
            ),
            (
                "backend_connect_timeout",
                d.backend_connect_timeout.as_secs_f64().to_string(),
            ),
            (
                "tunnel_idle_timeout",
                d.tunnel_idle_timeout.as_secs_f64().to_string(),
            ),
            ("admin_listen", "none: every listener".to_owned()),
            ("page", endpoint(&d.page_path)),
            ("healthz", endpoint(&d.healthz_path)),
            ("metrics_path", endpoint(&d.metrics_path)),
            ("jwt_leeway", DEFAULT_LEEWAY.as_secs().to_string()),
            ("log_level", d.log_level.clone()),
            ("log_format", d.log_format.as_str().to_owned()),
            ("access_log", d.access_log.to_string()),
            ("deflate", d.deflate.as_str().to_owned()),
            ("cluster", "off: topics stay in this process".to_owned()),
            ("publish_token_file", "off: no publish API".to_owned()),
            ("drain_window", d.drain_window.as_secs_f64().to_string()),
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

    /// Field by field, `self`'s value where given, else `lower`'s. The certificate pairs
    /// (`tls_cert`, `tls_key`, `tls_certs`) are one list: a source that gives any of them
    /// replaces all of the lower source's.
    #[rustfmt::skip] // one field list, not one line per field
    pub fn or(self, mut lower: Settings) -> Settings {
        if self.tls_cert.is_some() || self.tls_key.is_some() || self.tls_certs.is_some() {
            (lower.tls_cert, lower.tls_key, lower.tls_certs) = (None, None, None);
        }
        merge_fields!(
            self, lower, routes, config, listen, listen_tls, tls_cert, tls_key, tls_certs,
            tls_reload_interval, reuse_port, subprotocols, workers, cpus, pin,
            private_fd_tables, allowed_origins, max_connections, max_head_size, head_timeout,
            max_message_size, ping_interval, idle_timeout, outbound_cap, memory_budget,
            message_timeout, slow_subscriber,
            close_timeout, shutdown_timeout, backend_connect_timeout, tunnel_idle_timeout,
            admin_listen, page, healthz, metrics_path, jwt_secret_file, jwt_public_key,
            jwt_audience, jwt_leeway, log_level, log_format, access_log, deflate, cluster,
            publish_token_file, drain_window
        )
    }

    /// The configuration these settings give over the defaults, checked with
    /// [`Config::validate`]. Resolves listen host names (a blocking DNS lookup), reads the JWT
    /// key file and the [`JWT_SECRET_ENV`] variable, reads and checks the TLS certificates and
    /// keys.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let env_secret = std::env::var_os(JWT_SECRET_ENV);
        self.resolve_with_env_secret(env_secret.as_deref())
    }

    /// [`Settings::resolve`] with `env_secret` standing for the [`JWT_SECRET_ENV`] variable
    /// (tests must not change the process's environment: other threads read it).
    pub(crate) fn resolve_with_env_secret(
        self,
        env_secret: Option<&OsStr>,
    ) -> Result<Config, ConfigError> {
        let jwt = self.jwt(env_secret)?;
        let d = Config::default();
        let mut routes = d.routes;
        for (path, app) in self.routes.unwrap_or_default() {
            routes.insert(&path, &app).map_err(ConfigError::Route)?;
        }
        let listen_tls = match &self.listen_tls {
            Some(addrs) => resolve_listen("listen_tls", addrs)?,
            None => d.listen_tls,
        };
        let listen = match self.listen {
            Some(addrs) => resolve_listen("listen", &addrs)?,
            // A TLS listener alone means no plain one: an operator who adds TLS does not
            // expect a plaintext port to stay open.
            None if !listen_tls.is_empty() => Vec::new(),
            None => d.listen,
        };
        let tls_specs = tls_specs(self.tls_cert, self.tls_key, self.tls_certs)?;
        let cpus = self.cpus.unwrap_or(d.cpus);
        let seconds = |key, value: Option<f64>, default| match value {
            None => Ok(default),
            Some(v) => Duration::try_from_secs_f64(v)
                .map_err(|_| ConfigError::BadSeconds { key, value: v }),
        };
        let tls_reload_interval = match self.tls_reload_interval {
            None => d.tls_reload_interval,
            Some(v) => Some(seconds("tls_reload_interval", Some(v), Duration::ZERO)?),
        };
        let mut config = Config {
            listen,
            listen_tls,
            tls: None,
            tls_reload_interval,
            reuse_port: self.reuse_port.unwrap_or(d.reuse_port),
            subprotocols: self.subprotocols.unwrap_or(d.subprotocols),
            routes,
            workers: self.workers.unwrap_or(if cpus.is_empty() {
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
            memory_budget: self.memory_budget.unwrap_or(d.memory_budget),
            message_timeout: seconds("message_timeout", self.message_timeout, d.message_timeout)?,
            slow_subscriber: self.slow_subscriber.unwrap_or(d.slow_subscriber),
            close_timeout: seconds("close_timeout", self.close_timeout, d.close_timeout)?,
            shutdown_timeout: seconds(
                "shutdown_timeout",
                self.shutdown_timeout,
                d.shutdown_timeout,
            )?,
            backend_connect_timeout: seconds(
                "backend_connect_timeout",
                self.backend_connect_timeout,
                d.backend_connect_timeout,
            )?,
            tunnel_idle_timeout: seconds(
                "tunnel_idle_timeout",
                self.tunnel_idle_timeout,
                d.tunnel_idle_timeout,
            )?,
            admin_listen: match self.admin_listen {
                Some(addr) => Some(resolve_listen("admin_listen", &[addr])?[0]),
                None => d.admin_listen,
            },
            page_path: endpoint_setting(self.page, d.page_path),
            healthz_path: endpoint_setting(self.healthz, d.healthz_path),
            metrics_path: endpoint_setting(self.metrics_path, d.metrics_path),
            jwt,
            log_level: self.log_level.unwrap_or(d.log_level),
            log_format: self.log_format.unwrap_or(d.log_format),
            access_log: self.access_log.unwrap_or(d.access_log),
            deflate: self.deflate.unwrap_or(d.deflate),
            cluster: match &self.cluster {
                Some(url) => {
                    let env = std::env::var(crate::cluster::PASSWORD_ENV).ok();
                    Some(ClusterUrl::parse(url, env.as_deref()).map_err(ConfigError::Cluster)?)
                }
                None => d.cluster,
            },
            publish_token: publish_token(self.publish_token_file.as_deref())?,
            drain_window: match self.drain_window {
                // Zero is allowed here (every close at once), unlike the other durations.
                Some(0.0) => Duration::ZERO,
                v => seconds("drain_window", v, d.drain_window)?,
            },
        };
        // The listener checks first (cheap, and a missing --listen-tls should not wait for a
        // key to be parsed), then the files, then the rest.
        config.validate_tls_listeners(!tls_specs.is_empty())?;
        if !tls_specs.is_empty() {
            let store = CertStore::load(tls_specs).map_err(ConfigError::TlsCert)?;
            config.tls = Some(Arc::new(store));
        }
        config.validate()?;
        Ok(config)
    }

    /// The JWT verifier the `jwt_*` settings and the environment's secret give, if any: exactly
    /// one key source, its key read and checked here, once.
    fn jwt(&self, env_secret: Option<&OsStr>) -> Result<Option<Arc<JwtVerifier>>, ConfigError> {
        let sources = [
            self.jwt_secret_file.as_ref().map(|_| "jwt_secret_file"),
            env_secret.map(|_| JWT_SECRET_ENV),
            self.jwt_public_key.as_ref().map(|_| "jwt_public_key"),
        ];
        let mut given = sources.into_iter().flatten();
        let (first, second) = (given.next(), given.next());
        if let (Some(a), Some(b)) = (first, second) {
            return Err(ConfigError::JwtTwoKeys([a, b]));
        }
        let verifier = if let Some(path) = &self.jwt_secret_file {
            let key = "jwt_secret_file";
            let bytes = read_key_file(key, path)?;
            JwtVerifier::from_secret(trim_newline(&bytes)).map_err(key_error(key, Some(path)))?
        } else if let Some(secret) = env_secret {
            let secret = trim_newline(secret.as_encoded_bytes());
            if secret.is_empty() {
                let problem = AuthError::Key("empty".to_owned());
                return Err(key_error(JWT_SECRET_ENV, None)(problem));
            }
            JwtVerifier::from_secret(secret).map_err(key_error(JWT_SECRET_ENV, None))?
        } else if let Some(path) = &self.jwt_public_key {
            let key = "jwt_public_key";
            let pem = read_key_file(key, path)?;
            JwtVerifier::from_public_key_pem(&pem).map_err(key_error(key, Some(path)))?
        } else {
            if self.jwt_audience.is_some() {
                return Err(ConfigError::JwtWithoutKey("jwt_audience"));
            }
            if self.jwt_leeway.is_some() {
                return Err(ConfigError::JwtWithoutKey("jwt_leeway"));
            }
            return Ok(None);
        };
        let leeway = self.jwt_leeway.map_or(DEFAULT_LEEWAY, Duration::from_secs);
        if leeway > MAX_JWT_LEEWAY {
            return Err(ConfigError::OutOfRange {
                key: "jwt_leeway",
                value: usize::try_from(leeway.as_secs()).unwrap_or(usize::MAX),
                min: 0,
                max: MAX_JWT_LEEWAY.as_secs() as usize,
            });
        }
        let mut verifier = verifier.with_leeway(leeway);
        if let Some(audience) = &self.jwt_audience {
            verifier = verifier.with_audience(audience.clone());
        }
        Ok(Some(Arc::new(verifier)))
    }
}

/// The publish API's token: from the file, else from [`PUBLISH_TOKEN_ENV`], else none (the API
/// is off). Trailing newlines are dropped; an empty token is refused.
fn publish_token(file: Option<&Path>) -> Result<Option<Arc<PublishToken>>, ConfigError> {
    let (name, bytes) = match file {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| ConfigError::PublishToken {
                source_name: path.display().to_string(),
                problem: e.to_string(),
            })?;
            (path.display().to_string(), bytes)
        }
        None => match std::env::var_os(PUBLISH_TOKEN_ENV) {
            Some(v) => (PUBLISH_TOKEN_ENV.to_owned(), v.into_encoded_bytes()),
            None => return Ok(None),
        },
    };
    let token = trim_newline(&bytes);
    if token.is_empty() {
        return Err(ConfigError::PublishToken {
            source_name: name,
            problem: "empty".to_owned(),
        });
    }
    Ok(Some(Arc::new(PublishToken::new(token))))
}

/// The certificate pairs: `--tls-cert`/`--tls-key` by position, then the file's `[[tls_certs]]`.
fn tls_specs(
    certs: Option<Vec<PathBuf>>,
    keys: Option<Vec<PathBuf>>,
    entries: Option<Vec<CertSpec>>,
) -> Result<Vec<CertSpec>, ConfigError> {
    let (certs, keys) = (certs.unwrap_or_default(), keys.unwrap_or_default());
    if certs.len() != keys.len() {
        return Err(ConfigError::TlsPairs {
            certs: certs.len(),
            keys: keys.len(),
        });
    }
    let mut specs: Vec<CertSpec> = (certs.into_iter().zip(keys))
        .map(|(cert, key)| CertSpec::new(cert, key))
        .collect();
    specs.extend(entries.unwrap_or_default());
    Ok(specs)
}

/// The error for an unusable key from `key` (a file key, or the variable), read from `path`.
fn key_error(key: &'static str, path: Option<&PathBuf>) -> impl FnOnce(AuthError) -> ConfigError {
    let path = path.cloned();
    move |problem| ConfigError::JwtKey { key, path, problem }
}

/// A JWT key file's bytes.
fn read_key_file(key: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::JwtRead {
        key,
        path: path.to_owned(),
        source,
    })
}

/// `secret` without the line ending(s) an editor or `echo` leaves at its end.
fn trim_newline(secret: &[u8]) -> &[u8] {
    let end = secret
        .iter()
        .rposition(|&b| b != b'\n' && b != b'\r')
        .map_or(0, |i| i + 1);
    &secret[..end]
}

/// A page, health or metrics path as given (`off` turns it off), else the default.
fn endpoint_setting(given: Option<String>, default: Option<String>) -> Option<String> {
    match given {
        Some(path) if path == "off" => None,
        Some(path) => Some(path),
        None => default,
    }
}

/// An endpoint path as `--help` shows it.
fn endpoint(path: &Option<String>) -> String {
    path.clone().unwrap_or_else(|| "off".to_owned())
}

/// `items` comma-separated, or `none` if there are none.
fn list<T: std::fmt::Display>(items: &[T], none: &str) -> String {
    if items.is_empty() {
        return none.to_owned();
    }
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The name a value-enum value has on the command line and in the file.
fn value_name<T: ValueEnum>(value: T) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_owned())
}

/// Every address each `HOST:PORT` of setting `key` resolves to, in order.
fn resolve_listen(key: &'static str, addrs: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut out = Vec::new();
    for addr in addrs {
        let unresolvable = |reason: String| ConfigError::Unresolvable {
            key,
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
