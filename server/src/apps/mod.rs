//! The built-in apps, each on the public app API ([`crate::app`]), and the router the binary
//! runs: each request path finds its route in the configuration's [`RouteTable`], and the
//! route's app serves it. The router's per-connection state is the route id (2 bytes, which
//! fits in the padding of the connection's state: an idle connection costs what it did
//! before the app API).

mod bridge;
mod broadcast;
mod echo;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use bridge::Bridge;
pub use broadcast::Broadcast;
pub use echo::Echo;

use crate::app::{App, Connection, Message, Publish, Upgrade, UpgradeRequest};
use crate::auth::{find_token, AuthError, JwtVerifier, SUBPROTOCOL_PREFIX};
use crate::config::{Config, SlowSubscriber};
use crate::routes::{App as RouteApp, RouteId, RouteTable};

/// What a route's WebSocket connections do with their messages (bridged connections never
/// reach the app).
#[derive(Clone, Copy)]
enum Kind {
    Echo,
    Broadcast { exclude_sender: bool },
}

/// The binary's app: routes to echo, broadcast and bridge by path, after the JWT check when
/// one is configured.
pub struct Builtin {
    routes: RouteTable,
    /// Per route id: what its connections' messages do (one byte read per message, rather
    /// than a match on the route's app).
    kinds: Vec<Kind>,
    /// Per route id: its backends, for bridge routes (shared, so an upgrade clones a pointer).
    backends: Vec<Option<Arc<[SocketAddr]>>>,
    close_slow: bool,
    jwt: Option<Arc<JwtVerifier>>,
    /// Upgrades refused by the JWT check, by [`AuthError::LABELS`] (rare: atomics are fine).
    auth_failures: [AtomicU64; AuthError::LABELS.len()],
    /// Upgrades refused because the token's `topics` claim does not list the topic.
    topic_denied: AtomicU64,
}

impl Builtin {
    /// The router for a configuration's routes (and its JWT verifier, if any).
    pub fn new(config: &Config) -> Self {
        let routes = config.routes.clone();
        let backends = (0..routes.len())
            .map(|id| match routes.get(id as RouteId) {
                Some(RouteApp::Bridge { addrs, .. }) => Some(Arc::from(addrs.as_slice())),
                _ => None,
            })
            .collect();
        let kinds = (0..routes.len())
            .map(|id| match routes.get(id as RouteId) {
                Some(RouteApp::Broadcast { exclude_sender }) => Kind::Broadcast {
                    exclude_sender: *exclude_sender,
                },
                _ => Kind::Echo,
            })
            .collect();
        Self {
            routes,
            kinds,
            backends,
            close_slow: config.slow_subscriber == SlowSubscriber::Close,
            jwt: config.jwt.clone(),
            auth_failures: Default::default(),
            topic_denied: AtomicU64::new(0),
        }
    }

    fn kind(&self, id: RouteId) -> Kind {
        self.kinds
            .get(usize::from(id))
            .copied()
            .unwrap_or(Kind::Echo)
    }

    /// The JWT check: a valid token from one of the three carriers, and for a broadcast route
    /// a `topics` claim (when present) that lists the connection's topic.
    fn authorize(
        &self,
        jwt: &JwtVerifier,
        request: &UpgradeRequest<'_>,
        topic: Option<&str>,
    ) -> Result<(), (u16, &'static str)> {
        let offered: Vec<&str> = request.offered_subprotocols().collect();
        let found = find_token(request.header("authorization"), request.query(), &offered);
        let claims = found
            .ok_or(AuthError::Missing)
            .and_then(|(_, token)| jwt.verify(token))
            .map_err(|e| {
                if let Some(i) = AuthError::LABELS.iter().position(|&l| l == e.label()) {
                    self.auth_failures[i].fetch_add(1, Ordering::Relaxed);
                }
                log::debug!("upgrade refused: {e}");
                (401, e.reason())
            })?;
        match topic {
            Some(topic) if !claims.may_join(topic) => {
                self.topic_denied.fetch_add(1, Ordering::Relaxed);
                Err((403, "the token does not allow this topic"))
            }
            _ => Ok(()),
        }
    }
}

/// With JWTs: a browser that carries its token as a `bearer.` subprotocol must be answered one
/// of the others it offered (it fails a handshake that answers none), unless the configured
/// list already chose.
fn token_free_subprotocol<'r>(request: &UpgradeRequest<'r>) -> Option<&'r str> {
    let mut offered = request.offered_subprotocols();
    if !offered.any(|p| p.starts_with(SUBPROTOCOL_PREFIX)) {
        return None;
    }
    request
        .offered_subprotocols()
        .find(|p| !p.starts_with(SUBPROTOCOL_PREFIX))
}

impl App for Builtin {
    type State = RouteId;

    fn upgrade<'r>(&self, request: &UpgradeRequest<'r>) -> Upgrade<'r, RouteId> {
        let Some((id, app)) = self.routes.lookup(request.path()) else {
            return Upgrade::reject(404, "no route for this path");
        };
        if let Some(jwt) = &self.jwt {
            let topic = matches!(app, RouteApp::Broadcast { .. })
                .then(|| self.routes.topic(id, request.path()));
            if let Err((status, why)) = self.authorize(jwt, request, topic) {
                return Upgrade::reject(status, why);
            }
        }
        match app {
            RouteApp::Bridge { .. } => match &self.backends[usize::from(id)] {
                Some(backends) => Upgrade::Tunnel {
                    backends: Arc::clone(backends),
                },
                None => Upgrade::reject(500, "bridge route without backends"),
            },
            RouteApp::Echo | RouteApp::Broadcast { .. } => Upgrade::Accept {
                state: id,
                // A browser that carries its token as a `bearer.` subprotocol must be
                // answered one of the others it offered (it fails a handshake that answers
                // none), unless the configured list already chose.
                subprotocol: match (&self.jwt, request.subprotocol()) {
                    (Some(_), None) => token_free_subprotocol(request),
                    _ => None,
                },
            },
        }
    }

    /// Explicit routes only: a plain GET of a path that only the catch-all serves is a 404
    /// (what scanners and typos should get), of a configured WebSocket route a 426.
    fn is_websocket_path(&self, path: &str) -> bool {
        self.routes
            .lookup(path)
            .is_some_and(|(id, _)| id != RouteTable::FALLBACK)
    }

    fn tunnels(&self, path: &str) -> bool {
        matches!(self.routes.lookup(path), Some((_, RouteApp::Bridge { .. })))
    }

    fn open(&self, conn: &mut Connection<'_, '_, Self>, request: &UpgradeRequest<'_>) {
        if let Kind::Broadcast { .. } = self.kind(*conn.state()) {
            Broadcast::join(conn, request);
        }
    }

    fn message(&self, conn: &mut Connection<'_, '_, Self>, message: Message<'_>) {
        match self.kind(*conn.state()) {
            Kind::Broadcast { exclude_sender } => {
                let who = if exclude_sender {
                    Publish::ExcludeSender
                } else {
                    Publish::IncludeSender
                };
                Broadcast::relay(conn, message, who);
            }
            Kind::Echo => Echo::echo(conn, message),
        }
    }

    fn backpressure(&self, conn: &mut Connection<'_, '_, Self>) {
        match self.kind(*conn.state()) {
            Kind::Broadcast { .. } => Broadcast::slow(conn, self.close_slow),
            // Echo: the sender is the receiver; stop reading it until it reads.
            Kind::Echo => conn.pause_reading(),
        }
    }

    fn drain(&self, conn: &mut Connection<'_, '_, Self>) {
        if let Kind::Echo = self.kind(*conn.state()) {
            conn.resume_reading();
        }
    }

    fn metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        if self.jwt.is_none() {
            return;
        }
        out.push_str(
            "# HELP switchyard_auth_failures_total Upgrades refused by the JWT check, by \
             reason (401), or because the token's topics claim does not list the topic (403, \
             reason topic_denied).\n# TYPE switchyard_auth_failures_total counter\n",
        );
        for (label, n) in AuthError::LABELS.iter().zip(&self.auth_failures) {
            let n = n.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "switchyard_auth_failures_total{{reason=\"{label}\"}} {n}"
            );
        }
        let n = self.topic_denied.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "switchyard_auth_failures_total{{reason=\"topic_denied\"}} {n}"
        );
    }
}
