//! The TLS settings: flags and file, and a clear error for each way a file can be unusable,
//! found at start-up.

use std::path::Path;
use std::time::{Duration, SystemTime};

use clap::Parser as _;
use rcgen::KeyPair;

use super::super::{CertError, CertSpec, CertStore};
use super::{test_key, write_pair, Ca, Pair, Scratch};
use crate::config::{Config, ConfigError, Settings};

fn flags(args: &[&str]) -> Settings {
    let mut v = vec!["switchyard"];
    v.extend_from_slice(args);
    Settings::try_parse_from(v).expect("flags parse")
}

/// Resolves `args` (paths given as `Path`s are turned into strings by the caller).
fn parse(args: &[&str]) -> Result<Config, ConfigError> {
    flags(args).resolve()
}

/// Resolves flags over a file's text.
fn merged(args: &[&str], text: &str) -> Result<Config, ConfigError> {
    let file: Settings = toml::from_str(text).expect("the file parses");
    flags(args).or(file).resolve()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The message of a refused configuration, checked to name `needles`.
fn refused(args: &[&str], needles: &[&str]) -> ConfigError {
    let e = parse(args).expect_err("refused");
    for needle in needles {
        assert!(e.to_string().contains(needle), "{e} lacks {needle:?}");
    }
    e
}

#[test]
fn a_tls_listener_with_a_pair_loads_and_replaces_the_default_plain_listener() {
    let dir = Scratch::new("config-basic");
    let ca = Ca::new();
    let (c, k) = write_pair(&dir, "a", &ca.leaf(&["a.test"]));
    let config = parse(&[
        "--listen-tls",
        "127.0.0.1:8443",
        "--tls-cert",
        s(&c),
        "--tls-key",
        s(&k),
    ])
    .unwrap();
    assert_eq!(config.listen_tls, ["127.0.0.1:8443".parse().unwrap()]);
    assert!(config.listen.is_empty(), "TLS alone: no plaintext port");
    assert_eq!(
        config.tls_reload_interval, None,
        "the poll is off by default"
    );
    let store = config.tls.as_ref().expect("certificates loaded");
    assert_eq!(store.certificates()[0].names, ["a.test"]);
    assert!(
        config.summary().ends_with(&format!(
            "listen_tls=127.0.0.1:8443 tls=[{} (a.test)]",
            c.display()
        )),
        "{}",
        config.summary()
    );
    // Beside a plain listener, with a poll.
    let config = parse(&[
        "--listen",
        "127.0.0.1:8080",
        "--listen-tls",
        "127.0.0.1:8443",
        "--tls-cert",
        s(&c),
        "--tls-key",
        s(&k),
        "--tls-reload-interval",
        "30",
    ])
    .unwrap();
    assert_eq!(config.listen, ["127.0.0.1:8080".parse().unwrap()]);
    assert_eq!(config.tls_reload_interval, Some(Duration::from_secs(30)));
    // No TLS: nothing changes.
    let config = parse(&[]).unwrap();
    assert!(config.tls.is_none() && config.listen_tls.is_empty());
    assert!(!config.summary().contains("tls"), "{}", config.summary());
}

#[test]
fn pairs_repeat_for_sni_by_flag_or_file_and_a_source_replaces_the_lower_ones_pairs() {
    let dir = Scratch::new("config-pairs");
    let ca = Ca::new();
    let (ac, ak) = write_pair(&dir, "a", &ca.leaf(&["a.test"]));
    let (bc, bk) = write_pair(&dir, "b", &ca.leaf(&["b.test", "c.test"]));
    let config = parse(&[
        "--listen-tls",
        "127.0.0.1:0",
        "--tls-cert",
        s(&ac),
        "--tls-key",
        s(&ak),
        "--tls-cert",
        s(&bc),
        "--tls-key",
        s(&bk),
    ])
    .unwrap();
    let store = config.tls.unwrap();
    assert_eq!(store.chosen_for(Some("b.test")), bc);
    assert_eq!(store.chosen_for(None), ac);

    // The file: one path, lists, and tables with names.
    let text = format!(
        "listen_tls = [\"127.0.0.1:0\"]\ntls_cert = {ac:?}\ntls_key = {ak:?}\n\
         [[tls_certs]]\ncert = {bc:?}\nkey = {bk:?}\nnames = [\"c.test\"]\n"
    );
    let store = merged(&[], &text).unwrap().tls.unwrap();
    assert_eq!(store.specs().len(), 2);
    assert_eq!(store.chosen_for(Some("c.test")), bc);
    assert_eq!(
        store.chosen_for(Some("b.test")),
        ac,
        "b.test not among the names given"
    );
    let text = format!("tls_cert = [{ac:?}, {bc:?}]\ntls_key = [{ak:?}, {bk:?}]\n");
    let store = merged(&["--listen-tls", "127.0.0.1:0"], &text)
        .unwrap()
        .tls
        .unwrap();
    assert_eq!(
        store.specs(),
        [CertSpec::new(&ac, &ak), CertSpec::new(&bc, &bk)]
    );
    // Flags giving a pair replace all the file's pairs.
    let text =
        format!("listen_tls = [\"127.0.0.1:0\"]\n[[tls_certs]]\ncert = {ac:?}\nkey = {ak:?}\n");
    let store = merged(&["--tls-cert", s(&bc), "--tls-key", s(&bk)], &text)
        .unwrap()
        .tls
        .unwrap();
    assert_eq!(store.specs(), [CertSpec::new(&bc, &bk)]);
    // An unknown key in a table is refused like any unknown key.
    let text = format!("[[tls_certs]]\ncert = {ac:?}\nkey = {ak:?}\nname = \"a.test\"\n");
    let e = toml::from_str::<Settings>(&text).unwrap_err();
    assert!(e.to_string().contains("unknown field `name`"), "{e}");
}

#[test]
fn every_key_form_loads_pkcs8_sec1_and_pkcs1() {
    let dir = Scratch::new("config-keys");
    let ca = Ca::new();
    for (signing, form) in [
        ("ec-pkcs8.pem", "ec-pkcs8.pem"),
        ("ec-pkcs8.pem", "ec-sec1.pem"),
        ("rsa-pkcs8.pem", "rsa-pkcs8.pem"),
        ("rsa-pkcs8.pem", "rsa-pkcs1.pem"),
    ] {
        let key = KeyPair::from_pem(&test_key(signing)).unwrap();
        let leaf = ca.leaf_with(&["localhost"], key, |_| {});
        let c = dir.file("cert.pem", &leaf.cert_pem);
        let k = dir.file("key.pem", test_key(form));
        let store = CertStore::load(vec![CertSpec::new(&c, &k)]).expect(form);
        let mut pair = Pair::new(
            store.server_config(),
            ca.client(&[super::super::ALPN_HTTP_1_1], false),
            "localhost",
        );
        pair.connect();
        pair.client_sends(form.as_bytes());
        assert_eq!(pair.received, form.as_bytes());
    }
}

#[test]
fn a_chain_with_an_intermediate_is_sent_whole_and_a_combined_file_works() {
    let dir = Scratch::new("config-chain");
    let ca = Ca::new();
    let (intermediate, intermediate_pem) = ca.intermediate();
    let leaf = intermediate.leaf(&["localhost"]);
    let chain = format!("{}{}", leaf.cert_pem, intermediate_pem);
    let combined = dir.file("combined.pem", format!("{chain}{}", leaf.key_pem));
    let store = CertStore::load(vec![CertSpec::new(&combined, &combined)]).unwrap();
    let mut pair = Pair::new(
        store.server_config(),
        ca.client(&[super::super::ALPN_HTTP_1_1], false),
        "localhost",
    );
    pair.connect();
    assert_eq!(pair.client.peer_certificates().unwrap().len(), 2);
}

#[test]
fn unusable_files_are_refused_naming_the_file_and_the_problem() {
    let dir = Scratch::new("config-errors");
    let ca = Ca::new();
    let leaf = ca.leaf(&["localhost"]);
    let (c, k) = write_pair(&dir, "good", &leaf);
    let other = ca.leaf(&["localhost"]);
    let (_, other_key) = write_pair(&dir, "other", &other);
    let missing = dir.path("missing.pem");
    let no_end = dir.file("no-end.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n");
    let not_x509 = dir.file(
        "not-x509.pem",
        "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
    );
    let encrypted = dir.file(
        "encrypted.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let bad_key = dir.file(
        "bad.key",
        "-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n",
    );
    let empty = dir.file("empty.pem", "");
    let tls = |cert: &Path, key: &Path| -> Vec<String> {
        [
            "--listen-tls",
            "127.0.0.1:0",
            "--tls-cert",
            s(cert),
            "--tls-key",
            s(key),
        ]
        .map(String::from)
        .to_vec()
    };
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (
            tls(&missing, &k),
            vec![format!("cannot read {}", missing.display())],
        ),
        (
            tls(&c, &missing),
            vec![format!("cannot read {}", missing.display())],
        ),
        (
            tls(&no_end, &k),
            vec![format!("{} is not valid PEM", no_end.display())],
        ),
        (
            tls(&k, &k),
            vec![format!("{} holds no certificate", k.display())],
        ),
        (
            tls(&empty, &k),
            vec![format!("{} holds no certificate", empty.display())],
        ),
        (
            tls(&c, &c),
            vec![format!("{} holds no private key", c.display())],
        ),
        (
            tls(&c, &encrypted),
            vec![format!(
                "{} holds an encrypted private key",
                encrypted.display()
            )],
        ),
        (
            tls(&not_x509, &k),
            vec![format!(
                "{} holds a certificate that cannot be parsed",
                not_x509.display()
            )],
        ),
        (
            tls(&c, &bad_key),
            vec![format!("the key in {} cannot be used", bad_key.display())],
        ),
        (
            tls(&c, &other_key),
            vec![format!(
                "the key in {} does not match the certificate in {}",
                other_key.display(),
                c.display()
            )],
        ),
    ];
    for (args, needles) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let e = refused(&args, &["TLS certificate (--tls-cert, --tls-key): "]);
        for needle in &needles {
            assert!(
                e.to_string().contains(needle.as_str()),
                "{e} lacks {needle:?}"
            );
        }
        assert!(matches!(e, ConfigError::TlsCert(_)), "{e}");
    }
    // A name given for a pair that its certificate does not cover.
    let text = format!(
        "listen_tls = [\"127.0.0.1:0\"]\n[[tls_certs]]\ncert = {c:?}\nkey = {k:?}\nnames = [\"other.test\"]\n"
    );
    let e = merged(&[], &text).unwrap_err();
    assert!(
        e.to_string()
            .contains("does not cover the name \"other.test\" given for it (it has: localhost)"),
        "{e}"
    );
    let ConfigError::TlsCert(inner) = &e else {
        panic!("{e}")
    };
    assert!(matches!(inner, CertError::NameNotCovered { .. }));
    assert_eq!(inner.path(), c);
}

#[test]
fn listeners_pairs_and_the_poll_must_go_together() {
    let dir = Scratch::new("config-together");
    let ca = Ca::new();
    let (c, k) = write_pair(&dir, "a", &ca.leaf(&["a.test"]));
    refused(
        &["--listen-tls", "127.0.0.1:8443"],
        &["listen_tls (--listen-tls) needs a certificate: --tls-cert FILE --tls-key FILE"],
    );
    refused(
        &["--tls-cert", s(&c), "--tls-key", s(&k)],
        &["tls_cert (--tls-cert) is given but there is no TLS listener"],
    );
    refused(
        &["--tls-reload-interval", "5"],
        &["tls_reload_interval (--tls-reload-interval) is given but there is no TLS listener"],
    );
    refused(
        &[
            "--listen-tls",
            "127.0.0.1:8443",
            "--tls-cert",
            s(&c),
            "--tls-cert",
            s(&c),
            "--tls-key",
            s(&k),
        ],
        &["--tls-cert is given 2 time(s) and --tls-key 1: give them in pairs"],
    );
    // The pairing is checked before any file is read.
    refused(
        &[
            "--listen-tls",
            "127.0.0.1:8443",
            "--tls-cert",
            "/nonexistent",
            "--tls-cert",
            "/x",
            "--tls-key",
            "/y",
        ],
        &["give them in pairs"],
    );
    let pair = ["--tls-cert", s(&c), "--tls-key", s(&k)];
    for bad in [
        "--tls-reload-interval=0",
        "--tls-reload-interval=-1",
        "--tls-reload-interval=1e9",
    ] {
        let mut args = vec!["--listen-tls", "127.0.0.1:8443", bad];
        args.extend(pair);
        refused(
            &args,
            &[
                "tls_reload_interval must be between",
                "(--tls-reload-interval)",
            ],
        );
    }
    let mut args = vec![
        "--listen",
        "127.0.0.1:8443",
        "--listen-tls",
        "127.0.0.1:8443",
    ];
    args.extend(pair);
    refused(
        &args,
        &["listen address 127.0.0.1:8443 (--listen) is given twice"],
    );
    let mut args = vec![
        "--admin-listen",
        "127.0.0.1:8443",
        "--listen-tls",
        "127.0.0.1:8443",
    ];
    args.extend(pair);
    refused(
        &args,
        &["admin_listen 127.0.0.1:8443 is also a listen address"],
    );
    // Listener problems are reported before the files are read.
    refused(
        &[
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            "/nonexistent.key",
        ],
        &["no TLS listener"],
    );
}

#[test]
fn an_expired_certificate_loads_with_a_warning() {
    let dir = Scratch::new("config-expired");
    let ca = Ca::new();
    let leaf = ca.leaf_with(&["localhost"], KeyPair::generate().unwrap(), |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let (c, k) = write_pair(&dir, "expired", &leaf);
    let config = parse(&[
        "--listen-tls",
        "127.0.0.1:0",
        "--tls-cert",
        s(&c),
        "--tls-key",
        s(&k),
    ])
    .expect("expired is a warning, not an error");
    let info = &config.tls.unwrap().certificates()[0];
    assert!(info.is_outside_validity(SystemTime::now()));
    assert_eq!(info.not_after, 1_609_459_200);
}

#[test]
fn help_lists_the_tls_flags() {
    let help = Settings::command_with_defaults()
        .render_long_help()
        .to_string();
    for needle in [
        "--listen-tls <ADDR>",
        "--tls-cert <FILE>",
        "--tls-key <FILE>",
        "--tls-reload-interval <SECS>",
        "[default: off (SIGHUP reloads)]",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}
