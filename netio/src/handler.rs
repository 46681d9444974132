//! The upward interface: the [`Handler`] trait and the small types its callbacks see.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::ctx::Ctx;

/// Identifies one connection on one reactor: slab key and a generation, so that an id kept after
/// its connection closed never reaches a later connection that reuses the slot.
///
/// Ids are only meaningful on the reactor that issued them (see [`Ctx::reactor_index`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub(crate) u64);

impl ConnId {
    pub(crate) fn new(key: usize, generation: u32) -> ConnId {
        ConnId(key as u64 | (u64::from(generation) << 32))
    }
    pub(crate) fn key(self) -> usize {
        (self.0 & 0xFFFF_FFFF) as usize
    }
    pub(crate) fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
    /// The id as a number (stable for the connection's life; for logs and maps).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// `key.generation`, for logs (no Rust `Debug` syntax in log lines).
impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.key(), self.generation())
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnId({}#{})", self.key(), self.generation())
    }
}

/// What the reactor knows about a connection it just accepted.
#[derive(Clone, Copy, Debug)]
pub struct Accepted {
    /// The peer's address, as `accept4` returned it.
    pub peer: SocketAddr,
    /// Index into [`crate::Config::listen`] of the address it was accepted on.
    pub listener: usize,
    /// The connection count is over [`crate::Config::max_connections`]: the handler should answer
    /// (for example HTTP 503), and close. Returning `None` closes at once.
    pub over_limit: bool,
}

/// How to close a connection, for [`Ctx::close`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// Drop the socket now; queued output is discarded (freed, and gone from
    /// [`crate::Ctx::queued_total`], at once).
    Now,
    /// Stop delivering input, write what is queued, send FIN, then read and discard until the
    /// peer closes or [`crate::Config::linger`] passes (a "lingering close": unread input must
    /// not turn the close into a reset that destroys the last response in flight).
    AfterFlush,
}

/// Why a connection was removed, given to [`Handler::on_close`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The handler asked ([`Ctx::close`] or `accept` returned `None`).
    Requested,
    /// The peer closed its side and the handler's [`Handler::on_eof`] asked to close.
    PeerClosed,
    /// An I/O error, such as a reset by the peer (`ConnectionReset`, `BrokenPipe`), or a failed
    /// outbound connect.
    Error(io::ErrorKind),
    /// Graceful shutdown reached its deadline with the connection still open, or a lingering
    /// close timed out.
    Timeout,
}

/// Outbound queue notifications, given to [`Handler::on_pressure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pressure {
    /// Queued outbound bytes crossed [`crate::Config::write_high_water`]: stop producing for
    /// this connection (pause the source with [`Ctx::pause_read`]) or drop it.
    High,
    /// After `High`, the queue fell to [`crate::Config::write_low_water`] or below.
    Drained,
}

/// The error of an operation on a connection that is closed, closing, or on another reactor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoConnection;

impl fmt::Display for NoConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no such open connection on this reactor")
    }
}

impl std::error::Error for NoConnection {}

/// The per-connection handler: one value of the implementing type lives on each reactor (built
/// on the reactor's own thread by the factory given to [`crate::start`], so it need not be
/// `Send`) and handles the events of every connection of that reactor; the per-connection
/// state is [`Handler::Conn`], stored inline in the reactor's slab (no `Box<dyn>`, no
/// allocation per connection beyond the slab slot).
///
/// `self` holds what the connections of one core share (routes, subscriber lists, metrics);
/// `conn` is the state of the connection the event is for. Every callback gets a [`Ctx`] to act
/// on this or any other connection of the same reactor (write, close, timers, outbound connect,
/// pause and resume reading) and to reach other reactors' mailboxes.
///
/// Order of callbacks for one connection: `accept` (or [`Ctx::connect`] then `on_connect`),
/// then any number of `on_data`, `on_timer`, `on_pressure`, at most one `on_eof`, at most one
/// `on_shutdown`, and exactly one `on_close`, after which the id is dead. After a close was
/// requested no more `on_data` or `on_eof` arrive, but timers may.
///
/// Writes made to the connection an event is for are corked until the callback returns and
/// then written with one `send` (one `sendmsg` for several pieces); whatever the socket does not
/// take is queued (see [`Ctx`]).
pub trait Handler: Sized + 'static {
    /// Per-connection state, kept in the reactor's slab. Keep it small: it is most of what an
    /// idle connection costs.
    type Conn: 'static;
    /// Messages other threads send to this reactor's [`crate::Mailbox`].
    type Message: Send + 'static;

    /// A connection was accepted on this reactor. Return its state, or `None` to close it at
    /// once. Writes and timers may already target `id` from here.
    fn accept(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        info: &Accepted,
    ) -> Option<Self::Conn>;

    /// Bytes arrived. They live in the reactor's shared read buffer, handed out mutably so that
    /// a protocol can transform them in place (a WebSocket server unmasks payloads where they
    /// lie, with no copy); the reactor overwrites them with the next read. Copy what you cannot
    /// consume now into `conn`.
    fn on_data(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Self::Conn,
        data: &mut [u8],
    );

    /// An outbound connection made with [`Ctx::connect`] completed (`Ok`) or failed (`Err`,
    /// after which `on_close` follows with [`CloseReason::Error`]).
    fn on_connect(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Self::Conn,
        result: io::Result<()>,
    ) {
        let _ = (ctx, id, conn, result);
    }

    /// The peer closed its sending side (read returned 0). Default: close after flushing.
    fn on_eof(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: &mut Self::Conn) {
        let _ = conn;
        ctx.close(id, Close::AfterFlush);
    }

    /// The connection's transport ([`Ctx::set_transport`]) finished its setup (a TLS
    /// handshake), just before the first decoded bytes, if any, reach `on_data`.
    fn on_transport_ready(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: &mut Self::Conn) {
        let _ = (ctx, id, conn);
    }

    /// The connection's transport failed: a decode error (the peer broke the protocol) or a
    /// stream cut where the transport calls it truncated. What the transport answered (an
    /// alert) is queued; the connection is closed after flushing when this returns. For
    /// counting and logging: the error is the transport's own, in an `io::Error`.
    fn on_transport_error(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Self::Conn,
        error: &io::Error,
    ) {
        let _ = (ctx, id, conn, error);
    }

    /// A timer set with [`Ctx::set_timer`] for this connection fired.
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: &mut Self::Conn, tag: u64) {
        let _ = (ctx, id, conn, tag);
    }

    /// The connection's outbound queue crossed the high water mark or drained.
    fn on_pressure(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Self::Conn,
        pressure: Pressure,
    ) {
        let _ = (ctx, id, conn, pressure);
    }

    /// Graceful shutdown began: say goodbye (e.g. a WebSocket close 1001) and close. Default:
    /// close after flushing. Connections still open at the deadline are closed with
    /// [`CloseReason::Timeout`].
    fn on_shutdown(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: &mut Self::Conn) {
        let _ = conn;
        ctx.close(id, Close::AfterFlush);
    }

    /// The connection is gone; `conn` is handed back to be dropped or recycled. Called exactly
    /// once per connection whose `accept` returned `Some` or that [`Ctx::connect`] created.
    fn on_close(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: Self::Conn,
        reason: CloseReason,
    ) {
        let _ = (ctx, id, conn, reason);
    }

    /// Called once on the reactor's thread before its first poll: the place to set reactor
    /// timers ([`Ctx::set_reactor_timer`]) such as a periodic keepalive sweep.
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let _ = ctx;
    }

    /// A timer set with [`Ctx::set_reactor_timer`] fired. Re-arm it here for a periodic tick.
    fn on_reactor_timer(&mut self, ctx: &mut Ctx<'_, Self>, tag: u64) {
        let _ = (ctx, tag);
    }

    /// A message arrived in this reactor's mailbox.
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, message: Self::Message) {
        let _ = (ctx, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conn_id_round_trips_key_and_generation() {
        let id = ConnId::new(12_345, 0xFFFF_FFFE);
        assert_eq!(id.key(), 12_345);
        assert_eq!(id.generation(), 0xFFFF_FFFE);
        assert_ne!(
            id,
            ConnId::new(12_345, 7),
            "same slot, other generation: other id"
        );
        assert_eq!(format!("{id:?}"), "ConnId(12345#4294967294)");
        // The waker's token (usize::MAX) is never a connection's: generation u32::MAX is unused.
        assert_ne!(id.as_u64(), u64::MAX);
    }
}
