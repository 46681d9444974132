//! [`Config::private_descriptor_tables`](crate::Config::private_descriptor_tables): handing
//! each reactor thread a descriptor table of its own.
//!
//! `start` creates everything in the process's table: every reactor's epoll instance and
//! `SO_REUSEPORT` listeners, and the mio `Waker` eventfds that mailboxes and the shutdown handle
//! write from any thread. Each reactor thread then calls `unshare(CLONE_FILES)` as its first
//! act; its new table is a copy, so all those numbers stay valid there. What remains is to
//! close the copies nobody owns, or the files would outlive their owners:
//! - on reactor `i`, the other reactors' epoll instances and listeners (their owners live on
//!   their own threads; a listener kept open by a stray copy would stay in the `SO_REUSEPORT`
//!   group after its reactor stopped, and connections hashed to it would never be accepted);
//! - on the starting thread, once every reactor has its copy, every reactor's epoll instance and
//!   listeners (their owners moved to the reactor threads).
//!
//! The wakers' eventfds stay open in every table: any thread may write to them. Nothing else
//! crosses threads in `ReusePort` mode: accepted and outbound sockets are opened, used and
//! closed on their reactor, which is why the acceptor mode (which hands accepted sockets over)
//! is refused.

use std::io;
use std::os::fd::RawFd;

use crate::sys;

/// The descriptors each reactor owns once it runs (its epoll instance and listeners), by
/// reactor index.
#[derive(Debug, Clone, Default)]
pub(crate) struct Handover {
    own: Vec<Vec<RawFd>>,
}

impl Handover {
    /// `own[i]`: the descriptors reactor `i` owns (epoll first, then its listeners).
    pub(crate) fn new(own: Vec<Vec<RawFd>>) -> Self {
        Handover { own }
    }

    /// Runs first on reactor thread `index`: a private table, asynchronous signals blocked,
    /// the other reactors' descriptors closed in it. An error means the thread still shares the
    /// process's table (nothing was changed).
    #[allow(unsafe_code)]
    pub(crate) fn enter(&self, index: usize) -> io::Result<()> {
        // Signals first: once the table is private, a handler running here would use the
        // process's descriptor numbers in the wrong table.
        sys::block_async_signals()?;
        sys::unshare_descriptor_table()?;
        for (j, fds) in self.own.iter().enumerate() {
            if j == index {
                continue;
            }
            for &fd in fds {
                // SAFETY: `fd` belongs to reactor `j`, whose objects were moved to thread `j`;
                // this thread never touches them, so in this table the number is a copy that
                // no object here owns.
                if let Err(e) = unsafe { sys::close_unowned(fd) } {
                    // EBADF: already gone (a reactor that failed to start closed it before we
                    // copied the table). Harmless: the copy is what we wanted gone.
                    log::debug!("reactor {index}: closing reactor {j}'s descriptor {fd}: {e}");
                }
            }
        }
        Ok(())
    }

    /// Runs on the starting thread once reactor `index` has entered its private table: closes
    /// this table's copies of that reactor's descriptors (their owners now live in its table).
    #[allow(unsafe_code)]
    pub(crate) fn release(&self, index: usize) {
        for &fd in &self.own[index] {
            // SAFETY: reactor `index`'s epoll instance and listeners were moved into its thread,
            // which now has its own table; no object on this thread owns these numbers any more.
            if let Err(e) = unsafe { sys::close_unowned(fd) } {
                log::warn!("closing the process's copy of reactor {index}'s descriptor {fd}: {e}");
            }
        }
    }
}
