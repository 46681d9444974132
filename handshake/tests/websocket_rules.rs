//! RFC 6455 section 4.2 rules for the server side, one test per rule, RFC examples by name.

mod common;
use common::*;
use switchyard_handshake::*;

#[test]
fn rfc6455_section_1_2_opening_handshake() {
    let acceptor = Acceptor::new().websocket(WebSocketConfig::default().subprotocols(["chat"]));
    let outcome = run(&acceptor, RFC_REQUEST.as_bytes());
    assert_eq!(
        outcome.response(),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    );
}

#[test]
fn chromium_request_switches_without_echoing_unknown_extensions() {
    let outcome = run(&Acceptor::new(), CHROMIUM_REQUEST.as_bytes());
    assert_eq!(outcome.status(), 101);
    assert!(
        !outcome.response().contains("Extensions"),
        "no negotiator: nothing echoed"
    );
    assert!(
        !outcome.response().contains("Sec-WebSocket-Protocol"),
        "none offered, none answered"
    );
}

#[test]
fn method_must_be_get() {
    for method in ["POST", "get", "HEAD", "PUT"] {
        let raw = ws_request("").replacen("GET", method, 1);
        let outcome = run(&Acceptor::new(), raw.as_bytes());
        assert_eq!(
            (outcome.error(), outcome.status()),
            (Some(HandshakeError::WebSocketMethodNotGet), 400),
            "{method}"
        );
    }
}

#[test]
fn target_must_be_origin_or_absolute_form() {
    let raw = ws_request("").replacen("/ws", "*", 1);
    assert_eq!(
        run(&Acceptor::new(), raw.as_bytes()).error(),
        Some(HandshakeError::WebSocketInvalidTarget)
    );
    let raw = ws_request("").replacen("/ws", "ws://h/ws", 1);
    assert_eq!(run(&Acceptor::new(), raw.as_bytes()).status(), 101);
}

#[test]
fn host_is_required() {
    let raw = ws_request("").replacen("Host: h\r\n", "", 1);
    assert_eq!(
        run(&Acceptor::new(), raw.as_bytes()).error(),
        Some(HandshakeError::MissingHost)
    );
}

#[test]
fn key_must_be_base64_of_exactly_16_bytes() {
    for key in [
        "dGhlIHNhbXBsZSBub25jZQ",       // padding missing
        "dGhlIHNhbXBsZSBub25j",         // 15 bytes
        "dGhlIHNhbXBsZSBub25jZXg=",     // 17 bytes
        "dGhlIHNhbXBsZSBub25jZQ==dGhl", // trailing garbage
        "!!!!!!!!!!!!!!!!!!!!!!==",     // not base64
        "",
    ] {
        let raw = ws_request("").replace("dGhlIHNhbXBsZSBub25jZQ==", key);
        let outcome = run(&Acceptor::new(), raw.as_bytes());
        assert_eq!(
            (outcome.error(), outcome.status()),
            (Some(HandshakeError::InvalidWebSocketKey), 400),
            "{key:?}"
        );
    }
    let raw = ws_request("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n");
    assert_eq!(
        run(&Acceptor::new(), raw.as_bytes()).error(),
        Some(HandshakeError::InvalidWebSocketKey),
        "two keys"
    );
    let raw = ws_request("").replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    assert_eq!(
        run(&Acceptor::new(), raw.as_bytes()).error(),
        Some(HandshakeError::MissingWebSocketKey)
    );
}

#[test]
fn version_other_than_13_is_426_with_version_and_upgrade() {
    for version in [Some("8"), Some("12"), Some("13, 8"), Some("14"), None] {
        let raw = match version {
            Some(v) => ws_request("").replace(
                "Sec-WebSocket-Version: 13",
                &format!("Sec-WebSocket-Version: {v}"),
            ),
            None => ws_request("").replace("Sec-WebSocket-Version: 13\r\n", ""),
        };
        let outcome = run(&Acceptor::new(), raw.as_bytes());
        assert_eq!(
            outcome.error(),
            Some(HandshakeError::UnsupportedWebSocketVersion),
            "{version:?}"
        );
        let response = outcome.response();
        assert!(
            response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{response}"
        );
        assert!(response.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(response.contains("\r\nUpgrade: websocket\r\n"));
        assert!(response.contains("\r\nConnection: Upgrade, close\r\n"));
    }
}

#[test]
fn subprotocol_lines_merge_and_server_preference_picks() {
    let acceptor =
        Acceptor::new().websocket(WebSocketConfig::default().subprotocols(["v2.chat", "v1.chat"]));
    let raw =
        ws_request("Sec-WebSocket-Protocol: v1.chat, other\r\nSec-WebSocket-Protocol: v2.chat\r\n");
    let Outcome::Switch {
        subprotocol,
        response,
        ..
    } = run(&acceptor, raw.as_bytes())
    else {
        panic!()
    };
    assert_eq!(subprotocol.as_deref(), Some("v2.chat"));
    assert!(response.contains("\r\nSec-WebSocket-Protocol: v2.chat\r\n"));
}

#[test]
fn client_preference_picks_the_clients_first_supported() {
    let config = WebSocketConfig::default()
        .subprotocols(["v2.chat", "v1.chat"])
        .preference(SubprotocolPreference::Client);
    let acceptor = Acceptor::new().websocket(config);
    let raw = ws_request("Sec-WebSocket-Protocol: other, v1.chat, v2.chat\r\n");
    let Outcome::Switch { subprotocol, .. } = run(&acceptor, raw.as_bytes()) else {
        panic!()
    };
    assert_eq!(subprotocol.as_deref(), Some("v1.chat"));
}

#[test]
fn no_match_answers_no_subprotocol() {
    let acceptor = Acceptor::new().websocket(WebSocketConfig::default().subprotocols(["chat"]));
    let raw = ws_request("Sec-WebSocket-Protocol: Chat, mqtt\r\n");
    let Outcome::Switch {
        subprotocol,
        response,
        ..
    } = run(&acceptor, raw.as_bytes())
    else {
        panic!()
    };
    assert_eq!(subprotocol, None, "matching is exact: Chat is not chat");
    assert!(!response.contains("Sec-WebSocket-Protocol"));
}

#[test]
fn malformed_subprotocols_are_400() {
    let raw = ws_request("Sec-WebSocket-Protocol: chat, a/b\r\n");
    assert_eq!(
        run(&Acceptor::new(), raw.as_bytes()).error(),
        Some(HandshakeError::MalformedSubprotocols)
    );
}

#[test]
fn origin_allow_list_is_403_for_others() {
    let config =
        WebSocketConfig::default().origin(OriginPolicy::allow_list(["https://example.com"]));
    let acceptor = Acceptor::new().websocket(config);
    let bad = run(
        &acceptor,
        ws_request("Origin: https://evil.example\r\n").as_bytes(),
    );
    assert_eq!(
        (bad.error(), bad.status()),
        (Some(HandshakeError::OriginNotAllowed), 403)
    );
    assert!(bad.response().starts_with("HTTP/1.1 403 Forbidden\r\n"));
    assert_eq!(
        run(
            &acceptor,
            ws_request("Origin: https://EXAMPLE.com\r\n").as_bytes()
        )
        .status(),
        101
    );
    assert_eq!(
        run(&acceptor, ws_request("").as_bytes()).status(),
        101,
        "no Origin: not a browser"
    );
    let two = ws_request("Origin: https://example.com\r\nOrigin: https://evil.example\r\n");
    assert_eq!(run(&acceptor, two.as_bytes()).status(), 403);
}

#[test]
fn origin_callback_decides() {
    let policy =
        OriginPolicy::custom(|origin| origin.is_some_and(|o| o.ends_with(b".example.com")));
    let acceptor = Acceptor::new().websocket(WebSocketConfig::default().origin(policy));
    assert_eq!(
        run(
            &acceptor,
            ws_request("Origin: https://a.example.com\r\n").as_bytes()
        )
        .status(),
        101
    );
    assert_eq!(run(&acceptor, ws_request("").as_bytes()).status(), 403);
}

#[test]
fn buffer_too_small_says_how_big_and_leaves_it_untouched() {
    let acceptor = Acceptor::new();
    let raw = RFC_REQUEST.as_bytes();
    let mut parser = acceptor.parser();
    let mut headers = [EMPTY_HEADER; 16];
    let mut out = [0xEEu8; 64];
    let error = acceptor
        .accept(&mut parser, raw, &mut headers, &mut out)
        .unwrap_err();
    assert_eq!(out, [0xEE; 64]);
    let mut headers = [EMPTY_HEADER; 16];
    let mut big = vec![0u8; error.required];
    let decision = acceptor
        .accept(&mut parser, raw, &mut headers, &mut big)
        .unwrap()
        .complete()
        .unwrap();
    let Decision::Switch(switch) = decision else {
        panic!()
    };
    assert_eq!(switch.response.len(), error.required);
}

#[test]
fn decide_after_routing_on_the_parsed_request() {
    let acceptor = Acceptor::new();
    let mut parser = acceptor.parser();
    let mut headers = [EMPTY_HEADER; 16];
    let request = parser
        .parse(RFC_REQUEST.as_bytes(), &mut headers)
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(request.path(), "/chat");
    let mut out = [0u8; 512];
    assert!(matches!(
        acceptor.decide(request, &mut out),
        Ok(Decision::Switch(_))
    ));
}
