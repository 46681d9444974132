//! Message assembly: fragments, interleaved control frames, fail-fast UTF-8 across fragments,
//! the borrowed hot path, memory released after each message.

mod common;

use std::borrow::Cow;

use common::{client_frame, decode_all, decode_chunks, Owned};
use switchyard_frame::{Config, Connection, Error, Event, Role};

fn server() -> Connection {
    Connection::new(Role::Server, Config::default())
}

#[test]
fn control_frames_between_fragments_are_delivered_in_order() {
    let stream = [
        client_frame(false, 1, b"frag1 "),
        client_frame(true, 9, b"ping"),
        client_frame(false, 0, b"frag2 "),
        client_frame(true, 10, b"pong"),
        client_frame(true, 0, b"frag3"),
    ]
    .concat();
    let (events, error) = decode_all(&mut server(), &stream);
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            Owned::Ping(b"ping".to_vec()),
            Owned::Pong(b"pong".to_vec()),
            Owned::Text("frag1 frag2 frag3".into()),
        ]
    );
}

#[test]
fn close_between_fragments_abandons_the_message() {
    let stream = [
        client_frame(false, 2, b"part"),
        client_frame(true, 8, &[0x03, 0xE8]),
    ]
    .concat();
    let mut conn = server();
    let (events, error) = decode_all(&mut conn, &stream);
    assert_eq!(error, None);
    assert!(matches!(events[..], [Owned::Close(Some(_), _, Some(_))]));
    assert_eq!(conn.heap_bytes(), 0);
}

#[test]
fn code_point_split_across_fragments_is_accepted() {
    // "€" = E2 82 AC, cut after each of its bytes, plus a 4-byte char cut across three frames.
    let stream = [
        client_frame(false, 1, &[b'a', 0xE2]),
        client_frame(false, 0, &[0x82]),
        client_frame(false, 0, &[0xAC, 0xF0, 0x9D]),
        client_frame(false, 0, &[0x84]),
        client_frame(true, 0, &[0x9E]),
    ]
    .concat();
    let (events, error) = decode_all(&mut server(), &stream);
    assert_eq!(error, None);
    assert_eq!(events, vec![Owned::Text("a€𝄞".into())]);
}

/// Autobahn 6.4.x: the invalid sequence is in the second of three fragments; the connection must
/// fail when that fragment arrives, before the third is sent.
#[test]
fn invalid_utf8_fails_at_the_fragment_that_makes_it_certain() {
    let mut conn = server();
    let mut first = client_frame(false, 1, "κόσμε".as_bytes());
    let len = first.len();
    let progress = conn.handle_bytes(&mut first).unwrap();
    assert_eq!((progress.consumed, progress.event), (len, None));
    // F4 90 80 80 would be > U+10FFFF: certain at the second byte.
    let mut second = client_frame(false, 0, &[0xF4, 0x90, 0x80, 0x80]);
    let failure = conn.handle_bytes(&mut second).unwrap_err();
    assert_eq!(failure.error, Error::InvalidUtf8);
}

/// Autobahn 6.4.3/6.4.4 shape: one frame arriving in pieces fails at the piece with the invalid
/// byte, even though the frame is incomplete.
#[test]
fn invalid_utf8_fails_inside_a_partially_received_frame() {
    let mut payload = "κόσμε".as_bytes().to_vec();
    payload.extend([0xF4, 0x90, 0x80, 0x80]);
    payload.extend(b"edited");
    let stream = client_frame(true, 1, &payload);
    let mut conn = server();
    let cut = 6 + "κόσμε".len() + 2; // up to and including F4 90
    let mut first = stream[..cut].to_vec();
    let failure = conn.handle_bytes(&mut first).unwrap_err();
    assert_eq!(failure.error, Error::InvalidUtf8);
}

#[test]
fn single_frame_messages_are_borrowed_from_the_input() {
    let mut stream = [
        client_frame(true, 1, b"hello"),
        client_frame(true, 2, &[1, 2, 3]),
    ]
    .concat();
    let range = stream.as_ptr_range();
    let mut conn = server();
    let progress = conn.handle_bytes(&mut stream[..]).unwrap();
    let consumed = progress.consumed;
    match progress.event {
        Some(Event::Text(Cow::Borrowed(text))) => {
            assert_eq!(text, "hello");
            assert!(range.contains(&text.as_ptr()));
        }
        other => panic!("{other:?}"),
    }
    let progress = conn.handle_bytes(&mut stream[consumed..]).unwrap();
    assert!(matches!(
        progress.event,
        Some(Event::Binary(Cow::Borrowed(&[1, 2, 3])))
    ));
    assert_eq!(conn.heap_bytes(), 0);
}

#[test]
fn fragmented_message_is_owned_and_memory_is_released() {
    let stream = [
        client_frame(false, 2, &[7; 1000]),
        client_frame(true, 0, &[8; 1000]),
    ]
    .concat();
    let mut conn = server();
    let mut input = stream.clone();
    let mut pos = 0;
    loop {
        let progress = conn.handle_bytes(&mut input[pos..]).unwrap();
        pos += progress.consumed;
        if let Some(event) = progress.event {
            assert!(matches!(event, Event::Binary(Cow::Owned(ref v)) if v.len() == 2000));
            break;
        }
        assert!(conn.heap_bytes() > 0);
    }
    assert_eq!(conn.heap_bytes(), 0, "idle connection owns no heap");
}

#[test]
fn partial_message_holds_memory_only_while_in_progress() {
    let mut conn = server();
    let mut first = client_frame(false, 2, &[1; 100]);
    let first_len = first.len();
    let progress = conn.handle_bytes(&mut first).unwrap();
    assert_eq!(
        progress.consumed, first_len,
        "the whole first fragment is taken"
    );
    assert!(
        progress.event.is_none(),
        "no event before the last fragment"
    );
    assert!(conn.heap_bytes() >= 100);
    let mut last = client_frame(true, 0, &[]);
    let progress = conn.handle_bytes(&mut last).unwrap();
    assert!(matches!(progress.event, Some(Event::Binary(ref v)) if v.len() == 100));
    assert_eq!(conn.heap_bytes(), 0);
}

/// Autobahn 9.3/9.4: 4 MiB in 64-byte fragments is accepted (no fragment cap), whether it
/// arrives in one buffer or in 4 KiB reads.
#[test]
fn four_mib_in_64_byte_fragments() {
    let total = 4 << 20;
    let count = total / 64;
    let mut stream = Vec::with_capacity(total + count * 6);
    for i in 0..count {
        let opcode = if i == 0 { 1 } else { 0 };
        stream.extend(client_frame(i == count - 1, opcode, &[b'x'; 64]));
    }
    let (events, error) = decode_all(&mut server(), &stream);
    assert_eq!(error, None);
    assert!(matches!(&events[..], [Owned::Text(t)] if t.len() == total));
    let cuts: Vec<usize> = (1..stream.len() / 4096 + 1).map(|i| i * 4096).collect();
    let (events, error) = decode_chunks(&mut server(), &stream, &cuts);
    assert_eq!(error, None);
    assert!(matches!(&events[..], [Owned::Text(t)] if t.len() == total));
}

#[test]
fn message_exactly_at_the_limits_is_accepted() {
    let mut config = Config::default();
    config.max_frame_size = 8;
    config.max_message_size = 16;
    let stream = [
        client_frame(false, 2, &[1; 8]),
        client_frame(true, 0, &[2; 8]),
    ]
    .concat();
    let (events, error) = decode_all(&mut Connection::new(Role::Server, config), &stream);
    assert_eq!(error, None);
    assert_eq!(events, vec![Owned::Binary([[1; 8], [2; 8]].concat())]);
}

#[test]
fn empty_messages_and_empty_fragments() {
    let stream = [
        client_frame(true, 1, b""),
        client_frame(true, 2, b""),
        client_frame(false, 1, b""),
        client_frame(false, 0, b""),
        client_frame(true, 0, b""),
    ]
    .concat();
    let (events, error) = decode_all(&mut server(), &stream);
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            Owned::Text(String::new()),
            Owned::Binary(vec![]),
            Owned::Text(String::new())
        ]
    );
}

#[test]
fn is_idle_only_between_whole_frames() {
    let mut conn = server();
    assert!(conn.is_idle());
    let frame = client_frame(true, 2, b"abc");
    // A partial header, then a partial payload: not idle, no heap for the header.
    let mut head = frame[..1].to_vec();
    assert_eq!(conn.handle_bytes(&mut head).unwrap().event, None);
    assert!(!conn.is_idle());
    assert_eq!(conn.heap_bytes(), 0);
    let mut middle = frame[1..8].to_vec();
    assert_eq!(conn.handle_bytes(&mut middle).unwrap().event, None);
    assert!(!conn.is_idle());
    let mut tail = frame[8..].to_vec();
    assert!(conn.handle_bytes(&mut tail).unwrap().event.is_some());
    assert!(conn.is_idle());
    conn.encode_header(switchyard_frame::OpCode::Text, false, 1)
        .unwrap();
    assert!(!conn.is_idle(), "a fragmented message is being sent");
}
