//! Tests of [`super`]: every way a token or a key is refused, each algorithm, each carrier.

use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};

use super::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const ES256_PRIVATE: &[u8] = include_bytes!("../../tests/data/jwt/es256-private.pem");
const ES256_PUBLIC: &[u8] = include_bytes!("../../tests/data/jwt/es256-public.pem");
const RS256_PRIVATE: &[u8] = include_bytes!("../../tests/data/jwt/rs256-private.pem");
const RS256_PUBLIC: &[u8] = include_bytes!("../../tests/data/jwt/rs256-public.pem");
const RS256_PUBLIC_PKCS1: &[u8] = include_bytes!("../../tests/data/jwt/rs256-public-pkcs1.pem");
const P384_PUBLIC: &[u8] = include_bytes!("../../tests/data/jwt/p384-public.pem");
const ED25519_PUBLIC: &[u8] = include_bytes!("../../tests/data/jwt/ed25519-public.pem");
const RSA1024_PUBLIC: &[u8] = include_bytes!("../../tests/data/jwt/rsa1024-public.pem");

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

/// A token for `claims` signed with `alg` and `key`.
fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).expect("signs")
}

fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET).unwrap(),
        claims,
    )
}

fn es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(ES256_PRIVATE).unwrap();
    sign(Algorithm::ES256, &key, claims)
}

fn rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(RS256_PRIVATE).unwrap();
    sign(Algorithm::RS256, &key, claims)
}

fn valid() -> Value {
    json!({"sub": "u1", "name": "Alice", "exp": now() + 600})
}

fn hs256_verifier() -> JwtVerifier {
    JwtVerifier::from_secret(SECRET).unwrap()
}

fn key_error(result: Result<JwtVerifier, AuthError>) -> String {
    match result {
        Err(AuthError::Key(text)) => text,
        other => panic!("expected a key error, got {other:?}"),
    }
}

#[test]
fn hs256_es256_and_rs256_tokens_verify_and_give_their_claims() {
    let want = Claims {
        subject: Some("u1".to_owned()),
        name: Some("Alice".to_owned()),
        topics: None,
    };
    let v = hs256_verifier();
    assert_eq!(v.algorithm(), JwtAlgorithm::Hs256);
    assert_eq!(v.verify(&hs256(&valid())), Ok(want.clone()));
    let v = JwtVerifier::from_public_key_pem(ES256_PUBLIC).unwrap();
    assert_eq!(v.algorithm(), JwtAlgorithm::Es256);
    assert_eq!(v.verify(&es256(&valid())), Ok(want.clone()));
    for pem in [RS256_PUBLIC, RS256_PUBLIC_PKCS1] {
        let v = JwtVerifier::from_public_key_pem(pem).unwrap();
        assert_eq!(v.algorithm(), JwtAlgorithm::Rs256);
        assert_eq!(v.verify(&rs256(&valid())), Ok(want.clone()));
    }
}

#[test]
fn the_topics_claim_limits_what_a_connection_may_join() {
    let v = hs256_verifier();
    let claims = v
        .verify(&hs256(&json!({"exp": now() + 60, "topics": ["/rooms/a"]})))
        .unwrap();
    assert_eq!(claims.topics.as_deref(), Some(&["/rooms/a".to_owned()][..]));
    assert!(claims.may_join("/rooms/a"));
    assert!(!claims.may_join("/rooms/b"));
    let claims = v
        .verify(&hs256(&json!({"exp": now() + 60, "topics": []})))
        .unwrap();
    assert!(!claims.may_join("/rooms/a"), "an empty list allows none");
    let claims = v.verify(&hs256(&valid())).unwrap();
    assert!(claims.may_join("/anything"), "no claim allows any");
    assert_eq!(
        v.verify(&hs256(&json!({"exp": now() + 60, "topics": "/rooms/a"}))),
        Err(AuthError::Malformed),
        "topics must be a list"
    );
}

#[test]
fn expired_tokens_are_refused_past_the_leeway() {
    let v = hs256_verifier();
    let token = hs256(&json!({"exp": now() - 10}));
    assert!(v.verify(&token).is_ok(), "within the default 30 s leeway");
    let token = hs256(&json!({"exp": now() - 100}));
    assert_eq!(v.verify(&token), Err(AuthError::Expired));
    let v = v.with_leeway(Duration::from_secs(200));
    assert_eq!(v.leeway(), Duration::from_secs(200));
    assert!(v.verify(&token).is_ok());
    let v = v.with_leeway(Duration::ZERO);
    let token = hs256(&json!({"exp": now() - 2}));
    assert_eq!(v.verify(&token), Err(AuthError::Expired));
}

#[test]
fn tokens_not_yet_valid_are_refused_past_the_leeway() {
    let v = hs256_verifier();
    let token = hs256(&json!({"exp": now() + 600, "nbf": now() + 10}));
    assert!(v.verify(&token).is_ok(), "within the leeway");
    let token = hs256(&json!({"exp": now() + 600, "nbf": now() + 100}));
    assert_eq!(v.verify(&token), Err(AuthError::NotYetValid));
}

#[test]
fn a_token_without_expiry_is_refused() {
    let v = hs256_verifier();
    assert_eq!(
        v.verify(&hs256(&json!({"sub": "u1"}))),
        Err(AuthError::NoExpiry)
    );
    // An `exp` that is not a number is no expiry either.
    assert_eq!(
        v.verify(&hs256(&json!({"exp": "tomorrow"}))),
        Err(AuthError::NoExpiry)
    );
}

#[test]
fn a_wrong_signature_is_refused() {
    let v = hs256_verifier();
    let other = EncodingKey::from_secret(b"another secret, 32 bytes or more.").unwrap();
    let token = sign(Algorithm::HS256, &other, &valid());
    assert_eq!(v.verify(&token), Err(AuthError::BadSignature));
    // A token whose claims were changed after signing.
    let token = hs256(&valid());
    let (head, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"sub": "admin", "exp": now() + 600}).to_string());
    let tampered = format!("{head}.{forged}.{signature}");
    assert_eq!(v.verify(&tampered), Err(AuthError::BadSignature));
    // ES256 and RS256 against keys that did not sign them.
    let es = JwtVerifier::from_public_key_pem(ES256_PUBLIC).unwrap();
    let mut token = es256(&valid());
    let last = token.pop().unwrap();
    token.push(if last == 'A' { 'B' } else { 'A' });
    assert!(matches!(
        es.verify(&token),
        Err(AuthError::BadSignature | AuthError::Malformed)
    ));
    let rs = JwtVerifier::from_public_key_pem(RS256_PUBLIC).unwrap();
    let (head, rest) = rs256(&valid())
        .split_once('.')
        .map(|(h, r)| (h.to_owned(), r.to_owned()))
        .unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    assert_eq!(
        rs.verify(&format!("{head}.{forged}.{signature}")),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn a_wrong_audience_is_refused() {
    let v = hs256_verifier().with_audience("switchyard");
    assert_eq!(v.audience(), Some("switchyard"));
    let with = |aud: Value| hs256(&json!({"exp": now() + 60, "aud": aud}));
    assert!(v.verify(&with(json!("switchyard"))).is_ok());
    assert!(v.verify(&with(json!(["other", "switchyard"]))).is_ok());
    assert_eq!(
        v.verify(&with(json!("other"))),
        Err(AuthError::WrongAudience)
    );
    assert_eq!(
        v.verify(&with(json!(["other"]))),
        Err(AuthError::WrongAudience)
    );
    // Without an audience configured, a token naming one is refused (RFC 7519 4.1.3);
    // with one configured, a token without `aud` is refused too.
    let open = hs256_verifier();
    assert_eq!(
        open.verify(&with(json!("switchyard"))),
        Err(AuthError::WrongAudience)
    );
    assert_eq!(v.verify(&hs256(&valid())), Err(AuthError::WrongAudience));
}

#[test]
fn only_the_keys_algorithm_is_accepted() {
    // HS256 signed with the public key's bytes as the secret: algorithm confusion.
    let es = JwtVerifier::from_public_key_pem(ES256_PUBLIC).unwrap();
    let confused = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(ES256_PUBLIC).unwrap(),
        &valid(),
    );
    assert_eq!(es.verify(&confused), Err(AuthError::WrongAlgorithm));
    assert_eq!(es.verify(&rs256(&valid())), Err(AuthError::WrongAlgorithm));
    let hs = hs256_verifier();
    assert_eq!(hs.verify(&es256(&valid())), Err(AuthError::WrongAlgorithm));
    let hs384 = sign(
        Algorithm::HS384,
        &EncodingKey::from_secret(SECRET).unwrap(),
        &valid(),
    );
    assert_eq!(hs.verify(&hs384), Err(AuthError::WrongAlgorithm));
    // `alg: none` is not even a name jsonwebtoken parses: the token is malformed.
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!("{}.{}.", b64(json!({"alg": "none"})), b64(valid()));
    assert_eq!(hs.verify(&none), Err(AuthError::Malformed));
}

#[test]
fn missing_and_malformed_tokens_are_refused() {
    let v = hs256_verifier();
    assert_eq!(v.verify(""), Err(AuthError::Missing));
    for token in ["x", "a.b", "a.b.c", "a.b.c.d", "...", "ä.ö.ü"] {
        assert_eq!(v.verify(token), Err(AuthError::Malformed), "{token}");
    }
    // Well signed, but the claims are not JSON.
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let message = format!("{}.{}", b64(br#"{"alg":"HS256"}"#), b64(b"not json"));
    let key = EncodingKey::from_secret(SECRET).unwrap();
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256);
    let not_json = format!("{message}.{}", signature.unwrap());
    assert_eq!(v.verify(&not_json), Err(AuthError::Malformed));
    // A bad signature is found before the claims are read.
    assert_eq!(
        v.verify(&format!("{message}.c2ln")),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn errors_have_a_reason_a_label_and_no_debug_formatting() {
    let all = [
        AuthError::Missing,
        AuthError::Malformed,
        AuthError::BadSignature,
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::NoExpiry,
        AuthError::WrongAudience,
        AuthError::WrongAlgorithm,
        AuthError::Key("bad key".to_owned()),
    ];
    let labels: Vec<_> = all.iter().map(AuthError::label).collect();
    assert_eq!(labels, AuthError::LABELS);
    assert_eq!(AuthError::Expired.label(), "expired");
    assert_eq!(AuthError::Expired.to_string(), "token expired");
    assert_eq!(AuthError::Key("bad key".to_owned()).to_string(), "bad key");
    for e in &all {
        assert!(!e.reason().is_empty());
        assert!(e
            .label()
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_'));
        if !matches!(e, AuthError::Key(_)) {
            assert_eq!(e.to_string(), e.reason());
        }
    }
}

#[test]
fn keys_that_cannot_serve_are_refused_saying_why() {
    let text = key_error(JwtVerifier::from_secret(b"short"));
    assert!(text.contains("5 bytes") && text.contains("32"), "{text}");
    let text = key_error(JwtVerifier::from_public_key_pem(b"hello"));
    assert!(text.contains("not PEM"), "{text}");
    let text = key_error(JwtVerifier::from_public_key_pem(ES256_PRIVATE));
    assert!(text.contains("private key"), "{text}");
    let text = key_error(JwtVerifier::from_public_key_pem(RS256_PRIVATE));
    assert!(text.contains("private key"), "{text}");
    let text = key_error(JwtVerifier::from_public_key_pem(P384_PUBLIC));
    assert!(text.contains("P-384"), "{text}");
    let text = key_error(JwtVerifier::from_public_key_pem(ED25519_PUBLIC));
    assert!(text.contains("Ed25519"), "{text}");
    let text = key_error(JwtVerifier::from_public_key_pem(RSA1024_PUBLIC));
    assert!(text.contains("1024 bits"), "{text}");
    let cert = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let text = key_error(JwtVerifier::from_public_key_pem(cert));
    assert!(text.contains("certificate"), "{text}");
    let garbage = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    let text = key_error(JwtVerifier::from_public_key_pem(garbage));
    assert!(text.contains("not a readable"), "{text}");
}

#[test]
fn debug_never_shows_the_key() {
    let v = hs256_verifier().with_audience("aud");
    let text = format!("{v:?}");
    assert!(text.contains("HS256") && text.contains("aud"), "{text}");
    assert!(!text.contains("0123456789"), "{text}");
}

#[test]
fn tokens_are_found_in_each_carrier() {
    let none: &[&str] = &[];
    assert_eq!(
        find_token(Some(b"Bearer abc.def.ghi"), None, none),
        Some((TokenCarrier::Authorization, "abc.def.ghi"))
    );
    assert_eq!(
        find_token(Some(b"  bEaReR \t abc  "), None, none),
        Some((TokenCarrier::Authorization, "abc")),
        "any case, spaces around"
    );
    assert_eq!(
        find_token(None, Some("room=1&token=abc.def&x=2"), none),
        Some((TokenCarrier::Query, "abc.def"))
    );
    assert_eq!(
        find_token(None, Some("?token=abc"), none),
        Some((TokenCarrier::Query, "abc"))
    );
    assert_eq!(
        find_token(None, None, &["chat.v1", "bearer.abc.def.ghi"]),
        Some((TokenCarrier::Subprotocol, "abc.def.ghi"))
    );
}

#[test]
fn carriers_are_tried_in_order_and_empty_or_other_values_skipped() {
    assert_eq!(
        find_token(Some(b"Bearer h"), Some("token=q"), &["bearer.s"]),
        Some((TokenCarrier::Authorization, "h"))
    );
    assert_eq!(
        find_token(Some(b"Basic dXNlcjpwdw=="), Some("token=q"), &["bearer.s"]),
        Some((TokenCarrier::Query, "q")),
        "another scheme is skipped"
    );
    assert_eq!(
        find_token(
            Some(b"Bearer "),
            Some("token=&tokens=x&token"),
            &["bearer.s"]
        ),
        Some((TokenCarrier::Subprotocol, "s"))
    );
    assert_eq!(
        find_token(
            Some(b"Bearer"),
            Some("xtoken=1"),
            &["bearer.", "Bearer.x", "chat"]
        ),
        None
    );
    assert_eq!(find_token(Some(&[0xff, b' ', b'x']), None, &[]), None);
    assert_eq!(find_token(None, None, &[]), None);
}

#[test]
fn a_token_from_each_carrier_verifies() {
    let v = JwtVerifier::from_public_key_pem(ES256_PUBLIC).unwrap();
    let token = es256(&valid());
    let header = format!("Bearer {token}");
    let query = format!("room=1&token={token}");
    let protocol = format!("bearer.{token}");
    for (auth, query, protocols) in [
        (Some(header.as_bytes()), None, vec![]),
        (None, Some(query.as_str()), vec![]),
        (None, None, vec!["chat.v1", protocol.as_str()]),
    ] {
        let (_, found) = find_token(auth, query, &protocols).unwrap();
        assert_eq!(v.verify(found).unwrap().subject.as_deref(), Some("u1"));
    }
    assert!(protocol
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
}
