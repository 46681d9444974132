//! Fuzz the decoder and assembler, server and client role: any input must decode without panic,
//! and splitting the input into arbitrary reads must give exactly the same events and error as
//! decoding it in one buffer (differential). Small limits are drawn from the input so the 1009
//! and 1008 paths are reached; one flag installs permessage-deflate (the extension seam, zip
//! bombs, corrupt deflate data, RSV1 rules).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, PermessageDeflate};
use switchyard_frame::{CloseState, Config, Connection, Error, Event, Role};

#[derive(Debug, PartialEq)]
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
        // Client replies carry a random mask; compare their length only.
        Event::Close { code, reason, reply } => Owned::Close(
            code.map(|c| c.0),
            reason.into_owned(),
            reply.map(|r| vec![0; r.len()]),
        ),
    }
}

fn run(conn: &mut Connection, stream: &[u8], cuts: &[usize]) -> (Vec<Owned>, Option<Error>) {
    let mut events = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(core::iter::once(&stream.len())) {
        let end = end.clamp(start, stream.len());
        let mut chunk = stream[start..end].to_vec();
        start = end;
        let len = chunk.len();
        let mut pos = 0;
        loop {
            match conn.handle_bytes(&mut chunk[pos..]) {
                Ok(progress) => {
                    assert!(progress.consumed <= len - pos);
                    pos += progress.consumed;
                    match progress.event {
                        Some(event) => events.push(own(event)),
                        None => {
                            assert_eq!(pos, len);
                            break;
                        }
                    }
                }
                Err(failure) => {
                    assert_eq!(conn.state(), CloseState::Closed);
                    assert_eq!(conn.heap_bytes(), 0);
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
    let [flags, seed, rest @ ..] = data else { return };
    let role = if flags & 1 == 0 { Role::Server } else { Role::Client };
    let mut config = Config::default();
    if flags & 2 != 0 {
        config.max_frame_size = 1 << (flags >> 4);
        config.max_message_size = 1 << ((flags >> 4) + 1);
    }
    if flags & 4 != 0 {
        config.max_fragments_per_message = core::num::NonZeroU32::new(u32::from(seed % 8) + 1);
    }
    let connection = || {
        let mut conn = Connection::new(role, config);
        if flags & 8 != 0 {
            let mut deflate = DeflateConfig::default();
            deflate.server_no_context_takeover = seed & 0x40 != 0;
            deflate.client_no_context_takeover = seed & 0x80 != 0;
            deflate.server_max_window_bits = 8 + (seed & 7);
            deflate.client_max_window_bits = 8 + ((seed >> 3) & 7);
            let policy = CompressionPolicy::default();
            let codec = PermessageDeflate::new(role, deflate, policy).expect("valid");
            conn.set_extension(Box::new(codec));
        }
        conn
    };
    let whole = run(&mut connection(), rest, &[]);

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
    let split = run(&mut connection(), rest, &cuts);
    assert_eq!(whole, split);
});
