//! The hot path allocates nothing: a counting global allocator proves that decoding complete
//! single-frame messages (and answering them with encode_header) makes zero heap allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use switchyard_frame::{Config, Connection, Event, FrameHeader, OpCode, Role};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates every call to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr was allocated by System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
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
    let before = ALLOCATIONS.load(Ordering::Relaxed);
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
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations on the hot path");
    assert!(echoed > 1000 * 2);
    assert_eq!(conn.heap_bytes(), 0);
}
