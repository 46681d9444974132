//! The server's HTTP phase over arbitrary bytes: request heads split across reads at
//! fuzzer-chosen points, pipelined, plain or upgrading, on echo, broadcast and bridge routes.
//!
//! Why through `switchyard::fuzzing::HttpPhase` (feature `fuzzing`): the logic worth fuzzing
//! is the server's own, above the handshake crate (whose targets fuzz the parser and acceptor
//! alone): the head kept with the parser that scanned it between reads, the pipelining loop, the
//! route looked up once and the choice of acceptor (bridge routes add `tcp`), the acceptors as
//! the server builds them from a `Config` (`--deflate` modes, origins, subprotocols, head size
//! limit), and the plain answers of `http.rs`. A target that re-implemented those around the
//! public `Acceptor` would fuzz a copy. The entry point is the reactor's code itself
//! (`head.rs`'s `feed_head` and `decide_head`, which the reactor calls too) with only the
//! socket replaced by a record of outcomes; it is `#[doc(hidden)]` and exists only with the
//! feature, so no internals become public API.
//!
//! Properties: never a panic; the same bytes fed whole and split give the same outcomes (the
//! bytes after a switch count whole: what came behind the head in its read plus every later
//! read), and the same unfinished head kept; a head fed in pieces is scanned once in total
//! (`RequestParser::bytes_scanned` never exceeds the bytes fed), however small the pieces.
//!
//! Input: flags (bits 0-1 `--deflate` off / no-takeover / takeover / no-takeover, bit 2 an
//! origin allow list, bit 3 subprotocols, bits 4-7 a small head size limit `64 << n` when
//! non-zero), a seed byte (cut points: steps up to `seed % 32 + 1` bytes, so 0 is one byte per
//! read), then the bytes a client sends.
#![no_main]

use std::cell::RefCell;
use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use switchyard::config::DeflateMode;
use switchyard::fuzzing::{HttpPhase, Outcome};
use switchyard::Config;

fn config(flags: u8) -> Config {
    let mut config = Config {
        deflate: match flags & 3 {
            0 => DeflateMode::Off,
            2 => DeflateMode::Takeover,
            _ => DeflateMode::On,
        },
        ..Config::default()
    };
    if flags & 4 != 0 {
        config.allowed_origins = vec!["http://example.com".into()];
    }
    if flags & 8 != 0 {
        config.subprotocols = vec!["chat".into(), "superchat".into()];
    }
    if flags >> 4 != 0 {
        config.max_head_size = 64 << (flags >> 4);
    }
    config
        .routes
        .insert_spec("/vnc=bridge:127.0.0.1:5901")
        .expect("a numeric bridge target");
    config
        .routes
        .insert_spec("/chat=broadcast")
        .expect("a route");
    config
}

/// Feeds `stream` cut at `cuts`; returns the outcomes (a switch's leftover extended with
/// every byte behind it), the unfinished head kept, and checks the scan count.
fn run(phase: &mut HttpPhase, stream: &[u8], cuts: &[usize]) -> (Vec<Outcome>, usize) {
    phase.reset();
    let mut start = 0;
    let mut stopped_at = None;
    for &end in cuts.iter().chain(core::iter::once(&stream.len())) {
        let end = end.clamp(start, stream.len());
        phase.feed(&stream[start..end]);
        start = end;
        if phase.stopped() && stopped_at.is_none() {
            stopped_at = Some(end);
        }
        assert!(
            phase.bytes_scanned() <= phase.bytes_offered(),
            "scanned {} bytes of {} fed: a head was re-scanned",
            phase.bytes_scanned(),
            phase.bytes_offered()
        );
    }
    let mut outcomes = phase.outcomes().to_vec();
    if let (Some(at), Some(Outcome::Switch { leftover, .. })) = (stopped_at, outcomes.last_mut()) {
        leftover.extend_from_slice(&stream[at..]);
    }
    if let Some(Outcome::Switch { response, .. } | Outcome::Reject { response, .. }) =
        outcomes.last()
    {
        assert!(response.starts_with(b"HTTP/1.1 "), "{response:?}");
    }
    (outcomes, phase.pending_bytes())
}

thread_local! {
    /// One phase per configuration, reset per input: building the acceptors, routes and
    /// metrics registry per input held the target to 3,100 executions a second, against 8,800
    /// with the cache (same machine, under load).
    static PHASES: RefCell<HashMap<u8, HttpPhase>> = RefCell::new(HashMap::new());
}

fuzz_target!(|data: &[u8]| {
    let [flags, seed, rest @ ..] = data else {
        return;
    };
    PHASES.with_borrow_mut(|phases| {
        let phase = phases
            .entry(*flags)
            .or_insert_with(|| HttpPhase::new(config(*flags)).expect("a valid configuration"));
        check(phase, *seed, rest);
    });
});

fn check(phase: &mut HttpPhase, seed: u8, rest: &[u8]) {
    let whole = run(phase, rest, &[]);

    // Cut points from a tiny LCG seeded by `seed`: deterministic per input.
    let mut cuts = Vec::new();
    let mut x = u32::from(seed) | 1;
    let mut at = 0usize;
    while at < rest.len() {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        at += (x >> 16) as usize % (usize::from(seed % 32) + 1);
        cuts.push(at);
        at += 1;
    }
    let split = run(phase, rest, &cuts);
    assert_eq!(whole, split);
}
