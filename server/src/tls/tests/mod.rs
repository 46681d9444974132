//! Tests of the TLS building blocks: a certificate authority made at test time (rcgen), test
//! keys in `server/tests/data/tls`, and a rustls client driven against a [`TlsSession`] in
//! memory, with a step bound, until both are idle.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::{Received, TlsError, TlsSession};

mod config;
mod memory;
mod session;
mod store;

/// A scratch directory of this test's own, removed when dropped.
pub(super) struct Scratch(PathBuf);

impl Scratch {
    pub(super) fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("switchyard-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `bytes` to `name` in the directory and returns its path.
    pub(super) fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// The path `name` in the directory (not created).
    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A key from `server/tests/data/tls`, PEM text.
pub(super) fn test_key(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// A certificate authority of the test's own.
pub(super) struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert: CertificateDer<'static>,
}

/// A leaf certificate and its key, PEM.
pub(super) struct Leaf {
    /// The leaf's certificate alone.
    pub(super) cert_pem: String,
    /// The leaf's key (PKCS#8 unless made from another key).
    pub(super) key_pem: String,
    /// The leaf's DER, to compare with what a client was given.
    pub(super) der: CertificateDer<'static>,
}

impl Ca {
    pub(super) fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "switchyard test CA");
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap().der().clone();
        Self {
            issuer: Issuer::new(params, key),
            cert,
        }
    }

    /// An intermediate CA signed by this one (clients still trust this one), and its PEM.
    pub(super) fn intermediate(&self) -> (Ca, String) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "switchyard test intermediate");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let ca = Ca {
            issuer: Issuer::new(params, key),
            cert: self.cert.clone(),
        };
        (ca, cert.pem())
    }

    /// A leaf for `names` (DNS names or IP addresses) with a fresh ECDSA P-256 key.
    pub(super) fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, KeyPair::generate().unwrap(), |_| {})
    }

    /// A leaf for `names` with `key`, its parameters changed by `edit` first.
    pub(super) fn leaf_with(
        &self,
        names: &[&str],
        key: KeyPair,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        edit(&mut params);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// The CA's own certificate, for a client to trust.
    pub(super) fn root(&self) -> CertificateDer<'static> {
        self.cert.clone()
    }

    /// A client config trusting this CA, offering `alpn`, resuming or not.
    pub(super) fn client(&self, alpn: &[&[u8]], resumption: bool) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.clone()).unwrap();
        let mut config = ClientConfig::builder_with_provider(Arc::new(super::provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        if !resumption {
            config.resumption = Resumption::disabled();
        }
        Arc::new(config)
    }
}

/// A leaf's certificate and key written to `dir` as `name.pem` and `name.key`.
pub(super) fn write_pair(dir: &Scratch, name: &str, leaf: &Leaf) -> (PathBuf, PathBuf) {
    (
        dir.file(&format!("{name}.pem"), &leaf.cert_pem),
        dir.file(&format!("{name}.key"), &leaf.key_pem),
    )
}

/// A rustls client and a [`TlsSession`] joined in memory; the server side works like the
/// reactor will: one read buffer, plaintext taken from its front, consumed bytes dropped.
pub(super) struct Pair {
    pub(super) client: ClientConnection,
    pub(super) server: TlsSession,
    /// The server's read buffer: received bytes not yet consumed.
    pub(super) rx: Vec<u8>,
    /// The server's output queue.
    pub(super) tx: Vec<u8>,
    /// Every byte of plaintext the server has decrypted.
    pub(super) received: Vec<u8>,
    /// Whether the server saw the client's close_notify.
    pub(super) peer_closed: bool,
    /// Every byte of plaintext the client has read.
    pub(super) client_received: Vec<u8>,
    /// The error the client's rustls reported (an alert received), if any.
    pub(super) client_error: Option<rustls::Error>,
}

impl Pair {
    /// A client connecting to `name` (a DNS name, or an IP address: no SNI) with `client`.
    pub(super) fn new(
        server_config: Arc<rustls::ServerConfig>,
        client: Arc<ClientConfig>,
        name: &str,
    ) -> Self {
        let name = ServerName::try_from(name.to_owned()).unwrap();
        Self {
            client: ClientConnection::new(client, name).unwrap(),
            server: TlsSession::new(server_config).unwrap(),
            rx: Vec::new(),
            tx: Vec::with_capacity(64 << 10),
            received: Vec::new(),
            peer_closed: false,
            client_received: Vec::new(),
            client_error: None,
        }
    }

    /// Moves bytes both ways until neither side has anything to send (at most 20 rounds);
    /// the server's error, if it failed (its alert has reached the client).
    pub(super) fn run(&mut self) -> Result<(), TlsError> {
        self.run_split(usize::MAX)
    }

    /// [`Pair::run`], delivering the client's bytes to the server at most `chunk` at a time.
    pub(super) fn run_split(&mut self, chunk: usize) -> Result<(), TlsError> {
        for _ in 0..20 {
            let mut wire = Vec::new();
            while self.client.wants_write() {
                self.client.write_tls(&mut wire).unwrap();
            }
            let mut moved = !wire.is_empty();
            for piece in wire.chunks(chunk) {
                self.rx.extend_from_slice(piece);
                let got = self.server.on_bytes(&mut self.rx, &mut self.tx);
                let got = match got {
                    Ok(got) => got,
                    Err(e) => {
                        self.deliver_to_client();
                        return Err(e);
                    }
                };
                self.take(got);
            }
            moved |= self.deliver_to_client();
            if !moved {
                return Ok(());
            }
        }
        panic!("client and server still talking after 20 rounds");
    }

    /// Uses what `on_bytes` reported: the plaintext at the front, then drops what it consumed.
    fn take(&mut self, got: Received) {
        assert!(got.plaintext <= got.consumed && got.consumed <= self.rx.len());
        self.received.extend_from_slice(&self.rx[..got.plaintext]);
        self.rx.drain(..got.consumed);
        self.peer_closed |= got.peer_closed;
    }

    /// Delivers the server's queued output to the client, reading what it decrypts as it goes
    /// (its buffer is bounded); whether there was any.
    fn deliver_to_client(&mut self) -> bool {
        use std::io::Read as _;
        if self.tx.is_empty() {
            return false;
        }
        let mut slice = &self.tx[..];
        let mut buf = [0u8; 4096];
        while !slice.is_empty() {
            self.client.read_tls(&mut slice).unwrap();
            if let Err(e) = self.client.process_new_packets() {
                self.client_error = Some(e);
                break;
            }
            while let Ok(n @ 1..) = self.client.reader().read(&mut buf) {
                self.client_received.extend_from_slice(&buf[..n]);
            }
        }
        self.tx.clear();
        true
    }

    /// A handshake to completion, panicking on failure.
    pub(super) fn connect(&mut self) {
        self.run().expect("the handshake succeeds");
        assert!(!self.server.is_handshaking() && !self.client.is_handshaking());
    }

    /// The certificate the client was given.
    pub(super) fn server_cert(&self) -> CertificateDer<'static> {
        self.client.peer_certificates().unwrap()[0].clone()
    }

    /// Sends `data` from the client and runs until idle.
    pub(super) fn client_sends(&mut self, data: &[u8]) {
        use std::io::Write as _;
        self.client.writer().write_all(data).unwrap();
        self.run().unwrap();
    }

    /// Sends `data` from the server and runs until idle.
    pub(super) fn server_sends(&mut self, data: &[u8]) {
        self.server.encrypt(data, &mut self.tx).unwrap();
        self.run().unwrap();
    }
}
