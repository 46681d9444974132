//! The cluster's wire format: what one Switchyard process publishes on a Redis channel for the
//! others. Sans-IO: bytes in, a message or a reason out; no Redis here.
//!
//! A Redis channel is `switchyard:` followed by the topic's name ([`CHANNEL_PREFIX`]), so the
//! cluster's channels are easy to tell apart from an application's own and `PUBSUB CHANNELS
//! switchyard:*` lists them. The payload of a Redis message is:
//!
//! ```text
//! byte 0      version, 1
//! byte 1      kind: 1 text, 2 binary
//! bytes 2-9   the origin node's id (random at each start, see `Engine`)
//! bytes 10..  the WebSocket message's payload (text is UTF-8)
//! ```
//!
//! The origin's id lets a node skip what it published itself: it delivered those locally
//! already. Anything else (a short message, another version or kind, text that is not UTF-8,
//! a payload over the configured maximum message size) is [`Malformed`] and dropped.

use switchyard_frame::OpCode;

/// Prefix of every Redis channel the cluster uses: `switchyard:` + the topic.
pub const CHANNEL_PREFIX: &str = "switchyard:";

/// Version byte of this format.
pub const VERSION: u8 = 1;

/// Length of the header before the payload.
pub const HEADER_LEN: usize = 10;

/// A node's id: 8 random bytes.
pub type NodeId = [u8; 8];

/// A decoded cluster message, borrowing the Redis payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireMessage<'a> {
    /// Who published it.
    pub origin: NodeId,
    /// `Text` or `Binary`.
    pub opcode: OpCode,
    /// The message's payload.
    pub payload: &'a [u8],
}

/// Why a Redis message was not a cluster message; each is counted as malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the header.
    Short,
    /// Another version of the format (a newer node in a mixed cluster, or someone else's data).
    Version(u8),
    /// A kind other than text (1) or binary (2).
    Kind(u8),
    /// Text that is not UTF-8 (RFC 6455 section 8.1: a text message is UTF-8).
    NotUtf8,
    /// A payload over the node's maximum message size.
    TooLarge(usize),
    /// A channel without the `switchyard:` prefix or with a topic that is not UTF-8.
    Channel,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::Short => write!(f, "shorter than the {HEADER_LEN}-byte header"),
            Malformed::Version(v) => write!(f, "unknown version {v}"),
            Malformed::Kind(k) => write!(f, "unknown kind {k}"),
            Malformed::NotUtf8 => f.write_str("text that is not UTF-8"),
            Malformed::TooLarge(n) => write!(f, "payload of {n} bytes over the maximum"),
            Malformed::Channel => f.write_str("not a switchyard channel"),
        }
    }
}

/// Writes the header and payload of a message into `out` (cleared first).
pub fn encode(origin: NodeId, opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(HEADER_LEN + payload.len());
    out.push(VERSION);
    out.push(if opcode == OpCode::Text { 1 } else { 2 });
    out.extend_from_slice(&origin);
    out.extend_from_slice(payload);
}

/// Decodes a Redis message's payload; `max_payload` is the node's maximum message size.
pub fn decode(bytes: &[u8], max_payload: usize) -> Result<WireMessage<'_>, Malformed> {
    if bytes.len() < HEADER_LEN {
        return Err(Malformed::Short);
    }
    if bytes[0] != VERSION {
        return Err(Malformed::Version(bytes[0]));
    }
    let opcode = match bytes[1] {
        1 => OpCode::Text,
        2 => OpCode::Binary,
        k => return Err(Malformed::Kind(k)),
    };
    let payload = &bytes[HEADER_LEN..];
    if payload.len() > max_payload {
        return Err(Malformed::TooLarge(payload.len()));
    }
    if opcode == OpCode::Text && std::str::from_utf8(payload).is_err() {
        return Err(Malformed::NotUtf8);
    }
    let mut origin = [0; 8];
    origin.copy_from_slice(&bytes[2..HEADER_LEN]);
    Ok(WireMessage {
        origin,
        opcode,
        payload,
    })
}

/// The Redis channel of a topic.
pub fn channel(topic: &str) -> String {
    let mut c = String::with_capacity(CHANNEL_PREFIX.len() + topic.len());
    c.push_str(CHANNEL_PREFIX);
    c.push_str(topic);
    c
}

/// The topic of a Redis channel, if it is one of ours.
pub fn topic(channel: &[u8]) -> Result<&str, Malformed> {
    channel
        .strip_prefix(CHANNEL_PREFIX.as_bytes())
        .and_then(|t| std::str::from_utf8(t).ok())
        .ok_or(Malformed::Channel)
}

/// The opcode and payload of a whole unmasked, unfragmented data frame as
/// `switchyard_frame::encode_shared_frame` writes it (what a publish hands the bus), or `None`
/// for anything else.
pub fn split_frame(frame: &[u8]) -> Option<(OpCode, &[u8])> {
    let (&b0, rest) = frame.split_first()?;
    let (&b1, rest) = rest.split_first()?;
    let opcode = match b0 & 0x0f {
        1 => OpCode::Text,
        2 => OpCode::Binary,
        _ => return None,
    };
    if b0 & 0x80 == 0 || b1 & 0x80 != 0 {
        return None;
    }
    let (len, rest) = match b1 & 0x7f {
        126 => {
            let (l, r) = rest.split_at_checked(2)?;
            (u16::from_be_bytes([l[0], l[1]]) as usize, r)
        }
        127 => {
            let (l, r) = rest.split_at_checked(8)?;
            let mut b = [0; 8];
            b.copy_from_slice(l);
            (usize::try_from(u64::from_be_bytes(b)).ok()?, r)
        }
        n => (n as usize, rest),
    };
    (rest.len() == len).then_some((opcode, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: NodeId = *b"nodeid01";

    #[test]
    fn round_trip() {
        let mut out = Vec::new();
        for (opcode, payload) in [
            (OpCode::Text, &b"hello"[..]),
            (OpCode::Binary, &[0, 255, 1][..]),
            (OpCode::Text, &b""[..]),
        ] {
            encode(NODE, opcode, payload, &mut out);
            let m = decode(&out, 100).unwrap();
            assert_eq!((m.origin, m.opcode, m.payload), (NODE, opcode, payload));
        }
    }

    #[test]
    fn malformed_inputs_are_named() {
        let mut out = Vec::new();
        encode(NODE, OpCode::Text, b"abc", &mut out);
        assert_eq!(decode(&out[..9], 100), Err(Malformed::Short));
        assert_eq!(decode(&out, 2), Err(Malformed::TooLarge(3)));
        let mut v = out.clone();
        v[0] = 2;
        assert_eq!(decode(&v, 100), Err(Malformed::Version(2)));
        let mut k = out.clone();
        k[1] = 9;
        assert_eq!(decode(&k, 100), Err(Malformed::Kind(9)));
        encode(NODE, OpCode::Text, &[0xff, 0xfe], &mut out);
        assert_eq!(decode(&out, 100), Err(Malformed::NotUtf8));
        encode(NODE, OpCode::Binary, &[0xff, 0xfe], &mut out);
        assert!(decode(&out, 100).is_ok(), "binary need not be UTF-8");
    }

    #[test]
    fn channels_carry_the_prefix() {
        assert_eq!(channel("/rooms/a"), "switchyard:/rooms/a");
        assert_eq!(topic(b"switchyard:/rooms/a"), Ok("/rooms/a"));
        assert_eq!(topic(b"other:/rooms/a"), Err(Malformed::Channel));
        assert_eq!(topic(b"switchyard:\xff"), Err(Malformed::Channel));
    }

    #[test]
    fn split_frame_reads_what_the_frame_crate_writes() {
        for len in [0usize, 5, 125, 126, 65535, 65536, 70000] {
            let payload = vec![7u8; len];
            let mut frame = vec![0; switchyard_frame::shared_frame_len(len)];
            let n = switchyard_frame::encode_shared_frame(OpCode::Binary, &payload, &mut frame)
                .unwrap();
            frame.truncate(n);
            let (op, p) = split_frame(&frame).unwrap();
            assert_eq!((op, p.len()), (OpCode::Binary, len));
            assert!(split_frame(&frame[..n - 1]).is_none() || len == 0);
        }
        assert!(split_frame(&[0x89, 0]).is_none(), "a ping is not a message");
        assert!(split_frame(&[]).is_none());
    }
}
