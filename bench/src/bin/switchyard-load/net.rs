//! Opening client sockets, spread over source addresses 127.0.0.1, 127.0.0.2, ...

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mio::net::TcpStream;
use socket2::{Domain, Socket, Type};
use switchyard_bench::sys::set_bind_address_no_port;

/// Opens non-blocking connections to one server, rotating over source addresses.
#[derive(Debug)]
pub struct Connector {
    target: SocketAddr,
    sources: Vec<IpAddr>,
    next: usize,
    nodelay: bool,
}

impl Connector {
    /// A connector to `target` using `sources` loopback source addresses (IPv4 targets only;
    /// an IPv6 target uses the kernel's choice). `nodelay` sets TCP_NODELAY on every socket
    /// (needed when messages are pipelined; a connection that only sends its request does not
    /// need the extra system call).
    pub fn new(target: SocketAddr, sources: usize, nodelay: bool) -> io::Result<Self> {
        if !target.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{target} is not a loopback address: load tests stay on this machine"),
            ));
        }
        let sources = match target {
            SocketAddr::V4(_) => (0..sources.clamp(1, 250 * 250))
                .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, (i / 250) as u8, (i % 250) as u8 + 1)))
                .collect(),
            SocketAddr::V6(_) => Vec::new(),
        };
        Ok(Self {
            target,
            sources,
            next: 0,
            nodelay,
        })
    }

    /// Starts a connection (non-blocking: completion is signalled by writability).
    pub fn connect(&mut self) -> io::Result<TcpStream> {
        let socket = Socket::new(
            Domain::for_address(self.target),
            Type::STREAM.nonblocking().cloexec(),
            None,
        )?;
        if !self.sources.is_empty() {
            let source = self.sources[self.next % self.sources.len()];
            self.next = self.next.wrapping_add(1);
            set_bind_address_no_port(&socket)?;
            socket.bind(&SocketAddr::new(source, 0).into())?;
        }
        if self.nodelay {
            socket.set_nodelay(true)?;
        }
        match socket.connect(&self.target.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        Ok(TcpStream::from_std(socket.into()))
    }
}
