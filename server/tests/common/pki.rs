//! TLS helpers for the integration tests (included with `#[path]` by the TLS test files, not
//! by `common/mod.rs`, so that other tests do not build them): a certificate authority made by
//! rcgen at test time, certificate files in a scratch directory, a server with a TLS listener,
//! and rustls clients (blocking `StreamOwned`) for raw HTTP and for tungstenite.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::common::{tcp, TestServer};

/// A rustls stream over TCP.
pub type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A scratch directory of the test's own, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("switchyard-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate authority made for the test.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert: CertificateDer<'static>,
    pub pem: String,
}

/// A leaf certificate and key, PEM, and its DER.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl Ca {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "switchyard integration test CA");
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let pem = cert.pem();
        Self {
            issuer: Issuer::new(params, key),
            cert: cert.der().clone(),
            pem,
        }
    }

    /// A leaf for `names` (DNS names or IP addresses), fresh ECDSA P-256 key.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let params = CertificateParams::new(names).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// A client trusting this CA, offering `alpn`, with or without resumption.
    pub fn client(&self, alpn: &[&[u8]], resumption: bool) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.clone()).unwrap();
        let mut config = ClientConfig::builder_with_provider(Arc::new(switchyard::tls::provider()))
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

    /// The usual client: ALPN `http/1.1`, resumption on.
    pub fn http_client(&self) -> Arc<ClientConfig> {
        self.client(&[b"http/1.1"], true)
    }
}

/// Writes a leaf's certificate and key to `dir` as `name.pem`, `name.key`.
pub fn write_pair(dir: &Scratch, name: &str, leaf: &Leaf) -> (PathBuf, PathBuf) {
    (
        dir.file(&format!("{name}.pem"), &leaf.cert_pem),
        dir.file(&format!("{name}.key"), &leaf.key_pem),
    )
}

/// Replaces a file's contents in one rename, as certbot does (a reader never sees half).
pub fn replace_file(path: &Path, bytes: impl AsRef<[u8]>) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A server with a plain listener (`server.addr`) and a TLS one (returned), serving `cert`,
/// `key`, with more flags.
pub fn start_tls(cert: &Path, key: &Path, flags: &[&str]) -> (TestServer, SocketAddr) {
    let mut all = vec![
        "--listen-tls",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    all.extend_from_slice(flags);
    let server = TestServer::start(&all);
    let tls = server.server.as_ref().unwrap().local_addrs()[1];
    (server, tls)
}

/// A TLS connection to `addr` for server name `name`; the handshake is done before it returns.
pub fn connect(addr: SocketAddr, name: &str, config: Arc<ClientConfig>) -> std::io::Result<Tls> {
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    let conn = ClientConnection::new(config, server_name).unwrap();
    let mut tls = StreamOwned::new(conn, tcp(addr));
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// The certificate the server presented.
pub fn peer_cert(tls: &Tls) -> CertificateDer<'static> {
    tls.conn.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

/// One HTTP/1.1 exchange over `tls` (keep-alive): the response head and body.
pub fn https_request(tls: &mut Tls, request: &str) -> String {
    tls.write_all(request.as_bytes()).unwrap();
    tls.flush().unwrap();
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match tls.read(&mut b) {
            Ok(0) => return String::from_utf8_lossy(&buf).to_string(),
            Ok(_) => buf.push(b[0]),
            Err(e) => panic!("reading a response: {e}"),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    tls.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}

/// A WebSocket over TLS.
pub type Wss = tungstenite::WebSocket<Tls>;

/// A tungstenite client upgraded on `path` over a TLS connection to `addr` (name `localhost`).
pub fn wss(addr: SocketAddr, path: &str, config: Arc<ClientConfig>) -> Wss {
    let tls = connect(addr, "localhost", config).expect("TLS handshake");
    let url = format!("wss://localhost:{}{path}", addr.port());
    let config = tungstenite::protocol::WebSocketConfig {
        max_message_size: Some(64 << 20),
        max_frame_size: Some(64 << 20),
        ..Default::default()
    };
    match tungstenite::client::client_with_config(url, tls, Some(config)) {
        Ok((ws, _)) => ws,
        Err(e) => panic!("wss upgrade: {e}"),
    }
}

/// The bytes a rustls client sends first (its ClientHello records), for raw tests.
pub fn client_hello(config: Arc<ClientConfig>) -> Vec<u8> {
    let mut conn =
        ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

/// Reads from a raw TCP stream until EOF (or an error): everything the server sent.
pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}
