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
mod wire;
mod ws;

pub use server::Server;
