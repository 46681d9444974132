//! `Decoder::set_memory_limit`: what a server's memory budget lets a message in progress hold.
//! Memory past the limit is refused before it is allocated (close 1009), whole frames delivered
//! from the caller's buffer are not limited, and the decoder never holds more capacity than it
//! accounts for.

mod common;
mod deflate_common;

use common::client_frame;
use deflate_common::always;
use switchyard_frame::deflate::{DeflateConfig, PermessageDeflate};
use switchyard_frame::{CloseCode, Config, Decoder, Error, Event, Role, Session};

fn decoder(limit: usize) -> (Decoder, Session) {
    let mut decoder = Decoder::new(Config::default());
    decoder.set_memory_limit(limit);
    (decoder, Session::new())
}

/// Feeds `stream` in `piece`-byte reads; returns the error that failed the connection, if any,
/// and the most heap the decoder held between reads.
fn feed(
    decoder: &mut Decoder,
    session: &mut Session,
    stream: &[u8],
    piece: usize,
) -> (Option<Error>, usize) {
    let mut most = 0;
    for chunk in stream.chunks(piece) {
        let mut chunk = chunk.to_vec();
        let mut pos = 0;
        while pos < chunk.len() {
            match decoder.decode(session, &mut chunk[pos..]) {
                Ok(progress) => pos += progress.consumed,
                Err(failure) => {
                    let frame = failure.close_frame.expect("we had not closed");
                    assert_eq!(frame[2..4], 1009u16.to_be_bytes());
                    return (Some(failure.error), most);
                }
            }
        }
        most = most.max(decoder.heap_bytes());
    }
    (None, most)
}

#[test]
fn a_fragmented_message_past_the_limit_is_closed_with_1009() {
    let (mut decoder, mut session) = decoder(1000);
    let mut stream = client_frame(false, 0x2, &[1; 600]);
    stream.extend(client_frame(true, 0x0, &[2; 600]));
    let (error, most) = feed(&mut decoder, &mut session, &stream, 64);
    assert_eq!(error, Some(Error::OverMemoryLimit { limit: 1000 }));
    assert_eq!(error.unwrap().close_code(), CloseCode::MESSAGE_TOO_BIG);
    assert!(most < 1000 + 200, "held {most}");
    assert_eq!(decoder.heap_bytes(), 0, "a failed decoder holds nothing");
}

#[test]
fn a_frame_announcing_more_than_the_limit_fails_at_its_header() {
    let (mut decoder, mut session) = decoder(5000);
    let stream = client_frame(true, 0x2, &[7; 10_000]);
    // Only the header and a few bytes arrive: refused before any payload is kept.
    let mut head = stream[..20].to_vec();
    let failure = decoder.decode(&mut session, &mut head).unwrap_err();
    assert_eq!(failure.error, Error::OverMemoryLimit { limit: 5000 });
    assert_eq!(decoder.heap_bytes(), 0);
}

#[test]
fn whole_frames_in_the_callers_buffer_are_not_limited() {
    let (mut decoder, mut session) = decoder(10);
    let mut stream = client_frame(true, 0x2, &[3; 1000]);
    let progress = decoder.decode(&mut session, &mut stream).unwrap();
    assert!(matches!(progress.event, Some(Event::Binary(b)) if b.len() == 1000));
}

#[test]
fn a_message_within_the_limit_passes_and_capacity_stays_within_the_frame() {
    let (mut decoder, mut session) = decoder(20_000);
    let stream = client_frame(true, 0x2, &[5; 10_000]);
    let mut got = None;
    let mut most = 0;
    for chunk in stream.chunks(100) {
        let mut chunk = chunk.to_vec();
        let mut pos = 0;
        while pos < chunk.len() {
            let progress = decoder.decode(&mut session, &mut chunk[pos..]).unwrap();
            pos += progress.consumed;
            if let Some(Event::Binary(b)) = progress.event {
                got = Some(b.len());
            }
        }
        most = most.max(decoder.heap_bytes());
    }
    assert_eq!(got, Some(10_000));
    // Doubling would reach 12,800 bytes; growth stops at the frame's announced end.
    assert!(most <= 10_000 + 200, "held {most}");
}

#[test]
fn a_compressed_bomb_stops_inflating_at_the_limit() {
    use flate2::{Compress, Compression, FlushCompress};
    // 4 MiB of zeros compress to a few KiB.
    let mut compress = Compress::new(Compression::new(1), false);
    let mut payload = Vec::with_capacity(64 << 10);
    compress
        .compress_vec(&vec![0u8; 4 << 20], &mut payload, FlushCompress::Sync)
        .unwrap();
    payload.truncate(payload.len() - 4);
    let mut stream = common::frame(true, 4, 0x2, common::MASK, &payload);
    let (mut decoder, mut session) = decoder(256 << 10);
    let codec = PermessageDeflate::new(Role::Server, DeflateConfig::default(), always()).unwrap();
    decoder.set_extension(Box::new(codec));
    // One read holds the whole compressed message: the decoder still stops at the limit.
    let failure = decoder.decode(&mut session, &mut stream).unwrap_err();
    assert_eq!(failure.error, Error::OverMemoryLimit { limit: 256 << 10 });
    assert_eq!(decoder.heap_bytes(), 0);
}

#[test]
fn the_limit_can_change_between_reads() {
    // A server raises or lowers it per read as its budget fills and empties.
    let (mut decoder, mut session) = decoder(usize::MAX);
    let mut first = client_frame(false, 0x1, b"hello ");
    assert!(decoder
        .decode(&mut session, &mut first)
        .unwrap()
        .event
        .is_none());
    decoder.set_memory_limit(8);
    let mut second = client_frame(true, 0x0, b"world");
    let failure = decoder.decode(&mut session, &mut second).unwrap_err();
    assert_eq!(failure.error, Error::OverMemoryLimit { limit: 8 });
}
