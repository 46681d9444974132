//! [`TlsTransport`]: a [`TlsSession`] as netio's [`Transport`], so that the reactors serve TLS
//! connections with the same HTTP, WebSocket and tunnel code as plain ones; and
//! [`TlsFailure`], why a TLS connection failed, for the metrics.

use std::fmt;
use std::io;

use rustls::HandshakeKind;
use switchyard_netio::{Decoded, Transport};

use super::session::{TlsError, TlsSession};

/// A fatal `decode_error` alert in a plaintext record (RFC 8446 section 6: level 2, description
/// 50), for a ClientHello cut short (rustls only sends alerts for records it could parse, and a
/// truncated record never is one) and for failures rustls gives no alert for. Sent only before the server has answered anything, while no
/// keys exist and alerts are plaintext.
const DECODE_ERROR_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32];

/// Why a TLS connection failed, one label of `switchyard_tls_failures_total` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailure {
    /// The client spoke plain HTTP to the TLS port (`GET / HTTP/1.1`).
    PlainHttp,
    /// The first bytes were not a TLS record at all.
    NotTls,
    /// The stream ended in the middle of the client's first flight (a truncated ClientHello).
    Truncated,
    /// The handshake did not finish within the head timeout.
    HandshakeTimeout,
    /// ALPN offered without `http/1.1` (`h2` alone): `no_application_protocol` sent.
    NoAlpn,
    /// No protocol version, cipher suite or key exchange group in common.
    Incompatible,
    /// The client sent an alert (it refused our certificate, say).
    AlertReceived,
    /// Any other protocol violation.
    Protocol,
}

impl TlsFailure {
    /// Every failure, in the order of [`TlsFailure::index`].
    pub const ALL: [TlsFailure; 8] = [
        TlsFailure::PlainHttp,
        TlsFailure::NotTls,
        TlsFailure::Truncated,
        TlsFailure::HandshakeTimeout,
        TlsFailure::NoAlpn,
        TlsFailure::Incompatible,
        TlsFailure::AlertReceived,
        TlsFailure::Protocol,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            TlsFailure::PlainHttp => "plain_http",
            TlsFailure::NotTls => "not_tls",
            TlsFailure::Truncated => "truncated",
            TlsFailure::HandshakeTimeout => "handshake_timeout",
            TlsFailure::NoAlpn => "no_alpn",
            TlsFailure::Incompatible => "incompatible",
            TlsFailure::AlertReceived => "alert_received",
            TlsFailure::Protocol => "protocol",
        }
    }

    /// Position in [`TlsFailure::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The failure an error from a [`TlsTransport`] stands for, if it is one.
    pub fn of(error: &io::Error) -> Option<TlsFailure> {
        error
            .get_ref()
            .and_then(|e| e.downcast_ref::<Failed>())
            .map(|f| f.failure)
    }

    /// The failure of a rustls error; `first`: nothing had been decoded before (so a record
    /// that does not parse means the peer does not speak TLS at all).
    fn classify(error: &TlsError, first: bool) -> TlsFailure {
        let TlsError::Protocol(e) = error else {
            return TlsFailure::Protocol;
        };
        match e {
            rustls::Error::NoApplicationProtocol => TlsFailure::NoAlpn,
            rustls::Error::PeerIncompatible(_) => TlsFailure::Incompatible,
            rustls::Error::AlertReceived(_) => TlsFailure::AlertReceived,
            rustls::Error::InvalidMessage(_) if first => TlsFailure::NotTls,
            _ => TlsFailure::Protocol,
        }
    }
}

/// The error a [`TlsTransport`] gives netio: the failure and rustls's words for it.
#[derive(Debug)]
struct Failed {
    failure: TlsFailure,
    detail: String,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS {}: {}", self.failure.label(), self.detail)
    }
}

impl std::error::Error for Failed {}

fn failed(failure: TlsFailure, detail: impl fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        Failed {
            failure,
            detail: detail.to_string(),
        },
    )
}

/// Whether `bytes` start like an HTTP/1 request line: an upper-case token and a space.
fn looks_like_http(bytes: &[u8]) -> bool {
    let token = bytes.iter().take_while(|b| b.is_ascii_uppercase()).count();
    (3..=7).contains(&token) && bytes.get(token) == Some(&b' ')
}

/// One TLS connection as a netio transport: decrypts in the reactor's read buffer, encrypts
/// each write into records, sends `close_notify` on a close after flush (see
/// [`switchyard_netio::transport`] for where netio calls it). Holds the session and two flags:
/// no buffer.
pub struct TlsTransport {
    session: TlsSession,
    /// Bytes have arrived (a FIN before any is a port check, not a truncation).
    received: bool,
    /// The server has sent something (after which alerts are rustls's to send).
    answered: bool,
}

impl TlsTransport {
    /// A transport over a new session.
    pub fn new(session: TlsSession) -> Self {
        Self {
            session,
            received: false,
            answered: false,
        }
    }

    /// The session, for its negotiated parameters.
    pub fn session(&self) -> &TlsSession {
        &self.session
    }

    /// Whether the handshake was a resumption (`None` until it is done).
    pub fn resumed(&self) -> Option<bool> {
        self.session
            .handshake_kind()
            .map(|k| k == HandshakeKind::Resumed)
    }
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TlsTransport({})", self.session.describe())
    }
}

impl Transport for TlsTransport {
    fn decode(&mut self, buf: &mut [u8], out: &mut Vec<u8>) -> io::Result<Decoded> {
        let first = !self.received;
        if first && looks_like_http(buf) {
            // rustls would refuse the first byte as a record type; say which mistake it is.
            // Its alert is still sent.
            let mut alert = Vec::new();
            let e = self.session.on_bytes(buf, &mut alert).err();
            out.extend_from_slice(&alert);
            return Err(failed(
                TlsFailure::PlainHttp,
                e.map_or_else(|| "plain HTTP".to_owned(), |e| e.to_string()),
            ));
        }
        self.received |= !buf.is_empty();
        let before = out.len();
        let result = self.session.on_bytes(buf, out);
        self.answered |= out.len() > before;
        match result {
            Ok(got) => Ok(Decoded {
                consumed: got.consumed,
                data: got.plaintext,
                end: got.peer_closed,
            }),
            Err(e) => {
                // rustls answers most failures with an alert; where it gave none and we have
                // sent nothing yet (no keys, so alerts are plaintext), say decode_error.
                if out.len() == before && !self.answered {
                    out.extend_from_slice(&DECODE_ERROR_ALERT);
                }
                Err(failed(TlsFailure::classify(&e, first), &e))
            }
        }
    }

    fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        match self.session.encrypt(data, out) {
            Ok(()) => Ok(()),
            // Before the handshake's end nothing may go out in the clear and nothing can be
            // encrypted: only a reply to no request (the 503 over the connection limit, a 408
            // to a stalled handshake) is written then, and dropping it is right. After our
            // close_notify, nothing more is sent.
            Err(TlsError::Handshaking | TlsError::Closed) => Ok(()),
            Err(e) => Err(io::Error::other(e)),
        }
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        // Mid-handshake there is nothing to close politely; a second close is refused.
        let _ = self.session.close_notify(out);
    }

    fn eof(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if !self.session.is_handshaking() || !self.received {
            // After the handshake, a FIN without close_notify ends the stream as on plain TCP
            // (a WebSocket without its close frame); before any byte, it is a port check.
            return Ok(());
        }
        if !self.answered {
            out.extend_from_slice(&DECODE_ERROR_ALERT);
        }
        Err(failed(
            TlsFailure::Truncated,
            "the stream ended inside the handshake",
        ))
    }

    fn is_established(&self) -> bool {
        !self.session.is_handshaking()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_request_lines_are_recognised() {
        assert!(looks_like_http(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_http(b"OPTIONS * HTTP/1.1\r\n"));
        assert!(!looks_like_http(b"\x16\x03\x01\x02\x00"));
        assert!(!looks_like_http(b"GE"));
        assert!(!looks_like_http(b"get / HTTP/1.1"));
    }

    #[test]
    fn failure_labels_and_indexes_agree() {
        for (i, f) in TlsFailure::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
            assert!(!f.label().is_empty());
        }
        let e = failed(TlsFailure::NoAlpn, "x");
        assert_eq!(TlsFailure::of(&e), Some(TlsFailure::NoAlpn));
        assert_eq!(TlsFailure::of(&io::Error::other("x")), None);
    }
}
