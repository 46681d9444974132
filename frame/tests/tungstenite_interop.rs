//! Interoperability with an independent implementation: tungstenite's client frames decode in
//! our server role, and our server frames decode in tungstenite's client, over an in-memory pipe.

use std::io::{Cursor, Read, Write};

use switchyard_frame::{CloseCode, Config, Connection, Event, OpCode, Role};
use tungstenite::protocol::{CloseFrame, Role as TRole, WebSocket, WebSocketConfig};
use tungstenite::Message;

/// Reads come from `incoming`, writes go to `outgoing`.
#[derive(Default)]
struct Pipe {
    incoming: Cursor<Vec<u8>>,
    outgoing: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.incoming.read(buf)?;
        if n == 0 && !buf.is_empty() {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.outgoing.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn tungstenite_client() -> WebSocket<Pipe> {
    WebSocket::from_raw_socket(
        Pipe::default(),
        TRole::Client,
        Some(WebSocketConfig::default()),
    )
}

#[test]
fn tungstenite_client_frames_decode_in_our_server_role() {
    let mut client = tungstenite_client();
    let big = vec![0x5Au8; 200_000];
    client.send(Message::Text("héllo".into())).unwrap();
    client.send(Message::Binary(big.clone())).unwrap();
    client.send(Message::Ping(b"p".to_vec())).unwrap();
    client
        .send(Message::Close(Some(CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Library(4000),
            reason: "bye".into(),
        })))
        .unwrap();
    let mut wire = std::mem::take(&mut client.get_mut().outgoing);

    let mut server = Connection::new(Role::Server, Config::default());
    let mut events = Vec::new();
    let mut pos = 0;
    // Feed in 1000-byte reads to cross frame boundaries.
    while pos < wire.len() {
        let end = (pos + 1000).min(wire.len());
        let mut at = pos;
        while at < end {
            let progress = server.handle_bytes(&mut wire[at..end]).unwrap();
            at += progress.consumed;
            match progress.event {
                Some(Event::Text(t)) => events.push(format!("text {t}")),
                Some(Event::Binary(b)) => {
                    assert_eq!(&b[..], &big[..]);
                    events.push(format!("binary {}", b.len()));
                }
                Some(Event::Ping(p)) => events.push(format!("ping {:?}", p)),
                Some(Event::Close {
                    code,
                    reason,
                    reply,
                }) => {
                    assert!(reply.is_some());
                    events.push(format!("close {:?} {reason}", code.map(|c| c.0)));
                }
                Some(Event::Pong(_)) | None => {}
            }
        }
        pos = end;
    }
    assert_eq!(
        events,
        [
            "text héllo",
            "binary 200000",
            "ping [112]",
            "close Some(4000) bye"
        ]
    );
}

#[test]
fn our_server_frames_decode_in_tungstenite_client() {
    let mut server = Connection::new(Role::Server, Config::default());
    let mut wire = Vec::new();
    let header = server.encode_header(OpCode::Text, false, 3).unwrap();
    wire.extend_from_slice(&header);
    wire.extend_from_slice(b"abc");
    wire.extend_from_slice(&server.encode_ping(b"mid").unwrap());
    let header = server.encode_header(OpCode::Continuation, true, 3).unwrap();
    wire.extend_from_slice(&header);
    wire.extend_from_slice(b"def");
    server
        .encode_message(OpCode::Binary, &[7; 70_000], &mut wire)
        .unwrap();
    wire.extend_from_slice(
        &server
            .encode_close(Some(CloseCode::GOING_AWAY), "restart")
            .unwrap(),
    );

    let mut client = tungstenite_client();
    client.get_mut().incoming = Cursor::new(wire);
    let mut got = Vec::new();
    loop {
        match client.read() {
            Ok(Message::Text(t)) => got.push(format!("text {t}")),
            Ok(Message::Binary(b)) => got.push(format!("binary {} {}", b.len(), b[0])),
            Ok(Message::Ping(p)) => got.push(format!("ping {}", String::from_utf8_lossy(&p))),
            Ok(Message::Close(Some(frame))) => {
                got.push(format!("close {} {}", u16::from(frame.code), frame.reason));
            }
            Ok(other) => got.push(format!("{other:?}")),
            Err(_) => break,
        }
    }
    assert_eq!(
        got,
        [
            "ping mid",
            "text abcdef",
            "binary 70000 7",
            "close 1001 restart"
        ]
    );

    // tungstenite answered the ping and the close with masked client frames: we decode them.
    let _ = client.flush();
    let mut answers = std::mem::take(&mut client.get_mut().outgoing);
    let mut pos = 0;
    let mut events = Vec::new();
    while pos < answers.len() {
        let progress = server.handle_bytes(&mut answers[pos..]).unwrap();
        pos += progress.consumed;
        if let Some(event) = progress.event {
            events.push(format!("{event:?}"));
        }
    }
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[0].starts_with("Pong("), "{events:?}");
    assert!(
        events[1].contains("reply: None"),
        "our close was sent first: {events:?}"
    );
}
