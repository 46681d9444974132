//! [`Ctx`]: what a handler callback may do on its reactor.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::conn::flag;
use crate::core::{Core, WriteWhen};
use crate::handler::{Close, ConnId, Handler, NoConnection};
use crate::mailbox::{Mailbox, ShutdownHandle};
use crate::timer::{TimerId, TimerKind};
use crate::transport::Transport;
use crate::SharedBytes;

/// The reactor as a callback sees it: act on any connection of this reactor by its
/// [`ConnId`], set timers, open outbound connections, reach other reactors.
///
/// Writes to the connection the callback is for are corked and sent with one `send` (one
/// `sendmsg` when they are several pieces) when the callback returns (except a write of 4 KiB or
/// more with nothing corked before it, which goes out at once from the caller's slices rather
/// than being copied); writes to other connections are sent at once. Either way bytes the socket
/// does not take are queued (borrowed bytes copied, owned and shared bytes moved) and written
/// when it becomes writable, in order. A write never fails for lack of room: watch
/// [`Handler::on_pressure`] or [`Ctx::queued`] to bound memory.
///
/// # Deferred writes: one write per connection per loop turn
/// [`Ctx::write_shared_deferred`] and [`Ctx::write_owned_deferred`] do not write to another
/// connection at once: they queue the bytes on it and put it on the reactor's dirty list, and
/// when the turn's events, mailbox messages, carried-over reads and timers have all been
/// handled, each dirty connection gets one `send` (`sendmsg` for several pieces) with everything
/// deferred for it. Fan-out uses them: a subscriber that gets five broadcast frames in a turn
/// gets one syscall instead of five. Plain writes to other connections stay immediate (a
/// bridge forwards each read at once), so this is a choice per call, not a mode.
///
/// The cost is latency: deferred bytes wait at most for the rest of the current turn (the
/// handling of the events that `epoll_wait` returned together, plus up to 1,024 mailbox
/// messages), never for another `epoll_wait`. A connection's deferred bytes leave at once
/// when they reach 64 KiB (or [`crate::Config::write_high_water`], if lower) or 64 pieces,
/// where coalescing saves nothing. Ordering is kept with every other write: deferred bytes are
/// queued behind what is queued, and writes after them (immediate, corked, deferred) queue
/// behind them and leave in the same end-of-turn write. They count in [`Ctx::queued`],
/// [`Ctx::queued_total`] and the water marks from the call on; a connection closed before the
/// turn ends drops them; a close after flush waits for them. A deferred write to the
/// connection whose callback runs joins its cork (which leaves sooner, when the callback
/// returns).
///
/// Effects on other connections that need their handler (pressure, close, resumed reads) are
/// delivered after the running callback returns, never re-entrantly.
pub struct Ctx<'a, H: Handler> {
    pub(crate) core: &'a mut Core<H>,
}

impl<H: Handler> Ctx<'_, H> {
    /// Index of this reactor (0-based).
    pub fn reactor_index(&self) -> usize {
        self.core.index
    }

    /// Number of reactors.
    pub fn reactor_count(&self) -> usize {
        self.core.mailboxes.len()
    }

    /// The time this reactor turn started (one clock read per turn).
    pub fn now(&self) -> Instant {
        self.core.now
    }

    /// Writes `data` to connection `id`. Copies only what cannot be written at once.
    pub fn write(&mut self, id: ConnId, data: &[u8]) -> Result<(), NoConnection> {
        self.core.write_borrowed(id, &[data])
    }

    /// Writes several slices, in order, as one vectored write (e.g. a frame header and its
    /// payload).
    pub fn write_vectored(&mut self, id: ConnId, parts: &[&[u8]]) -> Result<(), NoConnection> {
        self.core.write_borrowed(id, parts)
    }

    /// Writes an owned buffer; if the socket does not take all of it, the rest is queued
    /// without copying.
    pub fn write_owned(&mut self, id: ConnId, data: Vec<u8>) -> Result<(), NoConnection> {
        self.core.write_owned(id, data, WriteWhen::Now)
    }

    /// Writes shared bytes (one encoded broadcast message for many connections); the rest is
    /// queued by reference count, never copied.
    pub fn write_shared(&mut self, id: ConnId, data: SharedBytes) -> Result<(), NoConnection> {
        self.core.write_shared(id, data, WriteWhen::Now)
    }

    /// Writes shared bytes to `id` at the end of this loop turn, together with every other
    /// deferred write for `id` in the turn (one `send`/`sendmsg`): the fan-out write. See
    /// [deferred writes](Ctx#deferred-writes-one-write-per-connection-per-loop-turn). Never
    /// copies; allocates nothing once the reactor's spare queues are warm.
    pub fn write_shared_deferred(
        &mut self,
        id: ConnId,
        data: SharedBytes,
    ) -> Result<(), NoConnection> {
        self.core.write_shared(id, data, WriteWhen::Deferred)
    }

    /// Writes an owned buffer to `id` at the end of this loop turn, like
    /// [`Ctx::write_shared_deferred`].
    pub fn write_owned_deferred(&mut self, id: ConnId, data: Vec<u8>) -> Result<(), NoConnection> {
        self.core.write_owned(id, data, WriteWhen::Deferred)
    }

    /// Bytes queued for `id` and not yet accepted by the socket (`None` if there is no such
    /// open connection). Corked bytes of the running callback are not counted until it returns;
    /// deferred writes are counted from the call on.
    pub fn queued(&self, id: ConnId) -> Option<usize> {
        self.core.lookup(id).map(|k| self.core.slab[k].queued())
    }

    /// Bytes queued on all of this reactor's connections and not yet accepted by their sockets:
    /// what the reactor holds for slow readers, for a handler that keeps a memory budget.
    pub fn queued_total(&self) -> usize {
        self.core.queued_total
    }

    /// Bytes this reactor holds in its connections' transports between reads: the undecoded
    /// tails of incomplete records (at most one record each, about 16 KiB for TLS). Kept apart
    /// from [`Ctx::queued_total`]: they are input, for a memory budget to count too.
    pub fn carried_total(&self) -> usize {
        self.core.carried_total
    }

    /// The open connection of this reactor with the most bytes queued, and how many: the one
    /// to shed when the queues hold too much. Scans every connection (O(n)): meant for the rare
    /// moment a budget is exceeded, not for every event.
    pub fn largest_queue(&self) -> Option<(ConnId, usize)> {
        self.core
            .slab
            .iter()
            .filter(|(_, c)| !c.has(crate::conn::flag::CLOSING))
            .map(|(key, c)| (ConnId::new(key, c.generation), c.queued()))
            .filter(|&(_, queued)| queued > 0)
            .max_by_key(|&(_, queued)| queued)
    }

    /// Gives `id` a [`Transport`] (TLS, for one): from now on what is read from it is decoded
    /// before [`Handler::on_data`] sees it, and everything written to it, by any write method,
    /// is encoded on its way to the socket (see the [`crate::transport`] module docs for where
    /// the layer sits and who owns which buffer). Set it in [`Handler::accept`], before the
    /// first read and write.
    pub fn set_transport(
        &mut self,
        id: ConnId,
        transport: Box<dyn Transport>,
    ) -> Result<(), NoConnection> {
        self.core.set_transport(id, transport)
    }

    /// The transport of `id`, if it has one of type `T` (for its details: a TLS session's
    /// protocol version, say).
    pub fn transport<T: Transport>(&self, id: ConnId) -> Option<&T> {
        self.core.transport(id)
    }

    /// Closes `id`, now or after flushing ([`Close`]). No more input is delivered; writes are
    /// refused; [`Handler::on_close`] follows once. Closing twice is harmless; `Now` after
    /// `AfterFlush` cuts the flush short.
    pub fn close(&mut self, id: ConnId, how: Close) {
        self.core.close(id, how);
    }

    /// Half-closes `id`: once queued output is written, sends FIN (`shutdown(SHUT_WR)`);
    /// reading goes on until the peer closes too. Later writes are refused. For tunnels that
    /// pass a half-close through (the peer's EOF on one side becomes a FIN on the other).
    pub fn shutdown_write(&mut self, id: ConnId) {
        self.core.shutdown_write(id);
    }

    /// Stops reading from `id` (no syscall: the reactor just leaves the bytes in the kernel,
    /// whose window then pushes back on the peer). Use it when the destination of this
    /// connection's data is over its high water mark.
    pub fn pause_read(&mut self, id: ConnId) {
        self.core.pause_read(id);
    }

    /// Reads again from `id` after [`Ctx::pause_read`]; whatever arrived meanwhile is delivered
    /// after the running callback returns.
    pub fn resume_read(&mut self, id: ConnId) {
        self.core.resume_read(id);
    }

    /// True if reading from `id` is paused.
    pub fn is_read_paused(&self, id: ConnId) -> bool {
        self.core
            .lookup(id)
            .is_some_and(|k| self.core.slab[k].has(flag::READ_PAUSED))
    }

    /// Calls [`Handler::on_timer`] for `id` with `tag` once `after` has passed (rounded up to
    /// [`crate::Config::timer_resolution`]). Closing the connection, any way, removes its
    /// pending timers from the wheel, so cancelling on close is not needed; for a connection
    /// that is not open (closed, or being closed) nothing is set and the id cancels nothing.
    pub fn set_timer(&mut self, id: ConnId, after: Duration, tag: u64) -> TimerId {
        if self.core.lookup(id).is_none() {
            return TimerId::NONE;
        }
        self.core
            .timers
            .insert(self.core.now, after, id.0, tag, TimerKind::User)
    }

    /// Calls [`Handler::on_reactor_timer`] with `tag` once `after` has passed: a timer of the
    /// reactor rather than of a connection (periodic sweeps: re-arm it in the callback). One
    /// sweep timer for all connections costs less memory than a timer per connection.
    pub fn set_reactor_timer(&mut self, after: Duration, tag: u64) -> TimerId {
        self.core
            .timers
            .insert(self.core.now, after, 0, tag, TimerKind::Reactor)
    }

    /// Cancels a pending timer (of a connection or of the reactor). False if it already fired or was cancelled.
    pub fn cancel_timer(&mut self, timer: TimerId) -> bool {
        self.core.timers.cancel(timer)
    }

    /// Timers pending on this reactor: the handler's, of connections and of the reactor, and
    /// netio's own (a lingering close's deadline, an accept backoff). For metrics and tests:
    /// it shows that closed connections leave no timers behind.
    pub fn pending_timers(&self) -> usize {
        self.core.timers.len()
    }

    /// Opens an outbound TCP connection (nonblocking connect) on this reactor, with `state` as
    /// its handler state. Writes to the returned id are queued until it connects;
    /// [`Handler::on_connect`] reports the outcome. `TCP_NODELAY` follows
    /// [`crate::Config::nodelay`]. Outbound connections count in
    /// [`crate::Config::max_connections`] but are never refused for it.
    pub fn connect(&mut self, addr: SocketAddr, state: H::Conn) -> io::Result<ConnId> {
        let id = self.core.connect(addr)?;
        self.core.slab[id.key()].state = Some(state);
        Ok(id)
    }

    /// The state of another connection of this reactor (e.g. the peer of a bridge). `None` for
    /// the connection whose callback is running (use the `conn` argument), or if `id` is not
    /// open.
    pub fn state(&mut self, id: ConnId) -> Option<&mut H::Conn> {
        let key = self.core.lookup(id)?;
        self.core.slab[key].state.as_mut()
    }

    /// Peer address of `id` (one `getpeername` call).
    pub fn peer_addr(&self, id: ConnId) -> Option<SocketAddr> {
        let key = self.core.lookup(id)?;
        self.core.slab[key].stream.peer_addr().ok()
    }

    /// Open connections on this reactor.
    pub fn connections(&self) -> usize {
        self.core.slab.len()
    }

    /// Mailboxes of all reactors, indexed by reactor (this one included).
    pub fn mailboxes(&self) -> &[Mailbox<H::Message>] {
        &self.core.mailboxes
    }

    /// True once graceful shutdown has begun on this reactor.
    pub fn is_shutting_down(&self) -> bool {
        self.core.shutting_down
    }

    /// A handle to shut all reactors down (e.g. from an admin command).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: self.core.shared.clone(),
        }
    }
}
