//! Server frames written without a codec: the server role sends unmasked frames, so a frame is
//! a header from [`FrameHeader::encode`] followed by the payload as it is (no copy: the two go
//! out as one vectored write).

use switchyard_frame::{FrameHeader, HeaderBytes, OpCode};

/// The header of an unfragmented, unmasked server frame.
#[inline]
pub fn header(opcode: OpCode, len: usize) -> HeaderBytes {
    FrameHeader {
        fin: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: None,
        payload_len: len as u64,
    }
    .encode()
}

/// A whole frame in shared bytes (a broadcast): written once, straight into the reference-counted
/// allocation (`Arc::from_iter` over slices allocates once, no intermediate `Vec`).
pub fn shared_frame(opcode: OpCode, payload: &[u8]) -> std::sync::Arc<[u8]> {
    let h = header(opcode, payload.len());
    h.as_bytes().iter().chain(payload).copied().collect()
}

/// A whole frame in one buffer.
pub fn frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let h = header(opcode, payload.len());
    let mut v = Vec::with_capacity(h.as_bytes().len() + payload.len());
    v.extend_from_slice(h.as_bytes());
    v.extend_from_slice(payload);
    v
}

/// A close frame with `code` and a short reason (cut to fit the 125-byte control payload at a
/// character boundary).
pub fn close(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    frame(OpCode::Close, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_match_rfc_6455_section_5_7() {
        // "A single-frame unmasked text message (contains "Hello")".
        assert_eq!(
            frame(OpCode::Text, b"Hello"),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
        // "256 bytes binary message in a single unmasked frame": 0x82 0x7E 0x0100.
        assert_eq!(
            header(OpCode::Binary, 256).as_bytes(),
            [0x82, 0x7E, 0x01, 0x00]
        );
        // "64KiB binary message in a single unmasked frame".
        assert_eq!(
            header(OpCode::Binary, 65536).as_bytes(),
            [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]
        );
    }

    #[test]
    fn shared_frame_is_the_same_frame() {
        for len in [0, 5, 125, 126, 70_000] {
            let payload = vec![7u8; len];
            assert_eq!(
                &*shared_frame(OpCode::Binary, &payload),
                &frame(OpCode::Binary, &payload)[..]
            );
        }
    }

    #[test]
    fn close_reason_is_cut_at_a_char_boundary() {
        let f = close(1001, &"\u{e9}".repeat(100));
        assert_eq!(&f[..4], [0x88, 124, 0x03, 0xE9]);
        assert!(std::str::from_utf8(&f[4..]).is_ok());
    }
}
