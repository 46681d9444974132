//! One reactor thread: poll, dispatch events to the handler, run deferred work and timers.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Token};

use crate::accept::is_resource_exhaustion;
use crate::conn::flag;
use crate::core::{Core, Deferred};
use crate::ctx::Ctx;
use crate::handler::{Accepted, CloseReason, ConnId, Handler};
use crate::mailbox::{Envelope, Mailbox};
use crate::timer::{Expired, TimerKind};

pub(crate) const WAKER: Token = Token(usize::MAX);
/// Listener `i` has token `LISTENER_BASE - i`: generation u32::MAX, never a connection's.
const LISTENER_BASE: usize = usize::MAX - 1;

/// Reads per readiness event before other connections get their turn.
const READS_PER_EVENT: usize = 16;
/// Accepts per listener readiness before other events get their turn.
const ACCEPTS_PER_TURN: usize = 128;
/// Mailbox messages per turn.
const MESSAGES_PER_TURN: usize = 1024;

pub(crate) struct Reactor<H: Handler> {
    pub core: Core<H>,
    pub handler: H,
    pub read_buf: Vec<u8>,
    pub events: Option<Events>,
    pub listeners: Vec<TcpListener>,
    pub rx: Receiver<Envelope<H::Message>>,
    pub own_mailbox: Mailbox<H::Message>,
    pub expired: Vec<Expired>,
    /// Connections whose read budget ran out: read again next turn.
    pub again: Vec<ConnId>,
    pub accept_paused: bool,
    pub accept_more: bool,
    pub mailbox_more: bool,
    pub accept_backoff: Duration,
    pub shutdown_timeout: Duration,
    pub shutdown_deadline: Option<Instant>,
}

/// Runs `f` with the state of `id` taken out of the slab (so the `Ctx` may touch every other
/// connection), then flushes what `f` corked and puts the state back.
fn with_state<H: Handler>(
    handler: &mut H,
    core: &mut Core<H>,
    id: ConnId,
    f: impl FnOnce(&mut H, &mut Ctx<'_, H>, &mut H::Conn),
) {
    let key = id.key();
    let Some(c) = core.slab.get_mut(key) else {
        return;
    };
    if c.generation != id.generation() {
        return;
    }
    let Some(mut state) = c.state.take() else {
        return;
    };
    core.current = Some(key);
    f(handler, &mut Ctx { core: &mut *core }, &mut state);
    core.current = None;
    core.flush_cork(key);
    // Removal is always deferred, so the slot is still this connection's.
    core.slab[key].state = Some(state);
}

impl<H: Handler> Reactor<H> {
    pub(crate) fn run(mut self) {
        self.core.now = Instant::now();
        self.handler.on_start(&mut Ctx {
            core: &mut self.core,
        });
        self.run_deferred();
        loop {
            let busy = self.accept_more
                || self.mailbox_more
                || !self.again.is_empty()
                || !self.core.deferred.is_empty()
                || !self.core.dirty.is_empty();
            let mut timeout = if busy {
                Some(Duration::ZERO)
            } else {
                self.core.timers.next_timeout(Instant::now())
            };
            if let Some(deadline) = self.shutdown_deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
            let mut events = self.events.take().expect("events present between turns");
            match self.core.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::error!("reactor {}: poll failed: {e}", self.core.index);
                    self.events = Some(events);
                    break;
                }
            }
            self.core.now = Instant::now();
            for ev in events.iter() {
                // Between events, not only at the end of the turn: a turn under load (many
                // connections, each with a read budget of large messages to inflate) can last
                // far longer than the shutdown timeout.
                if self.shutdown_check() {
                    break;
                }
                self.on_event(ev);
                self.run_deferred();
            }
            self.events = Some(events);
            self.turn_extras();
            // Deferred writes of the whole turn: one write per connection.
            self.core.flush_dirty();
            self.run_deferred();
            if self.core.shutting_down && self.finish_shutdown() {
                break;
            }
        }
    }

    /// Work that is not an event: budgets carried over, timers.
    fn turn_extras(&mut self) {
        if self.shutdown_check() {
            return;
        }
        if self.accept_more {
            self.accept_all();
        }
        if self.mailbox_more {
            self.drain_mailbox();
        }
        for id in std::mem::take(&mut self.again) {
            if self.shutdown_check() {
                return;
            }
            self.read(id, true);
        }
        self.run_deferred();
        self.core.timers.advance(self.core.now, &mut self.expired);
        let mut expired = std::mem::take(&mut self.expired);
        for e in expired.drain(..) {
            self.on_timer(e);
            self.run_deferred();
        }
        self.expired = expired;
    }

    fn on_event(&mut self, ev: &Event) {
        let token = ev.token();
        if token == WAKER {
            if self.core.shared.shutdown.load(Ordering::Acquire) && !self.core.shutting_down {
                self.begin_shutdown();
            }
            self.drain_mailbox();
            return;
        }
        if token.0 > LISTENER_BASE - self.listeners.len() && token.0 <= LISTENER_BASE {
            let i = LISTENER_BASE - token.0;
            self.accept_on(i);
            return;
        }
        let id = ConnId(token.0 as u64);
        let key = id.key();
        let Some(c) = self.core.slab.get(key) else {
            return;
        }; // stray token
        if c.generation != id.generation() || c.has(flag::FINISHING) {
            return;
        }
        if c.has(flag::CONNECTING) {
            self.resolve_connect(id);
            return;
        }
        if ev.is_error() {
            // A reset or other socket error: reported even while reading is paused (a paused
            // connection would otherwise keep a dead socket until resumed). Rare: one
            // getsockopt per error event.
            let err = match c.stream.take_error() {
                Ok(Some(e)) | Err(e) => Some(e),
                Ok(None) => None,
            };
            if let Some(e) = err {
                log::debug!("reactor {}: {id}: {e}", self.core.index);
                self.core.finish(key, CloseReason::Error(e.kind()));
                return;
            }
        }
        if ev.is_writable() {
            self.core.flush_queue(key);
        }
        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
            self.read(id, ev.is_read_closed() || ev.is_error());
        }
    }

    /// The first event of an outbound connection tells whether the connect succeeded.
    fn resolve_connect(&mut self, id: ConnId) {
        let key = id.key();
        let c = &mut self.core.slab[key];
        let outcome = match c.stream.take_error() {
            Ok(None) => match c.stream.peer_addr() {
                Ok(_) => Ok(()),
                // Not connected yet (a spurious event): wait for the next one.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => Err(e),
            },
            Ok(Some(e)) | Err(e) => Err(e),
        };
        c.flags &= !flag::CONNECTING;
        match outcome {
            Ok(()) => {
                with_state(&mut self.handler, &mut self.core, id, |h, ctx, st| {
                    h.on_connect(ctx, id, st, Ok(()))
                });
                if self.core.lookup(id).is_some() {
                    self.core.flush_queue(key);
                    self.read(id, true);
                }
            }
            Err(e) => {
                let kind = e.kind();
                with_state(&mut self.handler, &mut self.core, id, |h, ctx, st| {
                    h.on_connect(ctx, id, st, Err(e))
                });
                if self.core.lookup(id).is_some() {
                    self.core.finish(key, CloseReason::Error(kind));
                }
            }
        }
    }

    /// Reads until the socket is drained (a short read means drained, unless `to_end`, used
    /// when the peer's FIN may be behind the data), the budget runs out, or the handler stops
    /// reading.
    fn read(&mut self, id: ConnId, to_end: bool) {
        let key = id.key();
        for _ in 0..READS_PER_EVENT {
            if self.shutdown_due() {
                // Back to the loop, which begins the shutdown (or ends the reactor); the
                // connection is read again next turn if it is still open.
                self.again.push(id);
                return;
            }
            let Some(c) = self.core.slab.get_mut(key) else {
                return;
            };
            if c.generation != id.generation()
                || c.has(flag::FINISHING | flag::READ_CLOSED | flag::CONNECTING)
            {
                return;
            }
            let lingering = c.has(flag::LINGERING);
            if !lingering && c.has(flag::CLOSING | flag::READ_PAUSED) {
                return;
            }
            let transport = !lingering && c.has(flag::TRANSPORT);
            // With a transport, the undecoded tail of the last read goes first.
            let start = if transport {
                match self.core.carry_into(key, &mut self.read_buf) {
                    Some(n) => n,
                    None => return,
                }
            } else {
                0
            };
            let c = &mut self.core.slab[key];
            match (&c.stream).read(&mut self.read_buf[start..]) {
                Ok(0) => {
                    c.flags |= flag::READ_CLOSED;
                    if lingering {
                        self.core.finish(key, CloseReason::Requested);
                    } else if transport && self.transport_eof(id) {
                        // Reported and closing.
                    } else {
                        with_state(&mut self.handler, &mut self.core, id, |h, ctx, st| {
                            h.on_eof(ctx, id, st)
                        });
                    }
                    return;
                }
                Ok(n) => {
                    if transport {
                        if !self.decoded(id, start + n) {
                            return;
                        }
                    } else if !lingering {
                        let data = &mut self.read_buf[..n];
                        with_state(&mut self.handler, &mut self.core, id, |h, ctx, st| {
                            h.on_data(ctx, id, st, data)
                        });
                    }
                    if n < self.read_buf.len() - start && !to_end && !lingering {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("reactor {}: read on {id}: {e}", self.core.index);
                    self.core.finish(key, CloseReason::Error(e.kind()));
                    return;
                }
            }
        }
        self.again.push(id);
    }

    /// Decodes the `len` bytes at the front of the read buffer through the transport of `id`
    /// and hands what they held to the handler. False when reading must stop (the transport
    /// failed, the peer ended its stream, or the connection is gone).
    fn decoded(&mut self, id: ConnId, len: usize) -> bool {
        let key = id.key();
        let buf = &mut self.read_buf[..len];
        let (data, end, ready) = match self.core.decode(key, buf) {
            super::core::Decode::Data { data, end, ready } => (data, end, ready),
            super::core::Decode::Failed(e) => {
                self.transport_failed(id, &e);
                return false;
            }
        };
        if ready && self.core.lookup(id).is_some() {
            with_state(&mut self.handler, &mut self.core, id, |h, ctx, st| {
                h.on_transport_ready(ctx, id, st)
            });
        }
        if data > 0 && self.open_for_input(id) {
            let data = &mut self.read_buf[..data];
            with_state(&mut self.handler, &mut self.core, id, |h, ctx, st| {
                h.on_data(ctx, id, st, data)
            });
        }
        // The transport's answer to this read, if the callbacks' writes did not take it.
        self.core.release_held(key);
        if end {
            // The peer's end of stream inside the transport: as a FIN (nothing after it is
            // read; the socket's own FIN is not waited for).
            if self.open_for_input(id) {
                self.core.slab[key].flags |= flag::READ_CLOSED;
                with_state(&mut self.handler, &mut self.core, id, |h, ctx, st| {
                    h.on_eof(ctx, id, st)
                });
            }
            return false;
        }
        self.core.lookup(id).is_some()
    }

    /// Whether `id` is open and still takes input.
    fn open_for_input(&self, id: ConnId) -> bool {
        self.core
            .lookup(id)
            .is_some_and(|k| !self.core.slab[k].has(flag::CLOSING))
    }

    /// The FIN of `id`, which has a transport: true if the transport called it a truncation
    /// (then reported and closing).
    fn transport_eof(&mut self, id: ConnId) -> bool {
        match self.core.transport_eof(id.key()) {
            Ok(()) => false,
            Err(e) => {
                self.transport_failed(id, &e);
                true
            }
        }
    }

    /// The transport of `id` failed (its answer is queued): tell the handler, close after
    /// flushing.
    fn transport_failed(&mut self, id: ConnId, e: &io::Error) {
        log::debug!("reactor {}: {id}: transport: {e}", self.core.index);
        if self.core.lookup(id).is_none() {
            return;
        }
        with_state(&mut self.handler, &mut self.core, id, |h, ctx, st| {
            h.on_transport_error(ctx, id, st, e)
        });
        self.core.close(id, crate::Close::AfterFlush);
    }

    pub(crate) fn run_deferred(&mut self) {
        while let Some(d) = self.core.deferred.pop_front() {
            match d {
                Deferred::Pressure(id, p) => {
                    if self.core.lookup(id).is_some() {
                        with_state(&mut self.handler, &mut self.core, id, |h, ctx, st| {
                            h.on_pressure(ctx, id, st, p)
                        });
                    }
                }
                Deferred::Read(id) => self.read(id, true),
                Deferred::AfterFlush(id) => {
                    if let Some(key) = self.core.lookup(id) {
                        // The callback's cork is out: the transport's end of stream goes
                        // behind it.
                        self.core.end_transport(key);
                        self.core.after_drain(key);
                    }
                }
                Deferred::Finish(id, reason) => {
                    if let Some(c) = self.core.remove(id) {
                        drop(c.stream);
                        if let Some(state) = c.state {
                            self.handler.on_close(
                                &mut Ctx {
                                    core: &mut self.core,
                                },
                                id,
                                state,
                                reason,
                            );
                        }
                    }
                }
            }
        }
    }

    fn on_timer(&mut self, e: Expired) {
        match e.kind {
            TimerKind::User => {
                let id = ConnId(e.owner);
                if self.core.lookup(id).is_some() {
                    with_state(&mut self.handler, &mut self.core, id, |h, ctx, st| {
                        h.on_timer(ctx, id, st, e.tag)
                    });
                }
            }
            TimerKind::Reactor => {
                self.handler.on_reactor_timer(
                    &mut Ctx {
                        core: &mut self.core,
                    },
                    e.tag,
                );
            }
            TimerKind::Linger => {
                if let Some(key) = self.core.lookup(ConnId(e.owner)) {
                    self.core.finish(key, CloseReason::Timeout);
                }
            }
            TimerKind::AcceptBackoff => {
                self.accept_paused = false;
                self.accept_all();
            }
        }
    }

    fn drain_mailbox(&mut self) {
        self.own_mailbox.begin_drain();
        self.mailbox_more = false;
        for _ in 0..MESSAGES_PER_TURN {
            match self.rx.try_recv() {
                Ok(Envelope::Message(m)) => {
                    self.handler.on_message(
                        &mut Ctx {
                            core: &mut self.core,
                        },
                        m,
                    );
                    self.run_deferred();
                }
                Ok(Envelope::Accepted(stream, peer, listener)) => {
                    self.admit(stream, peer, listener);
                    self.run_deferred();
                }
                Err(_) => return,
            }
        }
        self.mailbox_more = true;
    }

    fn accept_all(&mut self) {
        self.accept_more = false;
        for i in 0..self.listeners.len() {
            self.accept_on(i);
        }
    }

    fn accept_on(&mut self, i: usize) {
        if self.accept_paused || self.core.shutting_down {
            return;
        }
        for _ in 0..ACCEPTS_PER_TURN {
            // mio's accept is accept4(SOCK_NONBLOCK | SOCK_CLOEXEC): no fcntl afterwards.
            match self.listeners[i].accept() {
                Ok((stream, peer)) => {
                    self.admit(stream, peer, i);
                    self.run_deferred();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_resource_exhaustion(&e) => {
                    log::warn!(
                        "reactor {}: accept: {e}; pausing accepts for {} ms",
                        self.core.index,
                        self.accept_backoff.as_millis()
                    );
                    self.accept_paused = true;
                    self.core.timers.insert(
                        self.core.now,
                        self.accept_backoff,
                        0,
                        0,
                        TimerKind::AcceptBackoff,
                    );
                    return;
                }
                Err(e) => log::debug!("reactor {}: accept: {e}", self.core.index),
            }
        }
        self.accept_more = true;
    }

    /// Takes an accepted socket: limit check, registration, `Handler::accept`.
    pub(crate) fn admit(&mut self, stream: TcpStream, peer: SocketAddr, listener: usize) {
        if self.core.shutting_down {
            return;
        }
        let limits = self.core.limits;
        let active = self.core.shared.active.0.fetch_add(1, Ordering::Relaxed) + 1;
        let over_limit = active > limits.max_connections;
        if over_limit && self.core.over_limit_open >= limits.over_limit_grace {
            self.core.shared.active.0.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let flags = if over_limit { flag::OVER_LIMIT } else { 0 };
        let id = match self.core.insert(stream, flags) {
            Ok(id) => id,
            Err(e) => {
                log::warn!("reactor {}: register: {e}", self.core.index);
                self.core.shared.active.0.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        };
        if over_limit {
            self.core.over_limit_open += 1;
        }
        let info = Accepted {
            peer,
            listener,
            over_limit,
        };
        self.core.current = Some(id.key());
        let state = self.handler.accept(
            &mut Ctx {
                core: &mut self.core,
            },
            id,
            &info,
        );
        self.core.current = None;
        self.core.flush_cork(id.key());
        match state {
            Some(s) => self.core.slab[id.key()].state = Some(s),
            None => self.core.finish(id.key(), CloseReason::Requested),
        }
    }

    /// True when the reactor should stop taking input and go back to its loop: a shutdown was
    /// asked that this reactor has not begun, or its deadline has passed. One relaxed load per
    /// read while running (the flag's cache line is only written once); a clock read per read
    /// while shutting down.
    #[inline]
    fn shutdown_due(&self) -> bool {
        match self.shutdown_deadline {
            Some(deadline) => Instant::now() >= deadline,
            None => self.core.shared.shutdown.load(Ordering::Relaxed),
        }
    }

    /// Between pieces of work (events, carried-over reads): begins a shutdown that was asked
    /// without waiting for the waker's event to come up in some later turn, and returns true
    /// once the deadline has passed, so that the rest of the turn is skipped and
    /// `finish_shutdown` closes what is left. Never called from inside a handler callback.
    fn shutdown_check(&mut self) -> bool {
        if !self.core.shutting_down {
            if self.core.shared.shutdown.load(Ordering::Acquire) {
                self.begin_shutdown();
            }
            return false;
        }
        self.shutdown_deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    fn begin_shutdown(&mut self) {
        self.core.shutting_down = true;
        // Closing the listeners stops accepting (and takes them out of epoll).
        self.listeners.clear();
        self.accept_more = false;
        // From now, not from the turn's start: this may run late in a long turn.
        self.shutdown_deadline = Some(Instant::now() + self.shutdown_timeout);
        let ids: Vec<ConnId> = self
            .core
            .slab
            .iter()
            .map(|(k, c)| ConnId::new(k, c.generation))
            .collect();
        for id in ids {
            if let Some(key) = self.core.lookup(id) {
                self.core.slab[key].flags |= flag::TOLD_SHUTDOWN;
                with_state(&mut self.handler, &mut self.core, id, |h, ctx, st| {
                    h.on_shutdown(ctx, id, st)
                });
                self.run_deferred();
            }
        }
    }

    /// True when the reactor may exit: no connection left, or the deadline passed (then what
    /// is left is closed with `CloseReason::Timeout`).
    fn finish_shutdown(&mut self) -> bool {
        if self.core.slab.is_empty() {
            return true;
        }
        let deadline = self.shutdown_deadline.expect("set by begin_shutdown");
        if Instant::now() < deadline {
            return false;
        }
        let keys: Vec<usize> = self.core.slab.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.core.finish(key, CloseReason::Timeout);
        }
        self.run_deferred();
        true
    }
}
