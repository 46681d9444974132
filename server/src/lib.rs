//! Switchyard: the WebSocket service, composed of the `handshake`, `frame` and `netio` crates.
//!
//! The binary (`src/main.rs`) resolves [`Settings`] (flags over a TOML file over defaults) into
//! a [`Config`] and runs a [`Server`]. The library is for embedders and integration tests: the
//! server, its configuration, routes and apps, and a [`ServerHandle`] for shutdown and metrics;
//! everything else is private.
//!
//! ```no_run
//! use switchyard::{Config, Server};
//! let mut config = Config {
//!     listen: vec!["127.0.0.1:0".parse().unwrap()],
//!     ..Config::default()
//! };
//! config.routes.insert_spec("/chat=broadcast").expect("a valid route");
//! let server = Server::start(config)?;
//! println!("listening on {}", server.local_addrs()[0]);
//! let handle = server.handle(); // Clone + Send: shutdown, metrics, connection count
//! std::thread::spawn(move || handle.shutdown());
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
//! - One reactor handler per core (`reactor.rs`) owns its connections; the per-connection
//!   state (`conn.rs`) is a small enum with every buffer boxed and present only while needed.
//!   The HTTP phase is `head.rs` (one request parser per connection while a head is
//!   incomplete, one route lookup per request), the WebSocket phase `ws.rs`, bridges
//!   `bridge.rs`.
//! - The WebSocket protocol state is the frame crate's: a 1-byte `frame::Session` per
//!   connection encodes every frame the server sends and keeps the close handshake; a
//!   `frame::Decoder` is lent from a per-reactor spare for each read and kept by a connection
//!   only while a frame or message is split across reads (or for life with permessage-deflate).
//! - Echo replies straight from the read: netio lends its read buffer mutably, the decoder
//!   unmasks each frame in place there, and the reply is built over the consumed request (the
//!   payload moved down, our shorter header written before it), so all the replies of one read
//!   are one contiguous slice and one `send` however many messages it held.
//! - Keepalive: each reactor sweeps its own table on a reactor timer (no ticker thread).
//! - Raw `Upgrade: tcp` tunnels pass half-closes through: a client's EOF becomes a FIN to the
//!   backend, whose late reply still reaches the client, and vice versa.
//! - Broadcast encodes a message once into shared bytes and sends them to the other reactors
//!   through netio's mailboxes; every subscriber's queue holds a reference, not a copy.
//! - Metrics are per-core single-writer counters, summed on scrape (`metrics.rs`).
//! - permessage-deflate (`--deflate`, on by default without context takeover): the handshake
//!   crate's negotiator agrees the parameters, which become the frame crate's configuration
//!   through one conversion, and the codec is installed on the connection's decoder; echo
//!   replies are compressed, broadcast and bridge output go uncompressed (RFC 7692 lets every
//!   message choose), so a broadcast is still encoded once for all subscribers.
//!
//! # Cost
//! Measured figures (CPU per upgrade and per message against a null server, idle memory per
//! connection) and the commands that reproduce them are in the repository's `BENCHMARKS.md`.
//!
//! # Crates used
//! clap (flags and `--help`), serde + toml (the config file), log + env_logger (stderr logs),
//! signal-hook (SIGINT/SIGTERM on a normal thread, where shutdown may lock and log): each does
//! its job better than hand-written code would.

pub mod access_log;
pub mod app;
pub mod apps;
pub mod auth;
pub mod config;
pub mod logging;
pub mod routes;
pub mod signals;

mod access;
mod bridge;
mod budget;
mod conn;
/// A sans-IO entry point into the HTTP phase for the fuzz targets in `server/fuzz`: not API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod head;
mod http;
mod metrics;
mod reactor;
mod server;
mod slots;
mod topics;
mod ws;

pub use config::{Config, ConfigError, Settings};
pub use routes::RouteTable;
pub use server::{Server, ServerHandle};
