//! Echo and broadcast server over TLS with tokio-tungstenite and tokio-rustls (rustls 0.23 over
//! aws-lc-rs, like Switchyard): the usual shape, a `TlsAcceptor` in front of the WebSocket
//! handshake, then on `/broadcast` every message to every connection on it, sender included
//! (`switchyard_peers::tungstenite_broadcast`, as `peer-tungstenite`), and on every other path
//! every text and binary message forwarded back. TLS 1.3 tickets and the session cache are rustls's
//! defaults for a `ServerConfig` (resumption on). ALPN http/1.1.
//! Usage: peer-tungstenite-tls ADDR:PORT CERT.pem KEY.pem

use std::sync::Arc;

use switchyard_peers::tungstenite_broadcast::{self as broadcast, PeerMap};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

fn main() -> std::io::Result<()> {
    let addr = switchyard_peers::listen_addr();
    let args: Vec<String> = std::env::args().collect();
    let (cert, key) = match (args.get(2), args.get(3)) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => panic!("usage: peer-tungstenite-tls ADDR:PORT CERT.pem KEY.pem"),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .expect("certificate file")
        .collect::<Result<_, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(&key).expect("key file");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Stateless TLS 1.3 tickets, as Switchyard issues (rustls's default server config keeps a
    // session cache but issues no tickets).
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().expect("ticketer");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let peers = PeerMap::default();
    switchyard_peers::runtime().block_on(async move {
        let listener = switchyard_peers::bind(addr)?;
        eprintln!(
            "peer-tungstenite-tls listening on {addr} (broadcast on {})",
            broadcast::PATH
        );
        let mut next_id = 0u64;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let acceptor = acceptor.clone();
            next_id += 1;
            let (id, peers) = (next_id, peers.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut path = String::new();
                let callback = |req: &Request, resp: Response| {
                    path = req.uri().path().to_owned();
                    Ok(resp)
                };
                let Ok(ws) = tokio_tungstenite::accept_hdr_async(tls, callback).await else {
                    return;
                };
                if path == broadcast::PATH {
                    broadcast::serve(ws, id, peers).await;
                } else {
                    broadcast::echo(ws).await;
                }
            });
        }
    })
}
