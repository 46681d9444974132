//! [`TlsSession`]: one server-side TLS connection over rustls's unbuffered API, with the
//! operations the reactor needs and no buffer of its own.
//!
//! Calling order, for a driver: after each read, [`TlsSession::on_bytes`] over everything
//! received and not yet consumed; send what it appended to `out`; hand `buf[..plaintext]` to the
//! HTTP or WebSocket layer; then drop `buf[..consumed]` and keep the rest at the front of the
//! buffer for the next read. To send, [`TlsSession::encrypt`] appends records to the outbound
//! queue; to close, [`TlsSession::close_notify`] appends the alert. Both fail while
//! [`TlsSession::is_handshaking`], so a driver checks it (or waits for the handshake's end)
//! before it writes application data.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, InsufficientSizeError, WriteTraffic,
};
use rustls::{CipherSuite, HandshakeKind, ProtocolVersion, ServerConfig};

/// Largest application data in one TLS record (RFC 8446 section 5.1).
const MAX_FRAGMENT: usize = 16 * 1024;

/// Bytes a record adds to its application data, at most, over the suites rustls offers: TLS 1.3
/// 22 (5 header, 1 inner content type, 16 tag), TLS 1.2 AES-GCM 29 (5, 8 explicit nonce, 16).
/// A guess that is short only costs a retry: rustls says how much it needs.
const RECORD_OVERHEAD: usize = 29;

thread_local! {
    /// The SNI the certificate resolver saw last on this thread (see [`note_server_name`]).
    static SERVER_NAME: RefCell<Option<Option<Box<str>>>> = const { RefCell::new(None) };
}

/// Called by the certificate resolver with the ClientHello's SNI. rustls 0.23 has no
/// `server_name()` on `UnbufferedServerConnection` (only on the buffered one), but it calls the
/// resolver for every ClientHello, full or resumed, synchronously inside
/// `process_tls_records`: the name is noted here and taken by the [`TlsSession`] whose call
/// that was, on the same thread, right after the call returns.
pub(crate) fn note_server_name(name: Option<&str>) {
    SERVER_NAME.with(|n| *n.borrow_mut() = Some(name.map(Box::from)));
}

/// The name noted since the last take, if the resolver ran.
fn take_server_name() -> Option<Option<Box<str>>> {
    SERVER_NAME.with(|n| n.borrow_mut().take())
}

/// What [`TlsSession::on_bytes`] did with a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Received {
    /// Bytes of whole TLS records processed from the front of the buffer. The caller drops
    /// `buf[..consumed]` once it has used the plaintext, and keeps `buf[consumed..]`, an
    /// incomplete record, at the front of the buffer for the next call.
    pub consumed: usize,
    /// Length of the application data decrypted by the call, now at `buf[..plaintext]`
    /// (`plaintext <= consumed`: a record's data is shorter than the record).
    pub plaintext: usize,
    /// The peer sent `close_notify`: it will send nothing more (TLS's half-close; we may still
    /// send, then answer with our own [`TlsSession::close_notify`]). Reported once.
    pub peer_closed: bool,
}

/// Why a TLS session cannot go on.
#[derive(Debug)]
pub enum TlsError {
    /// The peer broke the protocol, or the handshake failed (no shared version, suite or ALPN
    /// protocol, a bad record). The alert rustls chose has been appended to the output, so a
    /// driver sends it, then closes the connection.
    Protocol(rustls::Error),
    /// Application data or `close_notify` before the handshake finished. A driver closing a
    /// connection mid-handshake just closes the socket.
    Handshaking,
    /// The session is closed: `close_notify` went both ways, or was sent by us.
    Closed,
    /// The sending key reached its record limit and TLS 1.2 has no key update: close.
    Exhausted,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(e) => write!(f, "TLS: {e}"),
            Self::Handshaking => f.write_str("TLS: the handshake has not finished"),
            Self::Closed => f.write_str("TLS: the session is closed"),
            Self::Exhausted => f.write_str("TLS: the sending key is exhausted"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

/// A server-side TLS session over caller-owned buffers (see the calling order in the module
/// docs). It owns no I/O buffer: records are decrypted from the caller's read buffer and their
/// plaintext is left in that buffer; records to send are appended to the caller's output queue.
pub struct TlsSession {
    conn: UnbufferedServerConnection,
    server_name: Option<Box<str>>,
    sent_close_notify: bool,
    /// rustls holds part of a handshake message in the caller's buffer: the front of what
    /// `on_bytes` left unconsumed is records it has read but not released. Until a later
    /// `on_bytes` releases them, rustls must not be called without that buffer (it indexes
    /// into it and panics on a shorter one), so `encrypt` and `close_notify` refuse.
    holds_input: bool,
}

impl TlsSession {
    /// A session for a new connection, with `config` (normally
    /// [`super::CertStore::server_config`]).
    pub fn new(config: Arc<ServerConfig>) -> Result<Self, TlsError> {
        Ok(Self {
            conn: UnbufferedServerConnection::new(config).map_err(TlsError::Protocol)?,
            server_name: None,
            sent_close_notify: false,
            holds_input: false,
        })
    }

    /// Processes the received bytes at the front of `buf`: handshake records (their replies
    /// appended to `out`), then application data, decrypted and gathered at `buf[..plaintext]`;
    /// see [`Received`]. On an error the alert to send has been appended to `out`.
    ///
    /// rustls 0.23 decrypts a record where it lies in `buf`, then copies its data into a `Vec`
    /// of its own that it hands out and frees (`ReadTraffic`; its docs plan in-place delivery
    /// for a later version). This function copies that data back over the records already
    /// consumed, so the caller sees one contiguous plaintext in its own buffer, now and after
    /// rustls drops the copy.
    pub fn on_bytes(&mut self, buf: &mut [u8], out: &mut Vec<u8>) -> Result<Received, TlsError> {
        // rustls parses what the peer sends; whatever it does with hostile bytes must cost
        // this connection only, never the reactor thread that serves thousands of others.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.process(buf, out)));
        let result = result.unwrap_or_else(|_| {
            log::warn!("tls: rustls panicked on a peer's bytes; the connection is closed");
            Err(TlsError::Protocol(rustls::Error::General(
                "rustls panicked".to_owned(),
            )))
        });
        self.holds_input = match &result {
            Ok(got) => {
                let held = starts_with_whole_record(&buf[got.consumed..]);
                if held {
                    log::debug!(
                        "tls: {} bytes left unread, a whole record first (handshaking: {})",
                        buf.len() - got.consumed,
                        self.conn.is_handshaking()
                    );
                }
                held
            }
            Err(_) => false,
        };
        result
    }

    fn process(&mut self, buf: &mut [u8], out: &mut Vec<u8>) -> Result<Received, TlsError> {
        enum Next {
            Again,
            Read,
            Stop,
        }
        let mut got = Received::default();
        loop {
            let handshaking = self.conn.is_handshaking();
            if handshaking {
                take_server_name();
            }
            let status = self.conn.process_tls_records(&mut buf[got.consumed..]);
            let discard = status.discard;
            let next = match status.state {
                Err(e) => {
                    // rustls may still count records of half a handshake message in the
                    // input: asked for its alert without that input, it would index past the
                    // end of an empty buffer, and given it, read the records again and fail
                    // twice. Then the caller sends its own alert (see `TlsTransport`).
                    if !starts_with_whole_record(&buf[got.consumed + discard..]) {
                        self.flush_alert(out);
                    }
                    return Err(TlsError::Protocol(e));
                }
                // The record's data waits in rustls; read it once `buf` is ours again.
                Ok(ConnectionState::ReadTraffic(_)) => Next::Read,
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    encode(&mut data, out);
                    Next::Again
                }
                Ok(ConnectionState::TransmitTlsData(data)) => {
                    // What was encoded is in `out`, which the driver sends before anything
                    // appended later.
                    data.done();
                    Next::Again
                }
                Ok(ConnectionState::PeerClosed) => {
                    got.peer_closed = true;
                    Next::Again
                }
                // Waiting for more input (or idle, or closed both ways). Early data is never
                // enabled (`max_early_data_size` stays 0), so `ReadEarlyData` cannot come.
                Ok(_) => Next::Stop,
            };
            got.consumed += discard;
            if handshaking {
                if let Some(name) = take_server_name() {
                    self.server_name = name;
                }
            }
            match next {
                Next::Again => {}
                Next::Read => self.read_records(buf, &mut got)?,
                Next::Stop => return Ok(got),
            }
        }
    }

    /// Copies the application data rustls holds to `buf[got.plaintext..]`.
    fn read_records(&mut self, buf: &mut [u8], got: &mut Received) -> Result<(), TlsError> {
        let mut nothing = [0u8; 0];
        let status = self.conn.process_tls_records(&mut nothing);
        let Ok(ConnectionState::ReadTraffic(mut records)) = status.state else {
            // Only reached with data pending, which an empty input cannot change.
            return Ok(());
        };
        while let Some(record) = records.next_record() {
            let record = record.map_err(TlsError::Protocol)?;
            let end = got.plaintext + record.payload.len();
            // TLS forbids application data between the records of one handshake message
            // (RFC 8446 section 5.1), so the records holding this data have been consumed and
            // the data is shorter than they were.
            if end > got.consumed {
                return Err(TlsError::Protocol(rustls::Error::General(
                    "application data longer than the records consumed".to_owned(),
                )));
            }
            buf[got.plaintext..end].copy_from_slice(record.payload);
            got.plaintext = end;
        }
        Ok(())
    }

    /// Appends `plaintext`, as application data records, to `out`. Nothing is appended on an
    /// error.
    pub fn encrypt(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), TlsError> {
        self.with_write_traffic(out, |writer, out| {
            let records = plaintext.len().div_ceil(MAX_FRAGMENT).max(1);
            let room = plaintext.len() + records * RECORD_OVERHEAD;
            fill(out, room, |dst| writer.encrypt(plaintext, dst))
        })
    }

    /// Appends a `close_notify` alert to `out`: the last thing this session sends. Over a
    /// half-closed TCP connection it is what tells the client the server's data ended where it
    /// should (RFC 8446 section 6.1), so a driver sends it before it shuts down its side.
    pub fn close_notify(&mut self, out: &mut Vec<u8>) -> Result<(), TlsError> {
        self.with_write_traffic(out, |writer, out| {
            fill(out, 64, |dst| writer.queue_close_notify(dst))
        })?;
        self.sent_close_notify = true;
        Ok(())
    }

    /// Runs `write` once the session may send application data, appending to `out` whatever
    /// handshake data rustls had pending first.
    fn with_write_traffic(
        &mut self,
        out: &mut Vec<u8>,
        write: impl FnOnce(
            &mut WriteTraffic<'_, ServerConnectionData>,
            &mut Vec<u8>,
        ) -> Result<(), TlsError>,
    ) -> Result<(), TlsError> {
        if self.sent_close_notify {
            return Err(TlsError::Closed);
        }
        if self.holds_input {
            // Half a handshake message waits in the driver's buffer: during the handshake
            // nothing can be sent anyway; after it (a client that splits a post-handshake
            // message across records and reads) the connection cannot go on.
            return Err(if self.conn.is_handshaking() {
                TlsError::Handshaking
            } else {
                TlsError::Protocol(rustls::Error::General(
                    "a handshake message is incomplete".to_owned(),
                ))
            });
        }
        let mut nothing = [0u8; 0];
        loop {
            match self.conn.process_tls_records(&mut nothing).state {
                Ok(ConnectionState::WriteTraffic(mut writer)) => return write(&mut writer, out),
                Ok(ConnectionState::EncodeTlsData(mut data)) => encode(&mut data, out),
                Ok(ConnectionState::TransmitTlsData(data)) => data.done(),
                // Reported by `on_bytes` already; edge-triggered, it comes once.
                Ok(ConnectionState::PeerClosed) => {}
                Ok(ConnectionState::BlockedHandshake) => return Err(TlsError::Handshaking),
                Ok(_) => return Err(TlsError::Closed),
                Err(e) => return Err(TlsError::Protocol(e)),
            }
        }
    }

    /// Appends the alert rustls queued on a failure, if any.
    fn flush_alert(&mut self, out: &mut Vec<u8>) {
        let mut nothing = [0u8; 0];
        loop {
            match self.conn.process_tls_records(&mut nothing).state {
                Ok(ConnectionState::EncodeTlsData(mut data)) => encode(&mut data, out),
                Ok(ConnectionState::TransmitTlsData(data)) => data.done(),
                _ => return,
            }
        }
    }

    /// Whether the handshake is still going on (no application data either way yet).
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The negotiated protocol version, once known.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.conn.protocol_version()
    }

    /// The negotiated cipher suite, once known.
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        self.conn.negotiated_cipher_suite().map(|s| s.suite())
    }

    /// The ALPN protocol agreed (`http/1.1`), or `None` if the client offered none.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// The server name the client asked for (SNI), lowercase, or `None` if it sent none.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// Whether the handshake was full or a resumption, once it is done.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.conn.handshake_kind()
    }

    /// One line for the debug log: `version=TLSv1_3 cipher=TLS13_AES_128_GCM_SHA256
    /// alpn=http/1.1 sni=example.com handshake=Full` (`-` for what is not known).
    pub fn describe(&self) -> String {
        fn or_dash<T: fmt::Debug>(v: Option<T>) -> String {
            v.map_or_else(|| "-".to_owned(), |v| format!("{v:?}"))
        }
        format!(
            "version={} cipher={} alpn={} sni={} handshake={}",
            or_dash(self.protocol_version()),
            or_dash(self.cipher_suite()),
            self.alpn_protocol()
                .map_or_else(|| "-".into(), String::from_utf8_lossy),
            self.server_name().unwrap_or("-"),
            or_dash(self.handshake_kind()),
        )
    }
}

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TlsSession({})", self.describe())
    }
}

/// Whether `bytes` starts with a whole TLS record (a 5-byte header and the length it gives):
/// after `on_bytes`, such a record was read by rustls and kept in the buffer.
fn starts_with_whole_record(bytes: &[u8]) -> bool {
    match bytes {
        [_, _, _, hi, lo, rest @ ..] => rest.len() >= usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => false,
    }
}

/// Appends a handshake record rustls has ready to `out`, at its exact size.
fn encode(data: &mut EncodeTlsData<'_, ServerConnectionData>, out: &mut Vec<u8>) {
    // Asked with no room, rustls says how much it needs and keeps the record.
    let room = match data.encode(&mut []) {
        Ok(_) | Err(EncodeError::AlreadyEncoded) => return,
        Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size })) => {
            required_size
        }
    };
    let start = out.len();
    out.resize(start + room, 0);
    let written = data.encode(&mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
}

/// Runs `write` over `room` new bytes at the end of `out` (more if it asks), keeping what it
/// wrote.
fn fill(
    out: &mut Vec<u8>,
    mut room: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, EncryptError>,
) -> Result<(), TlsError> {
    let start = out.len();
    loop {
        out.resize(start + room, 0);
        match write(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(EncryptError::InsufficientSize(InsufficientSizeError { required_size })) => {
                room = required_size.max(room + 1);
            }
            Err(EncryptError::EncryptExhausted) => {
                out.truncate(start);
                return Err(TlsError::Exhausted);
            }
        }
    }
}
