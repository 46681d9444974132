//! The TLS entry point (`switchyard::tls::TlsSession::on_bytes`, what the reactors' TLS
//! transport calls on every read) over arbitrary bytes and over a real client's records.
//!
//! Properties: never a panic or a hang; every call's counts stay inside the buffer
//! (`plaintext <= consumed <= len`); the driver keeps an incomplete record as netio does (the
//! undecoded tail carried in front of the next read) and reads are cut at fuzzer-chosen
//! points. With a real rustls client (mode 1): after an in-memory handshake, what the client
//! sends arrives byte for byte whatever the cuts; with one byte of its records flipped,
//! whatever arrives is still a prefix of what was sent (the AEAD lets nothing else through)
//! and a refused record is an error, not a panic. `close_notify` is reported as the peer's end.
//!
//! Input: a mode byte (bit 0: garbage or a real client; bit 1: flip a byte), a seed byte for
//! the cut points (steps of up to `seed % 64 + 1` bytes), two bytes for the flipped position
//! and mask, then the bytes (mode 0) or the client's plaintext (mode 1).
#![no_main]

use std::io::Write;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig};
use switchyard::tls::{CertSpec, CertStore, TlsSession};

struct Setup {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

/// One self-signed certificate for the whole run: the server's store and a client that
/// trusts it, without resumption (each run is a full handshake).
fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = std::env::temp_dir().join(format!("switchyard-fuzz-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert.cert.pem()).unwrap();
        std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
        let store = CertStore::load(vec![CertSpec::new(&cert_path, &key_path)]).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let mut roots = RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        let mut client =
            ClientConfig::builder_with_provider(Arc::new(switchyard::tls::provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        client.resumption = rustls::client::Resumption::disabled();
        Setup {
            server: store.server_config(),
            client: Arc::new(client),
        }
    })
}

/// What a server session made of some bytes.
#[derive(Default)]
struct Fed {
    plaintext: Vec<u8>,
    replies: Vec<u8>,
    failed: bool,
    peer_closed: bool,
}

/// Feeds `input` to `session` in reads cut by `step` (`None`: one read), keeping the
/// undecoded tail in front of the next read as netio does.
fn feed(session: &mut TlsSession, input: &[u8], step: Option<usize>, fed: &mut Fed) {
    let mut carry: Vec<u8> = Vec::new();
    let (mut pos, mut i) = (0, 0usize);
    while pos < input.len() && !fed.failed {
        let n = match step {
            None => input.len() - pos,
            Some(s) => ((i * 7 + 3) % s + 1).min(input.len() - pos),
        };
        i += 1;
        carry.extend_from_slice(&input[pos..pos + n]);
        pos += n;
        // Bounded: every round either consumes bytes or ends the read.
        for _ in 0..=carry.len() {
            match session.on_bytes(&mut carry, &mut fed.replies) {
                Ok(got) => {
                    assert!(got.consumed <= carry.len(), "consumed past the buffer");
                    assert!(got.plaintext <= got.consumed, "more plaintext than records");
                    fed.plaintext.extend_from_slice(&carry[..got.plaintext]);
                    carry.drain(..got.consumed);
                    fed.peer_closed |= got.peer_closed;
                    if got.consumed == 0 || carry.is_empty() {
                        break;
                    }
                }
                Err(_) => {
                    fed.failed = true;
                    break;
                }
            }
        }
    }
}

/// A full handshake in memory; `None` if it does not finish in a few flights.
fn handshake(setup: &Setup) -> Option<(ClientConnection, TlsSession)> {
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = ClientConnection::new(Arc::clone(&setup.client), name).unwrap();
    let mut server = TlsSession::new(Arc::clone(&setup.server)).unwrap();
    for _ in 0..8 {
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        let mut fed = Fed::default();
        feed(&mut server, &wire, None, &mut fed);
        assert!(!fed.failed, "a real client's handshake failed");
        let mut replies = &fed.replies[..];
        while !replies.is_empty() {
            client.read_tls(&mut replies).unwrap();
            client.process_new_packets().unwrap();
        }
        if !client.is_handshaking() && !server.is_handshaking() {
            return Some((client, server));
        }
    }
    None
}

fuzz_target!(|data: &[u8]| {
    let [mode, seed, at, mask, rest @ ..] = data else {
        return;
    };
    let step = Some(usize::from(*seed) % 64 + 1);
    let setup = setup();
    if mode & 1 == 0 {
        // Anything at all, as the first bytes of a connection: cut or whole, no panic.
        for step in [None, step] {
            let mut session = TlsSession::new(Arc::clone(&setup.server)).unwrap();
            let mut fed = Fed::default();
            feed(&mut session, rest, step, &mut fed);
            assert!(fed.plaintext.len() <= rest.len());
        }
        return;
    }
    let Some((mut client, mut server)) = handshake(setup) else {
        panic!("the in-memory handshake did not finish");
    };
    client.writer().write_all(rest).unwrap();
    client.send_close_notify();
    let mut wire = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut wire).unwrap();
    }
    let flip = mode & 2 != 0 && *mask != 0 && !wire.is_empty();
    if flip {
        let i = usize::from(*at) * wire.len() / 256;
        wire[i] ^= *mask;
    }
    let mut fed = Fed::default();
    feed(&mut server, &wire, step, &mut fed);
    if flip {
        assert!(
            rest.starts_with(&fed.plaintext),
            "a damaged record let altered data through"
        );
    } else {
        assert!(!fed.failed, "a real client's records were refused");
        assert!(fed.plaintext == rest, "the plaintext differs from what was sent");
        assert!(fed.peer_closed, "close_notify not reported");
    }
});
