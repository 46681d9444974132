//! Shared bits of the peer servers: argument parsing and the single-threaded runtime.
//!
//! Both peers run on a tokio `current_thread` runtime so that they are comparable with a server
//! pinned to one core (the comparison script pins every server with `taskset -c 0`).

use std::net::SocketAddr;

/// The listen address: the first command-line argument, or 127.0.0.1:9001.
pub fn listen_addr() -> SocketAddr {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_string())
        .parse()
        .expect("usage: <peer> [ADDR:PORT]")
}

/// A single-threaded tokio runtime with I/O enabled (no timers are needed).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio runtime")
}

/// Binds a listener with a deep accept backlog, as every server in the comparison does.
pub fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}
