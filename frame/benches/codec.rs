//! Criterion benchmarks for the frame codec: unmasking (fast path vs byte loop), decode of
//! masked frames (16 B, 1 KiB, 64 KiB), a 4 MiB message in 64-byte fragments, encoding, UTF-8.
//!
//! Run (short measurement, pinned to one core; the machine is shared):
//! `taskset -c 1 cargo bench -p switchyard-frame --bench codec -- --warm-up-time 1 --measurement-time 3`
//!
//! Time is the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: on the
//! shared 2-core machine wall time counts the slices other processes run in, which inflated
//! results several-fold and made them swing from run to run. CPU time still includes cache and
//! frequency effects of the neighbours, so compare figures within one run (fast vs byte loop).

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{black_box, criterion_main, BenchmarkId, Throughput};
use switchyard_frame::mask::{apply_mask, apply_mask_scalar};
use switchyard_frame::utf8::Utf8Stream;
use switchyard_frame::{Config, Connection, Event, FrameHeader, OpCode, Role};

const SIZES: [usize; 3] = [16, 1024, 64 * 1024];

/// Criterion measurement: CPU time of the calling thread.
struct ThreadCpuTime;

/// Reuses criterion's duration formatting (ns, µs, ms and bytes/s).
static WALL_TIME: WallTime = WallTime;

fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and the clock id is a constant Linux supports;
    // clock_gettime writes only into `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL_TIME.formatter()
    }
}

type Criterion = criterion::Criterion<ThreadCpuTime>;

fn unmask(c: &mut Criterion) {
    let mut group = c.benchmark_group("unmask");
    for size in SIZES {
        let mut buf = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("fast", size), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf), black_box([1, 2, 3, 4])))
        });
        group.bench_with_input(BenchmarkId::new("byte_loop", size), &size, |b, _| {
            b.iter(|| apply_mask_scalar(black_box(&mut buf), black_box([1, 2, 3, 4])))
        });
    }
    group.finish();
}

/// A masked client frame whose key is zero, so that unmasking in place (which the decoder does)
/// leaves the buffer valid for the next iteration while doing the same work as any key.
fn masked_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        fin,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: Some([0; 4]),
        payload_len: payload.len() as u64,
    }
    .encode();
    [&header[..], payload].concat()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_masked");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let mut binary = masked_frame(OpCode::Binary, true, &vec![0xA5; size]);
        let mut conn = Connection::new(Role::Server, Config::default());
        group.bench_with_input(BenchmarkId::new("binary", size), &size, |b, _| {
            b.iter(|| {
                let progress = conn.handle_bytes(black_box(&mut binary)).unwrap();
                match progress.event {
                    Some(Event::Binary(data)) => data.len(),
                    _ => unreachable!(),
                }
            })
        });
        let mut text = masked_frame(OpCode::Text, true, "a".repeat(size).as_bytes());
        group.bench_with_input(BenchmarkId::new("text", size), &size, |b, _| {
            b.iter(|| {
                let progress = conn.handle_bytes(black_box(&mut text)).unwrap();
                match progress.event {
                    Some(Event::Text(data)) => data.len(),
                    _ => unreachable!(),
                }
            })
        });
    }
    group.finish();

    // Autobahn 9.3/9.4 shape: 4 MiB in 64-byte fragments, all in one buffer.
    let mut group = c.benchmark_group("decode_fragmented");
    let total = 4 << 20;
    let fragment = 64;
    let mut stream = Vec::with_capacity(total + total / fragment * 6);
    for i in 0..total / fragment {
        let opcode = if i == 0 {
            OpCode::Binary
        } else {
            OpCode::Continuation
        };
        stream.extend(masked_frame(opcode, i == total / fragment - 1, &[0x42; 64]));
    }
    group.throughput(Throughput::Bytes(total as u64));
    group.sample_size(10);
    group.bench_function("4MiB_in_64B_fragments", |b| {
        let mut conn = Connection::new(Role::Server, Config::default());
        b.iter(|| {
            let progress = conn.handle_bytes(black_box(&mut stream)).unwrap();
            match progress.event {
                Some(Event::Binary(data)) => data.len(),
                _ => unreachable!(),
            }
        })
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    let mut server = Connection::new(Role::Server, Config::default());
    group.bench_function("server_header_1KiB", |b| {
        b.iter(|| {
            server
                .encode_header(OpCode::Binary, true, black_box(1024))
                .unwrap()
        })
    });
    let mut client = Connection::new(Role::Client, Config::default());
    for size in SIZES {
        let payload = vec![7u8; size];
        let mut out = vec![0u8; size + 14];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("client_frame_into", size),
            &size,
            |b, _| {
                b.iter(|| {
                    client
                        .encode_frame_into(OpCode::Binary, true, black_box(&payload), &mut out)
                        .unwrap()
                })
            },
        );
    }
    group.finish();
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8_64KiB");
    let ascii = "a".repeat(64 * 1024);
    let mixed = "aé€𝄞 κόσμε ".repeat(64 * 1024 / 24 + 1);
    for (name, text) in [("ascii", &ascii), ("mixed", &mixed)] {
        let bytes = &text.as_bytes()[..text.len().min(64 * 1024) / 4 * 4];
        let bytes =
            &bytes[..core::str::from_utf8(bytes).map_or_else(|e| e.valid_up_to(), |s| s.len())];
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(BenchmarkId::new("simdutf8_whole", name), |b| {
            b.iter(|| switchyard_frame::utf8::validate(black_box(bytes)).is_ok())
        });
        group.bench_function(BenchmarkId::new("std_whole", name), |b| {
            b.iter(|| core::str::from_utf8(black_box(bytes)).is_ok())
        });
        group.bench_function(BenchmarkId::new("stream_64B_pieces", name), |b| {
            b.iter(|| {
                let mut stream = Utf8Stream::new();
                for piece in black_box(bytes).chunks(64) {
                    stream.feed(piece).unwrap();
                }
                stream.finish().is_ok()
            })
        });
    }
    group.finish();
}

// criterion_group! generates an undocumented pub fn.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group! {
        name = benches;
        config = criterion::Criterion::default().with_measurement(super::ThreadCpuTime);
        targets = super::unmask, super::decode, super::encode, super::utf8
    }
}

criterion_main!(group::benches);
