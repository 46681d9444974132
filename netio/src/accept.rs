//! Listeners (bound with socket2 so that every option is set once, on the listener, and
//! inherited by accepted sockets) and the acceptor thread of [`crate::AcceptMode::Acceptor`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};

use crate::config::{Balance, Config};
use crate::mailbox::{Envelope, Mailbox, Shared};
use crate::sys;

/// Errors of `accept` that mean "out of a resource" and repeat until something is freed:
/// accepting again at once would spin; back off instead.
pub(crate) fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// A nonblocking, close-on-exec listener with the configured options.
pub(crate) fn bind_listener(
    addr: SocketAddr,
    cfg: &Config,
    reuse_port: bool,
) -> io::Result<TcpListener> {
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    sock.set_reuse_address(true)?;
    if reuse_port {
        sock.set_reuse_port(true)?;
    }
    // Linux copies these from the listener to each accepted socket: zero syscalls per
    // connection for them.
    if cfg.nodelay {
        sock.set_nodelay(true)?;
    }
    if let Some(n) = cfg.send_buffer_size {
        sock.set_send_buffer_size(n)?;
    }
    if let Some(n) = cfg.recv_buffer_size {
        sock.set_recv_buffer_size(n)?;
    }
    sock.bind(&addr.into())?;
    sock.listen(cfg.backlog)?;
    if let Some(d) = cfg.defer_accept {
        sys::set_defer_accept(&sock, u32::try_from(d.as_secs().max(1)).unwrap_or(u32::MAX))?;
    }
    Ok(TcpListener::from_std(sock.into()))
}

/// Every listener of one configured address: `count` of them, one per reactor, bound with
/// `SO_REUSEPORT` on the same port; or one. Only [`Config::reuse_port`] lets other processes'
/// sockets share the port (see there for how). Errors name the address.
pub(crate) fn bind_address(
    addr: SocketAddr,
    cfg: &Config,
    count: usize,
) -> io::Result<Vec<TcpListener>> {
    let naming = |e: io::Error| {
        let hint = if e.kind() == io::ErrorKind::AddrInUse && !cfg.reuse_port {
            " (another socket listens there; reuse_port shares the port with it)"
        } else {
            ""
        };
        io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}{hint}"))
    };
    if count <= 1 {
        return Ok(vec![
            bind_listener(addr, cfg, cfg.reuse_port).map_err(naming)?
        ]);
    }
    let addr = if cfg.reuse_port {
        addr
    } else {
        exclusive_probe(addr).map_err(naming)?
    };
    let first = bind_listener(addr, cfg, true).map_err(naming)?;
    let bound = first.local_addr()?;
    let mut listeners = Vec::with_capacity(count);
    listeners.push(first);
    for _ in 1..count {
        listeners.push(bind_listener(bound, cfg, true).map_err(naming)?);
    }
    Ok(listeners)
}

/// Binds `addr` without `SO_REUSEPORT` and closes the socket again: fails with `AddrInUse` if
/// any socket (with or without `SO_REUSEPORT`) listens there. Returns the address bound, port 0
/// resolved to the port the kernel chose.
fn exclusive_probe(addr: SocketAddr) -> io::Result<SocketAddr> {
    let probe = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )?;
    // As the listeners: a port whose old connections are in TIME_WAIT is free.
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into())?;
    probe
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("probe socket has no inet address"))
}

pub(crate) const ACCEPTOR_WAKER: Token = Token(usize::MAX);

/// The acceptor thread: accepts on every listener and hands sockets to reactors.
pub(crate) struct Acceptor<M> {
    pub poll: Poll,
    pub listeners: Vec<TcpListener>,
    pub mailboxes: Arc<[Mailbox<M>]>,
    pub shared: Arc<Shared>,
    pub balance: Balance,
    pub backoff: Duration,
}

impl<M: Send + 'static> Acceptor<M> {
    pub(crate) fn run(mut self) {
        for (i, l) in self.listeners.iter_mut().enumerate() {
            if let Err(e) = self
                .poll
                .registry()
                .register(l, Token(i), Interest::READABLE)
            {
                log::error!("acceptor: register listener: {e}");
                return;
            }
        }
        let mut events = Events::with_capacity(64);
        let mut next = 0usize;
        let mut paused_until: Option<Instant> = None;
        let n = self.mailboxes.len();
        let mut handed = vec![0usize; n];
        loop {
            let timeout = paused_until.map(|t| t.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("acceptor: poll: {e}");
                return;
            }
            if self.shared.shutdown.load(Ordering::Acquire) {
                return; // dropping the listeners stops accepting
            }
            if let Some(t) = paused_until {
                if Instant::now() < t {
                    continue;
                }
                paused_until = None;
            }
            handed.iter_mut().for_each(|h| *h = 0);
            // After a backoff, or on any listener event, try every listener until WouldBlock.
            'listeners: for (i, l) in self.listeners.iter().enumerate() {
                loop {
                    match l.accept() {
                        Ok((stream, peer)) => {
                            let r = match self.balance {
                                Balance::RoundRobin => {
                                    next = (next + 1) % n;
                                    next
                                }
                                Balance::LeastLoaded => (0..n)
                                    .min_by_key(|&r| {
                                        self.shared.loads[r].0.load(Ordering::Relaxed) + handed[r]
                                    })
                                    .unwrap_or(0),
                            };
                            handed[r] += 1;
                            // Wakeups are batched by the mailbox: one per burst per reactor.
                            let _ = self.mailboxes[r]
                                .send_envelope(Envelope::Accepted(stream, peer, i));
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if is_resource_exhaustion(&e) => {
                            log::warn!(
                                "acceptor: accept: {e}; pausing accepts for {} ms",
                                self.backoff.as_millis()
                            );
                            paused_until = Some(Instant::now() + self.backoff);
                            break 'listeners;
                        }
                        Err(e) => log::debug!("acceptor: accept: {e}"),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The crate relies on Linux copying listener options to accepted sockets (no setsockopt
    /// per connection): prove it for the options we set.
    #[test]
    fn accepted_sockets_inherit_listener_options() {
        let cfg = Config {
            send_buffer_size: Some(8192),
            ..Config::default()
        };
        let listener = bind_listener("127.0.0.1:0".parse().unwrap(), &cfg, true).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert!(stream.nodelay().unwrap(), "TCP_NODELAY inherited");
        let sock = socket2::SockRef::from(&stream);
        // The kernel doubles the requested size for bookkeeping.
        assert_eq!(sock.send_buffer_size().unwrap(), 2 * 8192);
        assert!(sock.nonblocking().unwrap(), "accept4(SOCK_NONBLOCK)");
    }

    #[test]
    fn resource_exhaustion_errors_are_recognised() {
        assert!(is_resource_exhaustion(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(is_resource_exhaustion(&io::Error::from_raw_os_error(
            libc::ENFILE
        )));
        assert!(!is_resource_exhaustion(&io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
    }
}
