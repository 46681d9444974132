//! What a run counts, and the names under which failures are counted.

use std::collections::BTreeMap;
use std::io;

use switchyard_bench::wire::ClientError;

/// Counters the run reads.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// Connection attempts started.
    pub attempted: u64,
    /// Connections that completed the upgrade.
    pub upgraded: u64,
    /// Operations: upgrades, echoes received, or broadcast deliveries.
    pub ops: u64,
    /// Payload bytes of the operations.
    pub payload_bytes: u64,
    /// Broadcast messages received by every subscriber.
    pub broadcasts_complete: u64,
    /// TLS handshakes that resumed an earlier session (with --tls).
    pub tls_resumed: u64,
    /// Failures by kind.
    pub errors: BTreeMap<&'static str, u64>,
}

impl Counters {
    /// Total failures.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// The kind under which a failed connection attempt is counted.
pub fn connect_error_kind(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => "connection refused",
        Some(libc::EADDRNOTAVAIL) => "no free source port (EADDRNOTAVAIL)",
        Some(libc::EMFILE) | Some(libc::ENFILE) => "too many open files",
        Some(libc::ETIMEDOUT) => "connect timed out",
        Some(libc::ECONNRESET) => "connection reset",
        _ => "connect failed",
    }
}

/// The kind under which a refused upgrade is counted.
pub fn handshake_error_kind(e: &ClientError) -> &'static str {
    match e {
        ClientError::MalformedResponse => "handshake: malformed response",
        ClientError::UnexpectedStatus { .. } => "handshake: status not 101",
        ClientError::InvalidUpgrade | ClientError::InvalidConnection => {
            "handshake: no websocket upgrade"
        }
        ClientError::InvalidAccept => "handshake: wrong accept value",
        ClientError::HeadTooLarge { .. } | ClientError::TooManyHeaders { .. } => {
            "handshake: response head too large"
        }
        _ => "handshake: refused",
    }
}
