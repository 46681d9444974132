//! Starting the reactors and the handle that stops and joins them.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Waker};

use crate::accept::{bind_address, Acceptor, ACCEPTOR_WAKER};
use crate::config::{AcceptMode, Config};
use crate::core::{Core, Limits};
use crate::handler::Handler;
use crate::mailbox::{Mailbox, Padded, Shared, ShutdownHandle};
use crate::private_tables::Handover;
use crate::reactor::{Reactor, WAKER};

/// What the handler factory learns about the reactor it builds a handler for.
#[derive(Clone, Copy, Debug)]
pub struct ReactorInfo {
    /// Index of the reactor, `0..count`.
    pub index: usize,
    /// Number of reactors.
    pub count: usize,
    /// The CPU the reactor is pinned to, if pinned.
    pub cpu: Option<usize>,
}

/// The running reactors: addresses, mailboxes, shutdown, join. Dropping it shuts the reactors
/// down and joins them.
pub struct Reactors<M> {
    threads: Vec<JoinHandle<()>>,
    mailboxes: Arc<[Mailbox<M>]>,
    shutdown: ShutdownHandle,
    local_addrs: Vec<SocketAddr>,
    liveness: Liveness,
}

/// Which reactor threads are still running: cheap to clone, readable from any thread, e.g. by a
/// watchdog that names the reactors that did not stop within the shutdown timeout.
#[derive(Clone)]
pub struct Liveness {
    running: Arc<[AtomicBool]>,
}

impl Liveness {
    fn new(count: usize) -> Liveness {
        Liveness {
            running: (0..count).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// Indexes of the reactors whose thread has started and not yet returned (or unwound).
    pub fn running(&self) -> Vec<usize> {
        let running = self.running.iter().map(|r| r.load(Ordering::Acquire));
        running
            .enumerate()
            .filter_map(|(i, r)| r.then_some(i))
            .collect()
    }
}

impl fmt::Debug for Liveness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Liveness")
            .field("running", &self.running())
            .finish()
    }
}

/// Owned by reactor `i`'s thread (marked running before the spawn, so that no reader sees a
/// started reactor as stopped): marks it stopped when the thread returns or unwinds.
struct Running(Liveness, usize);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running[self.1].store(false, Ordering::Release);
    }
}

impl<M> fmt::Debug for Reactors<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactors")
            .field("reactors", &self.mailboxes.len())
            .field("local_addrs", &self.local_addrs)
            .finish()
    }
}

impl<M: Send + 'static> Reactors<M> {
    /// The bound address of each entry of [`Config::listen`], in order (port 0 resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Number of reactors.
    pub fn reactor_count(&self) -> usize {
        self.mailboxes.len()
    }

    /// One mailbox per reactor, indexed by reactor.
    pub fn mailboxes(&self) -> &[Mailbox<M>] {
        &self.mailboxes
    }

    /// Which reactors are still running (after a shutdown: which have not stopped yet).
    pub fn liveness(&self) -> Liveness {
        self.liveness.clone()
    }

    /// A cloneable handle that triggers graceful shutdown (safe in a signal handler).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Triggers graceful shutdown without waiting.
    pub fn shutdown(&self) {
        self.shutdown.shutdown();
    }

    /// Waits until every thread has exited (after a shutdown was triggered from anywhere).
    /// An error if a thread panicked.
    pub fn join(mut self) -> io::Result<()> {
        self.join_threads()
    }

    fn join_threads(&mut self) -> io::Result<()> {
        let mut panicked = 0;
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                panicked += 1;
            }
        }
        if panicked > 0 {
            return Err(io::Error::other(format!(
                "{panicked} netio thread(s) panicked"
            )));
        }
        Ok(())
    }
}

impl<M> Drop for Reactors<M> {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Starts the reactors: binds [`Config::listen`], spawns one thread per reactor (pinned unless
/// [`Config::pin`] is false) and, in [`AcceptMode::Acceptor`], the acceptor thread. `factory`
/// runs on each reactor's thread to build its handler, so the handler need not be `Send`.
///
/// Binding errors are returned here, before any thread starts. With
/// [`Config::private_descriptor_tables`], an [`AcceptMode::Acceptor`] configuration is refused
/// with [`io::ErrorKind::InvalidInput`], and a reactor that cannot get its own table fails the
/// start (the others are stopped and joined first).
pub fn start<H, F>(config: Config, factory: F) -> io::Result<Reactors<H::Message>>
where
    H: Handler,
    F: Fn(&ReactorInfo) -> H + Send + Sync + 'static,
{
    let cpus: Vec<usize> = match &config.cpus {
        Some(c) => c.clone(),
        None => core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.id)
            .collect(),
    };
    let count = if config.reactors > 0 {
        config.reactors
    } else if !cpus.is_empty() {
        cpus.len()
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    let listener_per_reactor = config.accept == AcceptMode::ReusePort;
    if config.private_descriptor_tables && !listener_per_reactor {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "private_descriptor_tables requires AcceptMode::ReusePort: the acceptor thread hands \
             accepted sockets to reactors, and a descriptor number from one thread's table means \
             nothing (or another socket) in a reactor's private table",
        ));
    }

    // Listeners: per reactor and address with SO_REUSEPORT, else one per address.
    let mut local_addrs = Vec::with_capacity(config.listen.len());
    let mut per_reactor: Vec<Vec<TcpListener>> = (0..count).map(|_| Vec::new()).collect();
    let mut acceptor_listeners = Vec::new();
    for &addr in &config.listen {
        let listeners = bind_address(addr, &config, if listener_per_reactor { count } else { 1 })?;
        local_addrs.push(listeners[0].local_addr()?);
        if listener_per_reactor {
            for (own, listener) in per_reactor.iter_mut().zip(listeners) {
                own.push(listener);
            }
        } else {
            acceptor_listeners.extend(listeners);
        }
    }

    let mut polls = Vec::with_capacity(count);
    let mut wakers = Vec::with_capacity(count + 1);
    let mut mailboxes = Vec::with_capacity(count);
    let mut receivers = Vec::with_capacity(count);
    for i in 0..count {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = crossbeam_channel::unbounded();
        mailboxes.push(Mailbox::new(tx, Arc::clone(&waker), i));
        wakers.push(waker);
        receivers.push(rx);
        polls.push(poll);
    }
    let acceptor_poll = if listener_per_reactor {
        None
    } else {
        let poll = Poll::new()?;
        wakers.push(Arc::new(Waker::new(poll.registry(), ACCEPTOR_WAKER)?));
        Some(poll)
    };
    let mailboxes: Arc<[Mailbox<H::Message>]> = mailboxes.into();
    let shared = Arc::new(Shared {
        shutdown: AtomicBool::new(false),
        active: Padded(AtomicUsize::new(0)),
        loads: (0..count).map(|_| Padded(AtomicUsize::new(0))).collect(),
        wakers,
    });
    let limits = Limits {
        high_water: config.write_high_water,
        low_water: config.write_low_water.min(config.write_high_water),
        linger: config.linger,
        nodelay: config.nodelay,
        max_connections: config.max_connections,
        over_limit_grace: config.over_limit_grace,
        stage_keep: config.read_buffer_size.max(64 << 10),
        // Any reactor may get most connections (the kernel's hash, or one busy listener), so
        // reserve for the whole limit; bounded so a huge limit cannot exhaust address space.
        slab_capacity: config
            .max_connections
            .saturating_add(config.over_limit_grace)
            .min(1 << 20),
    };

    for (poll, listeners) in polls.iter().zip(per_reactor.iter_mut()) {
        for (j, l) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(l, mio::Token(usize::MAX - 1 - j), Interest::READABLE)?;
        }
    }
    // Every descriptor another thread uses exists by now: the reactors may take private tables.
    let handover = config.private_descriptor_tables.then(|| {
        let own = polls
            .iter()
            .zip(&per_reactor)
            .map(|(poll, listeners)| {
                std::iter::once(poll.as_raw_fd())
                    .chain(listeners.iter().map(|l| l.as_raw_fd()))
                    .collect()
            })
            .collect();
        Arc::new(Handover::new(own))
    });
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<(usize, io::Result<()>)>();

    let factory = Arc::new(factory);
    let liveness = Liveness::new(count);
    let mut threads = Vec::with_capacity(count + 1);
    let mut start_error = None;
    let iter = polls
        .into_iter()
        .zip(receivers)
        .zip(per_reactor)
        .enumerate();
    for (i, ((poll, rx), listeners)) in iter {
        let cpu = (config.pin && !cpus.is_empty()).then(|| cpus[i % cpus.len()]);
        let factory = Arc::clone(&factory);
        let mailboxes_i = Arc::clone(&mailboxes);
        let shared_i = Arc::clone(&shared);
        let cfg = config.clone();
        let handover_i = handover.clone();
        let entered_tx = entered_tx.clone();
        let running = Running(liveness.clone(), i);
        liveness.running[i].store(true, Ordering::Release);
        let spawned = std::thread::Builder::new()
            .name(format!("netio-{i}"))
            .spawn(move || {
                let _running = running;
                if let Some(handover) = handover_i {
                    let entered = handover.enter(i);
                    let failed = entered.is_err();
                    let _ = entered_tx.send((i, entered));
                    if failed {
                        return; // still in the process's table: dropping closes ours there
                    }
                }
                drop(entered_tx);
                if let Some(cpu) = cpu {
                    if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
                        log::warn!("reactor {i}: could not pin to CPU {cpu}");
                    }
                }
                let handler = factory(&ReactorInfo {
                    index: i,
                    count,
                    cpu,
                });
                let own_mailbox = mailboxes_i[i].clone();
                let core = Core::new(poll, i, mailboxes_i, shared_i, limits, cfg.timer_resolution);
                Reactor {
                    core,
                    handler,
                    read_buf: vec![0; cfg.read_buffer_size.max(1)],
                    events: Some(Events::with_capacity(cfg.events_capacity.max(16))),
                    listeners,
                    rx,
                    own_mailbox,
                    expired: Vec::new(),
                    again: Vec::new(),
                    accept_paused: false,
                    accept_more: false,
                    mailbox_more: false,
                    accept_backoff: cfg.accept_backoff,
                    shutdown_timeout: cfg.shutdown_timeout,
                    shutdown_deadline: None,
                }
                .run();
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                start_error = Some(e);
                break;
            }
        }
    }
    drop(entered_tx);
    if let Some(handover) = &handover {
        // The process's copies of a reactor's descriptors are closed only once that reactor
        // has its own copy. Every spawned thread reports exactly once.
        for _ in 0..threads.len() {
            let Ok((i, entered)) = entered_rx.recv() else {
                break;
            };
            match entered {
                Ok(()) => handover.release(i),
                Err(e) => {
                    let msg = format!("reactor {i}: no private descriptor table: {e}");
                    start_error.get_or_insert_with(|| io::Error::new(e.kind(), msg));
                }
            }
        }
    }
    if let Some(e) = start_error {
        // Stop and join what started (dropping the handle does both) before reporting.
        drop(Reactors {
            threads,
            mailboxes,
            shutdown: ShutdownHandle { shared },
            local_addrs,
            liveness,
        });
        return Err(e);
    }
    if let Some(poll) = acceptor_poll {
        let acceptor = Acceptor {
            poll,
            listeners: acceptor_listeners,
            mailboxes: Arc::clone(&mailboxes),
            shared: Arc::clone(&shared),
            balance: match config.accept {
                AcceptMode::Acceptor(b) => b,
                AcceptMode::ReusePort => unreachable!("acceptor only in acceptor mode"),
            },
            backoff: config.accept_backoff,
        };
        threads.push(
            std::thread::Builder::new()
                .name("netio-acceptor".into())
                .spawn(move || acceptor.run())?,
        );
    }
    Ok(Reactors {
        threads,
        mailboxes,
        shutdown: ShutdownHandle { shared },
        local_addrs,
        liveness,
    })
}
