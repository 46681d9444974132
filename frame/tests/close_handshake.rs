//! The close handshake (RFC 6455 sections 5.5.1 and 7): states, replies, nothing after our close.

mod common;

use std::borrow::Cow;

use common::{client_frame, decode_all, Owned};
use switchyard_frame::{CloseCode, CloseState, Config, Connection, Event, OpCode, Role, SendError};

fn server() -> Connection {
    Connection::new(Role::Server, Config::default())
}

#[test]
fn peer_close_is_answered_with_the_same_code_and_closes() {
    let mut conn = server();
    let mut payload = 1001u16.to_be_bytes().to_vec();
    payload.extend_from_slice("going away".as_bytes());
    let mut input = client_frame(true, 8, &payload);
    let progress = conn.handle_bytes(&mut input).unwrap();
    let Some(Event::Close {
        code,
        reason,
        reply,
    }) = progress.event
    else {
        panic!("expected close");
    };
    assert_eq!(code, Some(CloseCode::GOING_AWAY));
    assert_eq!(reason, Cow::Borrowed("going away"));
    assert_eq!(&reply.unwrap()[..], &[0x88, 0x02, 0x03, 0xE9]);
    assert_eq!(conn.state(), CloseState::Closed);
    assert_eq!(conn.encode_ping(b""), Err(SendError::Closed));
    assert_eq!(
        conn.encode_header(OpCode::Text, true, 1),
        Err(SendError::Closed)
    );
}

#[test]
fn empty_close_is_answered_with_an_empty_close() {
    let mut conn = server();
    let mut input = client_frame(true, 8, b"");
    let progress = conn.handle_bytes(&mut input).unwrap();
    let Some(Event::Close { code, reply, .. }) = progress.event else {
        panic!("expected close");
    };
    assert_eq!(code, None);
    assert_eq!(&reply.unwrap()[..], &[0x88, 0x00]);
}

#[test]
fn our_close_then_peer_close_completes_without_a_second_reply() {
    let mut conn = server();
    let ours = conn.encode_close(Some(CloseCode::NORMAL), "done").unwrap();
    assert_eq!(&ours[..], &[0x88, 0x06, 0x03, 0xE8, b'd', b'o', b'n', b'e']);
    assert_eq!(conn.state(), CloseState::Closing);
    // Nothing is sent after our close.
    assert_eq!(
        conn.encode_header(OpCode::Binary, true, 0),
        Err(SendError::Closed)
    );
    assert_eq!(conn.encode_pong(b""), Err(SendError::Closed));
    assert_eq!(conn.encode_close(None, ""), Err(SendError::Closed));
    let stream = [
        client_frame(true, 2, b"late data"),
        client_frame(true, 9, b"unanswerable"),
        client_frame(true, 8, &[0x03, 0xE8]),
    ]
    .concat();
    let (events, error) = decode_all(&mut conn, &stream);
    assert_eq!(error, None);
    // Data is still delivered; the ping is not (it could not be answered); no reply to the close.
    assert_eq!(
        events,
        vec![
            Owned::Binary(b"late data".to_vec()),
            Owned::Close(Some(CloseCode::NORMAL), String::new(), None)
        ]
    );
    assert_eq!(conn.state(), CloseState::Closed);
}

#[test]
fn input_after_closed_is_discarded() {
    let mut conn = server();
    let mut stream = [
        client_frame(true, 8, b""),
        client_frame(true, 1, b"ignored"),
    ]
    .concat();
    let progress = conn.handle_bytes(&mut stream).unwrap();
    let consumed = progress.consumed;
    assert!(matches!(progress.event, Some(Event::Close { .. })));
    let progress = conn.handle_bytes(&mut stream[consumed..]).unwrap();
    assert_eq!(progress.event, None);
    assert_eq!(progress.consumed, stream.len() - consumed);
}

#[test]
fn close_arguments_are_checked() {
    let mut conn = server();
    assert_eq!(
        conn.encode_close(Some(CloseCode(1005)), ""),
        Err(SendError::InvalidCloseCode(1005))
    );
    assert_eq!(
        conn.encode_close(None, "reason"),
        Err(SendError::ControlPayloadTooLong(6))
    );
    let long = "x".repeat(124);
    assert_eq!(
        conn.encode_close(Some(CloseCode::NORMAL), &long),
        Err(SendError::ControlPayloadTooLong(126))
    );
    assert_eq!(
        conn.state(),
        CloseState::Open,
        "failed calls change nothing"
    );
    assert_eq!(
        conn.encode_ping(&[0; 126]),
        Err(SendError::ControlPayloadTooLong(126))
    );
    let frame = conn
        .encode_close(Some(CloseCode(4999)), &"y".repeat(123))
        .unwrap();
    assert_eq!(frame.len(), 2 + 125);
}

#[test]
fn client_close_is_masked_and_the_server_reads_it() {
    let mut client = Connection::new(Role::Client, Config::default());
    let frame = client.encode_close(Some(CloseCode(3000)), "app").unwrap();
    assert_eq!(frame[1], 0x80 | 5);
    let mut server = server();
    let mut bytes = frame.to_vec();
    let progress = server.handle_bytes(&mut bytes).unwrap();
    let Some(Event::Close {
        code,
        reason,
        reply,
    }) = progress.event
    else {
        panic!("expected close");
    };
    assert_eq!((code, &*reason), (Some(CloseCode(3000)), "app"));
    // The client reads the server's reply and completes.
    let mut reply = reply.unwrap().to_vec();
    let progress = client.handle_bytes(&mut reply).unwrap();
    assert!(matches!(
        progress.event,
        Some(Event::Close { reply: None, .. })
    ));
    assert_eq!(client.state(), CloseState::Closed);
}

#[test]
fn send_side_fragmentation_order_is_enforced() {
    let mut conn = server();
    assert_eq!(
        conn.encode_header(OpCode::Continuation, true, 1),
        Err(SendError::NoMessageInProgress)
    );
    conn.encode_header(OpCode::Text, false, 1).unwrap();
    assert_eq!(
        conn.encode_header(OpCode::Binary, true, 1),
        Err(SendError::MessageInProgress)
    );
    // Control frames may be interleaved.
    conn.encode_ping(b"p").unwrap();
    conn.encode_header(OpCode::Continuation, true, 1).unwrap();
    conn.encode_header(OpCode::Binary, true, 1).unwrap();
    assert_eq!(
        conn.encode_header(OpCode::Ping, true, 1),
        Err(SendError::NotADataOpcode(OpCode::Ping))
    );
    let mut client = Connection::new(Role::Client, Config::default());
    assert_eq!(
        client.encode_header(OpCode::Text, true, 1),
        Err(SendError::ClientMustMaskPayload)
    );
}

#[test]
fn encode_frame_into_reports_the_size_it_needs_and_leaves_out_untouched() {
    let mut client = Connection::new(Role::Client, Config::default());
    let mut small = [0xAAu8; 10];
    assert_eq!(
        client.encode_frame_into(OpCode::Binary, true, &[0; 5], &mut small),
        Err(SendError::InsufficientSize { required: 11 })
    );
    assert_eq!(small, [0xAA; 10]);
    // The failed call did not open a fragmented message.
    let mut out = [0u8; 11];
    assert_eq!(
        client.encode_frame_into(OpCode::Binary, true, &[0; 5], &mut out),
        Ok(11)
    );
}
