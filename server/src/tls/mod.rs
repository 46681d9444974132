//! TLS for `wss://` and `https://` (issue 14): certificates from PEM files, chosen by SNI and
//! reloaded without a restart, the `rustls::ServerConfig` over them, a session type over
//! rustls's unbuffered API, and [`TlsTransport`], which makes that session netio's transport
//! for the connections of a TLS listener. No async runtime: everything here is plain calls over
//! caller-owned buffers, on the reactor threads.
//!
//! # Pieces
//! - [`CertSpec`] (a certificate chain file, a key file, optional names) is what the
//!   configuration gives: `--tls-cert FILE --tls-key FILE`, repeated for several pairs, or
//!   `[[tls_certs]]` entries in the TOML file (see [`crate::config`]).
//! - [`CertStore::load`] reads and checks every pair before any socket is bound: a file that
//!   cannot be read, holds no certificate or no key, an encrypted or unusable key, a key that is
//!   not the certificate's, a name the certificate does not cover: each is a [`CertError`]
//!   naming the file and the problem, which the configuration turns into a `ConfigError`. An
//!   expired certificate only logs a warning (clients refuse it; a late renewal should not stop
//!   a restart).
//! - [`CertStore::server_config`]: TLS 1.2 and 1.3, ALPN `http/1.1` only ([`ALPN_HTTP_1_1`]),
//!   SNI over the store, TLS 1.3 tickets on ([`TLS13_TICKETS`] per handshake), a bounded
//!   session cache ([`SESSION_CACHE_ENTRIES`]).
//! - [`CertStore::reload`] (SIGHUP, see [`crate::signals`], or
//!   [`crate::ServerHandle::reload_tls`]) and [`CertStore::reload_if_changed`] (the
//!   `--tls-reload-interval` poll, a thread of its own) swap the certificates for new
//!   handshakes; a broken new file leaves that pair's old certificate in service. Established
//!   connections are never touched: a TLS session does not look at its certificate again
//!   after the handshake.
//! - [`TlsSession`]: one connection. [`TlsSession::on_bytes`] takes the reactor's read buffer
//!   and leaves the decrypted data at its front; [`TlsSession::encrypt`] and
//!   [`TlsSession::close_notify`] append records to the outbound bytes.
//! - [`TlsTransport`]: a session as a [`switchyard_netio::Transport`], set by the reactor's
//!   `accept` on every connection of a TLS listener; [`TlsFailure`] names why one failed
//!   (`switchyard_tls_failures_total{reason}`).
//!
//! # Where the layer sits, and who owns which buffer
//! TLS is a transport under the HTTP and WebSocket layers: the `handshake` and `frame` crates,
//! the server's HTTP, WebSocket and tunnel code and the apps see plaintext and never know. netio
//! carries it without knowing it is TLS (its `transport` module docs give the generic rules):
//!
//! - **Reads.** netio reads into its per-reactor read buffer and lends it to
//!   [`TlsSession::on_bytes`], which decrypts the records there and gathers their data at the
//!   front, where the HTTP parser or the frame decoder works on it as on a plain read
//!   (unmasking in place included). Handshake records the session answers are sent at once,
//!   except when the same read also held application data (the client's Finished with the
//!   upgrade request behind it): then the session ticket waits for the answer to that request
//!   (the 101) and both leave in one `send`.
//!   The tail of an incomplete record is copied into a buffer of the connection's own that
//!   exists only while such a tail does, and copied back to the front of the read buffer,
//!   ahead of the next read; an idle connection, between records, holds none.
//! - **Writes.** Every write path (HTTP answers, the 101, echo replies, broadcast frames,
//!   pings, close frames, bridge and tunnel bytes) goes through netio's write calls, which
//!   encrypt through [`TlsSession::encrypt`]: a callback's corked writes together when it
//!   returns (one `send` for all, records as full as the data allows), a write to another
//!   connection at the call, a deferred (fan-out) write at the call too, its records waiting
//!   in the queue for the turn's single `send`. The encryption goes into a per-reactor scratch
//!   buffer; only what the socket does not take is copied into the connection's queue.
//! - **Backpressure** counts encrypted bytes: the outbound cap, the water marks and the memory
//!   budget see what will go to the socket. **The cork** still means one `send` per callback
//!   and per loop turn for deferred writes.
//! - **Ownership.** The connection table holds the [`TlsTransport`] (boxed, in netio's side
//!   table: a plain connection pays nothing for it); the reactor owns every I/O buffer.
//!
//! rustls 0.23's unbuffered API does not yet hand out decrypted data in place: it decrypts each
//! record in the caller's buffer, then copies the data into a `Vec` it hands out
//! (`ReadTraffic`, with a note that in-place delivery is planned). [`TlsSession::on_bytes`]
//! copies it back into the caller's buffer, so the reactor's view is in place already and will
//! stay so; the cost is one copy and one short-lived allocation per record.
//!
//! # Failures, limits, close
//! - The handshake counts against the head timeout: a connection still handshaking when it
//!   fires is closed (there is no channel for a 408) and counted as `handshake_timeout`.
//! - Garbage, plain HTTP or a cut ClientHello on a TLS port gets one alert record and a close,
//!   nothing else: rustls's alert for records it can parse, a plaintext `decode_error` for a
//!   ClientHello cut by a FIN; each counted by reason (`plain_http`, `not_tls`, `truncated`,
//!   `no_alpn`, ...). A FIN before any byte is a port check and is not counted.
//! - The negotiated version, cipher suite, ALPN, SNI and handshake kind are logged at debug
//!   level when a handshake completes, and handshakes counted as full or resumed.
//! - `close_notify` follows our close frame whenever the server closes after flushing: after
//!   the close handshake, after 1001 at shutdown, after an HTTP `Connection: close` answer, in
//!   the same `send` as that last frame or answer; it is not sent on an abrupt close (a reset,
//!   the memory budget's shedding).
//!
//! # Half-close over TLS
//! A peer's `close_notify` is its end of data ([`Received::peer_closed`]), reported upward as
//! the end of input, like a FIN on plain TCP: a WebSocket then gets our close frame, and a raw
//! `Upgrade: tcp` tunnel passes it on to the backend as a FIN while the backend's reply still
//! flows back (TLS 1.3 lets each side close its direction alone, RFC 8446 section 6.1). The
//! other way, a backend's FIN becomes our `close_notify` then our FIN, and the client may
//! still send. A TCP FIN without `close_notify` is a truncation; after the handshake it ends
//! the connection as it would on plain TCP (a WebSocket without its close frame: 1006), during
//! the handshake it is the `truncated` failure.
//!
//! # Crypto provider: aws-lc-rs
//! Measured with `bench/benches/tls.rs` (its docs say what each case does): a rustls client
//! and server in memory, the server's calls alone timed, TLS 1.3, X25519 unless said, an ECDSA
//! P-256 or RSA 2048 certificate, AES-128-GCM records. Criterion medians in microseconds, two
//! runs on the shared 2-core machine (AMD EPYC, AES-NI and VAES), pinned with
//! `taskset -c 1 cargo bench -p switchyard-bench --bench tls`; the machine's load moved the
//! absolute figures by about 30% between runs (load average 4 to 5 in the first, 1 to 3 in the
//! second), the ratios far less:
//!
//! | server work                                  | ring run 1 | aws-lc-rs run 1 | ring run 2 | aws-lc-rs run 2 |
//! |----------------------------------------------|-----------:|----------------:|-----------:|----------------:|
//! | full handshake, ECDSA P-256                  |        174 |             149 |        232 |             181 |
//! | full handshake, RSA 2048                     |       1237 |            1226 |       1723 |            1627 |
//! | full handshake, ECDSA, X25519MLKEM768        |     (none) |             169 |     (none) |             230 |
//! | resumed handshake (TLS 1.3 ticket)           |        152 |             108 |        203 |             148 |
//! | encrypt one 16 KiB record                    |        4.7 |             8.2 |        6.1 |            10.6 |
//! | decrypt one 16 KiB record (with rustls's copies) | 14.5   |            17.1 |       18.7 |            23.2 |
//!
//! aws-lc-rs is chosen: handshakes, the cost an upgrade storm pays, are 15 to 30% cheaper
//! with it (resumed ones most); it has the post-quantum hybrid X25519MLKEM768 that current
//! Chrome and Firefox offer first (ring has none, and rustls 0.23.48 deprecates its ring
//! provider for that reason, so staying on ring means a provider on its way out); and it
//! built here from crates.io without cmake (aws-lc-sys 0.47 has a `cc` builder with the
//! assembly included). The cost: bulk records are slower with it here, about +3.5 to +4.5 us
//! per 16 KiB record each way (roughly 25 to 35% more CPU for a 16 KiB echo's crypto), not
//! what aws-lc's own figures suggest; finding why (rustls's aws-lc record sealing path, or the
//! CPU path aws-lc picks on this EPYC) is follow-up work before the 16 KiB echo target is
//! measured. The provider is one function, [`provider`] (and `ticketer` beside it), so switching is a
//! two-line change plus the Cargo feature. A browser negotiating X25519MLKEM768 costs about
//! 20% more per full handshake than X25519, about what a ring handshake costs.
//!
//! Cipher suites: the server picks by its own order, AES-128-GCM first ([`prefers_aes_128`]
//! says why: SHA-384 runs aws-lc's C code on this AMD CPU, and AES-256 costs 40% more rounds).
//! Measured end to end (`bench/tls_compare.py`, BENCHMARKS.md): a resumed TLS upgrade went from
//! 201 to 142 us of server CPU, a 16 KiB TLS echo from 21.4 to 18.1 us.
//!
//! # Idle memory
//! An idle TLS connection (handshake done, nothing pending) holds a [`TlsSession`]: 1,112 bytes
//! inline (1,088 of them rustls's `UnbufferedServerConnection`) plus 1,082 bytes of rustls heap
//! (its state machine with the traffic keys, the record layer's AEAD contexts, the server name)
//! after a full or a resumed handshake, 1,178 bytes after traffic both ways (its chunk queues
//! keep a little capacity): about 2.2 KiB in all, every byte of it rustls's own state, and no
//! I/O buffer. Measured by `tests::memory` with a counting global allocator (this thread's
//! allocations during the server's calls only, the read buffer and output queue made
//! beforehand); `cargo test -p switchyard --lib tls::tests::memory -- --nocapture` prints the
//! figures. A session boxed in the connection table costs the same on the heap. Served by the
//! reactors, 10,000 idle wss connections cost 3,978 bytes of resident memory each (87 for ws://;
//! BENCHMARKS.md): the session, netio's transport-table entry, and what the allocator keeps
//! resident after 10,000 handshakes.

mod files;
mod session;
mod store;
mod transport;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::ProducesTickets;

pub use files::{CertError, CertInfo, CertSpec, LoadedCert};
pub use session::{Received, TlsError, TlsSession};
pub use store::{CertStore, ReloadReport, ALPN_HTTP_1_1, SESSION_CACHE_ENTRIES, TLS13_TICKETS};
pub use transport::{TlsFailure, TlsTransport};

/// The crypto provider every TLS connection uses: aws-lc-rs with its default key exchange
/// groups (X25519MLKEM768 first, then the classic curves) and its cipher suites with the
/// AES-128-GCM ones first ([`prefers_aes_128`]; the server's configuration picks by this
/// order, not the client's). The module docs give the measurements behind the choices.
pub fn provider() -> CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    // A stable sort: the rest keep aws-lc-rs's order.
    provider
        .cipher_suites
        .sort_by_key(|s| !prefers_aes_128(s.suite()));
    provider
}

/// Whether `suite` is one of the AES-128-GCM suites the server prefers. aws-lc-rs lists
/// AES-256-GCM with SHA-384 first, and rustls clients ask for it first (browsers ask for
/// AES-128-GCM with SHA-256 first). On this AMD EPYC that costs twice: SHA-384 runs aws-lc's
/// C code (its AVX SHA-512 is enabled on Intel CPUs only, while SHA-256 has the SHA-NI
/// instructions), 24% of the server's time in a resumed TLS upgrade storm under `perf`, spent
/// in the key schedule's HMACs; and AES-256 makes 14 rounds per block against 10, in the
/// AES-GCM that is 41% of a 16 KiB TLS echo. AES-128-GCM is TLS 1.3's mandatory suite
/// (RFC 8446 section 9.1) and the first of Mozilla's modern configuration; ChaCha20 stays
/// available to clients that offer nothing else.
pub fn prefers_aes_128(suite: rustls::CipherSuite) -> bool {
    matches!(
        suite,
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
            | rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    )
}

/// The TLS 1.3 ticket encrypter (from the same provider as [`provider`]): a random key per process, rotated every 6 hours by rustls
/// (tickets from before a restart, or from another process sharing the port, are not accepted
/// and the client falls back to a full handshake).
pub(crate) fn ticketer() -> Result<Arc<dyn ProducesTickets>, rustls::Error> {
    rustls::crypto::aws_lc_rs::Ticketer::new()
}
