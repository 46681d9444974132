//! JWT authentication in the built-in router, against the running server: a token in each of
//! the three carriers upgrades; every refusal is a 401 (403 for a topic the token does not
//! list) whose body gives the reason, counted in `switchyard_auth_failures_total`; HS256 from a
//! secret file or the environment, ES256 from a public key file.

mod common;

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use switchyard::auth::AuthError;

/// An HS256 secret of 44 bytes (at least 32 are required).
const SECRET: &str = "switchyard-integration-tests-secret-32+bytes";
const ES256_PRIVATE: &[u8] = include_bytes!("data/jwt/es256-private.pem");
const ES256_PUBLIC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/jwt/es256-public.pem"
);
const RS256_PRIVATE: &[u8] = include_bytes!("data/jwt/rs256-private.pem");

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

/// jsonwebtoken's RustCrypto backend, installed once (the server does the same for itself).
fn crypto() {
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    }
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    crypto();
    jsonwebtoken::encode(&Header::new(alg), claims, key).expect("signs")
}

fn hs256_with(secret: &[u8], claims: &Value) -> String {
    crypto();
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(secret).unwrap(),
        claims,
    )
}

fn hs256(claims: &Value) -> String {
    hs256_with(SECRET.as_bytes(), claims)
}

fn es256(claims: &Value) -> String {
    crypto();
    sign(
        Algorithm::ES256,
        &EncodingKey::from_ec_pem(ES256_PRIVATE).unwrap(),
        claims,
    )
}

/// Claims that pass: a subject and an expiry ten minutes ahead.
fn valid() -> Value {
    json!({"sub": "u1", "name": "Alice", "exp": now() + 600})
}

/// A file in a directory of this test process holding `contents`.
fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-jwt-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// A server requiring HS256 tokens signed with [`SECRET`] (given with a trailing newline, which
/// is dropped), plus `flags`.
fn hs256_server(flags: &[&str]) -> TestServer {
    let file = temp_file(
        &format!("secret-{}", flags.join("_").replace(['/', '*'], "-")),
        &format!("{SECRET}\n"),
    );
    let mut args = vec!["--jwt-secret-file", file.to_str().unwrap()];
    args.extend_from_slice(flags);
    TestServer::start(&args)
}

/// An upgrade of `path` with extra header lines; the whole response.
fn upgrade(addr: SocketAddr, path: &str, extra: &str) -> String {
    raw_exchange(addr, &upgrade_request(path, extra))
}

/// The body of a response.
fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// Upgrades `path` with extra header lines, expecting a 101 and a working WebSocket (a text
/// message comes back: echo, or broadcast to its sender); returns the 101 head.
fn upgrades(addr: SocketAddr, path: &str, extra: &str) -> String {
    let (mut s, head) = raw_ws_head(addr, path, extra);
    s.write_all(&client_frame(0x81, b"hi")).unwrap();
    let mut frame = [0u8; 4];
    s.read_exact(&mut frame).unwrap();
    assert_eq!(frame, [0x81, 2, b'h', b'i'], "{path}");
    head
}

/// A request header line carrying `token` as a bearer token.
fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\n")
}

fn failures(server: &TestServer, reason: &str) -> u64 {
    server.metric(&format!(
        "switchyard_auth_failures_total{{reason=\"{reason}\"}}"
    ))
}

#[test]
fn a_valid_token_upgrades_from_each_carrier() {
    let server = hs256_server(&[]);
    let token = hs256(&valid());
    upgrades(server.addr, "/echo", &bearer(&token));
    // The scheme and the field name in any case.
    upgrades(
        server.addr,
        "/echo",
        &format!("authorization: bEaReR {token}\r\n"),
    );
    upgrades(server.addr, &format!("/echo?token={token}"), "");
    upgrades(server.addr, &format!("/echo?room=1&token={token}"), "");
    // A browser offers its subprotocol alongside the token and gets that one answered; the
    // token is never echoed back.
    let head = upgrades(
        server.addr,
        "/echo",
        &format!("Sec-WebSocket-Protocol: chat, bearer.{token}\r\n"),
    );
    assert!(
        head.contains("\r\nSec-WebSocket-Protocol: chat\r\n"),
        "{head}"
    );
    assert!(!head.contains("bearer"), "{head}");
    // Another scheme in Authorization (a proxy's Basic) does not hide a token elsewhere.
    upgrades(
        server.addr,
        &format!("/echo?token={token}"),
        "Authorization: Basic dXNlcjpwYXNz\r\n",
    );
    // The broadcast route too, when the token has no topics claim.
    upgrades(server.addr, "/broadcast", &bearer(&token));
    // Expired, but within the 30 s leeway.
    let late = hs256(&json!({"exp": now() - 10}));
    upgrades(server.addr, "/echo", &bearer(&late));
    let early = hs256(&json!({"exp": now() + 600, "nbf": now() + 10}));
    upgrades(server.addr, "/echo", &bearer(&early));
    for label in AuthError::LABELS {
        assert_eq!(failures(&server, label), 0, "{label}");
    }
    assert_eq!(server.metric("switchyard_app_rejects_total"), 0);
}

#[test]
fn every_refusal_is_a_401_with_its_reason_and_is_counted() {
    let server = hs256_server(&[]);
    let exp = now() + 600;
    let other_secret = b"another-secret-that-is-32-bytes-long!!";
    let hs384 = sign(
        Algorithm::HS384,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
        &valid(),
    );
    // (what, path, header lines, body, label)
    let cases: Vec<(&str, String, String, &str, &str)> = vec![
        (
            "no token",
            "/echo".into(),
            String::new(),
            "missing token",
            "missing",
        ),
        (
            "not a JWT",
            "/echo".into(),
            bearer("not.a.jwt"),
            "malformed token",
            "malformed",
        ),
        (
            "another key's signature",
            "/echo".into(),
            format!(
                "Sec-WebSocket-Protocol: chat, bearer.{}\r\n",
                hs256_with(other_secret, &valid())
            ),
            "bad token signature",
            "bad_signature",
        ),
        (
            "expired a minute ago",
            format!("/echo?token={}", hs256(&json!({"exp": now() - 60}))),
            String::new(),
            "token expired",
            "expired",
        ),
        (
            "valid only in a minute",
            "/echo".into(),
            bearer(&hs256(&json!({"exp": exp, "nbf": now() + 60}))),
            "token not yet valid",
            "not_yet_valid",
        ),
        (
            "no exp",
            "/echo".into(),
            bearer(&hs256(&json!({"sub": "u1"}))),
            "token has no expiry (exp)",
            "no_expiry",
        ),
        (
            "an audience, none configured",
            "/echo".into(),
            bearer(&hs256(&json!({"exp": exp, "aud": "chat"}))),
            "token is for another audience",
            "wrong_audience",
        ),
        (
            "HS384",
            "/echo".into(),
            bearer(&hs384),
            "token signed with an unexpected algorithm",
            "wrong_algorithm",
        ),
    ];
    for (what, path, extra, reason, label) in &cases {
        let r = upgrade(server.addr, path, extra);
        assert_eq!(status(&r), 401, "{what}: {r}");
        assert!(
            r.contains("\r\nWWW-Authenticate: Bearer\r\n"),
            "{what}: {r}"
        );
        assert_eq!(body(&r), format!("{reason}\n"), "{what}: {r}");
        assert!(!r.contains("Sec-WebSocket-Accept"), "{what}: {r}");
        assert!(!r.contains(SECRET), "{what}: {r}");
        assert_eq!(failures(&server, label), 1, "{what}: {label}");
    }
    // Every label listed, each refusal counted once under its own.
    let metrics = http_get(server.addr, "/metrics");
    for label in AuthError::LABELS {
        let want = u64::from(cases.iter().any(|c| c.4 == label));
        assert_eq!(failures(&server, label), want, "{label}: {metrics}");
    }
    assert_eq!(failures(&server, "topic_denied"), 0);
    assert_eq!(
        server.metric("switchyard_app_rejects_total"),
        cases.len() as u64
    );
    // A plain GET needs no token: the page and the endpoints stay open.
    assert_eq!(status(&http_get(server.addr, "/")), 200);
    assert_eq!(status(&http_get(server.addr, "/healthz")), 200);
}

#[test]
fn a_topics_claim_limits_the_broadcast_topics_a_token_may_join() {
    let server = hs256_server(&["--route", "/rooms/*=broadcast"]);
    let exp = now() + 600;
    let only_a = hs256(&json!({"exp": exp, "topics": ["/rooms/a"]}));
    upgrades(server.addr, "/rooms/a", &bearer(&only_a));
    // The query is not part of the topic.
    upgrades(server.addr, "/rooms/a?x=1", &bearer(&only_a));
    let r = upgrade(server.addr, "/rooms/b", &bearer(&only_a));
    assert_eq!(status(&r), 403, "{r}");
    assert_eq!(body(&r), "the token does not allow this topic\n", "{r}");
    let r = upgrade(server.addr, "/broadcast", &bearer(&only_a));
    assert_eq!(status(&r), 403, "{r}");
    // Listing the topic lets it in; an empty list lets in nowhere.
    let both = hs256(&json!({"exp": exp, "topics": ["/rooms/a", "/broadcast"]}));
    upgrades(server.addr, "/broadcast", &bearer(&both));
    let none = hs256(&json!({"exp": exp, "topics": []}));
    assert_eq!(
        status(&upgrade(server.addr, "/rooms/a", &bearer(&none))),
        403
    );
    // Echo routes have no topic: the claim does not limit them.
    upgrades(server.addr, "/echo", &bearer(&none));
    assert_eq!(failures(&server, "topic_denied"), 3);
    for label in AuthError::LABELS {
        assert_eq!(failures(&server, label), 0, "{label}");
    }
    assert_eq!(server.metric("switchyard_app_rejects_total"), 3);
}

#[test]
fn a_configured_audience_must_be_named() {
    let server = hs256_server(&["--jwt-audience", "chat"]);
    let exp = now() + 600;
    upgrades(
        server.addr,
        "/echo",
        &bearer(&hs256(&json!({"exp": exp, "aud": "chat"}))),
    );
    upgrades(
        server.addr,
        "/echo",
        &bearer(&hs256(&json!({"exp": exp, "aud": ["other", "chat"]}))),
    );
    // A token without `aud` is refused too when an audience is configured.
    for claims in [
        json!({"exp": exp, "aud": "other"}),
        json!({"exp": exp, "aud": ["x", "y"]}),
        json!({"exp": exp}),
    ] {
        let aud = &claims["aud"];
        let r = upgrade(server.addr, "/echo", &bearer(&hs256(&claims)));
        assert_eq!(status(&r), 401, "{aud}: {r}");
        assert_eq!(body(&r), "token is for another audience\n", "{r}");
    }
    assert_eq!(failures(&server, "wrong_audience"), 3);
}

#[test]
fn es256_tokens_verify_against_a_public_key_file() {
    let server = TestServer::start(&["--jwt-public-key", ES256_PUBLIC]);
    let token = es256(&valid());
    upgrades(server.addr, "/echo", &bearer(&token));
    upgrades(server.addr, &format!("/echo?token={token}"), "");
    let head = upgrades(
        server.addr,
        "/echo",
        &format!("Sec-WebSocket-Protocol: bearer.{token}, chat\r\n"),
    );
    assert!(
        head.contains("\r\nSec-WebSocket-Protocol: chat\r\n"),
        "{head}"
    );
    // A payload swapped under the signature.
    let (header, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let other = es256(&json!({"sub": "admin", "exp": now() + 600}));
    let other_payload = other.split('.').nth(1).unwrap();
    let forged = format!("{header}.{other_payload}.{signature}");
    // HS256 with the public key's text as the secret: the classic algorithm confusion.
    let pem = std::fs::read(ES256_PUBLIC).unwrap();
    let confused = hs256_with(&pem, &valid());
    let rs256 = sign(
        Algorithm::RS256,
        &EncodingKey::from_rsa_pem(RS256_PRIVATE).unwrap(),
        &valid(),
    );
    let expired = es256(&json!({"exp": now() - 120}));
    for (token, reason, label) in [
        (forged.as_str(), "bad token signature", "bad_signature"),
        (
            &confused,
            "token signed with an unexpected algorithm",
            "wrong_algorithm",
        ),
        (
            &rs256,
            "token signed with an unexpected algorithm",
            "wrong_algorithm",
        ),
        (&expired, "token expired", "expired"),
    ] {
        let r = upgrade(server.addr, "/echo", &bearer(token));
        assert_eq!(status(&r), 401, "{label}: {r}");
        assert_eq!(body(&r), format!("{reason}\n"), "{r}");
    }
    assert_eq!(failures(&server, "bad_signature"), 1);
    assert_eq!(failures(&server, "wrong_algorithm"), 2);
    assert_eq!(failures(&server, "expired"), 1);
}

#[test]
fn the_binary_takes_the_secret_from_the_environment() {
    let mut binary = Binary::spawn(
        &[
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--no-pin",
            "--log-level",
            "info",
        ],
        &[("SWITCHYARD_JWT_SECRET", SECRET)],
    );
    let first = binary.lines().join("\n");
    assert!(first.contains("jwt=HS256"), "{first}");
    let r = upgrade(binary.addr, "/echo", "");
    assert_eq!(status(&r), 401, "{r}");
    assert_eq!(body(&r), "missing token\n");
    upgrades(binary.addr, "/echo", &bearer(&hs256(&valid())));
    let r = upgrade(
        binary.addr,
        "/echo",
        &bearer(&hs256_with(b"not-the-environment-secret-at-all", &valid())),
    );
    assert_eq!(status(&r), 401, "{r}");
    binary.sigterm();
    assert!(binary.wait_exit(Duration::from_secs(10)).success());
    let log = binary.lines().join("\n");
    assert!(!log.contains(SECRET), "the secret is never logged: {log}");
}

#[test]
fn the_binary_refuses_two_keys_and_a_short_secret() {
    let file = temp_file("two-keys", SECRET);
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--jwt-secret-file",
        file.to_str().unwrap(),
    ];
    let (status, text) = run_binary_to_exit(
        &args,
        &[("SWITCHYARD_JWT_SECRET", SECRET)],
        Duration::from_secs(10),
    );
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(text.contains("are both given"), "{text}");
    assert!(text.contains("SWITCHYARD_JWT_SECRET"), "{text}");
    let short = temp_file("short", "only-31-bytes-of-secret-here!!!");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--jwt-secret-file",
        short.to_str().unwrap(),
    ];
    let (status, text) = run_binary_to_exit(&args, &[], Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(text.contains("31 bytes"), "{text}");
    assert!(
        !text.contains("only-31-bytes"),
        "the secret is not echoed: {text}"
    );
}
