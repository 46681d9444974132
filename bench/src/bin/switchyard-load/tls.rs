//! `wss://`: a rustls client (aws-lc-rs, as the server) over each connection's socket, with
//! rustls's buffered `ClientConnection`: the generator gives it plaintext (the upgrade request,
//! frames) and moves records between it and the non-blocking socket.
//!
//! The server's certificate is checked against `--ca FILE`, or not at all with `--insecure`.
//! Resumption (TLS 1.3 tickets, kept in a store of the generator's own) is on unless
//! `--no-resumption`: an upgrade storm then measures resumed handshakes, the usual case for
//! returning browsers. Cipher suites are offered in browsers' order (TLS13_AES_128_GCM_SHA256
//! first); key exchange groups in aws-lc-rs's (X25519MLKEM768 first, as Chrome and Firefox),
//! or X25519 alone with `--x25519`.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Resumption, Tls12ClientSessionValue,
    Tls13ClientSessionValue,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::NamedGroup;
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// What every TLS connection of a run is made with.
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl TlsClient {
    /// A client for server name `name` (SNI, and the name the certificate must cover), trusting
    /// the CA certificates in `ca`, or any certificate if `insecure`.
    /// With `x25519_only`, the client offers X25519 alone (as OpenSSL 3.0 and older clients
    /// do) instead of aws-lc-rs's default list, which starts with the post-quantum hybrid
    /// X25519MLKEM768 (what current browsers offer first).
    pub fn new(
        name: &str,
        ca: Option<&Path>,
        insecure: bool,
        resumption: bool,
        x25519_only: bool,
    ) -> io::Result<Self> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        // The order browsers offer (AES-128-GCM first), not aws-lc-rs's (AES-256-GCM-SHA384
        // first): a server that follows the client's order then does what it does for
        // browsers.
        provider
            .cipher_suites
            .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        if x25519_only {
            provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519];
        }
        let provider = Arc::new(provider);
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?;
        let mut config = match (ca, insecure) {
            (_, true) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth(),
            (Some(ca), false) => {
                let mut roots = RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(ca)
                    .map_err(|e| invalid(format!("--ca {}: {e}", ca.display())))?;
                for cert in certs {
                    let cert = cert.map_err(|e| invalid(format!("--ca {}: {e}", ca.display())))?;
                    roots
                        .add(cert)
                        .map_err(|e| invalid(format!("--ca {}: {e}", ca.display())))?;
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            (None, false) => {
                return Err(invalid(
                    "--tls needs --ca FILE (the server's CA) or --insecure".to_owned(),
                ))
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = if resumption {
            Resumption::store(Arc::new(TicketStore::default()))
        } else {
            Resumption::disabled()
        };
        let name = ServerName::try_from(name.to_owned())
            .map_err(|e| invalid(format!("--server-name {name}: {e}")))?;
        Ok(Self {
            config: Arc::new(config),
            name,
        })
    }

    /// A session for one new connection; its output is unbounded (the generator bounds what
    /// it sends by its window, and `write_all` must never stop half way).
    pub fn session(&self) -> io::Result<ClientConnection> {
        let mut session = ClientConnection::new(self.config.clone(), self.name.clone())
            .map_err(io::Error::other)?;
        session.set_buffer_limit(None);
        Ok(session)
    }
}

/// Tickets for the one server a run talks to, as many as the server gives (up to
/// [`TicketStore::MAX`]). rustls's own store keeps 8 per server name: enough for a browser, not
/// for a storm of 32 handshakes at once, where the tickets of a burst of completions overflow it
/// and half the next connections go without one.
#[derive(Debug)]
struct TicketStore {
    tickets: Mutex<VecDeque<Tls13ClientSessionValue>>,
    /// Everything else (key exchange hints, TLS 1.2 sessions): rustls's store.
    other: ClientSessionMemoryCache,
}

impl TicketStore {
    const MAX: usize = 4096;
}

impl Default for TicketStore {
    fn default() -> Self {
        Self {
            tickets: Mutex::new(VecDeque::new()),
            other: ClientSessionMemoryCache::new(16),
        }
    }
}

impl ClientSessionStore for TicketStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.other.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.other.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.other.set_tls12_session(server_name, value);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.other.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.other.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(&self, _: ServerName<'static>, value: Tls13ClientSessionValue) {
        let mut tickets = self.tickets.lock().unwrap_or_else(PoisonError::into_inner);
        if tickets.len() == Self::MAX {
            tickets.pop_front();
        }
        tickets.push_back(value);
    }

    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        // The newest first, as rustls's own store does.
        self.tickets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_back()
    }
}

/// `--insecure`: accepts any certificate, still checking the handshake's signatures.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
