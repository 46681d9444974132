//! Every rule a peer can break, with the close code it earns and the close frame we send.

mod common;

use std::num::NonZeroU32;

use common::{client_frame, frame, MASK};
use switchyard_frame::{CloseCode, CloseState, Config, Connection, Error, Failure, Role};

/// Feeds `stream` in one buffer and returns the failure it must end in.
fn failure(role: Role, config: Config, stream: &[u8]) -> Failure {
    let mut conn = Connection::new(role, config);
    let mut input = stream.to_vec();
    let mut pos = 0;
    loop {
        match conn.handle_bytes(&mut input[pos..]) {
            Ok(progress) => {
                pos += progress.consumed;
                assert!(
                    progress.event.is_some() || pos < stream.len(),
                    "stream ended without failure"
                );
            }
            Err(failure) => {
                assert_eq!(conn.state(), CloseState::Closed);
                assert_eq!(conn.heap_bytes(), 0);
                return failure;
            }
        }
    }
}

/// Asserts the error, its close code, and that the server's close frame carries that code.
fn expect(stream: &[u8], role: Role, config: Config, error: Error, code: u16) {
    let failure = failure(role, config, stream);
    assert_eq!(failure.error, error);
    assert_eq!(failure.error.close_code(), CloseCode(code));
    let frame = failure.close_frame.expect("close frame to send");
    let payload_at = if role == Role::Client { 6 } else { 2 };
    assert_eq!(frame[0], 0x88);
    let mut body = frame[payload_at..].to_vec();
    if role == Role::Client {
        switchyard_frame::mask::apply_mask(&mut body, [frame[2], frame[3], frame[4], frame[5]]);
    }
    assert_eq!(u16::from_be_bytes([body[0], body[1]]), code);
    assert_eq!(&body[2..], error.reason().as_bytes());
}

fn server(stream: &[u8], error: Error, code: u16) {
    expect(stream, Role::Server, Config::default(), error, code);
}

#[test]
fn rsv2_and_rsv3_are_1002() {
    server(
        &frame(true, 0b010, 2, MASK, b"x"),
        Error::ReservedBitsSet,
        1002,
    );
    server(
        &frame(true, 0b001, 2, MASK, b"x"),
        Error::ReservedBitsSet,
        1002,
    );
}

#[test]
fn rsv1_without_extension_is_1002() {
    server(
        &frame(true, 0b100, 1, MASK, b"x"),
        Error::Rsv1WithoutExtension,
        1002,
    );
}

#[test]
fn reserved_opcodes_are_1002() {
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        server(
            &client_frame(true, op, b""),
            Error::ReservedOpcode(op),
            1002,
        );
    }
}

#[test]
fn unmasked_client_frame_is_1002() {
    server(
        &frame(true, 0, 1, None, b"hi"),
        Error::UnmaskedFrameFromClient,
        1002,
    );
}

#[test]
fn masked_server_frame_is_1002_in_client_role() {
    expect(
        &frame(true, 0, 1, MASK, b"hi"),
        Role::Client,
        Config::default(),
        Error::MaskedFrameFromServer,
        1002,
    );
}

#[test]
fn length_top_bit_is_1002() {
    server(
        &[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4],
        Error::LengthMsbSet,
        1002,
    );
}

#[test]
fn non_minimal_length_is_1002() {
    server(
        &[0x82, 0xFE, 0x00, 0x05, 1, 2, 3, 4],
        Error::NonMinimalLength,
        1002,
    );
}

#[test]
fn control_frame_over_125_is_1002() {
    let mut stream = vec![0x89, 0xFE, 0x00, 126, 1, 2, 3, 4];
    stream.extend([0; 126]);
    server(&stream, Error::ControlFrameTooLong(126), 1002);
}

#[test]
fn fragmented_control_frame_is_1002() {
    server(
        &client_frame(false, 9, b"x"),
        Error::FragmentedControlFrame,
        1002,
    );
}

#[test]
fn continuation_without_message_is_1002() {
    server(
        &client_frame(true, 0, b"x"),
        Error::UnexpectedContinuation,
        1002,
    );
}

#[test]
fn new_message_inside_fragmented_message_is_1002() {
    let stream = [client_frame(false, 1, b"a"), client_frame(true, 1, b"b")].concat();
    server(&stream, Error::ExpectedContinuation, 1002);
}

#[test]
fn one_byte_close_payload_is_1002() {
    server(
        &client_frame(true, 8, &[0x03]),
        Error::CloseFrameTooShort,
        1002,
    );
}

#[test]
fn invalid_close_codes_are_1002() {
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let stream = client_frame(true, 8, &code.to_be_bytes());
        server(&stream, Error::InvalidCloseCode(code), 1002);
    }
}

#[test]
fn invalid_utf8_text_is_1007_in_single_and_fragmented_messages() {
    server(
        &client_frame(true, 1, &[0xC0, 0x80]),
        Error::InvalidUtf8,
        1007,
    );
    let stream = [
        client_frame(false, 1, b"ok"),
        client_frame(true, 0, &[0xFF]),
    ]
    .concat();
    server(&stream, Error::InvalidUtf8, 1007);
    // Truncated sequence at the end of the message.
    let stream = [
        client_frame(false, 1, b"ok"),
        client_frame(true, 0, &[0xE2, 0x82]),
    ]
    .concat();
    server(&stream, Error::InvalidUtf8, 1007);
}

#[test]
fn invalid_utf8_close_reason_is_1007() {
    server(
        &client_frame(true, 8, &[0x03, 0xE8, 0xFF]),
        Error::InvalidCloseReason,
        1007,
    );
}

#[test]
fn frame_over_limit_is_1009_at_the_header() {
    let mut config = Config::default();
    config.max_frame_size = 10;
    // Only the header is sent: the limit fires before any payload arrives.
    let header = &client_frame(true, 2, &[0; 11])[..6];
    expect(
        header,
        Role::Server,
        config,
        Error::FrameTooLarge { len: 11, max: 10 },
        1009,
    );
}

#[test]
fn message_over_limit_is_1009_at_the_fragment_that_crosses_it() {
    let mut config = Config::default();
    config.max_message_size = 10;
    let stream = [
        client_frame(false, 2, &[0; 6]),
        client_frame(true, 0, &[0; 5]),
    ]
    .concat();
    expect(
        &stream,
        Role::Server,
        config,
        Error::MessageTooLarge { max: 10 },
        1009,
    );
}

#[test]
fn too_many_fragments_is_1008_when_the_policy_is_set() {
    let mut config = Config::default();
    config.max_fragments_per_message = NonZeroU32::new(2);
    let stream = [
        client_frame(false, 2, b"a"),
        client_frame(false, 0, b"b"),
        client_frame(true, 0, b"c"),
    ]
    .concat();
    expect(
        &stream,
        Role::Server,
        config,
        Error::TooManyFragments { max: 2 },
        1008,
    );
}

#[test]
fn errors_are_detected_under_every_split() {
    // The failing frame is cut at every point: same error each time.
    let stream = [
        client_frame(false, 1, "κό".as_bytes()),
        client_frame(true, 0, &[0xCF, 0xFF]),
    ]
    .concat();
    for cut in 0..stream.len() {
        let mut conn = Connection::new(Role::Server, Config::default());
        let (events, error) = common::decode_chunks(&mut conn, &stream, &[cut]);
        assert!(events.is_empty());
        assert_eq!(error, Some(Error::InvalidUtf8), "cut {cut}");
    }
}

#[test]
fn after_our_close_a_failure_sends_no_second_close() {
    let mut conn = Connection::new(Role::Server, Config::default());
    conn.encode_close(Some(CloseCode::GOING_AWAY), "bye")
        .unwrap();
    let mut input = frame(true, 0, 1, None, b"x");
    let failure = conn.handle_bytes(&mut input).unwrap_err();
    assert_eq!(failure.error, Error::UnmaskedFrameFromClient);
    assert_eq!(failure.close_frame, None);
}
