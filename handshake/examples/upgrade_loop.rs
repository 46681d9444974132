//! Runs the Chromium upgrade (parse, negotiate, write the 101) N times, for counting cycles and
//! instructions per upgrade with `perf stat`, which, unlike wall time, a busy shared machine
//! barely disturbs:
//!
//! `perf stat -e cycles:u,instructions:u target/release/examples/upgrade_loop 1000000`

use std::hint::black_box;
use switchyard_handshake::*;

const CHROMIUM: &[u8] = b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: Upgrade\r\nPragma: no-cache\r\n\
Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
Chrome/131.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\nOrigin: http://127.0.0.1:8080\r\nSec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\nSec-WebSocket-Key: 8VpXgk3jqZ0bYvTQW1nN3g==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let only = std::env::args().nth(2).unwrap_or_default();
    let acceptor = Acceptor::new();
    let mut out = [0u8; 1024];
    let mut total = 0usize;
    let started = std::time::Instant::now();
    for _ in 0..n {
        let mut headers = [EMPTY_HEADER; 32];
        let mut parser = acceptor.parser();
        total += match only.as_str() {
            "parse" => match parser.parse(black_box(CHROMIUM), &mut headers) {
                Ok(Status::Complete(request)) => request.head_len(),
                _ => panic!("not parsed"),
            },
            "key" => AcceptKey::for_key(black_box(b"8VpXgk3jqZ0bYvTQW1nN3g=="))
                .as_bytes()
                .len(),
            _ => match acceptor.accept(&mut parser, black_box(CHROMIUM), &mut headers, &mut out) {
                Ok(Status::Complete(Decision::Switch(switch))) => switch.response.len(),
                _ => panic!("not a switch"),
            },
        };
    }
    let elapsed = started.elapsed();
    println!(
        "{n} runs, {total} bytes, {:.0} ns per run (wall, includes time stolen by other load)",
        elapsed.as_nanos() as f64 / n as f64
    );
}
