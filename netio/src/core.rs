//! The part of a reactor that callbacks may touch through [`crate::Ctx`]: connections, timers,
//! the cork, and the queue of deferred work. Nothing here calls the handler: anything that
//! must reach a handler (pressure, close, a resumed read) is pushed to `deferred` and delivered
//! by the reactor after the running callback returns, so a callback never re-enters another.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Poll, Token};
use slab::Slab;

use crate::conn::{flag, Conn, CorkPiece, Flushed, OutQueue, Piece, MAX_IOV};
use crate::handler::{CloseReason, ConnId, Handler, NoConnection, Pressure};
use crate::mailbox::{Mailbox, Shared};
use crate::timer::{TimerKind, Wheel};
use crate::transport::{Attached, Decoded, Transport};

/// Writes to the running callback's connection at least this long, with nothing corked before
/// them, are sent at once rather than copied into the cork.
const DIRECT_WRITE_MIN: usize = 4096;

/// Deferred bytes waiting for one connection are written at once, without waiting for the end
/// of the turn, when they reach this much (or the high water mark, if lower): past it a write
/// costs about the same per byte whether or not it is coalesced, and memory stays bounded.
const DEFER_MAX_BYTES: usize = 64 << 10;

/// Emptied queues kept per reactor for the next turn's deferred writes (so that a connection
/// written to once per turn does not allocate a queue each turn), and the most chunks such a
/// spare queue may have room for. At most about 512 x (48 + 64 x 40) bytes per reactor.
const SPARE_QUEUES: usize = 512;
const SPARE_QUEUE_CHUNKS: usize = MAX_IOV;

/// When a write to a connection other than the one whose callback runs goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteWhen {
    /// Now (what the socket does not take is queued).
    Now,
    /// At the end of the loop turn, with everything else deferred for that connection.
    Deferred,
}

/// Work for the reactor to do once the running callback has returned.
#[derive(Debug)]
pub(crate) enum Deferred {
    Pressure(ConnId, Pressure),
    /// Read now (a resumed connection, a read budget that ran out, a lingering close).
    Read(ConnId),
    /// A close after flush or a write shutdown was asked: act once the queue is empty.
    AfterFlush(ConnId),
    /// Remove the connection and call `on_close`.
    Finish(ConnId, CloseReason),
}

/// Settings the core needs per connection, copied out of `Config`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub high_water: usize,
    pub low_water: usize,
    pub linger: Duration,
    pub nodelay: bool,
    pub max_connections: usize,
    pub over_limit_grace: usize,
    pub stage_keep: usize,
    /// Slab slots reserved up front (address space only: pages become resident when used).
    pub slab_capacity: usize,
}

pub(crate) struct Core<H: Handler> {
    pub poll: Poll,
    pub slab: Slab<Conn<H::Conn>>,
    pub timers: Wheel,
    pub now: Instant,
    /// Bytes corked for the connection whose callback runs (`current`).
    pub stage: Vec<u8>,
    pub cork: Vec<CorkPiece>,
    pub current: Option<usize>,
    pub deferred: VecDeque<Deferred>,
    generation: u32,
    pub index: usize,
    pub mailboxes: Arc<[Mailbox<H::Message>]>,
    pub shared: Arc<Shared>,
    pub limits: Limits,
    pub shutting_down: bool,
    /// Connections of this reactor accepted over the limit and still open.
    pub over_limit_open: usize,
    /// Bytes queued on all of this reactor's connections (what the sockets have not taken).
    pub queued_total: usize,
    /// Connections with deferred writes waiting for the end of the turn (flag `DIRTY`).
    pub dirty: Vec<ConnId>,
    /// Emptied queues for reuse by deferred writes. Boxed because a connection holds its queue
    /// as a `Box`: handing one over moves a pointer, allocates nothing.
    #[allow(clippy::vec_box)]
    spare_queues: Vec<Box<OutQueue>>,
    /// The transports of the connections that have one (flag `TRANSPORT`), by slab key: kept
    /// out of the slab so that a connection without one costs nothing.
    pub transports: HashMap<usize, Attached>,
    /// Bytes held in the transports' undecoded tails (incomplete records), all connections.
    pub carried_total: usize,
    /// Encoded output of the write being made (reused; trimmed like the cork).
    encoded: Vec<u8>,
    /// Several pieces of one write copied together before they are encoded.
    gather: Vec<u8>,
    /// A transport's answer to a read that also gave the handler data (a TLS handshake's last
    /// flight: the client's Finished with its first request behind it), held for the handler's
    /// reply to that data: both leave in one `send`, the answer first (see `Core::decode`).
    /// `held_key` is the connection it is for; the buffer is reused, trimmed like the cork.
    held: Vec<u8>,
    held_key: Option<usize>,
}

/// What a read gave, through a connection's transport.
pub(crate) enum Decode {
    /// `data` decoded bytes at the front of the buffer; `end`: the peer ended its stream;
    /// `ready`: the transport's setup finished in this call.
    Data { data: usize, end: bool, ready: bool },
    /// The transport failed: its answer was sent; report, then close.
    Failed(io::Error),
}

/// Encodes the bytes of `pieces` (staged ones from `stage`) through `attached` into `out`,
/// several pieces copied together first (into `gather`) so that they make as few records as
/// their size allows.
fn encode_pieces<P: Piece>(
    attached: &mut Attached,
    gather: &mut Vec<u8>,
    stage: &[u8],
    pieces: &[P],
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let mut slices = pieces
        .iter()
        .map(|p| p.slice(stage))
        .filter(|s| !s.is_empty());
    let Some(first) = slices.next() else {
        return Ok(());
    };
    let Some(second) = slices.next() else {
        return attached.transport.encode(first, out);
    };
    gather.clear();
    gather.extend_from_slice(first);
    gather.extend_from_slice(second);
    for s in slices {
        gather.extend_from_slice(s);
    }
    let r = attached.transport.encode(gather, out);
    gather.clear();
    r
}

impl<H: Handler> Core<H> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        poll: Poll,
        index: usize,
        mailboxes: Arc<[Mailbox<H::Message>]>,
        shared: Arc<Shared>,
        limits: Limits,
        tick: Duration,
    ) -> Core<H> {
        let now = Instant::now();
        Core {
            poll,
            // Reserved once: the slab never reallocates (no stall copying a large table, no
            // freed old copies left resident in the heap). Untouched pages cost no memory.
            slab: Slab::with_capacity(limits.slab_capacity),
            timers: Wheel::new(now, tick),
            now,
            stage: Vec::new(),
            cork: Vec::new(),
            current: None,
            deferred: VecDeque::new(),
            generation: 0,
            index,
            mailboxes,
            shared,
            limits,
            shutting_down: false,
            over_limit_open: 0,
            queued_total: 0,
            dirty: Vec::new(),
            spare_queues: Vec::new(),
            transports: HashMap::new(),
            carried_total: 0,
            encoded: Vec::new(),
            gather: Vec::new(),
            held: Vec::new(),
            held_key: None,
        }
    }

    pub(crate) fn next_generation(&mut self) -> u32 {
        // u32::MAX is never used: tokens with it are the reactor's own (waker, listeners).
        self.generation = if self.generation >= u32::MAX - 1 {
            0
        } else {
            self.generation + 1
        };
        self.generation
    }

    /// The slab key of an open connection (not being removed).
    pub(crate) fn lookup(&self, id: ConnId) -> Option<usize> {
        let c = self.slab.get(id.key())?;
        (c.generation == id.generation() && !c.has(flag::FINISHING)).then_some(id.key())
    }

    fn writable_key(&self, id: ConnId) -> Result<usize, NoConnection> {
        let key = self.lookup(id).ok_or(NoConnection)?;
        if self.slab[key].has(flag::CLOSING | flag::SHUT_WR_PENDING | flag::WRITE_SHUT) {
            return Err(NoConnection);
        }
        Ok(key)
    }

    /// Queues a removal (once) of an open connection and drops its queue.
    pub(crate) fn finish(&mut self, key: usize, reason: CloseReason) {
        let c = &mut self.slab[key];
        if c.has(flag::FINISHING) {
            return;
        }
        c.flags |= flag::FINISHING | flag::CLOSING;
        c.flags &= !flag::DIRTY;
        // Nothing is written to a finishing connection again: its queue (deferred bytes
        // included) is freed and uncounted now, not when the removal runs, after the current
        // callback and possibly after more reads of the same event, which would still see it
        // in `queued_total` (a memory budget would shed others, or refuse a read, for bytes
        // already let go).
        if let Some(q) = c.out.take() {
            self.queued_total -= q.len();
        }
        let id = ConnId::new(key, c.generation);
        self.deferred.push_back(Deferred::Finish(id, reason));
    }

    fn fail(&mut self, key: usize, err: &io::Error) {
        log::debug!("reactor {}: connection {key} failed: {err}", self.index);
        self.finish(key, CloseReason::Error(err.kind()));
    }

    /// After a write to `key`, whose queue went from `before` to `after` bytes: account the
    /// queue, report crossing the high water mark.
    fn after_write(
        &mut self,
        key: usize,
        before: usize,
        after: usize,
        result: io::Result<Flushed>,
    ) {
        self.queued_total = self.queued_total - before + after;
        match result {
            Err(e) => self.fail(key, &e),
            Ok(_) => {
                let c = &mut self.slab[key];
                if after > self.limits.high_water && !c.has(flag::PRESSURE_HIGH) {
                    c.flags |= flag::PRESSURE_HIGH;
                    let id = ConnId::new(key, c.generation);
                    self.deferred
                        .push_back(Deferred::Pressure(id, Pressure::High));
                }
            }
        }
    }

    /// After the queue shrank: report draining, continue a close after flush.
    pub(crate) fn after_drain(&mut self, key: usize) {
        let c = &mut self.slab[key];
        let id = ConnId::new(key, c.generation);
        if c.has(flag::PRESSURE_HIGH) && c.queued() <= self.limits.low_water {
            c.flags &= !flag::PRESSURE_HIGH;
            self.deferred
                .push_back(Deferred::Pressure(id, Pressure::Drained));
        }
        if c.queued() > 0 || c.has(flag::CONNECTING) {
            return;
        }
        if c.has(flag::CLOSE_AFTER_FLUSH) {
            if !c.has(flag::LINGERING) {
                self.start_linger(key);
            }
        } else if c.has(flag::SHUT_WR_PENDING) {
            c.flags &= !flag::SHUT_WR_PENDING;
            c.flags |= flag::WRITE_SHUT;
            if let Err(e) = c.stream.shutdown(Shutdown::Write) {
                self.fail(key, &e);
            }
        }
    }

    pub(crate) fn shutdown_write(&mut self, id: ConnId) {
        let Some(key) = self.lookup(id) else { return };
        let c = &mut self.slab[key];
        if c.has(flag::CLOSING | flag::SHUT_WR_PENDING | flag::WRITE_SHUT) {
            return;
        }
        c.flags |= flag::SHUT_WR_PENDING;
        // Checked once the running callback's cork is flushed.
        self.deferred.push_back(Deferred::AfterFlush(id));
    }

    /// Writes `pieces` to `key` now (or queues them behind earlier bytes), through its
    /// transport if it has one.
    #[inline]
    pub(crate) fn write_pieces<P: Piece>(&mut self, key: usize, pieces: &mut [P]) {
        if self.slab[key].has(flag::TRANSPORT) {
            return self.write_encoded(key, pieces);
        }
        self.send_pieces(key, pieces);
    }

    /// [`Core::write_pieces`] through the transport of `key` (out of line, as
    /// [`Core::defer_encoded`]).
    #[cold]
    #[inline(never)]
    fn write_encoded<P: Piece>(&mut self, key: usize, pieces: &mut [P]) {
        let mut out = std::mem::take(&mut self.encoded);
        out.clear();
        self.take_held(key, &mut out);
        match self.encode(key, &[], pieces, &mut out) {
            Ok(()) => self.send_pieces(key, &mut [out.as_slice()]),
            Err(e) => self.fail(key, &e),
        }
        self.keep_encoded(out);
    }

    /// Encodes `pieces` through the transport of `key`, appended to `out`.
    fn encode<P: Piece>(
        &mut self,
        key: usize,
        stage: &[u8],
        pieces: &[P],
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        match self.transports.get_mut(&key) {
            Some(attached) => encode_pieces(attached, &mut self.gather, stage, pieces, out),
            None => Err(io::Error::other(
                "netio: transport flag without a transport",
            )),
        }
    }

    /// Puts the encoding buffer back for the next write, trimmed like the cork.
    fn keep_encoded(&mut self, mut out: Vec<u8>) {
        out.clear();
        if out.capacity() > self.limits.stage_keep {
            out.shrink_to(self.limits.stage_keep);
        }
        self.encoded = out;
    }

    /// Writes `pieces` to `key` as they are (encoded already, or no transport).
    fn send_pieces<P: Piece>(&mut self, key: usize, pieces: &mut [P]) {
        let c = &mut self.slab[key];
        let before = c.queued();
        let r = c.write_pieces(&[], pieces);
        let after = c.queued();
        self.after_write(key, before, after, r);
    }

    pub(crate) fn write_borrowed(
        &mut self,
        id: ConnId,
        parts: &[&[u8]],
    ) -> Result<(), NoConnection> {
        let key = self.writable_key(id)?;
        if self.current == Some(key) {
            let len: usize = parts.iter().map(|p| p.len()).sum();
            if !(self.cork.is_empty() && len >= DIRECT_WRITE_MIN) {
                for p in parts {
                    self.stage_bytes(p);
                }
                return Ok(());
            }
            // Large and nothing corked before it: send straight from the caller's slices
            // (the read buffer, typically) instead of copying into the cork; same syscall count.
        }
        match parts {
            [one] => self.write_pieces(key, &mut [*one]),
            _ => {
                let mut pieces: [&[u8]; 16] = [&[]; 16];
                for chunk in parts.chunks(16) {
                    pieces[..chunk.len()].copy_from_slice(chunk);
                    self.write_pieces(key, &mut pieces[..chunk.len()]);
                }
            }
        }
        Ok(())
    }

    fn stage_bytes(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let start = self.stage.len();
        self.stage.extend_from_slice(data);
        let end = self.stage.len();
        if let Some(CorkPiece::Staged(_, b)) = self.cork.last_mut() {
            if *b == start {
                *b = end;
                return;
            }
        }
        self.cork.push(CorkPiece::Staged(start, end));
    }

    /// Owned bytes for `id`: corked if its callback runs, else sent now or, with
    /// [`WriteWhen::Deferred`], at the end of the turn.
    pub(crate) fn write_owned(
        &mut self,
        id: ConnId,
        data: Vec<u8>,
        when: WriteWhen,
    ) -> Result<(), NoConnection> {
        let key = self.writable_key(id)?;
        if self.current == Some(key) {
            // Small buffers are cheaper copied next to their neighbours than sent as a slice.
            if data.len() <= 256 {
                self.stage_bytes(&data);
            } else {
                self.cork.push(CorkPiece::Owned(data));
            }
            return Ok(());
        }
        self.send_or_defer(key, data, when);
        Ok(())
    }

    /// Shared bytes for `id`: corked if its callback runs (the cork leaves when the callback
    /// returns, sooner than the turn ends, in order with its other writes), else sent now or,
    /// with [`WriteWhen::Deferred`], at the end of the turn.
    pub(crate) fn write_shared(
        &mut self,
        id: ConnId,
        data: crate::SharedBytes,
        when: WriteWhen,
    ) -> Result<(), NoConnection> {
        let key = self.writable_key(id)?;
        if self.current == Some(key) {
            self.cork.push(CorkPiece::Shared(data));
            return Ok(());
        }
        self.send_or_defer(key, data, when);
        Ok(())
    }

    fn send_or_defer<P: Piece>(&mut self, key: usize, data: P, when: WriteWhen) {
        match when {
            WriteWhen::Now => self.write_pieces(key, &mut [data]),
            WriteWhen::Deferred => self.defer(key, data),
        }
    }

    /// Sends what the callback of `key` corked: one `send` (one run of bytes) or `sendmsg`
    /// (several), the rest queued.
    pub(crate) fn flush_cork(&mut self, key: usize) {
        if self.cork.is_empty() {
            return;
        }
        let mut pieces = std::mem::take(&mut self.cork);
        let transport = self
            .slab
            .get(key)
            .is_some_and(|c| c.has(flag::TRANSPORT) && !c.has(flag::FINISHING));
        if transport {
            // The callback's writes, encoded together: as few records as their size allows,
            // and one `send`, behind the transport's held answer to the data the callback got,
            // and followed by the transport's end of stream if the callback closed after
            // flush (no write can follow it: the connection takes none once closing).
            let mut out = std::mem::take(&mut self.encoded);
            out.clear();
            self.take_held(key, &mut out);
            let stage = std::mem::take(&mut self.stage);
            match self.encode(key, &stage, &pieces, &mut out) {
                Ok(()) => {
                    if self.slab[key].has(flag::CLOSE_AFTER_FLUSH | flag::SHUT_WR_PENDING) {
                        self.close_transport_into(key, &mut out);
                    }
                    self.send_pieces(key, &mut [out.as_slice()]);
                }
                Err(e) => self.fail(key, &e),
            }
            self.stage = stage;
            self.keep_encoded(out);
        } else if let Some(c) = self.slab.get_mut(key) {
            if !c.has(flag::FINISHING) {
                let before = c.queued();
                let r = c.write_pieces(&self.stage, &mut pieces);
                let after = c.queued();
                self.after_write(key, before, after, r);
            }
        }
        pieces.clear();
        self.cork = pieces;
        self.stage.clear();
        if self.stage.capacity() > self.limits.stage_keep {
            self.stage.shrink_to(self.limits.stage_keep);
        }
    }

    /// Writes queued bytes after a writable event (or a completed connect), then reports
    /// draining and continues a close after flush.
    pub(crate) fn flush_queue(&mut self, key: usize) {
        let c = &mut self.slab[key];
        if c.has(flag::FINISHING) {
            return;
        }
        let before = c.queued();
        if before > 0 {
            let result = c.flush_queue_keep();
            self.queued_total = self.queued_total - before + c.queued();
            self.reclaim_queue(key);
            if let Err(e) = result {
                self.fail(key, &e);
                return;
            }
        }
        self.after_drain(key);
    }

    /// Keeps the emptied queue of `key` for later deferred writes (or drops it).
    fn reclaim_queue(&mut self, key: usize) {
        let c = &mut self.slab[key];
        if !c.out.as_ref().is_some_and(|q| q.is_empty()) {
            return;
        }
        let q = c.out.take().expect("checked above");
        if self.spare_queues.len() < SPARE_QUEUES && q.chunk_capacity() <= SPARE_QUEUE_CHUNKS {
            self.spare_queues.push(q);
        }
    }

    /// Queues `piece` on `key` for the end of the turn (`flush_dirty`), behind whatever is
    /// queued. Counted in the queue (and `queued_total`) at once, so `Ctx::queued` and the
    /// water marks see it.
    #[inline]
    fn defer<P: Piece>(&mut self, key: usize, piece: P) {
        if self.slab[key].has(flag::TRANSPORT) {
            return self.defer_encoded(key, piece);
        }
        self.defer_bytes(key, piece);
    }

    /// [`Core::defer`] through the transport of `key`: encoded now, into bytes of its own that
    /// wait in the queue (the queue holds only what goes to the socket). Kept out of line: the
    /// fan-out loop over plain connections should not carry it.
    #[cold]
    #[inline(never)]
    fn defer_encoded<P: Piece>(&mut self, key: usize, piece: P) {
        // The held answer was encoded first: it goes first.
        self.release_held(key);
        let mut out = Vec::new();
        match self.encode(key, &[], &[piece], &mut out) {
            Ok(()) => self.defer_bytes(key, out),
            Err(e) => self.fail(key, &e),
        }
    }

    /// [`Core::defer`] of bytes as they go to the socket. Inlined into `defer` as the whole of
    /// it was before transports: the fan-out's per-subscriber cost (measured with callgrind).
    #[inline(always)]
    fn defer_bytes<P: Piece>(&mut self, key: usize, mut piece: P) {
        let len = piece.slice(&[]).len();
        if len == 0 {
            return;
        }
        let c = &mut self.slab[key];
        let before = c.queued();
        let blocked = (before > 0 && !c.has(flag::DIRTY)) || c.has(flag::CONNECTING);
        if c.out.is_none() {
            c.out = Some(self.spare_queues.pop().unwrap_or_default());
        }
        let q = c.out.as_mut().expect("just set");
        piece.queue(0, &[], q);
        let after = q.len();
        if blocked {
            // The socket is full (its writable edge flushes the queue) or not connected yet.
            self.after_write(key, before, after, Ok(Flushed::Blocked));
            return;
        }
        let chunks = q.chunks();
        if !c.has(flag::DIRTY) {
            c.flags |= flag::DIRTY;
            self.dirty.push(ConnId::new(key, c.generation));
        }
        if after < DEFER_MAX_BYTES.min(self.limits.high_water) && chunks < MAX_IOV {
            self.queued_total += len;
            return;
        }
        // Enough for a write of its own: one `sendmsg` now (the dirty entry finds it empty, or
        // what the socket did not take queued behind a writable edge).
        c.flags &= !flag::DIRTY;
        let r = c.flush_queue_keep();
        let after = c.queued();
        self.after_write(key, before, after, r);
        self.reclaim_queue(key);
    }

    /// End of the turn: one `send`/`sendmsg` per connection with deferred writes, for all of
    /// them; then pressure and closes after flush as after a writable event.
    pub(crate) fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for id in dirty.drain(..) {
            let Some(c) = self.slab.get_mut(id.key()) else {
                continue;
            };
            if c.generation != id.generation() || !c.has(flag::DIRTY) {
                continue;
            }
            c.flags &= !flag::DIRTY;
            // Skips (and leaves to the removal) a connection being finished.
            self.flush_queue(id.key());
        }
        // Nothing above runs a handler, so nothing was deferred meanwhile.
        debug_assert!(self.dirty.is_empty());
        self.dirty = dirty;
    }

    pub(crate) fn close(&mut self, id: ConnId, how: crate::Close) {
        let Some(key) = self.lookup(id) else { return };
        let c = &mut self.slab[key];
        match how {
            crate::Close::Now => self.finish(key, CloseReason::Requested),
            crate::Close::AfterFlush => {
                if c.has(flag::CLOSING) {
                    return;
                }
                c.flags |= flag::CLOSING | flag::CLOSE_AFTER_FLUSH;
                // Checked once the running callback's cork is flushed.
                self.deferred.push_back(Deferred::AfterFlush(id));
            }
        }
    }

    /// Queue empty after a close after flush: FIN, then read and discard until EOF or linger.
    pub(crate) fn start_linger(&mut self, key: usize) {
        let c = &mut self.slab[key];
        let id = ConnId::new(key, c.generation);
        if c.has(flag::READ_CLOSED) {
            self.finish(key, CloseReason::PeerClosed);
            return;
        }
        if self.limits.linger.is_zero() {
            self.finish(key, CloseReason::Requested);
            return;
        }
        if !c.has(flag::WRITE_SHUT) {
            if let Err(e) = c.stream.shutdown(Shutdown::Write) {
                self.fail(key, &e);
                return;
            }
        }
        c.flags |= flag::LINGERING | flag::WRITE_SHUT;
        self.timers
            .insert(self.now, self.limits.linger, id.0, 0, TimerKind::Linger);
        self.deferred.push_back(Deferred::Read(id));
    }

    pub(crate) fn pause_read(&mut self, id: ConnId) {
        if let Some(key) = self.lookup(id) {
            self.slab[key].flags |= flag::READ_PAUSED;
        }
    }

    pub(crate) fn resume_read(&mut self, id: ConnId) {
        if let Some(key) = self.lookup(id) {
            let c = &mut self.slab[key];
            if c.has(flag::READ_PAUSED) {
                c.flags &= !flag::READ_PAUSED;
                // Edges that came while paused were consumed: read what is there now.
                self.deferred.push_back(Deferred::Read(id));
            }
        }
    }

    /// Registers a new connection; `flags` start as given. Counts it in the limits.
    pub(crate) fn insert(&mut self, mut stream: TcpStream, flags: u16) -> io::Result<ConnId> {
        let generation = self.next_generation();
        let entry = self.slab.vacant_entry();
        let id = ConnId::new(entry.key(), generation);
        // Registered once for both directions, edge-triggered (mio always is): never again
        // touched by epoll_ctl; closing the socket removes it.
        self.poll.registry().register(
            &mut stream,
            Token(id.0 as usize),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        entry.insert(Conn {
            stream,
            generation,
            flags,
            out: None,
            state: None,
        });
        self.shared.loads[self.index]
            .0
            .store(self.slab.len(), Ordering::Relaxed);
        Ok(id)
    }

    pub(crate) fn connect(&mut self, addr: SocketAddr) -> io::Result<ConnId> {
        let stream = TcpStream::connect(addr)?;
        if self.limits.nodelay {
            stream.set_nodelay(true)?;
        }
        self.shared.active.0.fetch_add(1, Ordering::Relaxed);
        match self.insert(stream, flag::CONNECTING) {
            Ok(id) => Ok(id),
            Err(e) => {
                self.shared.active.0.fetch_sub(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Takes a connection out of the slab (the socket closes when the result is dropped).
    pub(crate) fn remove(&mut self, id: ConnId) -> Option<Conn<H::Conn>> {
        let c = self.slab.get(id.key())?;
        if c.generation != id.generation() {
            return None;
        }
        let c = self.slab.remove(id.key());
        self.queued_total -= c.queued();
        if c.has(flag::TRANSPORT) {
            if let Some(attached) = self.transports.remove(&id.key()) {
                self.carried_total -= attached.carry.len();
            }
        }
        // Its timers go with it: none fires for a later connection in the slot, none stays in
        // the wheel until its deadline.
        self.timers.cancel_owner(id.0);
        if c.has(flag::OVER_LIMIT) {
            self.over_limit_open -= 1;
        }
        self.shared.active.0.fetch_sub(1, Ordering::Relaxed);
        self.shared.loads[self.index]
            .0
            .store(self.slab.len(), Ordering::Relaxed);
        Some(c)
    }

    /// Gives `id` a transport (see `transport.rs`): from now on its input is decoded and its
    /// output encoded through it.
    pub(crate) fn set_transport(
        &mut self,
        id: ConnId,
        transport: Box<dyn Transport>,
    ) -> Result<(), NoConnection> {
        let key = self.lookup(id).ok_or(NoConnection)?;
        self.slab[key].flags |= flag::TRANSPORT;
        self.transports.insert(
            key,
            Attached {
                transport,
                carry: Vec::new(),
                ended: false,
            },
        );
        Ok(())
    }

    /// Copies the undecoded tail of the last read of `key` to the front of `buf` and returns
    /// its length (where the next read goes). `None`: the tail does not leave room for a read
    /// (a transport that never consumes), which fails the connection.
    pub(crate) fn carry_into(&mut self, key: usize, buf: &mut [u8]) -> Option<usize> {
        let attached = self.transports.get(&key)?;
        let n = attached.carry.len();
        if n >= buf.len() / 2 {
            let e = io::Error::new(io::ErrorKind::InvalidData, "transport record too long");
            self.fail(key, &e);
            return None;
        }
        buf[..n].copy_from_slice(&attached.carry);
        Some(n)
    }

    /// Decodes `buf` (the carried tail and the bytes just read) through the transport of
    /// `key`: sends what it answers, keeps what it did not consume.
    pub(crate) fn decode(&mut self, key: usize, buf: &mut [u8]) -> Decode {
        let Some(attached) = self.transports.get_mut(&key) else {
            return Decode::Failed(io::Error::other(
                "netio: transport flag without a transport",
            ));
        };
        let mut out = std::mem::take(&mut self.encoded);
        out.clear();
        let was_ready = attached.transport.is_established();
        let result = attached.transport.decode(buf, &mut out);
        let decode = match result {
            Ok(Decoded {
                consumed,
                data,
                end,
            }) => {
                let consumed = consumed.min(buf.len());
                let rest = &buf[consumed..];
                self.carried_total = self.carried_total - attached.carry.len() + rest.len();
                if rest.is_empty() {
                    // Between records: no buffer held.
                    attached.carry = Vec::new();
                } else {
                    attached.carry.clear();
                    attached.carry.extend_from_slice(rest);
                }
                let ready = !was_ready && attached.transport.is_established();
                Decode::Data {
                    data: data.min(consumed),
                    end,
                    ready,
                }
            }
            Err(e) => {
                attached.ended = true;
                self.carried_total -= attached.carry.len();
                attached.carry = Vec::new();
                Decode::Failed(e)
            }
        };
        if !out.is_empty() {
            match decode {
                // The handler gets data and will likely answer it: the transport's answer
                // waits for that answer, to leave in the same `send` (in front of it), or is
                // sent when the handler's callback returns without writing.
                Decode::Data {
                    data, end: false, ..
                } if data > 0 => {
                    self.held.clear();
                    self.held.extend_from_slice(&out);
                    self.held_key = Some(key);
                }
                _ => self.send_pieces(key, &mut [out.as_slice()]),
            }
        }
        self.keep_encoded(out);
        decode
    }

    /// Moves the answer held for `key` (see `Core::decode`), if any, to the end of `out`.
    fn take_held(&mut self, key: usize, out: &mut Vec<u8>) {
        if self.held_key == Some(key) {
            self.held_key = None;
            out.extend_from_slice(&self.held);
            self.held.clear();
            if self.held.capacity() > self.limits.stage_keep {
                self.held.shrink_to(self.limits.stage_keep);
            }
        }
    }

    /// Sends the answer held for `key`, if any: its handler's callback wrote nothing, or
    /// something else is about to be encoded for it (which must follow the answer).
    pub(crate) fn release_held(&mut self, key: usize) {
        if self.held_key != Some(key) {
            return;
        }
        let mut out = std::mem::take(&mut self.encoded);
        out.clear();
        self.take_held(key, &mut out);
        if !self.slab.get(key).is_some_and(|c| c.has(flag::FINISHING)) {
            self.send_pieces(key, &mut [out.as_slice()]);
        }
        self.keep_encoded(out);
    }

    /// The peer's FIN on `key`, which has a transport: `Err` if the transport calls the
    /// stream truncated (its answer sent).
    pub(crate) fn transport_eof(&mut self, key: usize) -> io::Result<()> {
        self.release_held(key);
        let Some(attached) = self.transports.get_mut(&key) else {
            return Ok(());
        };
        if attached.ended {
            return Ok(());
        }
        let mut out = Vec::new();
        let r = attached.transport.eof(&mut out);
        if r.is_err() {
            attached.ended = true;
        }
        if !out.is_empty() {
            self.send_pieces(key, &mut [out.as_slice()]);
        }
        r
    }

    /// A close after flush or a write shutdown of `key` was asked and its cork flushed: the
    /// transport's end of stream goes behind everything queued (once).
    pub(crate) fn end_transport(&mut self, key: usize) {
        if !self.slab[key].has(flag::TRANSPORT) {
            return;
        }
        self.release_held(key);
        let mut out = Vec::new();
        self.close_transport_into(key, &mut out);
        if !out.is_empty() {
            self.send_pieces(key, &mut [out.as_slice()]);
        }
    }

    /// Appends the transport's end of stream of `key` to `out`, once.
    fn close_transport_into(&mut self, key: usize, out: &mut Vec<u8>) {
        let Some(attached) = self.transports.get_mut(&key) else {
            return;
        };
        if attached.ended {
            return;
        }
        attached.ended = true;
        attached.transport.close(out);
    }

    /// The transport of `id`, if it has one of type `T`.
    pub(crate) fn transport<T: Transport>(&self, id: ConnId) -> Option<&T> {
        let key = self.lookup(id)?;
        let attached = self.transports.get(&key)?;
        let any: &dyn std::any::Any = &*attached.transport;
        any.downcast_ref::<T>()
    }
}
