//! The route table: which app serves a request path.
//!
//! Matching is exact on the path without its query string (`/chat?room=1` is `/chat`). A path
//! without a route echoes; the default table also makes `/broadcast` a broadcast route, which the
//! built-in page uses.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

/// What a route does with a client's WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum App {
    /// Every message is sent back to its sender, same opcode and payload.
    Echo,
    /// Every message goes to every client of the same path, on every core.
    Broadcast,
    /// Each client gets a fresh TCP connection to the backend; WebSocket binary messages carry
    /// the bytes both ways (as websockify does). Raw `Upgrade: tcp` gets a plain byte pipe.
    Bridge {
        /// The backend as written in the configuration, for logs.
        target: String,
        /// Its addresses, resolved once at start-up so no DNS lookup blocks a reactor.
        addrs: Vec<SocketAddr>,
    },
}

impl fmt::Display for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Echo => f.write_str("echo"),
            Self::Broadcast => f.write_str("broadcast"),
            Self::Bridge { target, .. } => write!(f, "bridge:{target}"),
        }
    }
}

/// Why a route was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// A `--route` value without `=`.
    MissingEquals(String),
    /// A path that does not start with `/`.
    BadPath(String),
    /// An app name that is not echo, broadcast or bridge:HOST:PORT.
    UnknownApp(String),
    /// A bridge target that does not resolve.
    Unresolvable(String, String),
    /// More routes than route ids (65,535).
    TooMany,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingEquals(s) => write!(f, "{s:?}: expected PATH=APP"),
            Self::BadPath(p) => write!(f, "path {p:?} must start with '/'"),
            Self::UnknownApp(a) => {
                write!(f, "app {a:?}: expected echo, broadcast or bridge:HOST:PORT")
            }
            Self::Unresolvable(t, e) => write!(f, "bridge target {t:?} does not resolve: {e}"),
            Self::TooMany => f.write_str("too many routes"),
        }
    }
}

impl std::error::Error for RouteError {}

/// Index of a route in its table; broadcast groups are keyed by it.
pub type RouteId = u16;

/// Path-to-app table. Route 0 is the fallback for unrouted paths (echo).
#[derive(Debug, Clone)]
pub struct RouteTable {
    // A linear scan: route tables are a handful of entries, and a scan of short strings beats
    // hashing the path for fewer than ~16 routes.
    routes: Vec<(String, App)>,
}

impl RouteTable {
    /// Id of the fallback route every unrouted path uses.
    pub const FALLBACK: RouteId = 0;

    /// The default table: `/broadcast` broadcasts, everything else echoes.
    pub fn default_table() -> Self {
        Self {
            routes: vec![
                (String::new(), App::Echo),
                ("/broadcast".to_owned(), App::Broadcast),
            ],
        }
    }

    /// Adds or replaces a route from `PATH=APP`.
    pub fn insert_spec(&mut self, spec: &str) -> Result<RouteId, RouteError> {
        let (path, app) = spec
            .split_once('=')
            .ok_or_else(|| RouteError::MissingEquals(spec.to_owned()))?;
        self.insert(path.trim(), app.trim())
    }

    /// Adds or replaces the route for `path`.
    pub fn insert(&mut self, path: &str, app: &str) -> Result<RouteId, RouteError> {
        if !path.starts_with('/') {
            return Err(RouteError::BadPath(path.to_owned()));
        }
        let app = parse_app(app)?;
        if let Some(i) = self.routes.iter().position(|(p, _)| p == path) {
            self.routes[i].1 = app;
            return Ok(i as RouteId);
        }
        if self.routes.len() > usize::from(RouteId::MAX) {
            return Err(RouteError::TooMany);
        }
        self.routes.push((path.to_owned(), app));
        Ok((self.routes.len() - 1) as RouteId)
    }

    /// Finds the route for a request target (`/path?query`).
    pub fn lookup(&self, target: &str) -> (RouteId, &App) {
        let path = target.split_once('?').map_or(target, |(p, _)| p);
        let id = self
            .routes
            .iter()
            .skip(1)
            .position(|(p, _)| p == path)
            .map_or(Self::FALLBACK, |i| (i + 1) as RouteId);
        (id, &self.routes[usize::from(id)].1)
    }

    /// The app of a route id from [`RouteTable::lookup`].
    pub fn app(&self, id: RouteId) -> &App {
        &self.routes[usize::from(id)].1
    }

    /// Number of routes, fallback included.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Always false: the fallback route is always there.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Routes for the start-up log line, `path=app` with the fallback as `*=echo`.
    pub fn describe(&self) -> String {
        self.routes
            .iter()
            .map(|(p, a)| {
                if p.is_empty() {
                    format!("*={a}")
                } else {
                    format!("{p}={a}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn parse_app(app: &str) -> Result<App, RouteError> {
    match app {
        "echo" => Ok(App::Echo),
        "broadcast" => Ok(App::Broadcast),
        _ => {
            let target = app
                .strip_prefix("bridge:")
                .ok_or_else(|| RouteError::UnknownApp(app.to_owned()))?;
            if target
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                return Err(RouteError::UnknownApp(app.to_owned()));
            }
            let addrs: Vec<SocketAddr> = target
                .to_socket_addrs()
                .map_err(|e| RouteError::Unresolvable(target.to_owned(), e.to_string()))?
                .collect();
            if addrs.is_empty() {
                return Err(RouteError::Unresolvable(
                    target.to_owned(),
                    "no addresses".to_owned(),
                ));
            }
            Ok(App::Bridge {
                target: target.to_owned(),
                addrs,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_echoes_everywhere_but_broadcast() {
        let t = RouteTable::default_table();
        assert_eq!(t.lookup("/").1, &App::Echo);
        assert_eq!(t.lookup("/echo").1, &App::Echo);
        assert_eq!(t.lookup("/broadcast").1, &App::Broadcast);
        assert_eq!(t.lookup("/broadcast?x=1").1, &App::Broadcast);
        assert_eq!(t.lookup("/broadcast/").1, &App::Echo);
        assert_eq!(t.lookup("/echo").0, RouteTable::FALLBACK);
    }

    #[test]
    fn specs_parse_and_replace() {
        let mut t = RouteTable::default_table();
        let id = t.insert_spec("/vnc=bridge:127.0.0.1:5900").unwrap();
        assert!(matches!(t.app(id), App::Bridge { target, .. } if target == "127.0.0.1:5900"));
        let again = t.insert_spec("/vnc=echo").unwrap();
        assert_eq!(id, again);
        assert_eq!(t.lookup("/vnc").1, &App::Echo);
        let b = t.insert_spec("/broadcast=echo").unwrap();
        assert_eq!(t.app(b), &App::Echo);
    }

    #[test]
    fn bad_specs_are_refused() {
        let mut t = RouteTable::default_table();
        assert!(matches!(
            t.insert_spec("/x"),
            Err(RouteError::MissingEquals(_))
        ));
        assert!(matches!(
            t.insert_spec("x=echo"),
            Err(RouteError::BadPath(_))
        ));
        assert!(matches!(
            t.insert_spec("/x=shout"),
            Err(RouteError::UnknownApp(_))
        ));
        assert!(matches!(
            t.insert_spec("/x=bridge:host"),
            Err(RouteError::UnknownApp(_))
        ));
        assert!(matches!(
            t.insert_spec("/x=bridge::80"),
            Err(RouteError::UnknownApp(_))
        ));
    }

    #[test]
    fn describe_lists_every_route() {
        let t = RouteTable::default_table();
        assert_eq!(t.describe(), "*=echo /broadcast=broadcast");
    }
}
