//! Echo with tungstenite: text, binary, large and pipelined messages, subprotocol selection,
//! ping, and the close handshake.

mod common;

use common::*;
use std::io::{Read, Write};
use tungstenite::Message;

#[test]
fn text_and_binary_come_back_unchanged() {
    let server = TestServer::start(&[]);
    let mut ws = ws(&server, "/echo");
    ws.send(Message::text("hello")).unwrap();
    assert_eq!(next_data(&mut ws), Message::text("hello"));
    ws.send(Message::binary(vec![0u8, 1, 2, 255])).unwrap();
    assert_eq!(next_data(&mut ws), Message::binary(vec![0u8, 1, 2, 255]));
    ws.send(Message::text("")).unwrap();
    assert_eq!(next_data(&mut ws), Message::text(""));
    ws.close(None).unwrap();
    assert_eq!(close_code(&mut ws), 1005);
}

#[test]
fn every_unrouted_path_echoes() {
    let server = TestServer::start(&[]);
    for path in ["/", "/echo", "/some/where?x=1"] {
        let mut ws = ws(&server, path);
        ws.send(Message::text(path)).unwrap();
        assert_eq!(next_data(&mut ws), Message::text(path));
    }
}

#[test]
fn large_messages_of_all_length_encodings() {
    let server = TestServer::start(&[]);
    let mut ws = ws(&server, "/echo");
    for len in [125usize, 126, 65535, 65536, 1 << 20, 16 << 20] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        ws.send(Message::binary(payload.clone())).unwrap();
        match next_data(&mut ws) {
            Message::Binary(got) => assert!(got == payload, "length {len} differs"),
            other => panic!("expected binary, got {other:?}"),
        }
    }
}

#[test]
fn fragmented_message_is_reassembled() {
    let server = TestServer::start(&[]);
    let mut ws = ws(&server, "/echo");
    // Three fragments, with a ping between the second and third.
    let mut raw = Vec::new();
    raw.extend(client_frame(0x01, b"hel"));
    raw.extend(client_frame(0x00, b"lo "));
    raw.extend(client_frame(0x89, b"p"));
    raw.extend(client_frame(0x80, "w\u{f6}rld".as_bytes()));
    ws.get_mut().write_all(&raw).unwrap();
    assert_eq!(next_data(&mut ws), Message::text("hello w\u{f6}rld"));
}

#[test]
fn pipelined_messages_all_come_back_in_order() {
    let server = TestServer::start(&[]);
    let mut ws = ws(&server, "/echo");
    let mut raw = Vec::new();
    for i in 0..1000 {
        raw.extend(client_frame(0x82, format!("{i:06}").as_bytes()));
    }
    ws.get_mut().write_all(&raw).unwrap();
    for i in 0..1000 {
        assert_eq!(
            next_data(&mut ws),
            Message::binary(format!("{i:06}").into_bytes())
        );
    }
}

#[test]
fn ping_gets_pong_with_same_payload() {
    let server = TestServer::start(&[]);
    let mut ws = ws(&server, "/echo");
    ws.send(Message::Ping(b"are you there".to_vec())).unwrap();
    match ws.read().unwrap() {
        Message::Pong(p) => assert_eq!(&p[..], b"are you there"),
        other => panic!("expected pong, got {other:?}"),
    }
}

#[test]
fn close_code_and_reason_are_answered() {
    let server = TestServer::start(&[]);
    let mut ws = ws(&server, "/echo");
    ws.close(Some(tungstenite::protocol::CloseFrame {
        code: 4001.into(),
        reason: "bye".into(),
    }))
    .unwrap();
    assert_eq!(close_code(&mut ws), 4001);
}

#[test]
fn subprotocol_server_preference_and_none_offered() {
    let server = TestServer::start(&["--subprotocol", "chat.v2", "--subprotocol", "chat.v1"]);
    let header = "Sec-WebSocket-Protocol";
    // Offered both: the server's first choice wins.
    let ws = ws_with(&server, "/echo", |mut r| {
        r.headers_mut()
            .insert(header, "chat.v1,chat.v2".parse().unwrap()); // tungstenite splits on "," without trimming
        r
    });
    drop(ws);
    let mut s = tcp(server.addr);
    let req = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Protocol: other, chat.v1\r\n\r\n";
    s.write_all(req.as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-protocol: chat.v1\r\n"),
        "{head}"
    );
    // Offered none we know, or none at all: still a WebSocket, without a subprotocol.
    for offer in ["Sec-WebSocket-Protocol: mqtt\r\n", ""] {
        let mut s = tcp(server.addr);
        let req = format!(
            "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let head = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
            "{head}"
        );
    }
    // And tungstenite accepts the answer when it offered one of ours.
    let mut ws = ws_with(&server, "/echo", |mut r| {
        r.headers_mut().insert(header, "chat.v1".parse().unwrap());
        r
    });
    ws.send(Message::text("x")).unwrap();
    assert_eq!(next_data(&mut ws), Message::text("x"));
}

#[test]
fn first_frame_in_the_same_packet_as_the_head_is_not_lost() {
    let server = TestServer::start(&[]);
    let mut s = tcp(server.addr);
    let mut req = b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .to_vec();
    req.extend(client_frame(0x81, b"early"));
    s.write_all(&req).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut frame = [0u8; 7];
    s.read_exact(&mut frame).unwrap();
    assert_eq!(&frame, b"\x81\x05early");
}

/// Reads a response head byte by byte (so no frame bytes after it are consumed).
fn read_head(s: &mut std::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap() == 0 {
            break;
        }
        head.push(b[0]);
    }
    String::from_utf8(head).unwrap()
}

#[test]
fn frames_sent_with_the_upgrade_head_are_echoed() {
    // A client that does not wait for the 101: its first frames arrive in the head's read and
    // take the leftover path (the rest are unmasked in netio's own read buffer).
    let server = TestServer::start(&[]);
    let mut s = tcp(server.addr);
    let mut request = upgrade_request("/echo", "");
    request.extend(client_frame(0x81, b"early"));
    request.extend(client_frame(0x82, &[1, 2, 3]));
    s.write_all(&request).unwrap();
    let head = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut echoed = [0u8; 7 + 5];
    s.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"\x81\x05early\x82\x03\x01\x02\x03");
    s.write_all(&client_frame(0x81, b"later")).unwrap();
    let mut later = [0u8; 7];
    s.read_exact(&mut later).unwrap();
    assert_eq!(&later, b"\x81\x05later");
}

/// A server frame (unmasked, FIN set) as the echo should write it.
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n < 65536 => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

#[test]
fn mixed_pipelined_frames_in_any_split_come_back_in_order() {
    // Replies are built in place in the read buffer where possible (whole frames in one read)
    // and written the ordinary way otherwise (pings, fragmented messages, frames cut by a read
    // boundary): the byte stream must be the same for every way the input is cut.
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for i in 0..40usize {
        let text = format!("message {i}");
        let binary: Vec<u8> = (0..(i * 37) % 300).map(|j| (i + j) as u8).collect();
        input.extend(client_frame_any(0x1, text.as_bytes()));
        expected.extend(server_frame(0x1, text.as_bytes()));
        input.extend(client_frame_any(0x2, &binary));
        expected.extend(server_frame(0x2, &binary));
        if i % 7 == 0 {
            input.extend(client_frame_any(0x9, b"ping"));
            expected.extend(server_frame(0xA, b"ping"));
        }
        if i % 5 == 0 {
            input.extend(client_frame(0x01, b"frag"));
            input.extend(client_frame(0x80, b"mented"));
            expected.extend(server_frame(0x1, b"fragmented"));
        }
        if i % 11 == 0 {
            input.extend(client_frame_any(0x1, b""));
            expected.extend(server_frame(0x1, b""));
        }
    }
    let server = TestServer::start(&[]);
    for chunk in [input.len(), 1, 3, 7, 64, 1000] {
        let mut s = raw_ws(server.addr, "/echo");
        s.set_nodelay(true).unwrap();
        let reader = {
            let mut r = s.try_clone().unwrap();
            let n = expected.len();
            std::thread::spawn(move || {
                let mut got = vec![0u8; n];
                r.read_exact(&mut got).map(|_| got)
            })
        };
        for piece in input.chunks(chunk) {
            s.write_all(piece).unwrap();
            if chunk < 64 {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
        }
        let got = reader.join().unwrap().expect("every reply");
        assert!(got == expected, "chunks of {chunk}: replies differ");
    }
}
