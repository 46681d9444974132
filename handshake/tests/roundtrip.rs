//! The client and the server sides against each other.

use switchyard_handshake::*;

#[test]
fn client_request_is_accepted_and_the_101_verifies() {
    let acceptor =
        Acceptor::new().websocket(WebSocketConfig::default().subprotocols(["chat", "superchat"]));
    let request = ClientRequest::new("example.com:80", "/chat?x=1")
        .origin("http://example.com")
        .subprotocols(&["superchat", "chat"])
        .extensions("permessage-deflate; client_max_window_bits");
    let client =
        ClientHandshake::new(request, WebSocketKey::from_nonce(*b"the sample nonce")).unwrap();
    let mut wire = [0u8; 1024];
    let n = client.write_request(&mut wire).unwrap();
    wire[n..n + 3].copy_from_slice(b"\x81\x80x");
    let sent = &wire[..n + 3];

    let mut parser = acceptor.parser();
    let mut headers = [EMPTY_HEADER; 32];
    let mut out = [0u8; 512];
    let decision = acceptor
        .accept(&mut parser, sent, &mut headers, &mut out)
        .unwrap()
        .complete()
        .unwrap();
    let Decision::Switch(switch) = decision else {
        panic!("expected a switch, got {decision:?}")
    };
    assert_eq!(switch.leftover, b"\x81\x80x");
    let Switched::WebSocket { subprotocol, .. } = switch.protocol else {
        panic!()
    };
    assert_eq!(subprotocol, Some("chat"), "server preference picks chat");

    let mut reply = switch.response.to_vec();
    reply.extend_from_slice(b"\x81\x00");
    let mut client = client;
    let mut headers = [EMPTY_HEADER; 16];
    let accepted = client
        .read_response(&reply, &mut headers)
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(accepted.subprotocol, Some("chat"));
    assert!(
        accepted.extensions.is_empty(),
        "NoExtensions echoes nothing"
    );
    assert_eq!(accepted.leftover, b"\x81\x00");
}

#[test]
fn acceptor_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>(_: &T) {}
    shared(&Acceptor::new());
}

mod agreement {
    use proptest::prelude::*;
    use switchyard_handshake::*;

    proptest! {
        /// For any valid client request, the acceptor switches and the client accepts its 101,
        /// both agreeing on the subprotocol (the server's first supported one that was offered).
        #[test]
        fn client_and_server_agree(
            nonce in any::<[u8; 16]>(),
            host in "[a-z0-9.-]{1,20}(:[0-9]{1,5})?",
            target in "/[a-zA-Z0-9._~/?=&-]{0,30}",
            offered in prop::collection::vec("[a-z][a-z0-9.]{0,8}", 0..5),
            supported in prop::collection::vec("[a-z][a-z0-9.]{0,8}", 0..5),
            leftover in prop::collection::vec(any::<u8>(), 0..32),
        ) {
            let offered: Vec<&str> = offered.iter().map(String::as_str).collect();
            let acceptor = Acceptor::new().websocket(WebSocketConfig::default().subprotocols(supported.clone()));
            let mut client = ClientHandshake::new(
                ClientRequest::new(&host, &target).subprotocols(&offered),
                WebSocketKey::from_nonce(nonce),
            ).unwrap();
            let mut wire = vec![0u8; 2048];
            let n = client.write_request(&mut wire).unwrap();
            wire.truncate(n);
            wire.extend_from_slice(&leftover);

            let mut parser = acceptor.parser();
            let mut headers = [EMPTY_HEADER; 16];
            let mut out = [0u8; 1024];
            let decision = acceptor.accept(&mut parser, &wire, &mut headers, &mut out).unwrap().complete().unwrap();
            let Decision::Switch(switch) = decision else { panic!("{decision:?}") };
            prop_assert_eq!(switch.leftover, &leftover[..]);
            let Switched::WebSocket { subprotocol, .. } = switch.protocol else { panic!() };
            let expected = supported.iter().find(|s| offered.contains(&s.as_str())).map(String::as_str);
            prop_assert_eq!(subprotocol, expected);

            let mut headers = [EMPTY_HEADER; 16];
            let accepted = client.read_response(switch.response, &mut headers).unwrap().complete().unwrap();
            prop_assert_eq!(accepted.subprotocol, expected);
        }
    }
}
