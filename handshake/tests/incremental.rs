//! A head that arrives in pieces is scanned once: each call to the parser looks only at the
//! bytes appended since the previous one (a slow client cannot make the server do quadratic
//! work).

use switchyard_handshake::{Limits, RequestParser, Status, EMPTY_HEADER};

const HEAD: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn a_head_fed_one_byte_at_a_time_is_scanned_in_linear_total_work() {
    let mut parser = RequestParser::new(Limits::default());
    for end in 1..HEAD.len() {
        let mut headers = [EMPTY_HEADER; 16];
        let status = parser.parse(&HEAD[..end], &mut headers).unwrap();
        assert!(matches!(status, Status::Partial), "prefix of {end} bytes");
        assert_eq!(parser.bytes_scanned(), end as u64);
    }
    let mut headers = [EMPTY_HEADER; 16];
    let status = parser.parse(HEAD, &mut headers).unwrap();
    assert!(matches!(status, Status::Complete(r) if r.head_len() == HEAD.len()));
    assert_eq!(parser.bytes_scanned(), HEAD.len() as u64);
}

#[test]
fn a_fresh_parser_per_read_would_scan_quadratically() {
    // What the server did before it kept its parser: the count makes the difference visible.
    let mut total = 0;
    for end in 1..=HEAD.len() {
        let mut parser = RequestParser::new(Limits::default());
        let mut headers = [EMPTY_HEADER; 16];
        let _ = parser.parse(&HEAD[..end], &mut headers).unwrap();
        total += parser.bytes_scanned();
    }
    let n = HEAD.len() as u64;
    assert_eq!(total, n * (n + 1) / 2);
}

#[test]
fn the_count_goes_on_across_pipelined_heads() {
    let mut parser = RequestParser::new(Limits::default());
    let two = [HEAD, HEAD].concat();
    let mut headers = [EMPTY_HEADER; 16];
    let first = match parser.parse(&two, &mut headers).unwrap() {
        Status::Complete(r) => r.head_len(),
        Status::Partial => panic!("a whole head"),
    };
    assert_eq!(parser.bytes_scanned(), HEAD.len() as u64);
    let mut headers = [EMPTY_HEADER; 16];
    assert!(matches!(
        parser.parse(&two[first..], &mut headers).unwrap(),
        Status::Complete(_)
    ));
    assert_eq!(parser.bytes_scanned(), 2 * HEAD.len() as u64);
}
