//! Fuzz `Decoder::set_memory_limit` on the server's path (`Decoder` + `Session`, as the server
//! lends them): with a random memory limit, every split of the input either gives exactly the
//! events and outcome of decoding it whole without a limit, or a prefix of those events and then
//! `Error::OverMemoryLimit` with that limit; and after every call the decoder holds at most the
//! limit (`Decoder::heap_bytes`) plus the fixed overhead the limit does not cover (the assembly
//! record and a split control frame's at most 125 bytes). Whole single-frame messages inside one
//! input are delivered from the caller's buffer and are not limited, so a split may fail where
//! the whole input passed: that is the documented behaviour, and why only the limited runs may
//! fail with the limit.
//!
//! Input: flags (bit 0 the limit is in units of 16 bytes, bit 1 small limits
//! `1 << (flags >> 4)`, bit 2 fragment cap, bit 3 permessage-deflate, as in `decode`), a seed
//! byte (cut points, window bits), two bytes of memory limit (little endian), the byte stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, PermessageDeflate};
use switchyard_frame::{CloseState, Config, Decoder, Error, Event, Role, Session};

/// What `heap_bytes` may count beyond the memory limit: the assembly record and a split control
/// frame (at most 125 bytes, its buffer's capacity included).
const OVERHEAD: usize = 512;

#[derive(Debug, PartialEq, Clone)]
enum Owned {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String, Option<Vec<u8>>),
}

fn own(event: Event<'_>) -> Owned {
    match event {
        Event::Text(t) => Owned::Text(t.into_owned()),
        Event::Binary(b) => Owned::Binary(b.into_owned()),
        Event::Ping(p) => Owned::Ping(p.into_owned()),
        Event::Pong(p) => Owned::Pong(p.into_owned()),
        // The server's close reply is unmasked: compare it whole.
        Event::Close {
            code,
            reason,
            reply,
        } => Owned::Close(
            code.map(|c| c.0),
            reason.into_owned(),
            reply.map(|r| r.as_bytes().to_vec()),
        ),
    }
}

fn run(
    decoder: &mut Decoder,
    limit: Option<usize>,
    stream: &[u8],
    cuts: &[usize],
) -> (Vec<Owned>, Option<Error>) {
    let mut session = Session::new();
    let mut events = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(core::iter::once(&stream.len())) {
        let end = end.clamp(start, stream.len());
        let mut chunk = stream[start..end].to_vec();
        start = end;
        let len = chunk.len();
        let mut pos = 0;
        loop {
            if let Some(limit) = limit {
                // The server sets it before each read from what its budget has left.
                decoder.set_memory_limit(limit);
            }
            match decoder.decode(&mut session, &mut chunk[pos..]) {
                Ok(progress) => {
                    assert!(progress.consumed <= len - pos);
                    pos += progress.consumed;
                    let event = progress.event.map(own);
                    if let Some(limit) = limit {
                        let held = decoder.heap_bytes();
                        assert!(
                            held <= limit.saturating_add(OVERHEAD),
                            "holds {held} bytes under a limit of {limit}"
                        );
                    }
                    match event {
                        Some(event) => events.push(event),
                        None => {
                            assert_eq!(pos, len);
                            break;
                        }
                    }
                }
                Err(failure) => {
                    assert_eq!(session.state(), CloseState::Closed);
                    assert_eq!(decoder.heap_bytes(), 0);
                    return (events, Some(failure.error));
                }
            }
            if pos == len {
                break;
            }
        }
    }
    (events, None)
}

fuzz_target!(|data: &[u8]| {
    let [flags, seed, lo, hi, rest @ ..] = data else {
        return;
    };
    let mut limit = usize::from(u16::from_le_bytes([*lo, *hi]));
    if flags & 1 != 0 {
        limit *= 16;
    }
    let mut config = Config::default();
    if flags & 2 != 0 {
        config.max_frame_size = 1 << (flags >> 4);
        config.max_message_size = 1 << ((flags >> 4) + 1);
    }
    if flags & 4 != 0 {
        config.max_fragments_per_message = core::num::NonZeroU32::new(u32::from(seed % 8) + 1);
    }
    let decoder = || {
        let mut decoder = Decoder::new(config);
        if flags & 8 != 0 {
            let mut deflate = DeflateConfig::default();
            deflate.server_no_context_takeover = seed & 0x40 != 0;
            deflate.client_no_context_takeover = seed & 0x80 != 0;
            deflate.server_max_window_bits = 8 + (seed & 7);
            deflate.client_max_window_bits = 8 + ((seed >> 3) & 7);
            let policy = CompressionPolicy::default();
            let codec = PermessageDeflate::new(Role::Server, deflate, policy).expect("valid");
            decoder.set_extension(Box::new(codec));
        }
        decoder
    };
    let free = run(&mut decoder(), None, rest, &[]);

    // Cut points from a tiny LCG seeded by `seed`: deterministic per input.
    let mut cuts = Vec::new();
    let mut x = u32::from(*seed) | 1;
    let mut at = 0usize;
    while at < rest.len() {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        at += (x >> 16) as usize % (usize::from(*seed % 32) + 1);
        cuts.push(at);
        at += 1;
    }
    for cuts in [&[][..], &cuts[..]] {
        let limited = run(&mut decoder(), Some(limit), rest, cuts);
        if limited != free {
            assert_eq!(
                limited.1,
                Some(Error::OverMemoryLimit { limit }),
                "{free:?}"
            );
            assert!(free.0.starts_with(&limited.0), "{free:?} {limited:?}");
        }
    }
});
