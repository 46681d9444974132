//! Close codes and close frame payloads (RFC 6455 sections 5.5.1 and 7.4, IANA "WebSocket Close
//! Code Number Registry").

use core::fmt;

use crate::error::Error;

/// A close status code (RFC 6455 section 7.4). Any `u16` can be held; whether it may appear in a
/// close frame is [`CloseCode::is_valid_on_wire`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: endpoint going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: data of a type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present. Reserved: never sent on the wire.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: connection closed without a close frame. Reserved: never sent on the wire.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: message data inconsistent with its type (e.g. invalid UTF-8 in a text message).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: message violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: service restart (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: bad gateway (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: TLS handshake failure. Reserved: never sent on the wire.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether the code may appear in a close frame.
    ///
    /// - 1000-1003 and 1007-1011 are defined by RFC 6455 section 7.4.1;
    /// - 1012-1014 are registered in the IANA registry (RFC 6455 section 11.7) and sent by real
    ///   servers, so we accept them;
    /// - 1004 is reserved, 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close control
    ///   frame" (section 7.4.1);
    /// - 1016-2999 are reserved for future RFCs and unassigned, 0-999 are unused (section 7.4.2);
    /// - 3000-3999 (registered by libraries and frameworks) and 4000-4999 (private use) are valid;
    /// - 5000 and above are undefined.
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

/// A parsed close frame payload: the status code (if any) and the UTF-8 reason.
///
/// RFC 6455 section 5.5.1: the payload is empty, or a two-byte big-endian code followed by a
/// UTF-8 reason.
pub fn parse_close_payload(payload: &[u8]) -> Result<(Option<CloseCode>, &str), Error> {
    match payload {
        [] => Ok((None, "")),
        [_] => Err(Error::CloseFrameTooShort),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_on_wire() {
                return Err(Error::InvalidCloseCode(code.0));
            }
            let reason = crate::utf8::validate(reason).map_err(|_| Error::InvalidCloseReason)?;
            Ok((Some(code), reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_matches_rfc_and_iana_for_every_code() {
        for raw in 0..=u16::MAX {
            let expected = matches!(
                raw,
                1000 | 1001 | 1002 | 1003 | 1007 | 1008 | 1009 | 1010 | 1011 | 1012 | 1013 | 1014
            ) || (3000..=4999).contains(&raw);
            assert_eq!(CloseCode(raw).is_valid_on_wire(), expected, "{raw}");
        }
        for never in [
            1004, 1005, 1006, 1015, 0, 999, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(never).is_valid_on_wire(), "{never}");
        }
    }

    #[test]
    fn parses_code_and_reason() {
        assert_eq!(parse_close_payload(&[]), Ok((None, "")));
        assert_eq!(
            parse_close_payload(&[0x03, 0xE8]),
            Ok((Some(CloseCode::NORMAL), ""))
        );
        let mut p = vec![0x0F, 0xA0];
        p.extend_from_slice("bye ✓".as_bytes());
        assert_eq!(
            parse_close_payload(&p),
            Ok((Some(CloseCode(4000)), "bye ✓"))
        );
    }

    #[test]
    fn rejects_short_invalid_code_and_bad_reason() {
        assert_eq!(parse_close_payload(&[0x03]), Err(Error::CloseFrameTooShort));
        assert_eq!(
            parse_close_payload(&[0x03, 0xED]),
            Err(Error::InvalidCloseCode(1005))
        );
        assert_eq!(
            parse_close_payload(&[
                0x03, 0xE8, 0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED,
                0xA0, 0x80
            ]),
            Err(Error::InvalidCloseReason)
        );
    }
}
