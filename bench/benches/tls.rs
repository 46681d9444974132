//! TLS with rustls 0.23: the server's CPU per handshake and per 16 KiB record, for each crypto
//! provider (ring and aws-lc-rs), client and server in memory.
//!
//! The numbers behind the provider choice written in `server/src/tls/mod.rs`. Each benchmark
//! drives a `rustls::ClientConnection` and a `rustls::ServerConnection` against each other,
//! pumping the bytes through `Vec`s, and times only the server's calls (`iter_custom`): the
//! client's work (its key share, its signature check) is what a browser pays, not us.
//!
//! - `full/<provider>/ecdsa-p256` and `full/<provider>/rsa-2048`: a full TLS 1.3 handshake with
//!   X25519 (the group every client offers first except the newest browsers), no resumption.
//! - `full/aws-lc-rs/ecdsa-p256-x25519mlkem768`: the same with the post-quantum hybrid group
//!   current Chrome and Firefox offer first (ring does not have it).
//! - `resumed/<provider>`: a TLS 1.3 resumption with a stateless ticket (PSK with (EC)DHE, the
//!   only mode rustls offers), including the fresh ticket the server sends back.
//! - `encrypt_16k/<provider>` and `decrypt_16k/<provider>`: one full record of application data
//!   (16 KiB plaintext, TLS13_AES_128_GCM_SHA256, which browsers ask for first; rustls's own
//!   lists start with AES-256-GCM, so the benchmark puts it first for both providers).
//!
//! Run pinned to one core, as the figures in the tls module docs were:
//! `taskset -c 1 cargo bench -p switchyard-bench --bench tls`.
// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rustls::client::Resumption;
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::{ProducesTickets, ServerSessionMemoryCache};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

/// The application data size of one full TLS record.
const RECORD: usize = 16 * 1024;

/// One crypto provider as the benchmark needs it.
struct Provider {
    name: &'static str,
    make: fn() -> CryptoProvider,
    ticketer: fn() -> Result<Arc<dyn ProducesTickets>, rustls::Error>,
}

/// ring's constructor, deprecated in rustls 0.23.48 for its lack of post-quantum groups.
#[allow(deprecated)]
fn ring_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

const PROVIDERS: [Provider; 2] = [
    Provider {
        name: "ring",
        make: ring_provider,
        ticketer: rustls::crypto::ring::Ticketer::new,
    },
    Provider {
        name: "aws-lc-rs",
        make: rustls::crypto::aws_lc_rs::default_provider,
        ticketer: rustls::crypto::aws_lc_rs::Ticketer::new,
    },
];

/// A self-signed certificate for `localhost` and its key, PKCS#8 DER.
fn certificate(key: rcgen::KeyPair) -> Pair {
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.der().clone(), key)
}

/// An ECDSA P-256 certificate, the kind most ACME clients issue today.
fn ecdsa_certificate() -> Pair {
    certificate(rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap())
}

/// An RSA 2048 certificate over the repository's RSA test key (ring cannot generate RSA keys).
fn rsa_certificate() -> Pair {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../server/tests/data/jwt/rs256-private.pem"
    );
    let der = PrivatePkcs8KeyDer::from_pem_file(path).expect("the RSA test key");
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256).unwrap();
    certificate(key)
}

/// A certificate and its key.
type Pair = (CertificateDer<'static>, PrivateKeyDer<'static>);

/// A server and a client config over `provider` restricted to key exchange `group` (by name).
fn configs(
    p: &Provider,
    group: &str,
    (cert, key): &Pair,
    resumption: bool,
) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let mut provider = (p.make)();
    provider
        .kx_groups
        .retain(|g: &&dyn SupportedKxGroup| format!("{:?}", g.name()) == group);
    assert_eq!(provider.kx_groups.len(), 1, "{} has {group}", p.name);
    // AES-128-GCM first, as browsers ask (rustls's own lists start with AES-256-GCM).
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    let provider = Arc::new(provider);
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.clone_key())
        .unwrap();
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    server.session_storage = ServerSessionMemoryCache::new(1024);
    server.ticketer = (p.ticketer)().unwrap();
    server.send_tls13_tickets = 1;
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    if !resumption {
        client.resumption = Resumption::disabled();
    }
    (Arc::new(server), Arc::new(client))
}

/// Moves every byte `from` has to send into `to`, returning the time the server took (`to` if
/// `server_is_to`, else `from`).
fn pump(
    from: &mut rustls::Connection,
    to: &mut rustls::Connection,
    buf: &mut Vec<u8>,
    server_is_to: bool,
) -> Duration {
    let mut spent = Duration::ZERO;
    loop {
        buf.clear();
        let t = Instant::now();
        let n = from.write_tls(buf).unwrap();
        if !server_is_to {
            spent += t.elapsed();
        }
        if n == 0 {
            return spent;
        }
        let mut slice = &buf[..];
        while !slice.is_empty() {
            let t = Instant::now();
            to.read_tls(&mut slice).unwrap();
            to.process_new_packets().unwrap();
            if server_is_to {
                spent += t.elapsed();
            }
        }
    }
}

/// A handshake to completion; the server's time.
fn handshake(server_config: &Arc<ServerConfig>, client_config: &Arc<ClientConfig>) -> Duration {
    handshake_kind(server_config, client_config).0
}

/// A handshake to completion; the server's time and the kind of handshake it was.
fn handshake_kind(
    server_config: &Arc<ServerConfig>,
    client_config: &Arc<ClientConfig>,
) -> (Duration, Option<rustls::HandshakeKind>) {
    let name = ServerName::try_from("localhost").unwrap();
    let mut client: rustls::Connection = ClientConnection::new(client_config.clone(), name)
        .unwrap()
        .into();
    let t = Instant::now();
    let mut server: rustls::Connection =
        ServerConnection::new(server_config.clone()).unwrap().into();
    let mut spent = t.elapsed();
    let mut buf = Vec::with_capacity(8192);
    while client.is_handshaking() || server.is_handshaking() || server.wants_write() {
        spent += pump(&mut client, &mut server, &mut buf, true);
        spent += pump(&mut server, &mut client, &mut buf, false);
    }
    // The client reads the ticket the server sent after its Finished.
    spent += pump(&mut server, &mut client, &mut buf, false);
    (spent, server.handshake_kind())
}

fn handshakes(c: &mut Criterion) {
    let mut group = c.benchmark_group("tls_handshake_server");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(4));
    let ecdsa = ecdsa_certificate();
    let rsa = rsa_certificate();
    for p in &PROVIDERS {
        for (cert_name, pair) in [("ecdsa-p256", &ecdsa), ("rsa-2048", &rsa)] {
            let (server, client) = configs(p, "X25519", pair, false);
            group.bench_function(format!("full/{}/{cert_name}", p.name), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| handshake(&server, &client)).sum())
            });
        }
        let (server, client) = configs(p, "X25519", &ecdsa, true);
        handshake(&server, &client); // the first ticket
        let (_, kind) = handshake_kind(&server, &client);
        assert_eq!(kind, Some(rustls::HandshakeKind::Resumed), "{}", p.name);
        group.bench_function(format!("resumed/{}", p.name), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| handshake(&server, &client)).sum())
        });
    }
    let (server, client) = configs(&PROVIDERS[1], "X25519MLKEM768", &ecdsa, false);
    group.bench_function("full/aws-lc-rs/ecdsa-p256-x25519mlkem768", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| handshake(&server, &client)).sum())
    });
    group.finish();
}

/// A connected client and server.
fn connected(p: &Provider) -> (rustls::Connection, rustls::Connection) {
    let (server_config, client_config) = configs(p, "X25519", &ecdsa_certificate(), false);
    let name = ServerName::try_from("localhost").unwrap();
    let mut client: rustls::Connection = ClientConnection::new(client_config, name).unwrap().into();
    let mut server: rustls::Connection = ServerConnection::new(server_config).unwrap().into();
    let mut buf = Vec::new();
    while client.is_handshaking() || server.is_handshaking() || server.wants_write() {
        pump(&mut client, &mut server, &mut buf, true);
        pump(&mut server, &mut client, &mut buf, false);
    }
    let suite = server.negotiated_cipher_suite().unwrap().suite();
    assert_eq!(format!("{suite:?}"), "TLS13_AES_128_GCM_SHA256");
    (client, server)
}

fn records(c: &mut Criterion) {
    let mut group = c.benchmark_group("tls_record_server");
    group.throughput(Throughput::Bytes(RECORD as u64));
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(3));
    let plaintext = vec![0x5a_u8; RECORD];
    for p in &PROVIDERS {
        let (mut client, mut server) = connected(p);
        let mut wire = Vec::with_capacity(RECORD + 64);
        group.bench_function(format!("encrypt_16k/{}", p.name), |b| {
            b.iter(|| {
                wire.clear();
                server.writer().write_all(&plaintext).unwrap();
                server.write_tls(&mut wire).unwrap();
                assert_eq!(wire.len(), RECORD + 22, "one record");
            })
        });
        let mut read = vec![0u8; RECORD];
        group.bench_function(format!("decrypt_16k/{}", p.name), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    wire.clear();
                    client.writer().write_all(&plaintext).unwrap();
                    client.write_tls(&mut wire).unwrap();
                    let t = Instant::now();
                    let mut slice = &wire[..];
                    // rustls reads at most 4 KiB per read_tls.
                    while !slice.is_empty() {
                        server.read_tls(&mut slice).unwrap();
                        server.process_new_packets().unwrap();
                    }
                    server.reader().read_exact(&mut read).unwrap();
                    spent += t.elapsed();
                }
                spent
            })
        });
    }
    group.finish();
}

criterion_group!(benches, handshakes, records);
criterion_main!(benches);
