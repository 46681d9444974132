//! The hot path allocates nothing: reading into the reactor's buffer, corked writes of
//! borrowed and shared bytes flushed by one sendmsg, and writes to another connection that
//! complete at once. Counted with a global allocator that counts per thread.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::{Arc, Mutex};

use common::*;
use switchyard_netio::{start, Accepted, Config, ConnId, Ctx, Handler, SharedBytes};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers every operation to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|a| a.get())
}

/// Echoes each message as header + borrowed payload + shared trailer, and mirrors it to the
/// first connection (a write to another connection). Records the reactor thread's
/// allocation count at each message.
struct Echo {
    first: Option<ConnId>,
    trailer: SharedBytes,
    seen: Arc<Mutex<Vec<u64>>>,
}

impl Handler for Echo {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, _: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<()> {
        self.first.get_or_insert(id);
        Some(())
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), data: &mut [u8]) {
        let n = allocs();
        ctx.write_vectored(id, &[b"[", data]).unwrap();
        ctx.write_shared(id, self.trailer.clone()).unwrap();
        if let Some(first) = self.first.filter(|f| *f != id) {
            ctx.write(first, data).unwrap();
        }
        // The lock and the Vec's growth are the test's, not the reactor's: count before them.
        let mut seen = self.seen.lock().unwrap();
        seen.reserve(1);
        seen.push(n);
    }
}

#[test]
fn steady_state_reads_and_writes_allocate_nothing() {
    let seen = Arc::new(Mutex::new(Vec::with_capacity(1000)));
    let s = seen.clone();
    let cfg = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 1,
        ..Config::default()
    };
    let server = start(cfg, move |_| Echo {
        first: None,
        trailer: SharedBytes::from(&b"]"[..]),
        seen: s.clone(),
    })
    .unwrap();
    let mut mirror = client(server.local_addrs()[0]);
    send(&mut mirror, b"m");
    assert_eq!(read_n(&mut mirror, 3), b"[m]");
    let mut c = client(server.local_addrs()[0]);
    for i in 0..200u32 {
        // Small messages take the cork; every third is large enough to go out directly.
        let pad = if i % 3 == 0 {
            "x".repeat(5000)
        } else {
            String::new()
        };
        let msg = format!("message {i:04}{pad}");
        send(&mut c, msg.as_bytes());
        assert_eq!(read_n(&mut c, msg.len() + 2), format!("[{msg}]").as_bytes());
        assert_eq!(read_n(&mut mirror, msg.len()), msg.as_bytes());
    }
    let seen = seen.lock().unwrap();
    assert!(
        seen[0] > 0,
        "the counter sees the reactor thread's allocations (its buffers)"
    );
    // Skip warm-up (the cork's buffers grow once); then no allocation between two messages.
    let steady: Vec<u64> = seen.windows(2).skip(10).map(|w| w[1] - w[0]).collect();
    assert!(
        steady.iter().all(|&d| d == 0),
        "allocations between messages: {steady:?}"
    );
}
