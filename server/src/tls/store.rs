//! [`CertStore`]: the certificates every TLS listener serves, chosen by server name, replaced
//! whole on reload without touching established connections; and the `rustls::ServerConfig`
//! built over it.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use super::files::{self, CertError, CertInfo, CertSpec, LoadedCert, Stamp};
use super::session;

/// The only application protocol advertised with ALPN: HTTP/1.1, which carries the WebSocket
/// upgrade (RFC 6455 section 4.1). A client that offers ALPN without it (`h2` alone) gets the
/// `no_application_protocol` alert (RFC 7301 section 3.2), which rustls sends itself; a client
/// that offers no ALPN at all is served as before.
pub const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// Entries of the stateful session cache (TLS 1.2 session IDs from clients that do not take
/// tickets): 4,096. rustls evicts the oldest beyond it; an entry is the session's secrets and
/// parameters, about 150 bytes with its key, so the cache is bounded near 1 MiB per process
/// however many clients come. TLS 1.3 and ticket-capable TLS 1.2 clients resume with
/// stateless tickets and never use it.
pub const SESSION_CACHE_ENTRIES: usize = 4096;

/// TLS 1.3 tickets sent after each full or resumed handshake: one. A browser resumes a
/// connection with one ticket and gets a fresh one on every connection; rustls's default of
/// two doubles the ticket encryption and bytes on every handshake for the rare client that
/// opens two connections at once from one earlier session.
pub const TLS13_TICKETS: usize = 1;

/// The certificates a TLS listener serves and the `rustls::ServerConfig` over them.
///
/// Built once at start-up by [`CertStore::load`], which checks every file first; shared by
/// every reactor (`Send + Sync`). Each pair serves the names of its certificate (or those given
/// for it); the first pair is also the default for clients that send no SNI or a name no pair
/// serves. [`CertStore::reload`] re-reads every file: new handshakes get the new certificates,
/// established connections keep the keys they negotiated (a TLS session never looks at its
/// certificate again after the handshake), and a pair whose new files are broken keeps its old
/// certificate, with a warning.
///
/// The resolver rustls calls for each ClientHello reads the current set through a `RwLock`
/// around an `Arc`: one uncontended atomic read lock per handshake, far below the handshake's
/// own cost, and no crate for it; a reload builds the new set unlocked and swaps the `Arc`
/// under the write lock, so handshakes never wait on file reads.
pub struct CertStore {
    specs: Vec<CertSpec>,
    provider: Arc<CryptoProvider>,
    current: Arc<RwLock<Arc<CertSet>>>,
    stamps: Mutex<Vec<[Option<Stamp>; 2]>>,
    server_config: Arc<ServerConfig>,
}

/// One generation of certificates, looked up by name.
struct CertSet {
    /// In the order of the specs; the first is the default.
    certs: Vec<LoadedCert>,
    /// Exact names to their index.
    exact: HashMap<Box<str>, usize>,
    /// Wildcards, `*.example.com` stored as `example.com`, to their index.
    wildcard: HashMap<Box<str>, usize>,
}

impl CertSet {
    /// The set over `certs`; where two pairs serve one name, the first named wins.
    fn new(certs: Vec<LoadedCert>) -> Self {
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for (i, cert) in certs.iter().enumerate() {
            for name in &cert.info.names {
                let (map, key) = match name.strip_prefix("*.") {
                    Some(suffix) => (&mut wildcard, suffix),
                    None => (&mut exact, name.as_str()),
                };
                map.entry(Box::from(key)).or_insert(i);
            }
        }
        Self {
            certs,
            exact,
            wildcard,
        }
    }

    /// The index of the pair serving `name`: an exact name, else a wildcard for its parent,
    /// else the default (the first).
    fn choose(&self, name: Option<&str>) -> usize {
        let Some(name) = name else { return 0 };
        let lower;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = name.to_ascii_lowercase();
            lower.as_str()
        } else {
            name
        };
        if let Some(&i) = self.exact.get(name) {
            return i;
        }
        name.split_once('.')
            .and_then(|(_, parent)| self.wildcard.get(parent).copied())
            .unwrap_or(0)
    }
}

/// What a reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Pairs read anew and now served, by certificate file.
    pub replaced: Vec<PathBuf>,
    /// Pairs whose new files could not be used: each keeps its previous certificate.
    pub kept: Vec<CertError>,
}

impl CertStore {
    /// Loads and checks every pair (readable files, a certificate and a key in each, a key the
    /// provider can sign with that matches the certificate, names the certificate covers; each
    /// failure a [`CertError`]), over the crypto provider this server uses
    /// ([`super::provider`]), and builds the `ServerConfig`. An expired certificate is logged,
    /// not refused.
    ///
    /// # Panics
    /// If `specs` is empty: the configuration never asks for a store without a pair.
    pub fn load(specs: Vec<CertSpec>) -> Result<Self, CertError> {
        Self::load_with(specs, Arc::new(super::provider()))
    }

    /// [`CertStore::load`] over another crypto provider (tests, benchmarks).
    pub fn load_with(
        specs: Vec<CertSpec>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, CertError> {
        assert!(!specs.is_empty(), "a CertStore needs at least one pair");
        let stamps = specs.iter().map(stamps_of).collect();
        let certs = specs
            .iter()
            .map(|spec| files::load(spec, &provider))
            .collect::<Result<Vec<_>, _>>()?;
        warn_about(&certs);
        let current = Arc::new(RwLock::new(Arc::new(CertSet::new(certs))));
        let server_config = server_config(&provider, Resolver(current.clone()))?;
        Ok(Self {
            specs,
            provider,
            current,
            stamps: Mutex::new(stamps),
            server_config,
        })
    }

    /// The rustls configuration every TLS connection is made with: TLS 1.2 and 1.3, ALPN
    /// [`ALPN_HTTP_1_1`], certificates chosen by SNI from this store (reloads included),
    /// stateless TLS 1.3 tickets ([`TLS13_TICKETS`] per handshake, keys rotated by rustls every
    /// 6 hours) and a stateful cache of [`SESSION_CACHE_ENTRIES`].
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.server_config.clone()
    }

    /// The pairs as configured.
    pub fn specs(&self) -> &[CertSpec] {
        &self.specs
    }

    /// What each pair now served says about itself, in configuration order.
    pub fn certificates(&self) -> Vec<CertInfo> {
        let set = self.snapshot();
        set.certs.iter().map(|c| c.info.clone()).collect()
    }

    /// The certificate a client sending `server_name` as SNI (or none) gets now: its file.
    pub fn chosen_for(&self, server_name: Option<&str>) -> PathBuf {
        let set = self.snapshot();
        set.certs[set.choose(server_name)].info.cert.clone()
    }

    /// Re-reads every pair's files. Each pair that loads replaces the one served; each that does
    /// not keeps the previous certificate, and its problem is logged (warn) and reported. New
    /// handshakes use the result from the moment this returns; connections already established
    /// are not affected either way.
    pub fn reload(&self) -> ReloadReport {
        let old = self.snapshot();
        let mut report = ReloadReport::default();
        let mut stamps: Vec<_> = self.specs.iter().map(stamps_of).collect();
        let mut certs = Vec::with_capacity(self.specs.len());
        for (i, spec) in self.specs.iter().enumerate() {
            match files::load(spec, &self.provider) {
                Ok(cert) => {
                    report.replaced.push(spec.cert.clone());
                    certs.push(cert);
                }
                Err(e) => {
                    log::warn!(
                        "tls: reload: {e}; still serving the previous certificate from {}",
                        spec.cert.display()
                    );
                    report.kept.push(e);
                    certs.push(old.certs[i].clone());
                    // Try again at the next poll even if the broken file does not change
                    // (a renewal may fix the other file of the pair).
                    stamps[i] = [None, None];
                }
            }
        }
        warn_about(&certs);
        let set = Arc::new(CertSet::new(certs));
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = set;
        *self.stamps.lock().unwrap_or_else(PoisonError::into_inner) = stamps;
        if !report.replaced.is_empty() {
            log::info!(
                "tls: reloaded {} certificate(s), kept {} previous",
                report.replaced.len(),
                report.kept.len()
            );
        }
        report
    }

    /// For the poll option (`--tls-reload-interval`): reloads if any file's contents changed
    /// since the last load, or a pair could not be used then (so a fix to either of its files
    /// is picked up; the warning repeats at each poll until then), else does nothing and returns
    /// `None`. Costs reading each file, a few KiB.
    pub fn reload_if_changed(&self) -> Option<ReloadReport> {
        let now: Vec<_> = self.specs.iter().map(stamps_of).collect();
        let changed = {
            let seen = self.stamps.lock().unwrap_or_else(PoisonError::into_inner);
            now.iter()
                .zip(seen.iter())
                .any(|(now, seen)| seen.iter().any(Option::is_none) || now != seen)
        };
        changed.then(|| self.reload())
    }

    /// One line for the start-up log: each pair's file and names.
    pub fn summary(&self) -> String {
        let set = self.snapshot();
        let pairs: Vec<String> = (set.certs.iter())
            .map(|c| {
                format!(
                    "{} ({})",
                    c.info.cert.display(),
                    if c.info.names.is_empty() {
                        "no DNS names".to_owned()
                    } else {
                        c.info.names.join(" ")
                    }
                )
            })
            .collect();
        pairs.join(", ")
    }

    /// The set served now.
    fn snapshot(&self) -> Arc<CertSet> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("specs", &self.specs)
            .field("certificates", &self.certificates())
            .finish_non_exhaustive()
    }
}

/// The stamps of a pair's two files.
fn stamps_of(spec: &CertSpec) -> [Option<Stamp>; 2] {
    [Stamp::of(&spec.cert), Stamp::of(&spec.key)]
}

/// Warnings for certificates clients will refuse or never be given.
fn warn_about(certs: &[LoadedCert]) {
    let now = SystemTime::now();
    for (i, cert) in certs.iter().enumerate() {
        let info = &cert.info;
        if info.is_outside_validity(now) {
            log::warn!(
                "tls: the certificate in {} is outside its validity period (not before {}, not \
                 after {}, Unix seconds): clients will refuse it",
                info.cert.display(),
                info.not_before,
                info.not_after
            );
        }
        if i > 0 && info.names.is_empty() {
            log::warn!(
                "tls: the certificate in {} has no DNS names and is not the first (default) \
                 pair: no client will be given it",
                info.cert.display()
            );
        }
    }
}

/// The `ServerConfig` over `resolver` (see [`CertStore::server_config`]).
fn server_config(
    provider: &Arc<CryptoProvider>,
    resolver: Resolver,
) -> Result<Arc<ServerConfig>, CertError> {
    // Neither step can fail with the providers this crate builds (both have safe defaults
    // and a ticketer); the error names the provider rather than a file.
    let problem = |problem| CertError::UnusableKey {
        path: PathBuf::from("(crypto provider)"),
        problem,
    };
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(problem)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    // The server's order of suites, AES-128-GCM first (see `super::prefers_aes_128`), not the
    // client's: rustls clients put AES-256-GCM-SHA384 first, which costs more here.
    config.ignore_client_order = true;
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
    config.ticketer = super::ticketer().map_err(problem)?;
    config.send_tls13_tickets = TLS13_TICKETS;
    Ok(Arc::new(config))
}

/// rustls's view of the store: the current set, by SNI.
struct Resolver(Arc<RwLock<Arc<CertSet>>>);

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = client_hello.server_name();
        session::note_server_name(name);
        let set = self.0.read().unwrap_or_else(PoisonError::into_inner);
        Some(set.certs[set.choose(name)].key.clone())
    }
}
