//! permessage-deflate throughput: our codec (flate2 on zlib-rs) against miniz_oxide driven
//! directly, compressing and decompressing a stream of distinct JSON messages the way a
//! connection with context takeover does (one context for the whole stream, sync flush per
//! message, tail removed / restored). Throughput counts uncompressed bytes.
//!
//! Also the price of no context takeover: a fresh compressor per message (what the codec does
//! to keep idle memory at zero) against keeping one.
//!
//! Run: `taskset -c 1 cargo bench -p switchyard-frame --bench deflate`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use miniz_oxide::deflate::core::{
    compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
};
use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZFlush};
use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, PermessageDeflate};
use switchyard_frame::{Extension, Role};

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Distinct JSON messages of about `size` bytes each: realistic repetition in structure, not in
/// values.
fn messages(size: usize, count: usize) -> Vec<Vec<u8>> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    ];
    (0..count)
        .map(|i| {
            let mut m = format!(r#"{{"seq":{i},"items":["#);
            while m.len() < size - 40 {
                let r = next();
                m.push_str(&format!(
                    r#"{{"id":{},"name":"{}-{}","price":{}.{:02},"qty":{}}},"#,
                    r % 100_000,
                    words[(r >> 20) as usize % words.len()],
                    (r >> 24) % 1000,
                    (r >> 32) % 500,
                    (r >> 40) % 100,
                    (r >> 48) % 50
                ));
            }
            m.push_str(r#"{}]}"#);
            m.into_bytes()
        })
        .collect()
}

/// Every message compressed, at the default level.
const ALWAYS: CompressionPolicy = CompressionPolicy {
    level: 1,
    min_size: 0,
};

fn codec(level: u8) -> PermessageDeflate {
    let policy = CompressionPolicy { level, min_size: 0 };
    PermessageDeflate::new(Role::Server, DeflateConfig::default(), policy).unwrap()
}

fn ours_compress(level: u8, stream: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut codec = codec(level);
    stream
        .iter()
        .map(|m| {
            let mut out = Vec::new();
            assert!(codec.encode_message(m, &mut out).unwrap());
            out
        })
        .collect()
}

fn ours_decompress(payloads: &[Vec<u8>], out: &mut Vec<u8>) -> usize {
    // The receiving side of a server's messages is a client.
    let mut codec = PermessageDeflate::new(Role::Client, DeflateConfig::default(), ALWAYS).unwrap();
    let mut total = 0;
    for p in payloads {
        out.clear();
        codec.decode_piece(p, true, out, usize::MAX).unwrap();
        total += out.len();
    }
    total
}

fn miniz_compress(level: u8, stream: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let flags = create_comp_flags_from_zip_params(i32::from(level), -15, 0);
    let mut state = Box::new(CompressorOxide::new(flags));
    stream
        .iter()
        .map(|m| {
            let mut out = vec![0u8; m.len() + m.len() / 8 + 64];
            let (status, used, written) = compress(&mut state, m, &mut out, TDEFLFlush::Sync);
            assert_eq!((status, used), (TDEFLStatus::Okay, m.len()));
            assert!(written < out.len() && out[..written].ends_with(&TAIL));
            out.truncate(written - TAIL.len());
            out
        })
        .collect()
}

fn miniz_decompress(payloads: &[Vec<u8>], out: &mut [u8]) -> usize {
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    let mut total = 0;
    let mut input = Vec::new();
    for p in payloads {
        input.clear();
        input.extend_from_slice(p);
        input.extend_from_slice(&TAIL);
        let result = inflate(&mut state, &input, out, MZFlush::Sync);
        assert!(result.status.is_ok() && result.bytes_consumed == input.len());
        total += result.bytes_written;
    }
    total
}

fn bench_throughput(c: &mut Criterion) {
    for (size, count) in [(1024usize, 64usize), (64 * 1024, 8)] {
        let stream = messages(size, count);
        let bytes: usize = stream.iter().map(Vec::len).sum();
        let mut group = c.benchmark_group(format!("deflate_compress_{}B", size));
        group.throughput(Throughput::Bytes(bytes as u64));
        for level in [1u8, 3, 6] {
            let ours = ours_compress(level, &stream);
            let miniz = miniz_compress(level, &stream);
            let ratio = |p: &[Vec<u8>]| p.iter().map(Vec::len).sum::<usize>() as f64 / bytes as f64;
            eprintln!(
                "{size} B level {level}: compressed to {:.3} (zlib-rs) / {:.3} (miniz_oxide)",
                ratio(&ours),
                ratio(&miniz)
            );
            // Cross-check: each backend reads the other's stream.
            let mut out = vec![0u8; size * 2];
            assert_eq!(
                ours_decompress(&miniz, &mut Vec::with_capacity(size * 2)),
                bytes
            );
            assert_eq!(miniz_decompress(&ours, &mut out), bytes);
            group.bench_function(BenchmarkId::new("zlib-rs", level), |b| {
                b.iter(|| ours_compress(level, black_box(&stream)))
            });
            group.bench_function(BenchmarkId::new("miniz_oxide", level), |b| {
                b.iter(|| miniz_compress(level, black_box(&stream)))
            });
        }
        group.finish();

        let payloads = ours_compress(6, &stream);
        let mut group = c.benchmark_group(format!("deflate_decompress_{}B", size));
        group.throughput(Throughput::Bytes(bytes as u64));
        let mut out = Vec::with_capacity(size * 2);
        group.bench_function("zlib-rs", |b| {
            b.iter(|| ours_decompress(black_box(&payloads), &mut out))
        });
        let mut out = vec![0u8; size * 2];
        group.bench_function("miniz_oxide", |b| {
            b.iter(|| miniz_decompress(black_box(&payloads), &mut out))
        });
        group.finish();
    }
}

/// 256-byte messages (distinct, in turn) with our codec: context kept (compressor reused)
/// against no context takeover (compressor created and dropped per message, as the codec does
/// to hold no idle memory), per direction.
fn bench_context_cost(c: &mut Criterion) {
    // 512 distinct messages (128 KiB): more than a 32 KiB window, so none repeats in context.
    let stream = messages(256, 512);
    let mut group = c.benchmark_group("deflate_256B_message");
    group.throughput(Throughput::Bytes(256));
    for reset in [false, true] {
        let name = if reset {
            "no_context_takeover"
        } else {
            "context_takeover"
        };
        let config = DeflateConfig {
            server_no_context_takeover: reset,
            client_no_context_takeover: reset,
            ..DeflateConfig::default()
        };
        let mut sender = PermessageDeflate::new(Role::Server, config, ALWAYS).unwrap();
        let mut out = Vec::with_capacity(1024);
        let mut next = 0;
        group.bench_function(BenchmarkId::new("compress", name), |b| {
            b.iter(|| {
                next = (next + 1) % stream.len();
                out.clear();
                sender
                    .encode_message(black_box(&stream[next]), &mut out)
                    .unwrap()
            })
        });
        // Each message compressed on its own decodes with either receiver.
        let standalone = DeflateConfig {
            server_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        let mut one_off = PermessageDeflate::new(Role::Server, standalone, ALWAYS).unwrap();
        let payloads: Vec<Vec<u8>> = stream
            .iter()
            .map(|m| {
                let mut p = Vec::new();
                assert!(one_off.encode_message(m, &mut p).unwrap());
                p
            })
            .collect();
        let mut receiver = PermessageDeflate::new(Role::Client, config, ALWAYS).unwrap();
        let mut out = Vec::with_capacity(1024);
        group.bench_function(BenchmarkId::new("decompress", name), |b| {
            b.iter(|| {
                next = (next + 1) % payloads.len();
                out.clear();
                receiver
                    .decode_piece(black_box(&payloads[next]), true, &mut out, usize::MAX)
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_throughput, bench_context_cost);
criterion_main!(benches);
