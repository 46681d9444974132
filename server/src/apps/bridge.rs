//! The bridge app: each client is tied to a fresh TCP connection to a backend. WebSocket
//! binary messages carry the bytes both ways (as websockify does); a raw `Upgrade: tcp`
//! becomes a byte pipe. Written on the public app API: the upgrade answers
//! [`Upgrade::Tunnel`], and the core's tunnel does the rest (connect before the 101, 502/504,
//! idle timeout, half-close, backpressure both ways).

use std::net::SocketAddr;
use std::sync::Arc;

use crate::app::{App, Connection, Message, Upgrade, UpgradeRequest};

/// Tunnels every client to `backends`.
#[derive(Debug, Clone)]
pub struct Bridge {
    /// The backend's addresses, tried in order.
    pub backends: Arc<[SocketAddr]>,
}

impl App for Bridge {
    type State = ();

    fn upgrade<'r>(&self, _: &UpgradeRequest<'r>) -> Upgrade<'r, ()> {
        Upgrade::Tunnel {
            backends: Arc::clone(&self.backends),
        }
    }

    fn tunnels(&self, _: &str) -> bool {
        true
    }

    // Tunnelled connections never reach the app's message handler.
    fn message(&self, _: &mut Connection<'_, '_, Self>, _: Message<'_>) {}
}
