//! Proves that parsing, negotiating and writing the 101 allocates nothing: a counting global
//! allocator around the whole server path (and the client's request and check), with the
//! default negotiator and with one accepting permessage-deflate.
//!
//! `harness = false`: libtest's own threads allocate, so this runs as a plain `main` on one
//! thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use switchyard_handshake::*;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments; counting is a side
// effect that touches no memory the allocator hands out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator, with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: `ptr` came from `System.alloc` with this layout; forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CHROMIUM: &[u8] = b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: Upgrade\r\nPragma: no-cache\r\n\
Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
Chrome/131.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\nOrigin: http://127.0.0.1:8080\r\nSec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\nSec-WebSocket-Key: 8VpXgk3jqZ0bYvTQW1nN3g==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nSec-WebSocket-Protocol: chat\r\n\r\n\x81\x80abcd";

struct Deflate;

impl ExtensionNegotiator for Deflate {
    type Agreed = bool;

    fn negotiate(
        &self,
        offers: ExtensionList<'_>,
        response: &mut ExtensionResponse,
    ) -> Result<bool, NegotiationFailed> {
        let Some(offer) = offers
            .into_iter()
            .find(|o| o.name() == "permessage-deflate")
        else {
            return Ok(false);
        };
        response
            .accept(&offer)?
            .param("client_max_window_bits", Some("15"))?;
        Ok(true)
    }
}

/// Runs the server path for `request` fed in pieces of `step` bytes; returns the allocations
/// counted and the response length.
fn server_path<N: ExtensionNegotiator>(
    acceptor: &Acceptor<N>,
    request: &[u8],
    step: usize,
) -> (usize, usize) {
    let mut out = [0u8; 1024];
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut parser = acceptor.parser();
    let mut end = 0;
    let len = loop {
        end = (end + step).min(request.len());
        let mut headers = [EMPTY_HEADER; 32];
        match acceptor.accept(&mut parser, &request[..end], &mut headers, &mut out) {
            Ok(Status::Partial) => continue,
            Ok(Status::Complete(Decision::Switch(switch))) => break switch.response.len(),
            _ => panic!("expected a switch"),
        }
    };
    (ALLOCATIONS.load(Ordering::SeqCst) - before, len)
}

fn main() {
    let plain = Acceptor::new().websocket(WebSocketConfig::default().subprotocols(["chat"]));
    let deflate = Acceptor::new()
        .websocket(WebSocketConfig::default().subprotocols(["chat"]))
        .extensions(Deflate);
    let mut failures = 0;
    let mut check = |name: &str, (allocations, len): (usize, usize)| {
        let verdict = if allocations == 0 { "ok" } else { "FAILED" };
        println!("{name}: {allocations} allocations, {len}-byte response ... {verdict}");
        if allocations != 0 {
            failures += 1;
        }
    };
    // Warm up once: the first call may touch lazily initialised state (none expected).
    server_path(&plain, CHROMIUM, CHROMIUM.len());
    check(
        "chromium upgrade, one piece",
        server_path(&plain, CHROMIUM, CHROMIUM.len()),
    );
    check(
        "chromium upgrade, 1-byte pieces",
        server_path(&plain, CHROMIUM, 1),
    );
    check(
        "chromium upgrade with a permessage-deflate stand-in",
        server_path(&deflate, CHROMIUM, CHROMIUM.len()),
    );
    // RFC 9110 section 2.5: a later 1.x minor version is read as 1.1, on a second path.
    let mut later_minor = CHROMIUM.to_vec();
    later_minor[b"GET /chat HTTP/1.".len()] = b'2';
    check(
        "chromium upgrade sent as HTTP/1.2, 1-byte pieces",
        server_path(&plain, &later_minor, 1),
    );
    let real = Acceptor::new()
        .websocket(WebSocketConfig::default().subprotocols(["chat"]))
        .extensions(DeflateNegotiator::new(DeflatePolicy::default()).unwrap());
    check(
        "chromium upgrade with the crate's DeflateNegotiator",
        server_path(&real, CHROMIUM, CHROMIUM.len()),
    );

    // The sanity check that the counter counts: a Vec allocates.
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let v = std::hint::black_box(vec![1u8; 16]);
    drop(v);
    let counted = ALLOCATIONS.load(Ordering::SeqCst) - before;
    println!(
        "counter sanity (one Vec): {counted} allocation(s) ... {}",
        if counted == 1 { "ok" } else { "FAILED" }
    );
    if counted != 1 {
        failures += 1;
    }

    // Client: write the request, check the 101, with caller buffers.
    let request = ClientRequest::new("127.0.0.1:8080", "/chat")
        .subprotocols(&["chat"])
        .extensions("permessage-deflate");
    let key = WebSocketKey::from_nonce(*b"0123456789abcdef");
    let mut wire = [0u8; 1024];
    let mut out = [0u8; 1024];
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut client = ClientHandshake::new(request, key).unwrap();
    let n = client.write_request(&mut wire).unwrap();
    let mut parser = deflate.parser();
    let mut headers = [EMPTY_HEADER; 32];
    let Ok(Status::Complete(Decision::Switch(switch))) =
        deflate.accept(&mut parser, &wire[..n], &mut headers, &mut out)
    else {
        panic!("expected a switch")
    };
    let mut headers = [EMPTY_HEADER; 16];
    let accepted = client
        .read_response(switch.response, &mut headers)
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(accepted.subprotocol, Some("chat"));
    let client_allocations = ALLOCATIONS.load(Ordering::SeqCst) - before;
    check_client(client_allocations, &mut failures);

    if failures > 0 {
        eprintln!("{failures} allocation check(s) failed");
        std::process::exit(1);
    }
}

fn check_client(allocations: usize, failures: &mut usize) {
    let verdict = if allocations == 0 { "ok" } else { "FAILED" };
    println!(
        "client request + server upgrade + client check: {allocations} allocations ... {verdict}"
    );
    if allocations != 0 {
        *failures += 1;
    }
}
