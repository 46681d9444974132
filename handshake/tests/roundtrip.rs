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
