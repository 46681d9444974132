//! Configuration of the reactors: a `Default` struct with public fields, each default stated
//! with its reason.

use std::net::SocketAddr;
use std::time::Duration;

/// How accepted connections reach the reactors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptMode {
    /// Every reactor owns its own `SO_REUSEPORT` listener on each address and accepts on its own
    /// thread; the kernel spreads incoming connections over the listeners by a hash of the
    /// 4-tuple. Fewest syscalls and no cross-core hand-off per connection (the default).
    ReusePort,
    /// One acceptor thread owns the listeners and hands each accepted socket to a reactor over a
    /// crossbeam channel, waking it with its `mio::Waker` (wakeups batched).
    Acceptor(Balance),
}

/// How the acceptor thread of [`AcceptMode::Acceptor`] chooses a reactor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    /// Reactors in turn.
    RoundRobin,
    /// The reactor with the fewest open connections (read from a per-reactor counter that only
    /// its own reactor writes).
    LeastLoaded,
}

/// Configuration of a set of reactors. Build it with `Config::default()` and change the fields
/// you need (`Config { listen: vec![addr], ..Config::default() }`).
#[derive(Clone, Debug)]
pub struct Config {
    /// Addresses to listen on. Default: none (a set of reactors that only makes outbound
    /// connections, or a test that adds its own).
    pub listen: Vec<SocketAddr>,
    /// Number of reactor threads. Default `0`: one per available core (thread-per-core), or one
    /// per entry of [`Config::cpus`] when that is set.
    pub reactors: usize,
    /// CPUs to pin reactors to, reactor `i` on `cpus[i % cpus.len()]`. Default `None`: the cores
    /// `core_affinity` reports, in order.
    pub cpus: Option<Vec<usize>>,
    /// Pin each reactor thread to its core. Default `true`: a connection, its buffers and its
    /// handler state stay in one core's cache for their whole life.
    pub pin: bool,
    /// How connections are accepted. Default [`AcceptMode::ReusePort`]: per connection it costs
    /// `accept4` + `epoll_ctl` on the core that serves it, where the acceptor thread adds a
    /// channel send, an eventfd write and a wakeup on another core (see the crate docs for the
    /// measured rates).
    pub accept: AcceptMode,
    /// Share the listening addresses with other processes: bind with `SO_REUSEPORT`, so that a
    /// second process (same user) listening on the same address joins in and the kernel
    /// spreads new connections over both - for zero-downtime restarts or running several
    /// processes side by side. Default `false`: an address another socket listens on fails
    /// [`crate::start`] with [`std::io::ErrorKind::AddrInUse`] and a message naming it, so a
    /// second copy started by mistake does not silently take half the connections.
    ///
    /// Independent of [`AcceptMode::ReusePort`], which gives each reactor of this process its
    /// own listener either way. Without sharing, netio first binds the address without
    /// `SO_REUSEPORT` (which fails if any socket listens there, or resolves port 0), closes
    /// that probe and binds the reactors' listeners on the same port at once. Two processes
    /// started in the same instant could both pass the probe (the kernel has no per-process
    /// `SO_REUSEPORT` group); a single reactor, or [`AcceptMode::Acceptor`], binds one
    /// listener without `SO_REUSEPORT` and has no such window. For the same reason a process
    /// that does set `reuse_port` joins another's per-reactor listeners even if that one did
    /// not: what is refused is a start that did not ask to share.
    pub reuse_port: bool,
    /// `listen(2)` backlog. Default 4096 (Linux's default `somaxconn`): a connection storm must
    /// not overflow the accept queue between two reactor turns.
    pub backlog: i32,
    /// `TCP_DEFER_ACCEPT`: the kernel completes `accept` only once the client has sent data (or
    /// the timeout passed), saving one wakeup per connection for client-speaks-first protocols
    /// such as HTTP. Default `None`: netio does not know who speaks first.
    pub defer_accept: Option<Duration>,
    /// `TCP_NODELAY` on accepted and outbound sockets. Default `true`: servers write whole
    /// messages, Nagle only adds latency. Set once on the listener (Linux copies it to accepted
    /// sockets), so it costs no syscall per connection.
    pub nodelay: bool,
    /// `SO_SNDBUF` for accepted sockets, set once on the listener (inherited). Default `None`:
    /// the kernel's autotuning.
    pub send_buffer_size: Option<usize>,
    /// `SO_RCVBUF` for accepted sockets, set once on the listener (inherited). Default `None`:
    /// the kernel's autotuning.
    pub recv_buffer_size: Option<usize>,
    /// Maximum number of open connections over all reactors (accepted and outbound). Default
    /// 262,144: far above what a 2-core machine serves usefully, well below what would exhaust
    /// memory. A connection accepted beyond it is still handed to [`crate::Handler::accept`] with
    /// [`crate::Accepted::over_limit`] set, so the upper layer can answer (e.g. HTTP 503) and
    /// close.
    pub max_connections: usize,
    /// How many connections beyond [`Config::max_connections`] each reactor keeps at once only
    /// to be told "over limit"; past that they are closed at once without calling the handler.
    /// Default 1024: enough to answer a burst, small enough to bound memory.
    pub over_limit_grace: usize,
    /// Outbound bytes queued on one connection at which the handler is told
    /// [`crate::Pressure::High`]. Default 1 MiB: several large messages may be in flight, while a
    /// stalled reader of a broadcast cannot grow without bound unnoticed.
    pub write_high_water: usize,
    /// Outbound bytes at or below which a connection that was over the high water mark is told
    /// [`crate::Pressure::Drained`]. Default 256 KiB: hysteresis, so that a reader at the limit
    /// does not flip paused/resumed on every write.
    pub write_low_water: usize,
    /// Size of each reactor's read buffer, shared by all its connections. Default 256 KiB: one
    /// `read` takes what a loopback socket typically holds, so large pipelined messages (16 of
    /// 16 KiB in the echo benchmark) rarely straddle two reads, which would make the codec copy
    /// the cut frame. Measured with the 16 KiB echo, server CPU per message: 64 KiB 6.2-8.0 us,
    /// 256 KiB 4.6-4.7 us, 1 MiB 4.6-5.3 us (more cache misses). Only the bytes a read fills are
    /// touched, so idle connections do not pay for it.
    pub read_buffer_size: usize,
    /// Capacity of the `mio::Events` array per `poll`. Default 1024.
    pub events_capacity: usize,
    /// Pause of accepting after an error such as `EMFILE` or `ENFILE`. Default 50 ms: the error
    /// repeats until connections close, and retrying at once would spin a core at 100%.
    pub accept_backoff: Duration,
    /// How long [`Close::AfterFlush`](crate::Close::AfterFlush) keeps a connection after
    /// flushing and sending FIN, reading and discarding until the peer closes, so that unread
    /// input does not turn the close into a reset that destroys the last response in flight.
    /// Default 2 s. `Duration::ZERO` closes right after the flush (one `close`, no `shutdown`
    /// and no reads): cheaper, for protocols where the peer has nothing more to send.
    pub linger: Duration,
    /// Graceful shutdown: how long reactors wait for handlers to say goodbye and for queued
    /// writes to drain before closing what is left. Default 5 s.
    pub shutdown_timeout: Duration,
    /// Resolution of the reactor's timer wheel. Default 10 ms: timeouts of protocols are
    /// seconds, and a coarse tick keeps wakeups rare.
    pub timer_resolution: Duration,
    /// Give each reactor thread a descriptor table of its own (`unshare(CLONE_FILES)`, its
    /// first act), so that the process can hold more connections than `RLIMIT_NOFILE` allows
    /// one table: the limit bounds descriptor numbers per table, so `R` reactors hold about
    /// `R` times the limit. For hosts whose hard limit cannot be raised (no
    /// `CAP_SYS_RESOURCE`, a container); where it can, raising it is simpler and costs nothing.
    /// Default `false`.
    ///
    /// Requires [`AcceptMode::ReusePort`] ([`crate::start`] refuses the acceptor mode with
    /// `InvalidInput`): a connection must be opened, used and closed by one reactor, and the
    /// acceptor thread hands accepted sockets across threads. netio creates everything other
    /// threads use (each reactor's epoll instance and listeners, the wakers of mailboxes and
    /// of the shutdown handle) before the reactors start, so those numbers are valid in every
    /// table; then it closes the copies nobody owns (see `private_tables.rs`).
    ///
    /// What it costs and changes:
    /// - a kernel descriptor table per reactor (a copy of the process's at start, then about 8
    ///   bytes of kernel memory per descriptor slot, grown in powers of two);
    /// - a descriptor opened on a reactor thread (its connections, anything a handler opens)
    ///   exists only in that reactor's table: never hand one to another thread, where its
    ///   number names nothing or another file; likewise a handler must not use a descriptor
    ///   that another thread opened after [`crate::start`];
    /// - descriptors the process had open when [`crate::start`] ran are referenced by every
    ///   reactor's table until that reactor exits: closing one elsewhere (a socket, a pipe)
    ///   does not release it (no FIN, no EOF for the pipe's reader) before then;
    /// - reactor threads block asynchronous signals (a signal handler on them would use the
    ///   process's descriptor numbers in the wrong table), so process-directed signals go to
    ///   the other threads; a signal sent to a reactor thread alone stays pending;
    /// - `/proc/PID/fd` and the tools that read it (`lsof`, a `process_open_fds` metric) list
    ///   the process's table only; a reactor's sockets are under `/proc/PID/task/TID/fd`.
    pub private_descriptor_tables: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: Vec::new(),
            reactors: 0,
            cpus: None,
            pin: true,
            accept: AcceptMode::ReusePort,
            reuse_port: false,
            backlog: 4096,
            defer_accept: None,
            nodelay: true,
            send_buffer_size: None,
            recv_buffer_size: None,
            max_connections: 262_144,
            over_limit_grace: 1024,
            write_high_water: 1 << 20,
            write_low_water: 256 << 10,
            read_buffer_size: 256 << 10,
            events_capacity: 1024,
            accept_backoff: Duration::from_millis(50),
            linger: Duration::from_secs(2),
            shutdown_timeout: Duration::from_secs(5),
            timer_resolution: Duration::from_millis(10),
            private_descriptor_tables: false,
        }
    }
}
