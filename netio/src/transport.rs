//! [`Transport`]: an optional byte-stream layer between a connection's socket and its handler
//! (TLS is one). netio knows nothing of what it does: it hands it what was read, sends what it
//! answers, and passes every write through it.
//!
//! # Where the layer sits, and who owns which buffer
//! A connection given a transport with [`crate::Ctx::set_transport`] keeps the handler's view
//! unchanged: `on_data` gets decoded bytes, every write (`write`, `write_owned`,
//! `write_shared`, deferred or not, to this connection or from another's callback) is encoded on
//! its way to the socket. The layer sits *below* the cork and *above* the outbound queue:
//!
//! - **Input.** The reactor reads into its per-reactor read buffer, after the undecoded tail
//!   of the previous read if there is one (an incomplete record, copied to the front), and
//!   calls [`Transport::decode`] over that buffer, which decodes in place and leaves the data
//!   at its front; `on_data` gets that slice, as it gets a plain read. What the transport
//!   answers (a handshake's records, an alert) is sent at once, before `on_data` runs, unless
//!   the same read gave the handler data: then the answer is held for the handler's reply and
//!   leaves in front of it, in the same `send` (a TLS server's session tickets and its answer
//!   to the first request: one segment, not two), or alone when the callback returns without
//!   writing. Anything else encoded for the connection meanwhile (an immediate or deferred
//!   write, the end of stream) sends the held answer first, so bytes go out in the order they
//!   were encoded. The tail
//!   it did not consume is copied out of the read buffer into a buffer held by the connection
//!   only while a tail exists: a connection between records holds none.
//! - **Output.** What a callback corks for its connection is encoded in one
//!   [`Transport::encode`] call when the callback returns (so one callback's writes become as
//!   few records as their size allows), into a per-reactor scratch buffer that goes to the
//!   socket in one `send`; only what the socket does not take is copied into the connection's
//!   queue. A write to another connection is encoded at the call; a deferred write is encoded
//!   at the call and its encoded bytes wait in the queue for the end of the turn, so the
//!   fan-out still makes one `send` per subscriber per turn (one record per deferred write,
//!   though: shared bytes cannot be shared once encrypted per connection).
//! - **Backpressure** sees encoded bytes: the outbound queue, [`crate::Ctx::queued`],
//!   [`crate::Ctx::queued_total`] and the water marks count what will go to the socket.
//! - **Close.** A close after flush or a write shutdown appends [`Transport::close`]'s bytes
//!   (TLS `close_notify`) behind everything queued, then sends FIN as usual; asked in the
//!   connection's own callback, they join the callback's corked writes in its one `send` (no
//!   write can follow them). A close now sends nothing more. A peer ending its stream inside the transport ([`Decoded::end`], TLS's
//!   `close_notify`) is an end of input, as a FIN is: `on_eof` follows.
//! - **Failure.** A decode error (a protocol violation), or a stream that ends where the
//!   transport calls it truncated ([`Transport::eof`]), sends what the transport answered (an
//!   alert), reports the error to [`crate::Handler::on_transport_error`] and closes after
//!   flushing. An encode error fails the connection like a write error.
//!
//! A connection without a transport pays one flag test per read and per write.

use std::any::Any;
use std::io;

/// What [`Transport::decode`] did with a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decoded {
    /// Bytes processed from the front of the buffer; the rest is kept for the next call, in
    /// front of the next bytes read.
    pub consumed: usize,
    /// Decoded bytes, now at the front of the buffer (`data <= consumed`).
    pub data: usize,
    /// The peer ended its stream inside the transport (TLS `close_notify`): an end of input
    /// like a FIN, reported to the handler as `on_eof`.
    pub end: bool,
}

/// A byte-stream transform for one connection (see the [module docs](self)). The reactor owns
/// the buffers; a transport owns its protocol state only.
pub trait Transport: Any {
    /// Decodes the bytes at the front of `buf` in place: returns how many were consumed and
    /// how many decoded bytes are now at `buf[..data]`. Bytes to send to the peer (handshake
    /// records) are appended to `out`. On an error, what `out` holds (an alert) is sent and
    /// the connection closed.
    fn decode(&mut self, buf: &mut [u8], out: &mut Vec<u8>) -> io::Result<Decoded>;

    /// Appends `data`, encoded, to `out`. An error fails the connection.
    fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()>;

    /// The connection is being closed after flushing, or its write side shut down: append the
    /// end of the stream (TLS `close_notify`), if any, to `out`. Called at most once.
    fn close(&mut self, out: &mut Vec<u8>);

    /// The peer's FIN arrived. An error means the stream was cut where it must not be (a
    /// truncated handshake): what `out` holds is sent, the error reported and the connection
    /// closed. Default: nothing to say.
    fn eof(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let _ = out;
        Ok(())
    }

    /// Whether the transport's setup (a handshake) is done. When a decode turns it true,
    /// [`crate::Handler::on_transport_ready`] is called.
    fn is_established(&self) -> bool;
}

/// A connection's transport and the undecoded tail of its last read.
pub(crate) struct Attached {
    pub transport: Box<dyn Transport>,
    /// Bytes read and not yet decoded (an incomplete record); empty, with no capacity, between
    /// records.
    pub carry: Vec<u8>,
    /// `close` was called, or the transport failed: nothing more is asked of it.
    pub ended: bool,
}
