//! Switchyard: the WebSocket service, composed of the `handshake`, `frame` and `netio` crates.
//!
//! The binary (`src/main.rs`) resolves [`Settings`] (flags over a TOML file over defaults) into
//! a [`Config`] and runs a [`Server`] with the built-in apps ([`apps`]) on the configured
//! routes. The library is for embedders: the same server running your own app ([`app`], with
//! a worked example), its configuration, and a [`ServerHandle`] for publishing, metrics and
//! shutdown from any thread; everything else is private.
//!
//! ```no_run
//! use switchyard::{Config, Server};
//! let mut config = Config {
//!     listen: vec!["127.0.0.1:0".parse().unwrap()],
//!     ..Config::default()
//! };
//! config.routes.insert_spec("/rooms/*=broadcast").expect("a valid route");
//! let server = Server::start(config)?; // or Server::start_app(config, your_app)
//! println!("listening on {}", server.local_addrs()[0]);
//! let handle = server.handle(); // Clone + Send: publish, shutdown, metrics, connection count
//! std::thread::spawn(move || handle.shutdown());
//! server.join()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # What the binary serves
//! - WebSocket by route ([`routes`]): `echo` on every path the catch-all (`*`) serves unless
//!   changed (`*=broadcast`) or removed (`*=none`: unknown paths get 404); by default
//!   `/broadcast` is a `broadcast` route, and `/rooms/*` style wildcards make each concrete
//!   path its own topic. `bridge:HOST:PORT` routes tie each client to a fresh TCP connection
//!   to the backend, and also accept a raw `Upgrade: tcp`. With `--jwt-secret-file` (or
//!   `SWITCHYARD_JWT_SECRET`) or `--jwt-public-key`, every upgrade needs a valid JWT first
//!   ([`auth`]).
//! - Plain HTTP on the same port: the demo page (`/`), `/healthz`, `/metrics` (Prometheus
//!   text), each movable or off, and `/healthz` and `/metrics` on a separate admin listener
//!   with `--admin-listen`; a plain GET of a WebSocket route gets 426, anything else 404, with
//!   keep-alive.
//! - Across processes ([`cluster`]): with `--cluster redis://HOST:PORT[/DB]`, broadcast topics
//!   are shared with every other switchyard on the same Redis (two bus threads per process,
//!   fed by a bounded queue; `/healthz` says `degraded: cluster engine disconnected` while
//!   Redis is away). With `--publish-token-file` (or `SWITCHYARD_PUBLISH_TOKEN`), a backend's
//!   `POST` to a broadcast route's path publishes its body (the publish API, `publish_api.rs`,
//!   with a sans-IO chunked decoder in `chunked.rs`). `--drain-window` spreads the 1001s of a
//!   SIGTERM.
//! - Logs: text or JSON lines (`--log-format`), an access line per finished WebSocket with
//!   `--access-log` ([`access_log`]), warnings for failed backends, refusals over limits and
//!   slow consumers, and a summary at shutdown.
//!
//! # Design
//! - The server core sits below the app API and knows no particular app: one reactor per core
//!   (`reactor.rs`: the app, shared, and the `Core`) owns its connections; the
//!   per-connection state (`conn.rs`) is a small enum with every buffer boxed and present only
//!   while needed, and the app's state inline. The HTTP phase is `head.rs` (one request parser
//!   per connection while a head is incomplete; the app's `upgrade` decides), the WebSocket
//!   session `ws.rs`, tunnels to TCP backends `bridge.rs`, topics `topics.rs`, the access log's
//!   records `access.rs`. The built-in apps (`apps/`: echo, broadcast, bridge and the router
//!   the binary runs) are written on the public API only.
//! - The WebSocket protocol state is the frame crate's: a 1-byte `frame::Session` per
//!   connection encodes every frame the server sends and keeps the close handshake; a
//!   `frame::Decoder` is lent from a per-reactor spare for each read and kept by a connection
//!   only while a frame or message is split across reads (or for life with permessage-deflate).
//! - Replies straight from the read: netio lends its read buffer mutably, the decoder unmasks
//!   each frame in place there, and a reply the app sends from its `message` handler is built
//!   over the consumed request when it fits (the payload moved down, our shorter header
//!   written before it), so all the replies of one read are one contiguous slice and one
//!   `send` however many messages it held. Echo is the app that benefits most.
//! - TLS (`--listen-tls`): a connection accepted on a TLS listener is given a
//!   [`tls::TlsTransport`] as its netio transport in `accept`; from then on netio decrypts
//!   what it reads in its read buffer and encrypts everything written to the connection, so
//!   the HTTP phase, the WebSocket session, bridges, topics and the apps are the same code over
//!   plain and TLS connections and never know which they serve ([`tls`] has the design).
//! - Keepalive: each reactor sweeps its own table on a reactor timer (no ticker thread).
//! - Raw `Upgrade: tcp` tunnels pass half-closes through: a client's EOF becomes a FIN to the
//!   backend, whose late reply still reaches the client, and vice versa.
//! - Topics: a publish encodes a message once into shared bytes, delivers them to the local
//!   subscribers and sends them with the topic's name to the other reactors through netio's
//!   mailboxes; every subscriber's queue holds a reference, not a copy, and each subscriber
//!   gets all the frames of a loop turn in one write.
//! - Metrics are per-core single-writer counters, summed on scrape (`metrics.rs`); an app adds
//!   its own with [`app::App::metrics`].
//! - permessage-deflate (`--deflate`, on by default without context takeover): the handshake
//!   crate's negotiator agrees the parameters, which become the frame crate's configuration
//!   through one conversion, and the codec is installed on the connection's decoder; what an
//!   app sends to one connection is compressed, published and tunnelled output goes
//!   uncompressed (RFC 7692 lets every message choose), so a publish is still encoded once for
//!   all subscribers.
//!
//! # Cost
//! Measured figures (CPU per upgrade and per message against a null server, idle memory per
//! connection) and the commands that reproduce them are in the repository's `BENCHMARKS.md`.
//!
//! # Crates used
//! clap (flags and `--help`), serde + toml (the config file), log + env_logger (stderr logs),
//! serde_json (JSON log lines), signal-hook (SIGINT/SIGTERM on a normal thread, where shutdown
//! may lock and log), jsonwebtoken (JWT verification, see [`auth`]), rustls over aws-lc-rs and
//! x509-parser (TLS certificates and sessions, see [`tls`]), the sync `redis` client and
//! crossbeam-channel (the cluster engine's bus threads and bounded queue, see [`cluster`]),
//! getrandom (its node id): each does its job better than hand-written code would.

pub mod access_log;
pub mod app;
pub mod apps;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod logging;
pub mod routes;
pub mod signals;
pub mod tls;

mod access;
mod bridge;
mod budget;
/// The publish API's chunked body decoder (sans-IO); public for the fuzz targets only.
#[doc(hidden)]
pub mod chunked;
mod conn;
/// A sans-IO entry point into the HTTP phase for the fuzz targets in `server/fuzz`: not API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod head;
mod http;
mod metrics;
mod publish_api;
mod published;
mod reactor;
mod server;
mod slots;
mod topics;
mod ws;

pub use config::{Config, ConfigError, Settings};
pub use routes::RouteTable;
pub use server::{Server, ServerHandle};
