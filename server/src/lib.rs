//! Switchyard: the WebSocket service, composed of the `handshake`, `frame` and `netio` crates.
//!
//! The binary (`src/main.rs`) parses [`config::Cli`] into a [`config::Config`] and runs the
//! server. The library exists so that integration tests and embedders can start a server
//! in-process on an ephemeral port.

pub mod config;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod routes;
pub mod signals;
