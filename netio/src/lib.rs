//! Thread-per-core, edge-triggered [mio] reactors for TCP servers. Knows nothing of HTTP or
//! WebSocket.
//!
//! [`start`] spawns one reactor thread per core (pinned with `core_affinity`), each owning a
//! `mio::Poll`, a slab of connections, a timer wheel, a read buffer shared by its connections
//! and a mailbox. A connection lives on one reactor from accept to close; nothing shared
//! between cores is touched per event (a global connection counter is touched once per accept
//! and once per close).
//!
//! The upper layer implements [`Handler`]: one value per reactor, with per-connection state
//! [`Handler::Conn`] kept inline in the slab. Callbacks receive the bytes read and a [`Ctx`] to
//! write (owned, borrowed or [`SharedBytes`], vectored), close, pause and resume reading, set
//! timers, open outbound connections and reach other reactors' [`Mailbox`]es.
//!
//! ```no_run
//! use switchyard_netio::{start, Accepted, Config, ConnId, Ctx, Handler};
//!
//! struct Echo;
//! impl Handler for Echo {
//!     type Conn = ();
//!     type Message = ();
//!     fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<()> {
//!         Some(())
//!     }
//!     fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), data: &mut [u8]) {
//!         let _ = ctx.write(id, data);
//!     }
//! }
//!
//! let config = Config { listen: vec!["127.0.0.1:7000".parse().unwrap()], ..Config::default() };
//! let reactors = start(config, |_| Echo)?;
//! let stop = reactors.shutdown_handle(); // call stop.shutdown() from a signal handler
//! reactors.join()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A connection may be given a [`Transport`] ([`Ctx::set_transport`]): a byte-stream layer
//! such as TLS that decodes what is read and encodes what is written, below the handler and
//! the cork, above the outbound queue ([`transport`] says how buffers, backpressure and close
//! pass through it). netio knows nothing of what a transport does.
//!
//! # Edge-triggered discipline
//! Every socket is registered once, for reading and writing, edge-triggered, and never
//! re-registered (pausing a read is a flag, not an `epoll_ctl`). On readable the reactor reads
//! until `WouldBlock` or a short read (a short read means the kernel buffer was empty at that
//! instant, and new data raises a new edge; when the event reports the peer's FIN it reads to
//! the end), retrying `Interrupted`, with a per-event budget for fairness. On writable it
//! writes the queue until `WouldBlock` or a short write. Stray and stale tokens are ignored:
//! a token carries the connection's generation.
//!
//! # Syscalls per connection
//! `accept4(SOCK_NONBLOCK|SOCK_CLOEXEC)` (no `fcntl`), one `epoll_ctl(ADD)`, no per-connection
//! `setsockopt` (`TCP_NODELAY`, buffer sizes and `TCP_DEFER_ACCEPT` are set on the listener and
//! inherited), `read`, and `send` (one buffer) or `sendmsg` (several) as the protocol needs,
//! and `close` (which also leaves epoll).
//!
//! # Accept modes
//! [`AcceptMode::ReusePort`] (the default) gives every reactor its own `SO_REUSEPORT` listener:
//! a connection is accepted on the core that will serve it, with no hand-off. Another process
//! may not join those listeners unless [`Config::reuse_port`] says so: by default an address
//! already in use fails [`start`] with an error naming it. The
//! [`AcceptMode::Acceptor`] thread adds a channel send, eventfd wakeups (batched: about one per
//! ten connections in a storm) and a third thread competing for the cores. Measured with
//! `benches/figures.sh` (2 reactors, 64 concurrent connect / 1-byte echo / close loops, load
//! generator pinned to core 1, shared and heavily loaded machine, medians of 3, two sets), the
//! server's CPU per connection was 33-36 us with `ReusePort` (32-33 us with
//! `TCP_DEFER_ACCEPT`), 52-62 us with round robin and 41-51 us with least-loaded: `ReusePort` is
//! the default because it costs the least per connection, which is what bounds a connection
//! storm. The acceptor modes reached higher rates there (least-loaded 15,000/s against 9,500/s)
//! because they steered connections away from the reactor sharing a core with the load
//! generator: choose least-loaded when reactors are unevenly loaded, which the kernel's 4-tuple
//! hash cannot see. Figures and commands: `benches/FIGURES.md`.
//!
//! # Memory
//! An idle connection costs its slab slot: 24 bytes plus the handler's `Conn` in release builds
//! (see [`conn_slot_size`]; mio adds 8 bytes per socket in debug builds), plus 48 bytes per
//! pending timer and a map entry (about 16 bytes) for each connection that has one, whose
//! close removes them from the wheel at once. No read buffer (one per reactor), no write queue
//! (allocated only while the socket is full). The slab is reserved up front as address space, so it never reallocates
//! and only used slots become resident. Measured: about 25 bytes of resident memory per idle
//! connection at 10,000 connections with `Conn = ()` (VmRSS before and after, with a raw-TCP
//! client since removed; `switchyard-load --server-pid PID idle -c 10000` is the equivalent
//! today, through a WebSocket server: `benches/FIGURES.md`).
//!
//! A connection with a [`Transport`] costs, beyond its slot, an entry in the reactor's
//! transport table (the boxed transport and an empty tail buffer, about 60 bytes, plus the
//! transport's own state) and, only while a read ended inside a record, that record's tail.
//!
//! # More connections than `RLIMIT_NOFILE`
//! The descriptor limit bounds each descriptor *table*, and a thread can have its own. With
//! [`Config::private_descriptor_tables`] every reactor thread calls `unshare(CLONE_FILES)`
//! first, so `R` reactors hold about `R` times the limit: the way past a hard limit that cannot
//! be raised (no `CAP_SYS_RESOURCE`). It needs [`AcceptMode::ReusePort`], where a connection
//! never leaves its reactor; everything other threads use (epoll instances, listeners, the
//! wakers of mailboxes and shutdown) is created before the reactors take their copies, and the
//! copies nobody owns are closed. The field's docs list what it costs.
//!
//! # Why these crates
//! `mio` for epoll and the waker (no async runtime), `slab` for the connection table (O(1)
//! insert and remove, dense keys), `socket2` for `SO_REUSEPORT` and options mio lacks,
//! `crossbeam-channel` for the cross-core mailboxes (lock-free MPSC), `core_affinity` for
//! pinning. The only unsafe code is in `sys.rs`: one `setsockopt` for `TCP_DEFER_ACCEPT`, and
//! for private descriptor tables `unshare`, `close` of a descriptor copy that nothing owns
//! (called from `private_tables.rs`, with its safety argument) and `pthread_sigmask`.

#![deny(unsafe_code)]

mod accept;
mod bytes;
mod config;
mod conn;
mod core;
mod ctx;
mod handler;
mod mailbox;
mod private_tables;
mod reactor;
mod runtime;
#[allow(unsafe_code)]
mod sys;
mod timer;
pub mod transport;

pub use crate::bytes::SharedBytes;
pub use crate::config::{AcceptMode, Balance, Config};
pub use crate::ctx::Ctx;
pub use crate::handler::{Accepted, Close, CloseReason, ConnId, Handler, NoConnection, Pressure};
pub use crate::mailbox::{Mailbox, ShutdownHandle};
pub use crate::runtime::{start, Liveness, ReactorInfo, Reactors};
pub use crate::timer::TimerId;
pub use crate::transport::{Decoded, Transport};

/// Size in bytes of the reactor's per-connection record for a handler state of type `C` (the
/// slab slot: socket, generation, flags, queue pointer and `Option<C>`), for memory budgets.
pub const fn conn_slot_size<C>() -> usize {
    std::mem::size_of::<slab_entry::Entry<conn::Conn<C>>>()
}

mod slab_entry {
    /// Mirrors `slab`'s private entry layout (occupied value or next-vacant index) to measure it.
    #[allow(dead_code)]
    pub(crate) enum Entry<T> {
        Vacant(usize),
        Occupied(T),
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// The memory budget that keeps idle connections cheap: at most 256 bytes per idle
    /// connection added by the reactor (slab slot + timer entry), and the server needs far less.
    /// Printed for the report.
    #[test]
    fn per_connection_state_is_small() {
        let slot = conn_slot_size::<()>();
        let conn = std::mem::size_of::<conn::Conn<()>>();
        let timer = timer::entry_slot_size();
        eprintln!("Conn<()> = {conn} B, slab slot = {slot} B, timer slot = {timer} B");
        // mio adds a selector id to each socket in debug builds only.
        let debug_extra = if cfg!(debug_assertions) { 8 } else { 0 };
        assert!(conn <= 24 + debug_extra, "Conn<()> is {conn} bytes");
        assert!(slot <= 32 + debug_extra, "slab slot is {slot} bytes");
        assert!(
            slot + timer <= 96,
            "slot + one timer = {} bytes",
            slot + timer
        );
        // A 16-byte handler state is stored inline (plus at most the `Option` tag, padded).
        assert!(conn_slot_size::<[u64; 2]>() <= slot + 24);
    }
}
