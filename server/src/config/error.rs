//! [`ConfigError`]: why a configuration was refused.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{JWT_SECRET_ENV, MAX_DURATION, MIN_DURATION};
use crate::auth::{AuthError, SUBPROTOCOL_PREFIX};
use crate::routes::RouteError;
use crate::tls::CertError;

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
    /// A listen or admin address is not `HOST:PORT` or its host does not resolve.
    Unresolvable {
        /// The file key (`listen` or `admin_listen`).
        key: &'static str,
        /// The address as given.
        addr: String,
        /// The resolver's answer.
        reason: String,
    },
    /// The listen list is empty.
    NoListen,
    /// The same address (other than port 0) is listed twice, possibly through a host name.
    DuplicateListen(SocketAddr),
    /// A number outside its range.
    OutOfRange {
        /// The file key (the flag is the same in kebab-case).
        key: &'static str,
        /// The value given.
        value: usize,
        /// The smallest value allowed.
        min: usize,
        /// The largest value allowed.
        max: usize,
    },
    /// A duration that is negative, not a number, or outside [`MIN_DURATION`](super::MIN_DURATION)..=[`MAX_DURATION`](super::MAX_DURATION).
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
    /// A subprotocol starting with `bearer.`, the prefix that carries a client's JWT.
    ReservedSubprotocol(String),
    /// The admin address is also a listen address.
    AdminListenIsListen(SocketAddr),
    /// The `--cluster` URL is not `redis://HOST[:PORT][/DB]` (the message never shows a
    /// password).
    Cluster(crate::cluster::BadClusterUrl),
    /// The publish API's token file cannot be read, or the token is empty.
    PublishToken {
        /// Where the token came from: the file, or the variable's name.
        source_name: String,
        /// What went wrong.
        problem: String,
    },
    /// A page, health or metrics path that does not start with `/`, or holds a space, `?`
    /// or `#`.
    EndpointPath {
        /// The file key (`page`, `healthz`, `metrics_path`).
        key: &'static str,
        /// The path given.
        path: String,
    },
    /// Two of the page, health and metrics paths are the same.
    SameEndpointPath {
        /// The path given twice.
        path: String,
        /// The two file keys that name it.
        keys: [&'static str; 2],
    },
    /// A JWT key file could not be read.
    JwtRead {
        /// The file key (`jwt_secret_file` or `jwt_public_key`).
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What reading it said.
        source: std::io::Error,
    },
    /// A JWT key that cannot be used: not PEM, a private key, an unsupported key type, a
    /// secret too short, an empty environment variable.
    JwtKey {
        /// Where the key came from: a file key or [`JWT_SECRET_ENV`].
        key: &'static str,
        /// The file, when it came from one.
        path: Option<PathBuf>,
        /// What is wrong with it.
        problem: AuthError,
    },
    /// Two JWT keys are given (a secret file, the environment variable, a public key): one
    /// server checks tokens with one key.
    JwtTwoKeys([&'static str; 2]),
    /// A JWT setting (`jwt_audience`, `jwt_leeway`) without a key to use it with.
    JwtWithoutKey(&'static str),
    /// A TLS certificate or key file that cannot be used; the error names the file and why.
    TlsCert(CertError),
    /// `--tls-cert` and `--tls-key` are not given the same number of times.
    TlsPairs {
        /// Certificates given.
        certs: usize,
        /// Keys given.
        keys: usize,
    },
    /// A TLS listener without a certificate to serve.
    TlsWithoutCert,
    /// A TLS setting (the file key: `tls_cert`, `tls_reload_interval`) without a TLS listener
    /// to use it.
    TlsWithoutListener(&'static str),
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
            Self::Unresolvable { key, addr, reason } => write!(
                f,
                "{} address {addr:?} (--{}) does not resolve: {reason}",
                key.replace('_', " "),
                flag(key)
            ),
            Self::NoListen => f.write_str("at least one listen address (--listen) is needed"),
            Self::DuplicateListen(a) => write!(f, "listen address {a} (--listen) is given twice"),
            Self::OutOfRange {
                key,
                value,
                min,
                max,
            } => {
                let (bound, limit) = if value < min {
                    ("at least", min)
                } else {
                    ("at most", max)
                };
                write!(
                    f,
                    "{key} must be {bound} {limit}, got {value} (--{})",
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
            Self::ReservedSubprotocol(p) => write!(
                f,
                "subprotocol {p:?} starts with {SUBPROTOCOL_PREFIX:?}, which carries a client's \
                 token and is never chosen (--subprotocol)"
            ),
            Self::Cluster(e) => write!(f, "{e} (--cluster)"),
            Self::PublishToken {
                source_name,
                problem,
            } => write!(
                f,
                "publish token from {source_name} cannot be used: {problem} \
                 (--publish-token-file, SWITCHYARD_PUBLISH_TOKEN)"
            ),
            Self::AdminListenIsListen(a) => write!(
                f,
                "admin_listen {a} is also a listen address: give it an address of its own \
                 (--admin-listen, --listen)"
            ),
            Self::EndpointPath { key, path } => write!(
                f,
                "{key} {path:?} must be a path starting with '/' without spaces, '?' or '#', \
                 or off (--{})",
                flag(key)
            ),
            Self::SameEndpointPath { path, keys } => write!(
                f,
                "{} and {} are both {path:?}: give each its own path (--{}, --{})",
                keys[0],
                keys[1],
                flag(keys[0]),
                flag(keys[1])
            ),
            Self::JwtRead { key, path, source } => write!(
                f,
                "cannot read {key} {} (--{}): {source}",
                path.display(),
                flag(key)
            ),
            Self::JwtKey {
                key,
                path: Some(path),
                problem,
            } => write!(
                f,
                "{key} {} (--{}) cannot be used: {problem}",
                path.display(),
                flag(key)
            ),
            Self::JwtKey {
                key,
                path: None,
                problem,
            } => write!(f, "{key} cannot be used: {problem}"),
            Self::JwtTwoKeys([a, b]) => write!(
                f,
                "{} and {} are both given: tokens are checked with one key, choose one",
                source_name(a),
                source_name(b)
            ),
            Self::JwtWithoutKey(key) => write!(
                f,
                "{key} (--{}) needs a key to check tokens with: --jwt-secret-file, \
                 {JWT_SECRET_ENV} or --jwt-public-key",
                flag(key)
            ),
            Self::TlsCert(e) => write!(f, "TLS certificate (--tls-cert, --tls-key): {e}"),
            Self::TlsPairs { certs, keys } => write!(
                f,
                "--tls-cert is given {certs} time(s) and --tls-key {keys}: give them in pairs, \
                 a key after each certificate (tls_cert, tls_key)"
            ),
            Self::TlsWithoutCert => f.write_str(
                "listen_tls (--listen-tls) needs a certificate: --tls-cert FILE --tls-key FILE \
                 (or [[tls_certs]] in the file)",
            ),
            Self::TlsWithoutListener(key) => write!(
                f,
                "{key} (--{}) is given but there is no TLS listener to use it: add \
                 --listen-tls ADDR",
                flag(key)
            ),
        }
    }
}

/// A JWT key source as an operator knows it: the file key and its flag, or the variable.
fn source_name(key: &str) -> String {
    if key == JWT_SECRET_ENV {
        key.to_owned()
    } else {
        format!("{key} (--{})", key.replace('_', "-"))
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } | Self::JwtRead { source, .. } => Some(source),
            Self::Route(e) => Some(e),
            Self::JwtKey { problem, .. } => Some(problem),
            Self::TlsCert(e) => Some(e),
            _ => None,
        }
    }
}
