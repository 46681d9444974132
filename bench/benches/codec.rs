//! The frame codec (`switchyard-frame`) as the server and the load generator use it.
//!
//! - decode: a masked client frame of 16 B and 16 KiB through `Connection::handle_bytes` in the
//!   server role (header parse, in-place unmask, UTF-8 check for text). Each iteration first copies
//!   the masked frame into the input buffer (unmasking is in place); the copy is measured alone
//!   as `copy_only` so that it can be subtracted.
//! - encode: the server's header for an echo (`encode_header`), and a whole masked client
//!   message (`encode_message`, what the load generator sends).
//!
//! Run with `cargo bench -p switchyard-bench --bench codec`.

// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use switchyard_frame::{Config, Connection, Event, OpCode, Role};

const SIZES: [usize; 2] = [16, 16 * 1024];

/// A masked client frame carrying `size` ASCII bytes.
fn client_frame(opcode: OpCode, size: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let mut client = Connection::new(Role::Client, Config::default());
    let mut frame = Vec::new();
    client
        .encode_message(opcode, &payload, &mut frame)
        .expect("encodable");
    frame
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec/decode");
    for size in SIZES {
        for (name, opcode) in [("text", OpCode::Text), ("binary", OpCode::Binary)] {
            let frame = client_frame(opcode, size);
            let mut input = frame.clone();
            let mut server = Connection::new(Role::Server, Config::default());
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::new(name, size), &size, |b, _| {
                b.iter(|| {
                    input.copy_from_slice(&frame);
                    let progress = server.handle_bytes(&mut input).expect("valid frame");
                    match progress.event {
                        Some(Event::Text(text)) => black_box(text.len()),
                        Some(Event::Binary(data)) => black_box(data.len()),
                        other => panic!("unexpected {other:?}"),
                    }
                })
            });
        }
        let frame = client_frame(OpCode::Binary, size);
        let mut input = frame.clone();
        group.bench_with_input(BenchmarkId::new("copy_only", size), &size, |b, _| {
            b.iter(|| {
                input.copy_from_slice(black_box(&frame));
                black_box(&input);
            })
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec/encode");
    let mut server = Connection::new(Role::Server, Config::default());
    group.bench_function("server_header", |b| {
        b.iter(|| black_box(server.encode_header(OpCode::Binary, true, black_box(16_384))))
    });
    for size in SIZES {
        let payload = vec![b'x'; size];
        let mut client = Connection::new(Role::Client, Config::default());
        let mut out = Vec::with_capacity(size + 16);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("client_message", size), &size, |b, _| {
            b.iter(|| {
                out.clear();
                client
                    .encode_message(OpCode::Binary, black_box(&payload), &mut out)
                    .expect("encodable");
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
