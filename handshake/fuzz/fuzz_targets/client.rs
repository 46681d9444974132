//! The client's check of a server answer, and the generic response parser, over arbitrary
//! bytes fed in two pieces: never a panic, and the split never changes the verdict.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_handshake::*;

fn verdict(data: &[u8], cut: usize) -> Option<Result<(usize, Option<String>, usize), ClientError>> {
    let request = ClientRequest::new("h", "/")
        .subprotocols(&["chat", "superchat"])
        .extensions("permessage-deflate; client_max_window_bits, x-foo");
    let mut client = ClientHandshake::new(request, WebSocketKey::from_nonce(*b"the sample nonce")).unwrap();
    for end in [cut, data.len()] {
        let mut headers = [EMPTY_HEADER; 16];
        match client.read_response(&data[..end], &mut headers) {
            Ok(Status::Partial) => continue,
            Ok(Status::Complete(accepted)) => {
                assert_eq!(accepted.leftover, &data[accepted.head_len..end]);
                let extensions = accepted.extensions.clone().flat_map(|e| e.params()).count();
                return Some(Ok((accepted.head_len, accepted.subprotocol.map(str::to_string), extensions)));
            }
            Err(e) => return Some(Err(e)),
        }
    }
    None
}

fuzz_target!(|input: &[u8]| {
    let Some((&first, data)) = input.split_first() else { return };
    let cut = usize::from(first).min(data.len());
    assert_eq!(verdict(data, data.len()), verdict(data, cut), "split at {cut}");

    let mut parser = ResponseParser::new(1024);
    let mut headers = [EMPTY_HEADER; 16];
    if let Ok(Status::Complete(response)) = parser.parse(data, &mut headers) {
        assert_eq!(response.leftover(), &data[response.head_len()..]);
    }
});
