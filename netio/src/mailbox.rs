//! Per-reactor mailboxes: a crossbeam channel plus the reactor's `mio::Waker`, with wakeups
//! batched by a flag so that a burst of messages costs one eventfd write.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::Sender;
use mio::net::TcpStream;
use mio::Waker;

/// Keeps a hot atomic on its own cache line, so that cores do not false-share it.
#[repr(align(64))]
#[derive(Default)]
pub(crate) struct Padded<T>(pub T);

/// What travels to a reactor.
pub(crate) enum Envelope<M> {
    Message(M),
    /// A socket accepted by the acceptor thread: stream, peer, listener index.
    Accepted(TcpStream, SocketAddr, usize),
}

pub(crate) struct Inner<M> {
    tx: Sender<Envelope<M>>,
    waker: Arc<Waker>,
    /// A wakeup is on its way and the reactor has not started draining: no need for another.
    pending: Padded<AtomicBool>,
    index: usize,
}

/// A handle to send messages to one reactor, from any thread. Cheap to clone.
///
/// Wakeups are batched: a send wakes the reactor only if no wakeup is already pending, so a
/// burst of N messages costs one eventfd write and one wakeup, not N.
pub struct Mailbox<M> {
    inner: Arc<Inner<M>>,
}

impl<M> Clone for Mailbox<M> {
    fn clone(&self) -> Self {
        Mailbox {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<M> fmt::Debug for Mailbox<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mailbox(reactor {})", self.inner.index)
    }
}

impl<M: Send + 'static> Mailbox<M> {
    pub(crate) fn new(tx: Sender<Envelope<M>>, waker: Arc<Waker>, index: usize) -> Mailbox<M> {
        Mailbox {
            inner: Arc::new(Inner {
                tx,
                waker,
                pending: Padded(AtomicBool::new(false)),
                index,
            }),
        }
    }

    /// Sends `message` to the reactor's [`crate::Handler::on_message`]. Returns it back if the
    /// reactor has stopped.
    pub fn send(&self, message: M) -> Result<(), M> {
        self.send_envelope(Envelope::Message(message))
            .map_err(|e| match e {
                Envelope::Message(m) => m,
                Envelope::Accepted(..) => unreachable!("send_envelope returns what it was given"),
            })
    }

    /// Index of the reactor this mailbox reaches.
    pub fn reactor_index(&self) -> usize {
        self.inner.index
    }

    pub(crate) fn send_envelope(&self, e: Envelope<M>) -> Result<(), Envelope<M>> {
        self.inner.tx.send(e).map_err(|e| e.into_inner())?;
        // AcqRel: the push above happens before the flag is seen set; see `begin_drain`.
        if !self.inner.pending.0.swap(true, Ordering::AcqRel) {
            if let Err(err) = self.inner.waker.wake() {
                log::warn!("waking reactor {}: {err}", self.inner.index);
            }
        }
        Ok(())
    }

    /// Called by the reactor before it drains the channel: a message pushed after this call
    /// either is seen by the drain or wakes the reactor again.
    pub(crate) fn begin_drain(&self) {
        self.inner.pending.0.swap(false, Ordering::AcqRel);
    }
}

/// State shared by all reactors of one start: written rarely (accept, close, shutdown), never on
/// the per-event path.
pub(crate) struct Shared {
    pub shutdown: AtomicBool,
    /// Open connections over all reactors (for `max_connections`).
    pub active: Padded<AtomicUsize>,
    /// Open connections per reactor, each written only by its reactor (for least-loaded).
    pub loads: Box<[Padded<AtomicUsize>]>,
    /// Reactors' wakers, then the acceptor's if there is one.
    pub wakers: Vec<Arc<Waker>>,
}

/// Triggers graceful shutdown of every reactor and the acceptor. Cheap to clone, `Send` and
/// `Sync`.
///
/// [`ShutdownHandle::shutdown`] only stores an atomic flag and writes to eventfds (no lock, no
/// allocation), so it may be called from a signal handler.
#[derive(Clone)]
pub struct ShutdownHandle {
    pub(crate) shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Starts graceful shutdown: listeners close, every open connection gets
    /// [`crate::Handler::on_shutdown`], writes drain up to [`crate::Config::shutdown_timeout`],
    /// then the threads exit. Idempotent.
    pub fn shutdown(&self) {
        if !self.shared.shutdown.swap(true, Ordering::SeqCst) {
            for w in &self.shared.wakers {
                let _ = w.wake();
            }
        }
    }

    /// True once shutdown was triggered.
    pub fn is_shutdown(&self) -> bool {
        self.shared.shutdown.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShutdownHandle(shutdown: {})", self.is_shutdown())
    }
}
