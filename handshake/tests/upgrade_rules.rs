//! RFC 9110 section 7.8 (Upgrade) and the registry of upgrade protocols, one test per rule.

mod common;
use common::*;
use switchyard_handshake::*;

/// A stand-in for the server's raw `tcp` tunnel: accepts when the path is /tunnel, declines
/// other paths, refuses /forbidden with 403, and adds a field to its 101.
struct Tunnel;

impl UpgradeProtocol for Tunnel {
    fn token(&self) -> &str {
        "tcp"
    }

    fn check(
        &self,
        request: &Request<'_>,
        _offer: &UpgradeOffer<'_>,
        response: &mut ResponseHeaders,
    ) -> Verdict {
        match request.path() {
            "/tunnel" => {
                response.push("X-Tunnel", b"ready").unwrap();
                Verdict::Accept
            }
            "/forbidden" => Verdict::Reject(403),
            _ => Verdict::Decline,
        }
    }
}

struct Named(&'static str);

impl UpgradeProtocol for Named {
    fn token(&self) -> &str {
        self.0
    }

    fn check(&self, _: &Request<'_>, _: &UpgradeOffer<'_>, _: &mut ResponseHeaders) -> Verdict {
        Verdict::Accept
    }
}

fn with_tunnel() -> Acceptor {
    let mut acceptor = Acceptor::new();
    acceptor.register(Tunnel).unwrap();
    acceptor
}

fn upgrade(path: &str, connection: &str, upgrade: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: h\r\nConnection: {connection}\r\nUpgrade: {upgrade}\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

fn protocol_of(outcome: &Outcome) -> Option<&str> {
    match outcome {
        Outcome::Switch { protocol, .. } => Some(protocol),
        _ => None,
    }
}

#[test]
fn connection_is_a_case_insensitive_token_list() {
    let acceptor = Acceptor::new();
    for connection in [
        "Upgrade",
        "upgrade",
        "UPGRADE",
        "keep-alive, Upgrade",
        "keep-alive,upgrade",
        " , Upgrade ,",
    ] {
        let outcome = run(
            &acceptor,
            upgrade("/", connection, "websocket", "").as_bytes(),
        );
        assert_eq!(
            protocol_of(&outcome),
            Some("websocket"),
            "Connection: {connection}"
        );
    }
    // Two Connection lines merge too.
    let raw = "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\
               Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(
        protocol_of(&run(&acceptor, raw.as_bytes())),
        Some("websocket")
    );
}

#[test]
fn upgrade_counts_only_when_connection_lists_it() {
    let acceptor = Acceptor::new();
    for connection in ["keep-alive", "Upgrade-Insecure", "close"] {
        assert!(
            run(
                &acceptor,
                upgrade("/", connection, "websocket", "").as_bytes()
            )
            .is_plain(),
            "{connection}"
        );
    }
    let no_connection = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n";
    assert!(run(&acceptor, no_connection.as_bytes()).is_plain());
    let no_upgrade = "GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n";
    assert!(run(&acceptor, no_upgrade.as_bytes()).is_plain());
}

#[test]
fn upgrade_in_http10_is_ignored() {
    let raw = "GET / HTTP/1.0\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
               Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert!(run(&Acceptor::new(), raw.as_bytes()).is_plain());
}

#[test]
fn first_supported_offer_in_client_order_wins() {
    let acceptor = with_tunnel();
    let pick = |list: &str, path: &str| {
        protocol_of(&run(
            &acceptor,
            upgrade(path, "upgrade", list, "").as_bytes(),
        ))
        .map(str::to_string)
    };
    assert_eq!(
        pick("foo/2, tcp, websocket", "/tunnel").as_deref(),
        Some("tcp")
    );
    assert_eq!(
        pick("websocket, tcp", "/tunnel").as_deref(),
        Some("websocket")
    );
    assert_eq!(
        pick("TCP/1", "/tunnel").as_deref(),
        Some("TCP/1"),
        "echoed as the client wrote it"
    );
    // Declined by its check: the next offer is taken.
    assert_eq!(
        pick("tcp, websocket", "/elsewhere").as_deref(),
        Some("websocket")
    );
}

#[test]
fn never_switches_to_an_unlisted_protocol() {
    let acceptor = with_tunnel();
    let outcome = run(
        &acceptor,
        upgrade("/tunnel", "upgrade", "foo, bar/1", "").as_bytes(),
    );
    assert!(outcome.is_plain());
    let outcome = run(
        &acceptor,
        upgrade("/tunnel", "upgrade", "tcp", "").as_bytes(),
    );
    assert!(!outcome.response().contains("websocket"));
}

#[test]
fn nothing_supported_is_a_plain_request_not_an_error() {
    let acceptor = Acceptor::new().without_websocket();
    let outcome = run(
        &acceptor,
        upgrade("/page", "keep-alive, upgrade", "websocket, irc/6.9", "").as_bytes(),
    );
    let Outcome::Plain {
        path, keep_alive, ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!((path.as_str(), keep_alive), ("/page", true));
}

#[test]
fn h2c_is_recognised_and_declined() {
    let acceptor = Acceptor::new();
    assert!(run(
        &acceptor,
        upgrade("/", "Upgrade, HTTP2-Settings", "h2c", "").as_bytes()
    )
    .is_plain());
    let outcome = run(
        &acceptor,
        upgrade("/", "Upgrade", "h2c, websocket", "").as_bytes(),
    );
    assert_eq!(protocol_of(&outcome), Some("websocket"));
    let mut acceptor = Acceptor::new();
    assert_eq!(
        acceptor.register(Named("h2c")).unwrap_err(),
        RegisterError::Reserved
    );
    assert_eq!(
        acceptor.register(Named("WebSocket")).unwrap_err(),
        RegisterError::Reserved
    );
}

#[test]
fn registry_refuses_bad_and_duplicate_tokens() {
    let mut acceptor = Acceptor::new();
    assert_eq!(
        acceptor.register(Named("a b")).unwrap_err(),
        RegisterError::InvalidToken
    );
    assert_eq!(
        acceptor.register(Named("")).unwrap_err(),
        RegisterError::InvalidToken
    );
    let id = acceptor.register(Named("tcp")).unwrap();
    assert_eq!(id.index(), 0);
    assert_eq!(acceptor.protocol(id).map(|p| p.token()), Some("tcp"));
    assert_eq!(
        acceptor.register(Named("TCP")).unwrap_err(),
        RegisterError::Duplicate
    );
}

#[test]
fn registered_protocol_switch_carries_its_fields_and_leftover() {
    let mut raw = upgrade("/tunnel", "Upgrade", "tcp", "").into_bytes();
    raw.extend_from_slice(b"SSH-2.0-x\r\n");
    let outcome = run(&with_tunnel(), &raw);
    let Outcome::Switch {
        protocol,
        response,
        leftover,
        ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(protocol, "tcp");
    assert_eq!(
        response,
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nX-Tunnel: ready\r\n\r\n"
    );
    assert_eq!(leftover, b"SSH-2.0-x\r\n");
}

#[test]
fn registered_protocol_can_reject() {
    let outcome = run(
        &with_tunnel(),
        upgrade("/forbidden", "Upgrade", "tcp", "").as_bytes(),
    );
    assert_eq!(
        outcome.error(),
        Some(HandshakeError::ProtocolRejected { status: 403 })
    );
    assert!(outcome.response().starts_with("HTTP/1.1 403 Forbidden\r\n"));
}

#[test]
fn response_headers_refuse_injection() {
    let mut fields = ResponseHeaders::default();
    assert!(fields.push("X-Ok", b"fine").is_ok());
    assert!(fields.push("X-Bad", b"a\r\nSet-Cookie: x").is_err());
    assert!(fields.push("Bad Name", b"v").is_err());
    assert!(fields
        .push("X-Big", &[b'a'; RESPONSE_HEADERS_CAPACITY])
        .is_err());
    assert_eq!(fields.as_bytes(), b"X-Ok: fine\r\n");
}

#[test]
fn expect_100_continue_sends_100_before_101() {
    let outcome = run(
        &Acceptor::new(),
        upgrade("/", "Upgrade", "websocket", "Expect: 100-continue\r\n").as_bytes(),
    );
    assert!(outcome
        .response()
        .starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n"));
    let outcome = run(
        &with_tunnel(),
        upgrade("/tunnel", "Upgrade", "tcp", "Expect: 100-Continue\r\n").as_bytes(),
    );
    assert!(outcome
        .response()
        .starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 "));
    let outcome = run(
        &Acceptor::new(),
        upgrade("/", "Upgrade", "websocket", "").as_bytes(),
    );
    assert!(
        outcome.response().starts_with("HTTP/1.1 101 "),
        "no 100 unless expected"
    );
}

#[test]
fn other_expectations_are_417() {
    let outcome = run(
        &Acceptor::new(),
        upgrade("/", "Upgrade", "websocket", "Expect: teapot\r\n").as_bytes(),
    );
    assert_eq!(
        (outcome.error(), outcome.status()),
        (Some(HandshakeError::UnsupportedExpectation), 417)
    );
}

#[test]
fn malformed_upgrade_list_is_400() {
    for list in ["websocket/", "/13", "web socket", "tcp/1/2"] {
        let outcome = run(
            &Acceptor::new(),
            upgrade("/", "Upgrade", list, "").as_bytes(),
        );
        assert_eq!(
            outcome.error(),
            Some(HandshakeError::MalformedUpgrade),
            "{list}"
        );
    }
}

#[test]
fn generic_upgrade_with_a_body_is_declined_to_plain_http() {
    let raw = upgrade("/tunnel", "Upgrade", "tcp", "Content-Length: 4\r\n") + "body";
    let outcome = run(&with_tunnel(), raw.as_bytes());
    let Outcome::Plain { body, leftover, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((body, leftover.as_slice()), (Body::Length(4), &b"body"[..]));
}

#[test]
fn websocket_upgrade_with_a_body_is_400() {
    for framing in ["Content-Length: 4\r\n", "Transfer-Encoding: chunked\r\n"] {
        let outcome = run(
            &Acceptor::new(),
            upgrade("/", "Upgrade", "websocket", framing).as_bytes(),
        );
        assert_eq!(
            outcome.error(),
            Some(HandshakeError::WebSocketWithBody),
            "{framing}"
        );
    }
    let empty = run(
        &Acceptor::new(),
        upgrade("/", "Upgrade", "websocket", "Content-Length: 0\r\n").as_bytes(),
    );
    assert_eq!(empty.status(), 101, "an empty body is no body");
}

#[test]
fn protocol_reject_status_outside_4xx_5xx_becomes_500() {
    struct Odd;
    impl UpgradeProtocol for Odd {
        fn token(&self) -> &str {
            "odd"
        }
        fn check(&self, _: &Request<'_>, _: &UpgradeOffer<'_>, _: &mut ResponseHeaders) -> Verdict {
            Verdict::Reject(200)
        }
    }
    let mut acceptor = Acceptor::new();
    acceptor.register(Odd).unwrap();
    let outcome = run(&acceptor, upgrade("/", "Upgrade", "odd", "").as_bytes());
    assert_eq!(
        outcome.error(),
        Some(HandshakeError::ProtocolRejected { status: 500 })
    );
}
