//! A client and a server `Connection` talking through an in-memory pipe: the client sends a text
//! message in two fragments, a ping and a close; the server echoes messages, answers the ping,
//! and answers the close. Shows the calling order of both roles without any socket.
//!
//! Run: `cargo run -p switchyard-frame --example echo`

use switchyard_frame::{CloseCode, Config, Connection, Event, OpCode, Role};

/// The server's side of one read: decode everything, queue answers in `out`.
/// Returns false once the connection should be closed.
fn server_read(conn: &mut Connection, input: &mut [u8], out: &mut Vec<u8>) -> bool {
    let mut pos = 0;
    while pos < input.len() {
        let progress = match conn.handle_bytes(&mut input[pos..]) {
            Ok(progress) => progress,
            Err(failure) => {
                println!("server: failing connection: {failure}");
                if let Some(frame) = failure.close_frame {
                    out.extend_from_slice(&frame);
                }
                return false;
            }
        };
        pos += progress.consumed;
        match progress.event {
            Some(Event::Text(text)) => {
                println!(
                    "server: text {text:?} (borrowed: {})",
                    matches!(text, std::borrow::Cow::Borrowed(_))
                );
                // A real server writes [header, payload] with one vectored write.
                let header = conn
                    .encode_header(OpCode::Text, true, text.len())
                    .expect("open");
                out.extend_from_slice(&header);
                out.extend_from_slice(text.as_bytes());
            }
            Some(Event::Binary(data)) => {
                let header = conn
                    .encode_header(OpCode::Binary, true, data.len())
                    .expect("open");
                out.extend_from_slice(&header);
                out.extend_from_slice(&data);
            }
            Some(Event::Ping(payload)) => {
                println!("server: ping {payload:?}");
                out.extend_from_slice(&conn.encode_pong(&payload).expect("open"));
            }
            Some(Event::Pong(_)) => {}
            Some(Event::Close {
                code,
                reason,
                reply,
            }) => {
                println!("server: close {code:?} {reason:?}");
                if let Some(frame) = reply {
                    out.extend_from_slice(&frame);
                }
                return false;
            }
            None => {}
        }
    }
    true
}

fn main() {
    let mut client = Connection::new(Role::Client, Config::default());
    let mut server = Connection::new(Role::Server, Config::default());

    // Client: a fragmented text message, a ping in between, then close.
    let mut wire = Vec::new();
    let mut buf = [0u8; 64];
    let n = client
        .encode_frame_into(OpCode::Text, false, "Hello, ".as_bytes(), &mut buf)
        .unwrap();
    wire.extend_from_slice(&buf[..n]);
    wire.extend_from_slice(&client.encode_ping(b"are you there").unwrap());
    let n = client
        .encode_frame_into(OpCode::Continuation, true, "wörld".as_bytes(), &mut buf)
        .unwrap();
    wire.extend_from_slice(&buf[..n]);
    let n = client
        .encode_frame_into(OpCode::Binary, true, &[1, 2, 3], &mut buf)
        .unwrap();
    wire.extend_from_slice(&buf[..n]);
    wire.extend_from_slice(
        &client
            .encode_close(Some(CloseCode::NORMAL), "done")
            .unwrap(),
    );

    // The network delivers it in arbitrary pieces; the server decodes each read as it comes.
    let mut answers = Vec::new();
    for piece in wire.chunks(5) {
        let mut read = piece.to_vec();
        if !server_read(&mut server, &mut read, &mut answers) {
            break;
        }
    }

    // Client reads the answers.
    let mut pos = 0;
    while pos < answers.len() {
        let progress = client
            .handle_bytes(&mut answers[pos..])
            .expect("valid server frames");
        pos += progress.consumed;
        if let Some(event) = progress.event {
            println!("client: {event:?}");
        }
    }
    println!(
        "client state {:?}, server state {:?}",
        client.state(),
        server.state()
    );
}
