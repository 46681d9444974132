//! The opening handshake through `switchyard-handshake`, server and client side.
//!
//! Server: parse a Chromium upgrade request (its full header set, ~500 bytes), negotiate and
//! write the 101. Client: write the request and verify a 101. Run with
//! `cargo bench -p switchyard-bench --bench handshake`.
// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use switchyard_bench::wire::{ClientHandshake, FastRng};
use switchyard_handshake::{Acceptor, Decision, Status, EMPTY_HEADER};

/// What Chromium sends to open a WebSocket (header set and order of a current release).
const CHROMIUM_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: 127.0.0.1:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://127.0.0.1:8080\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

fn server_side(c: &mut Criterion) {
    let acceptor = Acceptor::new();
    let mut group = c.benchmark_group("handshake/server");
    group.throughput(Throughput::Elements(1));
    group.bench_function("chromium_parse_negotiate_101", |b| {
        let mut out = [0u8; 1024];
        b.iter(|| {
            let mut parser = acceptor.parser();
            let mut headers = [EMPTY_HEADER; 32];
            let decision = acceptor
                .accept(
                    &mut parser,
                    black_box(CHROMIUM_REQUEST),
                    &mut headers,
                    &mut out,
                )
                .expect("1 KiB holds the 101");
            match decision {
                Status::Complete(Decision::Switch(switch)) => black_box(switch.response.len()),
                _ => panic!("the Chromium request must upgrade"),
            }
        })
    });
    group.finish();
}

fn client_side(c: &mut Criterion) {
    let mut rng = FastRng::new(42);
    let mut group = c.benchmark_group("handshake/client");
    group.throughput(Throughput::Elements(1));
    group.bench_function("write_request_and_verify_101", |b| {
        let acceptor = Acceptor::new();
        let mut request = Vec::with_capacity(512);
        let mut out = [0u8; 1024];
        b.iter(|| {
            let mut client =
                ClientHandshake::new("127.0.0.1:8080", "/chat", &mut rng).expect("valid request");
            request.clear();
            client.write_request(&mut request);
            // The server's 101 for this key, produced outside the measured client work would
            // need a stored key; producing it here costs one server decision, measured above.
            let mut parser = acceptor.parser();
            let mut headers = [EMPTY_HEADER; 32];
            let Ok(Status::Complete(Decision::Switch(switch))) =
                acceptor.accept(&mut parser, &request, &mut headers, &mut out)
            else {
                panic!("our own request must upgrade");
            };
            black_box(client.read_response(switch.response).expect("valid 101"))
        })
    });
    group.finish();
}

criterion_group!(benches, server_side, client_side);
criterion_main!(benches);
