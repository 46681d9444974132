//! RFC 9112 rules for every request head, one test per rule.

mod common;
use common::*;
use switchyard_handshake::*;

fn error_of(raw: &str) -> HandshakeError {
    let mut parser = RequestParser::default();
    let mut headers = [EMPTY_HEADER; DEFAULT_MAX_HEADERS];
    match parser.parse(raw.as_bytes(), &mut headers) {
        Err(e) => e,
        Ok(s) => panic!("expected an error for {raw:?}, got {s:?}"),
    }
}

fn parses(raw: &str) -> (String, String, Version, usize, bool, Body) {
    let mut parser = RequestParser::default();
    let mut headers = [EMPTY_HEADER; DEFAULT_MAX_HEADERS];
    match parser.parse(raw.as_bytes(), &mut headers) {
        Ok(Status::Complete(r)) => (
            r.method().into(),
            r.target().into(),
            r.version(),
            r.headers().len(),
            r.keep_alive(),
            r.body(),
        ),
        other => panic!("expected a request for {raw:?}, got {other:?}"),
    }
}

#[test]
fn partial_until_the_blank_line_then_head_and_consumed_bytes() {
    let raw = "GET /a?b=1 HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut parser = RequestParser::default();
    for end in 0..raw.len() {
        let mut headers = [EMPTY_HEADER; 4];
        assert_eq!(
            parser
                .parse(&raw.as_bytes()[..end], &mut headers)
                .map(|s| s.is_partial()),
            Ok(true)
        );
    }
    let mut headers = [EMPTY_HEADER; 4];
    let request = parser
        .parse(raw.as_bytes(), &mut headers)
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(request.head_len(), raw.len());
    assert_eq!(
        (request.method(), request.path(), request.query()),
        ("GET", "/a", Some("b=1"))
    );
    assert_eq!(request.host(), Some(&b"h"[..]));
}

#[test]
fn bytes_after_the_head_are_handed_on() {
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    let mut headers = [EMPTY_HEADER; 4];
    let request = RequestParser::default()
        .parse(raw, &mut headers)
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(
        request.leftover(),
        &raw[27..],
        "RFC 6455 5.7's masked \"Hello\" frame survives"
    );
}

#[test]
fn one_byte_pieces_parse_like_one_piece() {
    // Fed a byte at a time, the decision comes with the byte that ends the head, so no
    // leftover yet: compare against the head alone. (The proptest in tests/splits.rs covers
    // leftovers with every split.)
    let acceptor = Acceptor::new();
    let raw = CHROMIUM_REQUEST.as_bytes();
    assert_eq!(run_in_steps(&acceptor, raw, 1), run(&acceptor, raw));
    assert_eq!(run_in_steps(&acceptor, raw, 7), run(&acceptor, raw));
    let plain = b"GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    assert_eq!(run_in_steps(&acceptor, plain, 1), run(&acceptor, plain));
}

#[test]
fn leading_empty_lines_are_ignored_rfc9112_2_2() {
    assert_eq!(parses("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n").0, "GET");
}

#[test]
fn bare_lf_line_endings_are_accepted_rfc9112_2_2() {
    assert_eq!(parses("GET / HTTP/1.1\nHost: h\n\n").3, 1);
}

#[test]
fn head_larger_than_8_kib_is_431() {
    let filler = "a".repeat(8192);
    let raw = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {filler}");
    let error = error_of(&raw);
    assert_eq!(error, HandshakeError::HeadTooLarge { limit: 8192 });
    assert_eq!(error.status(), 431);
    // The same head complete but too long is refused as well.
    assert_eq!(error_of(&format!("{raw}\r\n\r\n")).status(), 431);
    // Just under the limit is fine.
    let fits = 8192 - "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n".len();
    parses(&format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
        "a".repeat(fits)
    ));
}

#[test]
fn head_limit_is_configurable() {
    let mut parser = RequestParser::new(Limits::default().max_head_bytes(20));
    let mut headers = [EMPTY_HEADER; 4];
    let error = parser
        .parse(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", &mut headers)
        .unwrap_err();
    assert_eq!(error, HandshakeError::HeadTooLarge { limit: 20 });
}

#[test]
fn too_many_headers_is_431() {
    let fields: String = (0..65).map(|i| format!("X-{i}: v\r\n")).collect();
    let raw = format!("GET / HTTP/1.1\r\nHost: h\r\n{fields}\r\n");
    let error = error_of(&raw);
    assert_eq!(error, HandshakeError::TooManyHeaders { limit: 64 });
    assert_eq!(error.status(), 431);
    // Smaller storage is the limit too.
    let mut headers = [EMPTY_HEADER; 2];
    let error = RequestParser::default()
        .parse(
            b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n",
            &mut headers,
        )
        .unwrap_err();
    assert_eq!(error, HandshakeError::TooManyHeaders { limit: 2 });
    let mut parser = RequestParser::new(Limits::default().max_headers(1));
    let mut headers = [EMPTY_HEADER; 8];
    let error = parser
        .parse(b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n", &mut headers)
        .unwrap_err();
    assert_eq!(error, HandshakeError::TooManyHeaders { limit: 1 });
}

#[test]
fn malformed_request_line_is_400() {
    for raw in [
        "GET /\r\nHost: h\r\n\r\n",
        "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
        "G@T / HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n",
        "GET / FTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        assert_eq!(
            error_of(raw),
            HandshakeError::MalformedRequestLine,
            "{raw:?}"
        );
        assert_eq!(error_of(raw).status(), 400);
    }
}

#[test]
fn other_http_versions_are_505() {
    for raw in [
        "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
        "GET / HTTP/3.0\r\nHost: h\r\n\r\n",
        "GET / HTTP/0.9\r\nHost: h\r\n\r\n",
        "GET / HTTP/9.1\r\nHost: h\r\n\r\n",
    ] {
        assert_eq!(
            error_of(raw),
            HandshakeError::UnsupportedHttpVersion,
            "{raw:?}"
        );
        assert_eq!(error_of(raw).status(), 505);
    }
}

/// RFC 9110 section 2.5: "A recipient that receives a message with a major version number that
/// it implements and a minor version number higher than what it implements SHOULD process the
/// message as if it were in the highest minor version within that major version to which the
/// recipient is conformant."
#[test]
fn later_minor_version_is_read_as_1_1_rfc9110_2_5() {
    for version in ["HTTP/1.2", "HTTP/1.5", "HTTP/1.9"] {
        let raw = format!("GET /a?b=1 {version}\r\nHost: h\r\nX-A: 1\r\n\r\nrest");
        assert_eq!(
            parses(&raw),
            (
                "GET".into(),
                "/a?b=1".into(),
                Version::Http11,
                2,
                true,
                Body::None
            ),
            "{raw:?}"
        );
        let mut parser = RequestParser::default();
        let mut headers = [EMPTY_HEADER; 8];
        let request = parser
            .parse(raw.as_bytes(), &mut headers)
            .unwrap()
            .complete()
            .unwrap();
        assert_eq!(request.head_len(), raw.len() - 4);
        assert_eq!(request.leftover(), b"rest");
        assert_eq!(request.header("x-a"), Some(&b"1"[..]));
    }
    // Bare LF line ends and empty lines before the request line, as for HTTP/1.1.
    assert_eq!(
        parses("\r\n\nPOST /p HTTP/1.3\nHost: h\nContent-Length: 3\nConnection: close\n\n"),
        (
            "POST".into(),
            "/p".into(),
            Version::Http11,
            3,
            false,
            Body::Length(3)
        )
    );
}

#[test]
fn later_minor_version_follows_every_http_1_1_rule() {
    // Host is required of 1.1, so of 1.2.
    assert_eq!(
        error_of("GET / HTTP/1.2\r\n\r\n"),
        HandshakeError::MissingHost
    );
    assert_eq!(
        error_of("GET / HTTP/1.2\r\nHost: h\r\nNo colon here\r\n\r\n"),
        HandshakeError::MalformedHeader
    );
    assert_eq!(
        error_of("GET / HTTP/1.2\r\nHost: h\r\nX: a\r\n  b\r\n\r\n"),
        HandshakeError::ObsoleteLineFolding
    );
    assert_eq!(
        error_of("GET / HTTP/1.2\r\n Host: h\r\n\r\n"),
        HandshakeError::ObsoleteLineFolding
    );
    assert_eq!(
        error_of("GET / HTTP/1.2\r\nHost : h\r\n\r\n"),
        HandshakeError::WhitespaceBeforeColon
    );
    assert_eq!(
        error_of(
            "GET / HTTP/1.2\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"
        ),
        HandshakeError::ConflictingFraming
    );
    let mut parser = RequestParser::default();
    let mut headers = [EMPTY_HEADER; 2];
    assert_eq!(
        parser
            .parse(
                b"GET / HTTP/1.2\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n",
                &mut headers
            )
            .unwrap_err(),
        HandshakeError::TooManyHeaders { limit: 2 }
    );
}

/// RFC 9112 section 2.3: `HTTP-version = HTTP-name "/" DIGIT "." DIGIT`; anything else on the
/// request line is malformed (400), not an unsupported version.
#[test]
fn malformed_versions_are_400() {
    for raw in [
        "GET / HTTP/1.10\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.x\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.2 \r\nHost: h\r\n\r\n",
        "GET / HTTP/1.2\rX\r\nHost: h\r\n\r\n",
        "GET / HTTP/12.0\r\nHost: h\r\n\r\n",
        "GET / http/1.2\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.2/\r\nHost: h\r\n\r\n",
    ] {
        let error = error_of(raw);
        assert_eq!(error.status(), 400, "{raw:?}: {error:?}");
    }
}

#[test]
fn every_prefix_of_a_later_minor_version_head_is_partial() {
    let raw = b"GET / HTTP/1.2\r\nHost: h\r\n\r\n";
    for end in 0..raw.len() {
        let mut parser = RequestParser::default();
        let mut headers = [EMPTY_HEADER; 4];
        assert!(
            matches!(parser.parse(&raw[..end], &mut headers), Ok(Status::Partial)),
            "{end}"
        );
    }
}

#[test]
fn websocket_upgrade_over_http_1_2_switches() {
    let raw = ws_request("").replacen("HTTP/1.1", "HTTP/1.2", 1);
    let outcome = run(&Acceptor::new(), raw.as_bytes());
    assert_eq!(outcome.status(), 101, "{outcome:?}");
    assert!(
        outcome.response().starts_with("HTTP/1.1 101 "),
        "{outcome:?}"
    );
}

#[test]
fn malformed_header_is_400() {
    for raw in [
        "GET / HTTP/1.1\r\nHost: h\r\nNo colon here\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX\x01: a\r\n\r\n",
    ] {
        assert_eq!(error_of(raw), HandshakeError::MalformedHeader, "{raw:?}");
        assert_eq!(error_of(raw).status(), 400);
    }
}

#[test]
fn obsolete_line_folding_is_400_rfc9112_5_2() {
    let raw = "GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n  b\r\n\r\n";
    assert_eq!(error_of(raw), HandshakeError::ObsoleteLineFolding);
    // Whitespace between the request line and the first field (RFC 9112 section 2.2).
    assert_eq!(
        error_of("GET / HTTP/1.1\r\n Host: h\r\n\r\n"),
        HandshakeError::ObsoleteLineFolding
    );
    assert_eq!(
        error_of("GET / HTTP/1.1\r\n\tHost: h\r\n\r\n").status(),
        400
    );
}

#[test]
fn bare_cr_is_400_rfc9112_2_2() {
    assert_eq!(
        error_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"),
        HandshakeError::BareCarriageReturn
    );
    assert_eq!(
        error_of("GET / HTTP/1.1\rHost: h\r\n\r\n"),
        HandshakeError::BareCarriageReturn
    );
}

#[test]
fn nul_is_400_rfc9110_5_5() {
    assert_eq!(
        error_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"),
        HandshakeError::NulInHead
    );
    assert_eq!(
        error_of("GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n"),
        HandshakeError::NulInHead
    );
    assert_eq!(
        error_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n").status(),
        400
    );
}

#[test]
fn whitespace_before_colon_is_400_rfc9112_5_1() {
    assert_eq!(
        error_of("GET / HTTP/1.1\r\nHost : h\r\n\r\n"),
        HandshakeError::WhitespaceBeforeColon
    );
    assert_eq!(
        error_of("GET / HTTP/1.1\r\nHost: h\r\nX\t: a\r\n\r\n"),
        HandshakeError::WhitespaceBeforeColon
    );
}

#[test]
fn missing_host_in_http11_is_400_rfc9112_3_2() {
    assert_eq!(
        error_of("GET / HTTP/1.1\r\nX: a\r\n\r\n"),
        HandshakeError::MissingHost
    );
    assert_eq!(
        parses("GET / HTTP/1.0\r\n\r\n").2,
        Version::Http10,
        "HTTP/1.0 needs no Host"
    );
}

#[test]
fn duplicate_host_is_400_rfc9112_3_2() {
    assert_eq!(
        error_of("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
        HandshakeError::DuplicateHost
    );
    assert_eq!(
        error_of("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n").status(),
        400
    );
}

#[test]
fn invalid_host_is_400() {
    for host in ["a b", "a/b", "user@a", "a?b"] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(error_of(&raw), HandshakeError::InvalidHost, "{host}");
    }
    for host in [
        "",
        "example.com",
        "example.com:8080",
        "[::1]:80",
        "127.0.0.1",
    ] {
        parses(&format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"));
    }
}

#[test]
fn body_framing_rfc9112_6() {
    let base = "POST / HTTP/1.1\r\nHost: h\r\n";
    assert_eq!(
        parses(&format!("{base}Content-Length: 5\r\n\r\n")).5,
        Body::Length(5)
    );
    assert_eq!(
        parses(&format!(
            "{base}Content-Length: 5\r\nContent-Length: 5\r\n\r\n"
        ))
        .5,
        Body::Length(5)
    );
    assert_eq!(
        parses(&format!("{base}Content-Length: 0\r\n\r\n")).5,
        Body::None
    );
    assert_eq!(
        parses(&format!("{base}Transfer-Encoding: chunked\r\n\r\n")).5,
        Body::Chunked
    );
    for bad in [
        "Content-Length: -1",
        "Content-Length: 1x",
        "Content-Length: 5\r\nContent-Length: 6",
        "Content-Length: 5, 6",
        "Content-Length: 99999999999999999999",
        "Content-Length:",
    ] {
        assert_eq!(
            error_of(&format!("{base}{bad}\r\n\r\n")),
            HandshakeError::InvalidContentLength,
            "{bad}"
        );
    }
    assert_eq!(
        error_of(&format!(
            "{base}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        )),
        HandshakeError::ConflictingFraming
    );
    let gzip = error_of(&format!("{base}Transfer-Encoding: gzip\r\n\r\n"));
    assert_eq!(
        (gzip, gzip.status()),
        (HandshakeError::UnsupportedTransferCoding, 501)
    );
    assert_eq!(
        error_of(&format!(
            "{base}Transfer-Encoding: chunked, chunked\r\n\r\n"
        )),
        HandshakeError::UnsupportedTransferCoding
    );
    assert_eq!(
        error_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        HandshakeError::TransferEncodingInHttp10
    );
}

#[test]
fn keep_alive_rfc9112_9_3() {
    assert!(parses("GET / HTTP/1.1\r\nHost: h\r\n\r\n").4);
    assert!(!parses("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n").4);
    assert!(!parses("GET / HTTP/1.0\r\n\r\n").4);
    assert!(parses("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").4);
}

#[test]
fn parser_is_ready_for_the_next_request_after_complete() {
    let raw = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut parser = RequestParser::default();
    let mut headers = [EMPTY_HEADER; 4];
    let first = parser.parse(raw, &mut headers).unwrap().complete().unwrap();
    let consumed = first.head_len();
    assert_eq!(first.path(), "/1");
    let mut headers = [EMPTY_HEADER; 4];
    let second = parser
        .parse(&raw[consumed..], &mut headers)
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(second.path(), "/2");
    assert_eq!(second.leftover(), b"");
}

#[test]
fn header_values_are_trimmed_and_lists_merge() {
    let mut headers = [EMPTY_HEADER; 8];
    let raw = b"GET / HTTP/1.1\r\nHost:  h  \r\nAccept: a,  b\r\naccept: ,c\r\n\r\n";
    let request = RequestParser::default()
        .parse(raw, &mut headers)
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(request.header("HOST"), Some(&b"h"[..]));
    assert_eq!(
        request.list("accept").collect::<Vec<_>>(),
        [&b"a"[..], b"b", b"c"]
    );
}

#[test]
fn parse_errors_become_rejections_with_their_status() {
    let acceptor = Acceptor::new();
    let outcome = run(&acceptor, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    assert_eq!(outcome.error(), Some(HandshakeError::DuplicateHost));
    assert!(outcome
        .response()
        .starts_with("HTTP/1.1 400 Bad Request\r\n"));
    assert!(outcome.response().contains("Connection: close\r\n"));
    assert!(outcome
        .response()
        .ends_with("\r\n\r\nmore than one Host field\n"));
    let mut out = [0u8; 256];
    let n = write_rejection(&HandshakeError::HeadTooLarge { limit: 8192 }, &mut out).unwrap();
    assert!(out[..n].starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"));
}
