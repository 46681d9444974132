//! The built-in apps, each on the public app API ([`crate::app`]), and the router the binary
//! runs: each request path finds its route in the configuration's [`RouteTable`], and the
//! route's app serves it. The router's per-connection state is the route id (2 bytes, which
//! fits in the padding of the connection's state: an idle connection costs what it did
//! before the app API).

mod bridge;
mod broadcast;
mod echo;

use std::net::SocketAddr;
use std::sync::Arc;

pub use bridge::Bridge;
pub use broadcast::Broadcast;
pub use echo::Echo;

use crate::app::{App, Connection, Message, Publish, Upgrade, UpgradeRequest};
use crate::config::{Config, SlowSubscriber};
use crate::routes::{App as RouteApp, RouteId, RouteTable};

/// The binary's app: routes to echo, broadcast and bridge by path.
pub struct Builtin {
    routes: RouteTable,
    /// Per route id: its backends, for bridge routes (shared, so an upgrade clones a pointer).
    backends: Vec<Option<Arc<[SocketAddr]>>>,
    close_slow: bool,
}

impl Builtin {
    /// The router for a configuration's routes.
    pub fn new(config: &Config) -> Self {
        let routes = config.routes.clone();
        let backends = (0..routes.len())
            .map(|id| match routes.app(id as RouteId) {
                RouteApp::Bridge { addrs, .. } => Some(Arc::from(addrs.as_slice())),
                _ => None,
            })
            .collect();
        Self {
            routes,
            backends,
            close_slow: config.slow_subscriber == SlowSubscriber::Close,
        }
    }

    fn route(&self, id: RouteId) -> &RouteApp {
        self.routes.app(id)
    }
}

impl App for Builtin {
    type State = RouteId;

    fn upgrade<'r>(&self, request: &UpgradeRequest<'r>) -> Upgrade<'r, RouteId> {
        let (id, app) = self.routes.lookup(request.path());
        match app {
            RouteApp::Bridge { .. } => match &self.backends[usize::from(id)] {
                Some(backends) => Upgrade::Tunnel {
                    backends: Arc::clone(backends),
                },
                None => Upgrade::reject(500, "bridge route without backends"),
            },
            RouteApp::Echo | RouteApp::Broadcast => Upgrade::accept(id),
        }
    }

    /// Explicit routes only: a plain GET of a path that only the catch-all serves is a 404
    /// (what scanners and typos should get), of a configured WebSocket route a 426.
    fn is_websocket_path(&self, path: &str) -> bool {
        self.routes.lookup(path).0 != RouteTable::FALLBACK
    }

    fn tunnels(&self, path: &str) -> bool {
        matches!(self.routes.lookup(path).1, RouteApp::Bridge { .. })
    }

    fn open(&self, conn: &mut Connection<'_, '_, Self>, request: &UpgradeRequest<'_>) {
        if let RouteApp::Broadcast = self.route(*conn.state()) {
            Broadcast::join(conn, request);
        }
    }

    fn message(&self, conn: &mut Connection<'_, '_, Self>, message: Message<'_>) {
        match self.route(*conn.state()) {
            RouteApp::Broadcast => Broadcast::relay(conn, message, Publish::IncludeSender),
            _ => Echo::echo(conn, message),
        }
    }

    fn backpressure(&self, conn: &mut Connection<'_, '_, Self>) {
        match self.route(*conn.state()) {
            RouteApp::Broadcast => Broadcast::slow(conn, self.close_slow),
            // Echo: the sender is the receiver; stop reading it until it reads.
            _ => conn.pause_reading(),
        }
    }

    fn drain(&self, conn: &mut Connection<'_, '_, Self>) {
        if !matches!(self.route(*conn.state()), RouteApp::Broadcast) {
            conn.resume_reading();
        }
    }
}
