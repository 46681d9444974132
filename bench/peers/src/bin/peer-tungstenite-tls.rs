//! Echo server over TLS with tokio-tungstenite and tokio-rustls (rustls 0.23 over aws-lc-rs,
//! like Switchyard): the usual shape, a `TlsAcceptor` in front of `accept_async`, then every
//! text and binary message forwarded back. TLS 1.3 tickets and the session cache are rustls's
//! defaults for a `ServerConfig` (resumption on). ALPN http/1.1.
//! Usage: peer-tungstenite-tls ADDR:PORT CERT.pem KEY.pem

use std::sync::Arc;

use futures_util::{future, StreamExt, TryStreamExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

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
    switchyard_peers::runtime().block_on(async move {
        let listener = switchyard_peers::bind(addr)?;
        eprintln!("peer-tungstenite-tls listening on {addr}");
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                let (sink, stream) = ws.split();
                let _ = stream
                    .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
                    .forward(sink)
                    .await;
            });
        }
    })
}
