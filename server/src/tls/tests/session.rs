//! The unbuffered harness: [`TlsSession`] over caller-owned buffers against a rustls client.

use std::io::Write as _;

use rustls::{CipherSuite, HandshakeKind, ProtocolVersion};

use super::super::{CertSpec, CertStore, TlsError, TlsSession, ALPN_HTTP_1_1};
use super::{write_pair, Ca, Pair, Scratch};

/// A store serving one certificate for `localhost`, and the CA that made it.
fn localhost(dir: &Scratch) -> (Ca, CertStore) {
    let ca = Ca::new();
    let (cert, key) = write_pair(dir, "localhost", &ca.leaf(&["localhost"]));
    let store = CertStore::load(vec![CertSpec::new(cert, key)]).unwrap();
    (ca, store)
}

/// Bytes of a recognisable pattern.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn handshake_then_data_both_ways_then_close_notify_both_ways() {
    let dir = Scratch::new("session-basic");
    let (ca, store) = localhost(&dir);
    let mut pair = Pair::new(
        store.server_config(),
        ca.client(&[ALPN_HTTP_1_1], false),
        "localhost",
    );
    assert!(pair.server.is_handshaking());
    let mut out = Vec::new();
    assert!(matches!(
        pair.server.encrypt(b"early", &mut out),
        Err(TlsError::Handshaking)
    ));
    assert!(out.is_empty(), "nothing appended on an error");
    pair.connect();
    assert_eq!(
        pair.server.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
    assert_eq!(pair.server.alpn_protocol(), Some(ALPN_HTTP_1_1));
    assert_eq!(pair.server.server_name(), Some("localhost"));
    assert_eq!(pair.server.handshake_kind(), Some(HandshakeKind::Full));
    assert!(pair.server.cipher_suite().is_some());
    let line = pair.server.describe();
    assert!(
        line.starts_with("version=TLSv1_3 cipher=TLS13_")
            && line.ends_with("alpn=http/1.1 sni=localhost handshake=Full"),
        "{line}"
    );

    // Client to server: a small message, a large one (several records), another small one,
    // in one flight; the server sees them as one plaintext at the front of its buffer.
    let messages = [pattern(100, 1), pattern(40_000, 2), pattern(7, 3)];
    for m in &messages {
        pair.client.writer().write_all(m).unwrap();
    }
    pair.run().unwrap();
    assert_eq!(pair.received, messages.concat());
    assert!(pair.rx.is_empty(), "every record consumed");

    // Server to client, again across records.
    let reply = pattern(50_000, 4);
    pair.server_sends(&reply);
    pair.server_sends(b"");
    assert_eq!(pair.client_received, reply);

    // The client closes first: the server sees its end of data, may still send, then closes.
    pair.client.send_close_notify();
    pair.run().unwrap();
    assert!(pair.peer_closed);
    pair.server_sends(b"after the peer's close_notify");
    pair.server.close_notify(&mut pair.tx).unwrap();
    pair.run().unwrap();
    assert!(pair
        .client_received
        .ends_with(b"after the peer's close_notify"));
    let mut buf = [0u8; 8];
    use std::io::Read as _;
    assert_eq!(pair.client.reader().read(&mut buf).unwrap(), 0, "clean EOF");
    assert!(matches!(
        pair.server.encrypt(b"late", &mut pair.tx),
        Err(TlsError::Closed)
    ));
}

#[test]
fn the_server_closing_first_is_a_clean_eof_for_the_client() {
    let dir = Scratch::new("session-server-close");
    let (ca, store) = localhost(&dir);
    let mut pair = Pair::new(store.server_config(), ca.client(&[], false), "localhost");
    pair.connect();
    assert_eq!(
        pair.server.alpn_protocol(),
        None,
        "no ALPN offered, none agreed"
    );
    pair.server_sends(b"bye");
    pair.server.close_notify(&mut pair.tx).unwrap();
    pair.run().unwrap();
    let mut buf = [0u8; 8];
    use std::io::Read as _;
    assert_eq!(pair.client.reader().read(&mut buf).unwrap(), 0);
    assert_eq!(pair.client_received, b"bye");
    // The client answers with its own close_notify; the server sees its end of data.
    pair.client.send_close_notify();
    pair.run().unwrap();
    assert!(pair.peer_closed);
}

#[test]
fn every_split_of_the_clients_bytes_decrypts_the_same() {
    let dir = Scratch::new("session-splits");
    let (ca, store) = localhost(&dir);
    let data = [pattern(1, 9), pattern(20_000, 8), pattern(300, 7)].concat();
    for chunk in [1, 2, 5, 17, 100, 1000, 4096, 16_406, 16_407] {
        let mut pair = Pair::new(
            store.server_config(),
            ca.client(&[ALPN_HTTP_1_1], false),
            "localhost",
        );
        pair.run_split(chunk)
            .expect("the handshake, byte by byte too");
        assert!(!pair.server.is_handshaking(), "chunk {chunk}");
        pair.client.writer().write_all(&data).unwrap();
        pair.run_split(chunk).unwrap();
        assert_eq!(pair.received, data, "chunk {chunk}");
        assert!(pair.rx.is_empty(), "chunk {chunk}");
    }
}

#[test]
fn the_plaintext_is_gathered_in_the_callers_buffer_and_the_tail_left_for_the_next_read() {
    let dir = Scratch::new("session-in-place");
    let (ca, store) = localhost(&dir);
    let mut pair = Pair::new(
        store.server_config(),
        ca.client(&[ALPN_HTTP_1_1], false),
        "localhost",
    );
    pair.connect();
    // Three records and half of a fourth in one buffer.
    let mut wire = Vec::new();
    for m in [&b"one"[..], b"two", b"three", b"four"] {
        pair.client.writer().write_all(m).unwrap();
        pair.client.write_tls(&mut wire).unwrap();
    }
    let whole = wire.len() - 10;
    let mut buf = wire.clone();
    buf.truncate(whole);
    let mut out = Vec::new();
    let got = pair.server.on_bytes(&mut buf, &mut out).unwrap();
    assert_eq!(&buf[..got.plaintext], b"onetwothree");
    assert!(out.is_empty(), "nothing to send for application data");
    let tail = wire.len() - 10 - got.consumed;
    assert_eq!(
        &buf[got.consumed..],
        &wire[got.consumed..got.consumed + tail],
        "the incomplete record is untouched"
    );
    // The next read: the tail moved to the front, the rest appended.
    let mut next = wire[got.consumed..].to_vec();
    let got = pair.server.on_bytes(&mut next, &mut out).unwrap();
    assert_eq!(&next[..got.plaintext], b"four");
    assert_eq!(got.consumed, next.len());
}

#[test]
fn tls_1_2_clients_are_served_too() {
    let dir = Scratch::new("session-tls12");
    let (ca, store) = localhost(&dir);
    let config = {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.root()).unwrap();
        let mut c = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            super::super::provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        c.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        std::sync::Arc::new(c)
    };
    let mut pair = Pair::new(store.server_config(), config, "localhost");
    pair.connect();
    assert_eq!(
        pair.server.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );
    assert!(matches!(
        pair.server.cipher_suite(),
        Some(
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
                | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        )
    ));
    let data = pattern(30_000, 5);
    pair.client_sends(&data);
    assert_eq!(pair.received, data);
    pair.server_sends(&data);
    assert_eq!(pair.client_received, data);
}

#[test]
fn garbage_and_plain_http_get_an_alert_and_an_error() {
    let dir = Scratch::new("session-garbage");
    let (_ca, store) = localhost(&dir);
    for input in [
        &b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"[..],
        b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",
        &[0xff; 64],
    ] {
        let mut session = TlsSession::new(store.server_config()).unwrap();
        let mut buf = input.to_vec();
        let mut out = Vec::new();
        let e = session.on_bytes(&mut buf, &mut out).unwrap_err();
        assert!(matches!(e, TlsError::Protocol(_)), "{e}");
        assert_eq!(
            out.first(),
            Some(&0x15),
            "an alert record for {input:?}: {out:?}"
        );
    }
    // A truncated ClientHello is just incomplete: nothing consumed, nothing sent.
    let mut session = TlsSession::new(store.server_config()).unwrap();
    let mut buf = b"\x16\x03\x01\x02\x00\x01\x00\x01".to_vec();
    let mut out = Vec::new();
    let got = session.on_bytes(&mut buf, &mut out).unwrap();
    assert_eq!((got.consumed, got.plaintext, out.len()), (0, 0, 0));
    assert!(session.is_handshaking());
}

/// A ClientHello spread over records leaves its first records in the caller's buffer, held
/// by rustls: writing then must refuse (rustls, asked without that buffer, would index past
/// the end of an empty one), and the rest of the hello completes the handshake.
#[test]
fn a_handshake_message_held_in_the_buffer_blocks_writes_without_a_panic() {
    let dir = Scratch::new("session-held");
    let (ca, store) = localhost(&dir);
    let mut config = (*ca.client(&[ALPN_HTTP_1_1], false)).clone();
    config.max_fragment_size = Some(64);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut client = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut hello = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut hello).unwrap();
    }
    let first_record = 5 + usize::from(u16::from_be_bytes([hello[3], hello[4]]));
    assert!(first_record < hello.len(), "the hello spans records");
    let mut server = TlsSession::new(store.server_config()).unwrap();
    let mut rx = hello[..first_record + 2].to_vec();
    let mut out = Vec::new();
    let got = server.on_bytes(&mut rx, &mut out).unwrap();
    assert_eq!(got.consumed, 0, "the record is held, not released");
    assert!(out.is_empty());
    for _ in 0..2 {
        assert!(matches!(
            server.encrypt(b"408", &mut out),
            Err(TlsError::Handshaking)
        ));
        assert!(matches!(
            server.close_notify(&mut out),
            Err(TlsError::Handshaking)
        ));
    }
    assert!(out.is_empty());
    // The rest arrives: the server answers with its flight.
    rx.extend_from_slice(&hello[first_record + 2..]);
    let got = server.on_bytes(&mut rx, &mut out).unwrap();
    assert_eq!(got.consumed, rx.len());
    assert_eq!(out[0], 0x16, "ServerHello");
}
