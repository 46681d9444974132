//! The cluster engine's wire format (`switchyard::cluster::wire`, sans-IO) over arbitrary bytes:
//! what a node accepts from Redis, where anyone may publish anything.
//!
//! Properties: never a panic; a payload is accepted only within the maximum, as text only if
//! UTF-8; what is accepted encodes back to the same bytes; a channel name is ours only with
//! the prefix; `split_frame` (the publisher's reading of a frame it was handed) agrees with
//! the frame crate's encoder on what it accepts.
//!
//! Input: a byte for the maximum payload size (`byte * 16`), then the Redis payload; the same
//! bytes are also tried as a channel name and as a frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::cluster::wire;
use switchyard_frame::OpCode;

fuzz_target!(|data: &[u8]| {
    let [max, payload @ ..] = data else { return };
    let max = usize::from(*max) * 16;
    if let Ok(m) = wire::decode(payload, max) {
        assert!(m.payload.len() <= max);
        if m.opcode == OpCode::Text {
            assert!(std::str::from_utf8(m.payload).is_ok());
        }
        let mut again = Vec::new();
        wire::encode(m.origin, m.opcode, m.payload, &mut again);
        assert_eq!(again, payload, "decode then encode is the identity");
    }
    if let Ok(topic) = wire::topic(payload) {
        assert_eq!(wire::channel(topic).as_bytes(), payload);
    }
    if let Some((opcode, body)) = wire::split_frame(payload) {
        let mut frame = vec![0; switchyard_frame::shared_frame_len(body.len())];
        let n = switchyard_frame::encode_shared_frame(opcode, body, &mut frame).unwrap();
        // The encoder picks the shortest length form; a longer form of the same frame is
        // accepted too, with the same payload.
        let (op2, body2) = wire::split_frame(&frame[..n]).unwrap();
        assert_eq!((op2, body2), (opcode, body));
    }
});
