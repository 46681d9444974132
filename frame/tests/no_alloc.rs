//! The hot path allocates nothing: a counting global allocator proves that decoding complete
//! single-frame messages (and answering them with encode_header) makes zero heap allocations.
//!
//! The count is per thread: libtest's main thread (and any other test's thread) allocates while
//! this test runs, and must not be counted. The codec is sans-IO and runs on the test's thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use switchyard_frame::{Config, Connection, Event, FrameHeader, OpCode, Role};

struct Counting;

thread_local! {
    /// Allocations and reallocations made by this thread. A const-initialised `Cell` without
    /// a destructor: reading it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down may still allocate; it is not the measured thread.
    let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
}

/// Allocations made by the calling thread so far.
fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: delegates every call to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr was allocated by System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: ptr was allocated by System with this layout; same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn echoing_single_frame_messages_allocates_nothing() {
    let mut stream = Vec::new();
    for i in 0..1000usize {
        let payload = vec![b'a' + (i % 26) as u8; i % 300];
        let header = FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode: if i % 2 == 0 {
                OpCode::Text
            } else {
                OpCode::Binary
            },
            mask: Some([1, 2, 3, (i % 256) as u8]),
            payload_len: payload.len() as u64,
        }
        .encode();
        stream.extend_from_slice(&header);
        let start = stream.len();
        stream.extend_from_slice(&payload);
        switchyard_frame::mask::apply_mask(&mut stream[start..], [1, 2, 3, (i % 256) as u8]);
    }
    let mut conn = Connection::new(Role::Server, Config::default());
    let mut echoed = 0usize;
    let before = allocations();
    let mut pos = 0;
    while pos < stream.len() {
        let progress = conn.handle_bytes(&mut stream[pos..]).unwrap();
        pos += progress.consumed;
        let (opcode, len) = match progress.event {
            Some(Event::Text(text)) => (OpCode::Text, text.len()),
            Some(Event::Binary(data)) => (OpCode::Binary, data.len()),
            other => panic!("{other:?}"),
        };
        let header = conn.encode_header(opcode, true, len).unwrap();
        echoed += header.len() + len;
    }
    let after = allocations();
    assert_eq!(after - before, 0, "allocations on the hot path");
    assert!(echoed > 1000 * 2);
    assert_eq!(conn.heap_bytes(), 0);
}

#[test]
fn the_counter_sees_this_threads_allocations_and_no_others() {
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 16]);
    drop(v);
    assert_eq!(allocations() - before, 1, "one Vec, one allocation");
    let before = allocations();
    std::thread::spawn(|| drop(std::hint::black_box(vec![1u8; 16])))
        .join()
        .unwrap();
    // Spawning allocates on this thread too (the thread's handle); the Vec on the other
    // thread must not be added to them, which a second run shows: the same count each time.
    let first = allocations() - before;
    let before = allocations();
    std::thread::spawn(|| {
        for _ in 0..100 {
            drop(std::hint::black_box(vec![1u8; 16]));
        }
    })
    .join()
    .unwrap();
    assert_eq!(
        allocations() - before,
        first,
        "another thread's 100 Vecs are not counted"
    );
}

#[test]
fn compressed_messages_allocate_nothing_once_warm() {
    use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, PermessageDeflate};
    use switchyard_frame::{Decoder, Session};
    // The server's split: a one-byte session, a decoder holding the negotiated codec, and the
    // caller's output buffer, reused per message as a server's scratch buffer is.
    let agreed = DeflateConfig {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let codec = PermessageDeflate::new(Role::Server, agreed, CompressionPolicy::default()).unwrap();
    let mut decoder = Decoder::new(Config::default());
    decoder.set_extension(Box::new(codec));
    let mut session = Session::new();
    let messages: Vec<String> = (0..200)
        .map(|i| format!("{{\"tick\":{i},\"price\":{}}}", 1000 + i).repeat(8))
        .collect();
    let mut out = Vec::new();
    // Warm up: the thread's spare compressor comes into being and the output buffer grows to
    // the largest message once.
    for m in &messages {
        out.clear();
        session
            .encode_message(&mut decoder, OpCode::Text, m.as_bytes(), &mut out)
            .unwrap();
    }
    let before = allocations();
    let mut sent = 0;
    for m in &messages {
        out.clear();
        session
            .encode_message(&mut decoder, OpCode::Text, m.as_bytes(), &mut out)
            .unwrap();
        assert_eq!(out[0], 0xC1, "compressed");
        sent += out.len();
    }
    assert_eq!(
        allocations() - before,
        0,
        "allocations per compressed message"
    );
    assert!(sent > 0);
}
