//! One connection's reactor-side state and its outbound queue.
//!
//! An idle connection is a socket, a generation, flags and two empty options: no read buffer
//! (reads go to the reactor's buffer) and no queue (allocated only while the socket is full).

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use mio::net::TcpStream;
use socket2::SockRef;

use crate::bytes::SharedBytes;

/// Flags of a connection (`Conn::flags`).
pub(crate) mod flag {
    /// Outbound connect in progress: writes queue, the first writable event resolves it.
    pub const CONNECTING: u16 = 1 << 0;
    /// The handler paused reading.
    pub const READ_PAUSED: u16 = 1 << 1;
    /// The peer's FIN was read.
    pub const READ_CLOSED: u16 = 1 << 2;
    /// A close was requested: input is no longer delivered, writes are refused.
    pub const CLOSING: u16 = 1 << 3;
    /// Close after flush: FIN sent, reading and discarding until EOF or the linger timer.
    pub const LINGERING: u16 = 1 << 4;
    /// `Pressure::High` was reported and `Drained` not yet.
    pub const PRESSURE_HIGH: u16 = 1 << 5;
    /// A `Finish` is queued: the connection is about to be removed.
    pub const FINISHING: u16 = 1 << 6;
    /// `on_shutdown` was delivered.
    pub const TOLD_SHUTDOWN: u16 = 1 << 7;
    /// The handler asked to close after flushing (as opposed to now).
    pub const CLOSE_AFTER_FLUSH: u16 = 1 << 8;
    /// The connection is over the connection limit (accounted in the limit's grace pool).
    pub const OVER_LIMIT: u16 = 1 << 9;
    /// `shutdown_write` was asked: FIN once the queue is empty; writes are refused.
    pub const SHUT_WR_PENDING: u16 = 1 << 10;
    /// FIN sent (`shutdown(SHUT_WR)` done).
    pub const WRITE_SHUT: u16 = 1 << 11;
    /// Deferred writes wait in the queue for the end of the loop turn (the connection is in
    /// the reactor's dirty list); the socket is not known to be full.
    pub const DIRTY: u16 = 1 << 12;
    /// The connection has a transport (`Core::transports`): reads are decoded and writes
    /// encoded through it.
    pub const TRANSPORT: u16 = 1 << 13;
}

/// An outbound chunk: owned bytes or bytes shared with other connections.
pub(crate) enum Chunk {
    Owned(Vec<u8>),
    Shared(SharedBytes),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Shared(s) => s,
        }
    }
}

/// Bytes waiting for the socket to become writable.
#[derive(Default)]
pub(crate) struct OutQueue {
    chunks: VecDeque<Chunk>,
    /// Bytes of the first chunk already written.
    head: usize,
    /// Total bytes queued (not yet written).
    bytes: usize,
}

impl OutQueue {
    pub(crate) fn len(&self) -> usize {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Chunks queued (each one slice of a `sendmsg`).
    pub(crate) fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Room for chunks without growing (a spare queue kept for reuse is bounded by it).
    pub(crate) fn chunk_capacity(&self) -> usize {
        self.chunks.capacity()
    }

    /// Appends a chunk of which the first `skip` bytes were already written (only when the
    /// queue is empty).
    fn push(&mut self, chunk: Chunk, skip: usize) {
        let len = chunk.bytes().len() - skip;
        if len == 0 {
            return;
        }
        if self.chunks.is_empty() {
            self.head = skip;
        } else {
            debug_assert_eq!(skip, 0);
        }
        self.bytes += len;
        self.chunks.push_back(chunk);
    }

    /// Appends a copy of `data`, into the last owned chunk when it has spare room.
    fn push_copy(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if let Some(Chunk::Owned(v)) = self.chunks.back_mut() {
            if v.capacity() - v.len() >= data.len() {
                v.extend_from_slice(data);
                self.bytes += data.len();
                return;
            }
        }
        self.push(Chunk::Owned(data.to_vec()), 0);
    }

    /// Fills `iov` with the first queued chunks; returns how many and their total length.
    fn fill<'a>(&'a self, iov: &mut [IoSlice<'a>]) -> (usize, usize) {
        let mut n = 0;
        let mut total = 0;
        for (i, c) in self.chunks.iter().enumerate() {
            if n == iov.len() {
                break;
            }
            let b = if i == 0 {
                &c.bytes()[self.head..]
            } else {
                c.bytes()
            };
            iov[n] = IoSlice::new(b);
            total += b.len();
            n += 1;
        }
        (n, total)
    }

    /// Drops `n` written bytes from the front.
    fn consume(&mut self, mut n: usize) {
        self.bytes -= n;
        while n > 0 {
            let first = self
                .chunks
                .front()
                .expect("consume beyond queued bytes")
                .bytes()
                .len()
                - self.head;
            if n >= first {
                n -= first;
                self.head = 0;
                self.chunks.pop_front();
            } else {
                self.head += n;
                n = 0;
            }
        }
    }
}

/// A piece of a write: bytes to send now and, for what the socket does not take, a way to turn
/// the rest into a queued chunk (copying only borrowed bytes).
pub(crate) trait Piece {
    /// The bytes of this piece; `stage` is the reactor's cork buffer for staged pieces.
    fn slice<'s>(&'s self, stage: &'s [u8]) -> &'s [u8];
    /// Moves the piece, less its first `skip` bytes, into `queue`.
    fn queue(&mut self, skip: usize, stage: &[u8], queue: &mut OutQueue);
}

impl Piece for &[u8] {
    #[inline]
    fn slice<'s>(&'s self, _: &'s [u8]) -> &'s [u8] {
        self
    }
    fn queue(&mut self, skip: usize, _: &[u8], queue: &mut OutQueue) {
        queue.push_copy(&self[skip..]);
    }
}

impl Piece for Vec<u8> {
    #[inline]
    fn slice<'s>(&'s self, _: &'s [u8]) -> &'s [u8] {
        self
    }
    fn queue(&mut self, skip: usize, _: &[u8], queue: &mut OutQueue) {
        if self.len() - skip <= 64 && skip > 0 {
            queue.push_copy(&self[skip..]);
        } else {
            queue.push(Chunk::Owned(std::mem::take(self)), skip);
        }
    }
}

impl Piece for SharedBytes {
    #[inline]
    fn slice<'s>(&'s self, _: &'s [u8]) -> &'s [u8] {
        self
    }
    fn queue(&mut self, skip: usize, _: &[u8], queue: &mut OutQueue) {
        let mut s = self.clone();
        s.advance(skip);
        queue.push(Chunk::Shared(s), 0);
    }
}

/// A corked write of the connection whose callback is running.
pub(crate) enum CorkPiece {
    /// A range of the reactor's cork buffer (borrowed bytes copied there).
    Staged(usize, usize),
    Owned(Vec<u8>),
    Shared(SharedBytes),
}

impl Piece for CorkPiece {
    fn slice<'s>(&'s self, stage: &'s [u8]) -> &'s [u8] {
        match self {
            CorkPiece::Staged(a, b) => &stage[*a..*b],
            CorkPiece::Owned(v) => v,
            CorkPiece::Shared(s) => s,
        }
    }
    fn queue(&mut self, skip: usize, stage: &[u8], queue: &mut OutQueue) {
        match self {
            CorkPiece::Staged(a, b) => queue.push_copy(&stage[*a + skip..*b]),
            CorkPiece::Owned(v) => v.queue(skip, stage, queue),
            CorkPiece::Shared(s) => s.queue(skip, stage, queue),
        }
    }
}

/// Most slices one `sendmsg` takes from us (Linux allows 1024; more gains nothing).
pub(crate) const MAX_IOV: usize = 64;

/// The reactor's view of one connection.
pub(crate) struct Conn<C> {
    pub stream: TcpStream,
    pub generation: u32,
    pub flags: u16,
    pub out: Option<Box<OutQueue>>,
    pub state: Option<C>,
}

/// What a write attempt left behind.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flushed {
    /// Everything written.
    All,
    /// The socket is full: the rest is queued, a writable event will come.
    Blocked,
}

impl<C> Conn<C> {
    pub(crate) fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }

    pub(crate) fn queued(&self) -> usize {
        self.out.as_ref().map_or(0, |q| q.len())
    }

    /// Writes `pieces` now if nothing is queued before them (one `send` for a single piece, one
    /// `sendmsg` for several), and queues what the socket did not take. A write that completes at
    /// once allocates nothing.
    pub(crate) fn write_pieces<P: Piece>(
        &mut self,
        stage: &[u8],
        pieces: &mut [P],
    ) -> io::Result<Flushed> {
        let mut written = 0;
        let mut blocked = true;
        if self.queued() == 0 && self.flags & flag::CONNECTING == 0 {
            if let [one] = pieces {
                // The common case (a callback's corked bytes are one staged run): no 64-slot
                // iovec array to fill.
                let s = one.slice(stage);
                if s.is_empty() {
                    return Ok(Flushed::All);
                }
                match send_one(&self.stream, s) {
                    Ok(w) if w == s.len() => return Ok(Flushed::All),
                    Ok(w) => written = w,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                let q = self.out.get_or_insert_with(Box::default);
                one.queue(written, stage, q);
                return Ok(Flushed::Blocked);
            }
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let mut n = 0;
            let mut total = 0;
            for p in pieces.iter() {
                if n == MAX_IOV {
                    break;
                }
                let s = p.slice(stage);
                if !s.is_empty() {
                    iov[n] = IoSlice::new(s);
                    total += s.len();
                    n += 1;
                }
            }
            if total == 0 {
                return Ok(Flushed::All);
            }
            match send(&self.stream, &iov[..n]) {
                Ok(w) => {
                    written = w;
                    blocked = w < total;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if !blocked && n == pieces.iter().filter(|p| !p.slice(stage).is_empty()).count() {
                return Ok(Flushed::All);
            }
        }
        let q = self.out.get_or_insert_with(Box::default);
        for p in pieces.iter_mut() {
            let len = p.slice(stage).len();
            if written >= len {
                written -= len;
                continue;
            }
            p.queue(written, stage, q);
            written = 0;
        }
        if q.is_empty() {
            self.out = None;
            return Ok(Flushed::All);
        }
        if !blocked {
            // More pieces than one sendmsg takes and the socket still has room: no edge will
            // come for it, so keep writing now.
            return self.flush_queue();
        }
        Ok(Flushed::Blocked)
    }

    /// Writes queued bytes until the socket is full or the queue empty (then dropped).
    pub(crate) fn flush_queue(&mut self) -> io::Result<Flushed> {
        let r = self.flush_queue_keep();
        if self.out.as_ref().is_some_and(|q| q.is_empty()) {
            self.out = None;
        }
        r
    }

    /// Writes queued bytes until the socket is full or the queue empty; an emptied queue is
    /// left in place for the caller to reuse.
    pub(crate) fn flush_queue_keep(&mut self) -> io::Result<Flushed> {
        let Some(q) = self.out.as_mut() else {
            return Ok(Flushed::All);
        };
        loop {
            // A few chunks (a turn's deferred frames, typically): a small iovec array to fill.
            let sent = if q.chunks() <= 8 {
                send_queued::<8>(&self.stream, q)
            } else {
                send_queued::<MAX_IOV>(&self.stream, q)
            };
            match sent {
                Ok(Some(Flushed::Blocked)) => return Ok(Flushed::Blocked),
                Ok(Some(Flushed::All)) => return Ok(Flushed::All),
                Ok(None) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Blocked),
                Err(e) => return Err(e),
            }
        }
    }
}

/// One `sendmsg` of the first `N` chunks of `q`, consumed as written: `Some(Blocked)` on a short
/// write (the socket is full), `Some(All)` once the queue is empty, `None` to go on.
fn send_queued<const N: usize>(
    stream: &TcpStream,
    q: &mut OutQueue,
) -> io::Result<Option<Flushed>> {
    let mut iov = [IoSlice::new(&[]); N];
    let (n, total) = q.fill(&mut iov);
    if total == 0 {
        return Ok(Some(Flushed::All));
    }
    let w = send(stream, &iov[..n])?;
    q.consume(w);
    if w < total {
        // A short write means the socket buffer is full: the next edge says when.
        return Ok(Some(Flushed::Blocked));
    }
    Ok(q.is_empty().then_some(Flushed::All))
}

/// One buffer: `send(2)` with `MSG_NOSIGNAL` (a peer that closed mid-write is an `EPIPE` error,
/// never a `SIGPIPE`), retrying `EINTR`. `send(2)` rather than `sendmsg(2)`, which would first
/// copy a `msghdr` and an iovec array in from user memory (about 2% of the server's time in the
/// 16-byte echo profile).
fn send_one(stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let sock = SockRef::from(stream);
    loop {
        match sock.send_with_flags(bytes, libc::MSG_NOSIGNAL) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Several buffers: `sendmsg(2)` with `MSG_NOSIGNAL`, retrying `EINTR`.
fn send(stream: &TcpStream, iov: &[IoSlice<'_>]) -> io::Result<usize> {
    let sock = SockRef::from(stream);
    loop {
        match sock.send_vectored_with_flags(iov, libc::MSG_NOSIGNAL) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_consumes_across_chunks_and_keeps_order() {
        let mut q = OutQueue::default();
        q.push(Chunk::Owned(b"abc".to_vec()), 1);
        q.push(Chunk::Shared(SharedBytes::from(b"def".to_vec())), 0);
        q.push_copy(b"gh");
        assert_eq!(q.len(), 7);
        let mut iov = [IoSlice::new(&[]); 8];
        let (n, total) = q.fill(&mut iov);
        assert_eq!((n, total), (3, 7));
        let joined: Vec<u8> = iov[..n].iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(joined, b"bcdefgh");
        q.consume(3);
        let mut iov = [IoSlice::new(&[]); 8];
        let (n, _) = q.fill(&mut iov);
        let joined: Vec<u8> = iov[..n].iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(joined, b"efgh");
        q.consume(4);
        assert!(q.is_empty());
    }

    #[test]
    fn cork_pieces_queue_only_their_unwritten_rest() {
        let stage = b"0123456789";
        let mut q = OutQueue::default();
        let mut p = CorkPiece::Staged(2, 8);
        assert_eq!(p.slice(stage), b"234567");
        p.queue(4, stage, &mut q);
        let mut s = CorkPiece::Shared(SharedBytes::from(b"xyz".to_vec()));
        s.queue(0, stage, &mut q);
        let mut iov = [IoSlice::new(&[]); 4];
        let (n, total) = q.fill(&mut iov);
        assert_eq!(total, 5);
        let joined: Vec<u8> = iov[..n].iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(joined, b"67xyz");
    }
}
