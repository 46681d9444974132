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
    /// Bytes received (after TLS): frames as they came over the wire.
    pub wire_bytes: u64,
    /// With --subprotocol: connections per subprotocol the server chose.
    pub subprotocols: BTreeMap<String, u64>,
    /// With --subprotocol: connections where the server chose none.
    pub subprotocol_none: u64,
    /// With --deflate: connections that agreed on permessage-deflate.
    pub deflate_agreed: u64,
    /// With --deflate: connections whose server declined it.
    pub deflate_declined: u64,
    /// Failures by kind.
    pub errors: BTreeMap<&'static str, u64>,
}

impl Counters {
    /// Adds `other`'s counts to these (the threads of a run, merged).
    pub fn merge(&mut self, other: &Counters) {
        self.attempted += other.attempted;
        self.upgraded += other.upgraded;
        self.ops += other.ops;
        self.payload_bytes += other.payload_bytes;
        self.broadcasts_complete += other.broadcasts_complete;
        self.tls_resumed += other.tls_resumed;
        self.wire_bytes += other.wire_bytes;
        for (name, n) in &other.subprotocols {
            *self.subprotocols.entry(name.clone()).or_default() += n;
        }
        self.subprotocol_none += other.subprotocol_none;
        self.deflate_agreed += other.deflate_agreed;
        self.deflate_declined += other.deflate_declined;
        for (kind, n) in &other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
    }

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
