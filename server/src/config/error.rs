//! [`ConfigError`]: why a configuration was refused.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{MAX_DURATION, MIN_DURATION};
use crate::routes::RouteError;

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
