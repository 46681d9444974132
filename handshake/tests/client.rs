//! The client side: the request it writes and each check of the server's answer (RFC 6455
//! section 4.1).

use switchyard_handshake::*;

const NONCE: [u8; 16] = *b"the sample nonce";

fn handshake(request: ClientRequest<'static>) -> ClientHandshake<'static> {
    ClientHandshake::new(request, WebSocketKey::from_nonce(NONCE)).unwrap()
}

fn answer(extra: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n{extra}\r\n"
    )
}

fn verify(
    client: &mut ClientHandshake<'_>,
    response: &str,
) -> Result<(Option<String>, Vec<String>), ClientError> {
    let mut headers = [EMPTY_HEADER; 16];
    match client.read_response(response.as_bytes(), &mut headers)? {
        Status::Partial => panic!("partial"),
        Status::Complete(accepted) => Ok((
            accepted.subprotocol.map(str::to_string),
            accepted.extensions.map(|e| e.name().to_string()).collect(),
        )),
    }
}

#[test]
fn writes_the_rfc6455_section_1_2_request() {
    let client = handshake(
        ClientRequest::new("server.example.com", "/chat")
            .origin("http://example.com")
            .subprotocols(&["chat", "superchat"])
            .extensions("permessage-deflate; client_max_window_bits")
            .headers(&[("Cookie", b"a=b")]),
    );
    let mut out = [0u8; 512];
    let n = client.write_request(&mut out).unwrap();
    assert_eq!(
        std::str::from_utf8(&out[..n]).unwrap(),
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nCookie: a=b\r\n\r\n"
    );
    let mut tiny = [1u8; 8];
    assert_eq!(client.write_request(&mut tiny).unwrap_err().required, n);
    assert_eq!(tiny, [1u8; 8]);
}

#[test]
fn invalid_request_parts_are_refused() {
    let key = WebSocketKey::from_nonce(NONCE);
    for request in [
        ClientRequest::new("h", "chat"),
        ClientRequest::new("h", "/a b"),
        ClientRequest::new("a b", "/"),
        ClientRequest::new("", "/"),
        ClientRequest::new("h", "/").subprotocols(&["a,b"]),
        ClientRequest::new("h", "/").extensions("a;"),
        ClientRequest::new("h", "/").origin("x\r\nEvil: 1"),
        ClientRequest::new("h", "/").headers(&[("X", b"a\nb")]),
    ] {
        assert_eq!(
            ClientHandshake::new(request, key).unwrap_err(),
            ClientError::InvalidRequestPart,
            "{request:?}"
        );
    }
}

#[test]
fn accepts_the_rfc_answer_and_hands_on_leftover() {
    let mut client = handshake(ClientRequest::new("h", "/chat").subprotocols(&["chat"]));
    let mut response = answer("Sec-WebSocket-Protocol: chat\r\n").into_bytes();
    let head = response.len();
    response.extend_from_slice(b"\x81\x05Hello");
    for end in 0..head {
        let mut headers = [EMPTY_HEADER; 16];
        assert!(
            client
                .read_response(&response[..end], &mut headers)
                .unwrap()
                .is_partial(),
            "prefix {end}"
        );
    }
    let mut headers = [EMPTY_HEADER; 16];
    let accepted = client
        .read_response(&response, &mut headers)
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(accepted.subprotocol, Some("chat"));
    assert_eq!(accepted.head_len, head);
    assert_eq!(accepted.leftover, b"\x81\x05Hello");
}

#[test]
fn status_other_than_101_is_refused() {
    let mut client = handshake(ClientRequest::new("h", "/"));
    let response =
        "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        verify(&mut client, response).unwrap_err(),
        ClientError::UnexpectedStatus { status: 426 }
    );
}

#[test]
fn interim_100_is_skipped() {
    let mut client = handshake(ClientRequest::new("h", "/"));
    let response = format!("HTTP/1.1 100 Continue\r\n\r\n{}", answer(""));
    // Byte by byte, as it might arrive.
    for end in 0..response.len() {
        let mut headers = [EMPTY_HEADER; 16];
        assert!(client
            .read_response(&response.as_bytes()[..end], &mut headers)
            .unwrap()
            .is_partial());
    }
    let mut headers = [EMPTY_HEADER; 16];
    let accepted = client
        .read_response(response.as_bytes(), &mut headers)
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(accepted.head_len, response.len());
}

#[test]
fn upgrade_must_be_websocket() {
    let mut client = handshake(ClientRequest::new("h", "/"));
    let response = answer("").replace("Upgrade: websocket", "Upgrade: tcp");
    assert_eq!(
        verify(&mut client, &response).unwrap_err(),
        ClientError::InvalidUpgrade
    );
    let response = answer("").replace("Upgrade: websocket\r\n", "");
    assert_eq!(
        verify(&mut client, &response).unwrap_err(),
        ClientError::InvalidUpgrade
    );
    let response = answer("").replace("Upgrade: websocket", "Upgrade: WebSocket");
    assert!(verify(&mut client, &response).is_ok(), "case-insensitive");
}

#[test]
fn connection_must_list_upgrade() {
    let mut client = handshake(ClientRequest::new("h", "/"));
    let response = answer("").replace("Connection: Upgrade", "Connection: keep-alive");
    assert_eq!(
        verify(&mut client, &response).unwrap_err(),
        ClientError::InvalidConnection
    );
    let response = answer("").replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE");
    assert!(verify(&mut client, &response).is_ok());
}

#[test]
fn accept_must_match_the_key() {
    let mut client = handshake(ClientRequest::new("h", "/"));
    let wrong = answer("").replace(
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        "HSmrc0sMlYUkAGmm5OPpG2HaGWk=",
    );
    assert_eq!(
        verify(&mut client, &wrong).unwrap_err(),
        ClientError::InvalidAccept
    );
    let missing = answer("").replace("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", "");
    assert_eq!(
        verify(&mut client, &missing).unwrap_err(),
        ClientError::InvalidAccept
    );
    let twice = answer("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n");
    assert_eq!(
        verify(&mut client, &twice).unwrap_err(),
        ClientError::InvalidAccept
    );
}

#[test]
fn subprotocol_must_be_one_we_offered() {
    let mut client = handshake(ClientRequest::new("h", "/").subprotocols(&["chat"]));
    assert_eq!(
        verify(&mut client, &answer("Sec-WebSocket-Protocol: mqtt\r\n")).unwrap_err(),
        ClientError::UnofferedSubprotocol
    );
    assert_eq!(
        verify(
            &mut client,
            &answer("Sec-WebSocket-Protocol: chat, chat\r\n")
        )
        .unwrap_err(),
        ClientError::UnofferedSubprotocol
    );
    assert_eq!(
        verify(&mut client, &answer("")).unwrap().0,
        None,
        "none chosen is fine"
    );
    let mut none_offered = handshake(ClientRequest::new("h", "/"));
    assert_eq!(
        verify(
            &mut none_offered,
            &answer("Sec-WebSocket-Protocol: chat\r\n")
        )
        .unwrap_err(),
        ClientError::UnofferedSubprotocol
    );
}

#[test]
fn extensions_must_be_ones_we_offered_once() {
    let mut client = handshake(
        ClientRequest::new("h", "/")
            .extensions("permessage-deflate; client_max_window_bits, x-foo"),
    );
    let ok = verify(
        &mut client,
        &answer("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n"),
    )
    .unwrap();
    assert_eq!(ok.1, ["permessage-deflate"]);
    for bad in [
        "x-bar",
        "permessage-deflate, permessage-deflate",
        "permessage-deflate;",
    ] {
        let response = answer(&format!("Sec-WebSocket-Extensions: {bad}\r\n"));
        assert_eq!(
            verify(&mut client, &response).unwrap_err(),
            ClientError::UnofferedExtension,
            "{bad}"
        );
    }
    let mut none_offered = handshake(ClientRequest::new("h", "/"));
    let response = answer("Sec-WebSocket-Extensions: permessage-deflate\r\n");
    assert_eq!(
        verify(&mut none_offered, &response).unwrap_err(),
        ClientError::UnofferedExtension
    );
}

#[test]
fn response_parser_reads_any_head() {
    let raw =
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy";
    let mut parser = ResponseParser::default();
    let mut headers = [EMPTY_HEADER; 4];
    let response = parser.parse(raw, &mut headers).unwrap().complete().unwrap();
    assert_eq!(
        (response.status(), response.reason(), response.version()),
        (503, "Service Unavailable", Version::Http11)
    );
    assert_eq!(response.header("retry-after"), Some(&b"1"[..]));
    assert_eq!(response.leftover(), b"busy");
    let mut headers = [EMPTY_HEADER; 1];
    assert_eq!(
        ResponseParser::default()
            .parse(raw, &mut headers)
            .unwrap_err(),
        ClientError::TooManyHeaders { limit: 1 }
    );
    let mut headers = [EMPTY_HEADER; 4];
    assert_eq!(
        ResponseParser::default()
            .parse(b"HTTP/1.1 abc\r\n\r\n", &mut headers)
            .unwrap_err(),
        ClientError::MalformedResponse
    );
    let mut headers = [EMPTY_HEADER; 4];
    let long = vec![b'a'; 9000];
    assert_eq!(
        ResponseParser::default()
            .parse(&long, &mut headers)
            .unwrap_err(),
        ClientError::HeadTooLarge { limit: 8192 }
    );
}

#[test]
fn random_keys_work_end_to_end_with_the_acceptor() {
    let acceptor = Acceptor::new();
    for _ in 0..32 {
        let mut client = ClientHandshake::new(
            ClientRequest::new("localhost:1", "/"),
            WebSocketKey::random().unwrap(),
        )
        .unwrap();
        let mut request = [0u8; 512];
        let n = client.write_request(&mut request).unwrap();
        let mut parser = acceptor.parser();
        let mut headers = [EMPTY_HEADER; 16];
        let mut out = [0u8; 512];
        let Status::Complete(Decision::Switch(switch)) = acceptor
            .accept(&mut parser, &request[..n], &mut headers, &mut out)
            .unwrap()
        else {
            panic!()
        };
        let mut headers = [EMPTY_HEADER; 16];
        assert!(client
            .read_response(switch.response, &mut headers)
            .unwrap()
            .complete()
            .is_some());
    }
}
