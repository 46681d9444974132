//! Property tests: every split of a valid head parses the same as the whole, every strict
//! prefix of a head is `Partial`, and the bytes after the head are handed on intact.

use proptest::prelude::*;
use switchyard_handshake::*;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Parsed {
    method: String,
    target: String,
    version: Version,
    headers: Vec<(String, Vec<u8>)>,
    head_len: usize,
    keep_alive: bool,
    body: Body,
}

fn own(request: &Request<'_>) -> Parsed {
    Parsed {
        method: request.method().into(),
        target: request.target().into(),
        version: request.version(),
        headers: request
            .headers()
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect(),
        head_len: request.head_len(),
        keep_alive: request.keep_alive(),
        body: request.body(),
    }
}

/// Parses `bytes` delivered in pieces ending at `cuts` (sorted), the way a server grows its
/// buffer; returns the request and the leftover seen at completion, or the error.
fn parse_in_pieces(bytes: &[u8], cuts: &[usize]) -> Result<(Parsed, Vec<u8>), HandshakeError> {
    let mut parser = RequestParser::default();
    for &end in cuts.iter().chain(std::iter::once(&bytes.len())) {
        let mut headers = [EMPTY_HEADER; DEFAULT_MAX_HEADERS];
        if let Status::Complete(request) = parser.parse(&bytes[..end], &mut headers)? {
            return Ok((own(&request), request.leftover().to_vec()));
        }
    }
    panic!("never complete")
}

fn request_strategy() -> impl Strategy<Value = (Vec<u8>, usize)> {
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]);
    let target = "/[a-zA-Z0-9._~/-]{0,20}(\\?[a-z0-9=&]{0,12})?";
    let version = prop::sample::select(vec!["HTTP/1.0", "HTTP/1.1"]);
    let name = "X-[A-Za-z0-9-]{1,12}";
    let value = "[!-~]([ -~]{0,30}[!-~])?";
    let headers = prop::collection::vec((name, value), 0..12);
    let newline = prop::sample::select(vec!["\r\n", "\n"]);
    (method, target, version, headers, newline).prop_map(
        |(method, target, version, headers, nl)| {
            let mut head = format!("{method} {target} {version}{nl}Host: example.com:8080{nl}");
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}{nl}"));
            }
            head.push_str(nl);
            let len = head.len();
            (head.into_bytes(), len)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_split_parses_identically(
        (head, head_len) in request_strategy(),
        leftover in prop::collection::vec(any::<u8>(), 0..40),
        raw_cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut bytes = head.clone();
        bytes.extend_from_slice(&leftover);
        let (whole, whole_leftover) = parse_in_pieces(&bytes, &[]).unwrap();
        prop_assert_eq!(whole.head_len, head_len);
        prop_assert_eq!(&whole_leftover, &leftover);

        let mut cuts: Vec<usize> = raw_cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let (split, split_leftover) = parse_in_pieces(&bytes, &cuts).unwrap();
        prop_assert_eq!(&split, &whole);
        // Completion comes with the first piece that holds the blank line; the leftover is
        // exactly what that buffer held beyond the head.
        let completing_end = cuts.iter().copied().find(|&c| c >= head_len).unwrap_or(bytes.len());
        prop_assert_eq!(&split_leftover[..], &bytes[head_len..completing_end]);
    }

    #[test]
    fn every_strict_prefix_is_partial((head, head_len) in request_strategy()) {
        let mut parser = RequestParser::default();
        for end in 0..head_len {
            let mut headers = [EMPTY_HEADER; DEFAULT_MAX_HEADERS];
            prop_assert!(parser.parse(&head[..end], &mut headers).unwrap().is_partial());
        }
        // A fresh parser agrees on each prefix too (no state needed for the answer).
        for end in 0..head_len {
            let mut headers = [EMPTY_HEADER; DEFAULT_MAX_HEADERS];
            prop_assert!(RequestParser::default().parse(&head[..end], &mut headers).unwrap().is_partial());
        }
    }

    #[test]
    fn every_one_byte_split_of_an_upgrade_decides_identically(split in 0usize..600) {
        let raw = CHROMIUM.as_bytes();
        let split = split.min(raw.len());
        let acceptor = Acceptor::new();
        let whole = decide(&acceptor, raw, &[]);
        prop_assert_eq!(&decide(&acceptor, raw, &[split]), &whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(bytes.len() + 1);
        let acceptor = Acceptor::new();
        let mut parser = acceptor.parser();
        let mut out = [0u8; 1024];
        for end in [cut, bytes.len()] {
            let mut headers = [EMPTY_HEADER; 16];
            if let Ok(Status::Complete(_)) = acceptor.accept(&mut parser, &bytes[..end], &mut headers, &mut out) {
                break;
            }
        }
    }

    #[test]
    fn every_split_of_a_101_verifies_identically(cut in 0usize..200, frame in prop::collection::vec(any::<u8>(), 0..20)) {
        let key = WebSocketKey::from_nonce(*b"0123456789abcdef");
        let mut response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            key.accept().as_str()
        ).into_bytes();
        let head_len = response.len();
        response.extend_from_slice(&frame);
        let cut = cut.min(head_len - 1);
        let mut client = ClientHandshake::new(ClientRequest::new("h", "/"), key).unwrap();
        let mut headers = [EMPTY_HEADER; 8];
        prop_assert!(client.read_response(&response[..cut], &mut headers).unwrap().is_partial());
        let mut headers = [EMPTY_HEADER; 8];
        let accepted = client.read_response(&response, &mut headers).unwrap().complete().unwrap();
        prop_assert_eq!(accepted.head_len, head_len);
        prop_assert_eq!(accepted.leftover, &frame[..]);
    }
}

const CHROMIUM: &str = "GET /chat HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: Upgrade\r\nPragma: no-cache\r\n\
Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
Chrome/131.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\nOrigin: http://127.0.0.1:8080\r\nSec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\nSec-WebSocket-Key: 8VpXgk3jqZ0bYvTQW1nN3g==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

/// The response bytes of the decision, feeding `raw` cut at `cuts`.
fn decide(acceptor: &Acceptor, raw: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut parser = acceptor.parser();
    let mut out = [0u8; 1024];
    for &end in cuts.iter().chain(std::iter::once(&raw.len())) {
        let mut headers = [EMPTY_HEADER; 32];
        match acceptor
            .accept(&mut parser, &raw[..end], &mut headers, &mut out)
            .unwrap()
        {
            Status::Partial => continue,
            Status::Complete(Decision::Switch(s)) => return s.response.to_vec(),
            Status::Complete(other) => panic!("{other:?}"),
        }
    }
    panic!("never complete")
}
