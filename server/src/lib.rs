//! Switchyard: the WebSocket service, composed of the `handshake`, `frame` and `netio` crates.
//!
//! The binary (`src/main.rs`) parses [`config::Cli`] into a [`config::Config`] and runs a
//! [`Server`]. The library exists so that integration tests and embedders can start a server
//! in-process, e.g. on an ephemeral port:
//!
//! ```no_run
//! use switchyard::{config::Config, Server};
//! let config = Config {
//!     listen: vec!["127.0.0.1:0".parse().unwrap()],
//!     ..Config::default()
//! };
//! let server = Server::start(config)?;
//! println!("listening on {}", server.local_addrs()[0]);
//! server.shutdown();
//! server.join()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # What it serves
//! - WebSocket on every path: `echo` unless a route says otherwise; by default `/broadcast` is a
//!   `broadcast` route. `bridge:HOST:PORT` routes tie each client to a fresh TCP connection to
//!   the backend, and also accept a raw `Upgrade: tcp`.
//! - Plain HTTP on the same port: `GET /` (a page that checks echo and broadcast from a browser),
//!   `GET /healthz`, `GET /metrics` (Prometheus text), 404 otherwise, with keep-alive.
//!
//! # Design
//! - One [`reactor::Reactor`] per core owns its connections; the per-connection state
//!   ([`conn::Conn`]) is a small enum with every buffer boxed and present only while needed.
//! - Echo replies straight from the read: netio lends its read buffer mutably, the frame codec
//!   unmasks each frame in place there, and the reply is built over the consumed request (the
//!   payload moved down, our shorter header written before it), so all the replies of one read
//!   are one contiguous slice and one `sendmsg` however many messages it held.
//! - Keepalive: each reactor sweeps its own table on a reactor timer (no ticker thread).
//! - Raw `Upgrade: tcp` tunnels pass half-closes through (`Ctx::shutdown_write`): a client's EOF
//!   becomes a FIN to the backend, whose late reply still reaches the client, and vice versa.
//! - Broadcast encodes a message once into shared bytes and sends them to the other reactors
//!   through netio's mailboxes; every subscriber's queue holds a reference, not a copy.
//! - Metrics are per-core single-writer counters, summed on scrape ([`metrics`]).
//! - permessage-deflate (`--deflate`, off by default): the handshake crate's negotiator agrees
//!   the parameters and the frame crate's extension is installed on the connection's codec,
//!   which such a connection then keeps for life; echo replies are compressed, broadcast and
//!   bridge output go uncompressed (RFC 7692 lets every message choose), so a broadcast is still
//!   encoded once for all subscribers.
//!
//! # Cost (measured 2026-11-24, server pinned to core 0, `switchyard-load` to core 1, shared
//! 2-core machine at load average 6-9, so wall-clock ratios are noisy)
//! - Upgrade storm (`switchyard-load --sources 64 upgrade --concurrency 32`): 6.1 syscalls per
//!   connection under `strace -c -f` (`accept4` 1.04, `epoll_ctl` 1, `recvfrom` 2 - the head
//!   and the EOF -, `sendmsg` 1 for the 101, `close` 1, `epoll_wait` ~0.1) against the null
//!   server's 7.1 (it adds a `setsockopt(TCP_NODELAY)`). CPU per upgrade is ~1.0x the null
//!   server's (medians of 3, 0.97-1.09x): the rest is the kernel's TCP set-up and teardown.
//! - 16-byte echo, 100 connections x 16 in flight: the same syscalls per message as the null
//!   server (one `recvfrom` and one `sendmsg` per read of ~16 messages); userspace
//!   (`valgrind --tool=callgrind`) ~670 instructions per text message, ~530 per binary one, vs
//!   ~160 for the null server, which validates nothing. Most of it is the frame decoder (~220
//!   per message: header, unmask, limits) and UTF-8 validation of text (~140). CPU per message
//!   is ~1.14x the null server's (median of 12 rounds, 0.86-1.29x); issue 6 asks for 0.9x.
//!
//! # Crates used
//! clap (flags and `--help`), serde + toml (the config file), log + env_logger (stderr logs),
//! signal-hook (SIGINT/SIGTERM on a normal thread, where shutdown may lock and log): each does
//! its job better than hand-written code would.

pub mod config;
pub mod conn;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod reactor;
pub mod routes;
pub mod signals;

mod bridge;
mod head;
mod server;
mod slots;
mod ws;

pub use server::Server;
