//! [`CertStore`]: SNI, ALPN, resumption, reload.

use rustls::{AlertDescription, HandshakeKind};

use super::super::{CertSpec, CertStore, TlsError, ALPN_HTTP_1_1};
use super::{write_pair, Ca, Pair, Scratch};

#[test]
fn sni_chooses_the_pair_by_name_and_the_first_pair_is_the_default() {
    let dir = Scratch::new("store-sni");
    let ca = Ca::new();
    let default = ca.leaf(&["default.test", "127.0.0.1"]);
    let a = ca.leaf(&["a.test", "www.a.test"]);
    let b = ca.leaf(&["*.b.test"]);
    let (dc, dk) = write_pair(&dir, "default", &default);
    let (ac, ak) = write_pair(&dir, "a", &a);
    let (bc, bk) = write_pair(&dir, "b", &b);
    let store = CertStore::load(vec![
        CertSpec::new(&dc, &dk),
        CertSpec::new(&ac, &ak),
        CertSpec::new(&bc, &bk),
    ])
    .unwrap();
    let client = ca.client(&[ALPN_HTTP_1_1], false);
    for (name, want) in [
        ("a.test", &a),
        ("www.a.test", &a),
        ("x.b.test", &b),
        ("default.test", &default),
        // An IP address is never sent as SNI: the client sends no name.
        ("127.0.0.1", &default),
    ] {
        let mut pair = Pair::new(store.server_config(), client.clone(), name);
        pair.connect();
        assert_eq!(pair.server_cert(), want.der, "{name}");
        let sni = name.parse::<std::net::IpAddr>().is_err().then_some(name);
        assert_eq!(pair.server.server_name(), sni);
    }
    // Names no pair serves get the default; case does not matter; a wildcard covers one label.
    assert_eq!(store.chosen_for(Some("unknown.test")), dc);
    assert_eq!(store.chosen_for(Some("A.TEST")), ac);
    assert_eq!(store.chosen_for(Some("b.test")), dc);
    assert_eq!(store.chosen_for(Some("y.x.b.test")), dc);
    assert_eq!(store.chosen_for(None), dc);
    let names: Vec<_> = store.certificates().into_iter().map(|c| c.names).collect();
    assert_eq!(
        names,
        [
            vec!["default.test".to_owned()],
            vec!["a.test".to_owned(), "www.a.test".to_owned()],
            vec!["*.b.test".to_owned()],
        ],
        "DNS names only (the IP address is not a name for SNI)"
    );
}

#[test]
fn names_given_for_a_pair_narrow_what_it_serves() {
    let dir = Scratch::new("store-names");
    let ca = Ca::new();
    let (wc, wk) = write_pair(&dir, "wide", &ca.leaf(&["a.test", "b.test"]));
    let (nc, nk) = write_pair(&dir, "narrow", &ca.leaf(&["b.test"]));
    let mut wide = CertSpec::new(&wc, &wk);
    wide.names = Some(vec!["A.test".to_owned()]);
    let store = CertStore::load(vec![CertSpec::new(&nc, &nk), wide]).unwrap();
    assert_eq!(store.chosen_for(Some("a.test")), wc);
    assert_eq!(store.chosen_for(Some("b.test")), nc);
}

#[test]
fn a_client_offering_only_h2_gets_the_no_application_protocol_alert() {
    let dir = Scratch::new("store-alpn");
    let ca = Ca::new();
    let (c, k) = write_pair(&dir, "localhost", &ca.leaf(&["localhost"]));
    let store = CertStore::load(vec![CertSpec::new(c, k)]).unwrap();
    let mut pair = Pair::new(
        store.server_config(),
        ca.client(&[b"h2"], false),
        "localhost",
    );
    let e = pair.run().unwrap_err();
    assert!(
        matches!(e, TlsError::Protocol(rustls::Error::NoApplicationProtocol)),
        "{e}"
    );
    assert_eq!(
        pair.client_error,
        Some(rustls::Error::AlertReceived(
            AlertDescription::NoApplicationProtocol
        ))
    );
    // Offering h2 and http/1.1 is fine: http/1.1 is chosen.
    let client = ca.client(&[b"h2", ALPN_HTTP_1_1], false);
    let mut pair = Pair::new(store.server_config(), client, "localhost");
    pair.connect();
    assert_eq!(pair.server.alpn_protocol(), Some(ALPN_HTTP_1_1));
}

#[test]
fn a_second_connection_resumes_with_a_tls13_ticket() {
    let dir = Scratch::new("store-resume");
    let ca = Ca::new();
    let (c, k) = write_pair(&dir, "localhost", &ca.leaf(&["localhost"]));
    let store = CertStore::load(vec![CertSpec::new(c, k)]).unwrap();
    let client = ca.client(&[ALPN_HTTP_1_1], true);
    let mut first = Pair::new(store.server_config(), client.clone(), "localhost");
    first.connect();
    assert_eq!(first.server.handshake_kind(), Some(HandshakeKind::Full));
    for _ in 0..3 {
        let mut again = Pair::new(store.server_config(), client.clone(), "localhost");
        again.connect();
        assert_eq!(again.server.handshake_kind(), Some(HandshakeKind::Resumed));
        assert_eq!(again.client.handshake_kind(), Some(HandshakeKind::Resumed));
        assert_eq!(
            again.server.server_name(),
            Some("localhost"),
            "SNI known when resumed"
        );
        again.client_sends(b"resumed");
        assert_eq!(again.received, b"resumed");
    }
}

#[test]
fn reload_serves_new_certificates_to_new_handshakes_and_leaves_sessions_alone() {
    let dir = Scratch::new("store-reload");
    let ca = Ca::new();
    let old = ca.leaf(&["localhost"]);
    let (c, k) = write_pair(&dir, "localhost", &old);
    let store = CertStore::load(vec![CertSpec::new(&c, &k)]).unwrap();
    let client = ca.client(&[ALPN_HTTP_1_1], false);
    let mut before = Pair::new(store.server_config(), client.clone(), "localhost");
    before.connect();
    assert_eq!(before.server_cert(), old.der);
    assert!(store.reload_if_changed().is_none(), "nothing changed yet");

    // A renewal: a new key and certificate, written over the old files.
    let new = ca.leaf(&["localhost"]);
    write_pair(&dir, "localhost", &new);
    let report = store.reload();
    assert_eq!((report.replaced.len(), report.kept.len()), (1, 0));
    let mut after = Pair::new(store.server_config(), client.clone(), "localhost");
    after.connect();
    assert_eq!(after.server_cert(), new.der);

    // The session made before the reload goes on, both ways.
    before.client_sends(b"still here");
    assert_eq!(before.received, b"still here");
    before.server_sends(b"and so am I");
    assert_eq!(before.client_received, b"and so am I");
}

#[test]
fn a_broken_new_file_keeps_the_old_certificate() {
    let dir = Scratch::new("store-reload-broken");
    let ca = Ca::new();
    let old = ca.leaf(&["localhost"]);
    let (c, k) = write_pair(&dir, "localhost", &old);
    let store = CertStore::load(vec![CertSpec::new(&c, &k)]).unwrap();
    let client = ca.client(&[ALPN_HTTP_1_1], false);
    let serves_old = |why: &str| {
        let mut pair = Pair::new(store.server_config(), client.clone(), "localhost");
        pair.connect();
        assert_eq!(pair.server_cert(), old.der, "{why}");
    };

    // A certificate written without its new key: they do not match.
    let new = ca.leaf(&["localhost"]);
    std::fs::write(&c, &new.cert_pem).unwrap();
    let report = store.reload_if_changed().expect("the certificate changed");
    assert!(report.replaced.is_empty());
    assert!(
        report.kept[0].to_string().contains("does not match"),
        "{}",
        report.kept[0]
    );
    serves_old("mismatched key");

    // A truncated certificate, then a missing key file.
    std::fs::write(&c, &new.cert_pem[..new.cert_pem.len() / 2]).unwrap();
    let report = store.reload();
    assert!(
        report.kept[0].to_string().contains("not valid PEM"),
        "{}",
        report.kept[0]
    );
    serves_old("truncated certificate");
    std::fs::write(&c, &new.cert_pem).unwrap();
    std::fs::remove_file(&k).unwrap();
    let report = store.reload();
    assert!(
        report.kept[0].to_string().contains("cannot read"),
        "{}",
        report.kept[0]
    );
    serves_old("missing key");

    // The key arrives: the next poll reloads even though the certificate did not change.
    std::fs::write(&k, &new.key_pem).unwrap();
    let report = store.reload_if_changed().expect("a failed pair is retried");
    assert_eq!((report.replaced.len(), report.kept.len()), (1, 0));
    let mut pair = Pair::new(store.server_config(), client.clone(), "localhost");
    pair.connect();
    assert_eq!(pair.server_cert(), new.der);
    assert!(store.reload_if_changed().is_none());
}
