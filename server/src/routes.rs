//! The route table: which app serves a request path.
//!
//! A route is `PATTERN=APP`, where the pattern is one of
//! - an exact path, `/chat`: that path only;
//! - a wildcard, a path ending in `/*`, `/rooms/*`: every path that starts with the part before
//!   the `*` and has at least one more character (`/rooms/a`, `/rooms/a/b`; not `/rooms/`);
//! - `*`, the fallback (catch-all): every other path.
//!
//! [`RouteTable::lookup`] tries exact routes first, then the longest matching wildcard, then the
//! fallback. Matching is on the path without its query string (`/chat?room=1` is `/chat`), as
//! sent (no percent-decoding). The app `none` makes a pattern serve nothing: `*=none` removes the
//! fallback, so unknown paths get 404; `/broadcast=none` removes the built-in broadcast route.
//!
//! The default table is `*=echo /broadcast=broadcast` (the built-in page uses both). Each of
//! those two may be replaced once by a route of the user's; a pattern the user gives twice is an
//! error ([`RouteError::Duplicate`]), not a silent overwrite.
//!
//! # Broadcast topics
//! A broadcast route's clients are grouped into topics: on an exact route the topic is the route
//! path; on a wildcard route, and on the fallback, each concrete path (without its query) is its
//! own topic (`/rooms/a` and `/rooms/b` do not hear each other). [`RouteTable::topic`] gives it;
//! [`RouteTable::is_wildcard`] says whether a route has one topic (which can be keyed by its
//! [`RouteId`]) or one per path.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

/// What a route does with a client's WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum App {
    /// Every message is sent back to its sender, same opcode and payload.
    Echo,
    /// Every message goes to every client of the same topic (see the module docs), on every
    /// core. Spec `broadcast` (the sender hears its own message too) or
    /// `broadcast:exclude-sender`.
    Broadcast {
        /// Whether the sender is left out of its own message's delivery. False for
        /// `broadcast`: a client can then see the order the server gave its messages among
        /// the others', which a chat or a shared document needs.
        exclude_sender: bool,
    },
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
    /// The app as a route spec writes it (`echo`, `broadcast:exclude-sender`, ...), so that it
    /// parses back to the same app.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Echo => f.write_str("echo"),
            Self::Broadcast {
                exclude_sender: false,
            } => f.write_str("broadcast"),
            Self::Broadcast {
                exclude_sender: true,
            } => f.write_str("broadcast:exclude-sender"),
            Self::Bridge { target, .. } => write!(f, "bridge:{target}"),
        }
    }
}

/// Why a route was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// A `--route` value without `=`.
    MissingEquals(String),
    /// A path that does not start with `/` (and is not `*`).
    BadPath(String),
    /// A `*` other than as the last segment of a path (`/rooms/*`) or the whole pattern (`*`).
    BadWildcard(String),
    /// An app name that is not none, echo, broadcast[:exclude-sender] or bridge:HOST:PORT.
    UnknownApp(String),
    /// A bridge target that does not resolve.
    Unresolvable(String, String),
    /// The same pattern given twice by the user.
    Duplicate(String),
    /// More routes than route ids (65,535).
    TooMany,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingEquals(s) => write!(f, "{s:?}: expected PATH=APP"),
            Self::BadPath(p) => write!(f, "path {p:?} must start with '/' (or be '*')"),
            Self::BadWildcard(p) => write!(
                f,
                "path {p:?}: '*' may only be the last segment of a path (/rooms/*) or the whole \
                 path (the fallback)"
            ),
            Self::UnknownApp(a) => write!(
                f,
                "app {a:?}: expected none, echo, broadcast, broadcast:exclude-sender or \
                 bridge:HOST:PORT"
            ),
            Self::Unresolvable(t, e) => write!(f, "bridge target {t:?} does not resolve: {e}"),
            Self::Duplicate(p) => write!(f, "path {p:?} is routed twice"),
            Self::TooMany => f.write_str("too many routes"),
        }
    }
}

impl std::error::Error for RouteError {}

/// Index of a route in its table: stable once given (replacing a route's app keeps its id), so
/// per-route state such as broadcast groups and metrics can be kept in a `Vec` indexed by it.
pub type RouteId = u16;

/// One pattern and what it serves.
#[derive(Debug, Clone)]
struct Route {
    /// As written: `*`, `/chat`, `/rooms/*`.
    pattern: String,
    /// `None` when the pattern serves nothing (`none`): its paths get no route.
    app: Option<App>,
    /// Given by the user (not a built-in default), so that a second one is a duplicate.
    by_user: bool,
}

impl Route {
    /// The prefix a wildcard pattern matches below (`/rooms/` for `/rooms/*`).
    fn wildcard_prefix(&self) -> Option<&str> {
        self.pattern.strip_suffix('*').filter(|p| !p.is_empty())
    }
}

/// Pattern-to-app table. Route 0 is the fallback (`*`), whose slot stays when it is removed.
#[derive(Debug, Clone)]
pub struct RouteTable {
    // A linear scan: route tables are a handful of entries, and a scan of short strings beats
    // hashing the path for fewer than ~16 routes.
    routes: Vec<Route>,
}

impl RouteTable {
    /// Id of the fallback route (`*`), which serves paths no other route matches.
    pub const FALLBACK: RouteId = 0;

    /// The pattern of the fallback route.
    pub const FALLBACK_PATTERN: &'static str = "*";

    /// The default table, `*=echo /broadcast=broadcast`: `/broadcast` broadcasts, everything
    /// else echoes. A user route may replace either once.
    pub fn default_table() -> Self {
        let builtin = |pattern: &str, app| Route {
            pattern: pattern.to_owned(),
            app: Some(app),
            by_user: false,
        };
        Self {
            routes: vec![
                builtin(Self::FALLBACK_PATTERN, App::Echo),
                builtin(
                    "/broadcast",
                    App::Broadcast {
                        exclude_sender: false,
                    },
                ),
            ],
        }
    }

    /// Adds a user route from `PATTERN=APP` (both trimmed); see [`RouteTable::insert`].
    pub fn insert_spec(&mut self, spec: &str) -> Result<RouteId, RouteError> {
        let (path, app) = spec
            .split_once('=')
            .ok_or_else(|| RouteError::MissingEquals(spec.to_owned()))?;
        self.insert(path.trim(), app.trim())
    }

    /// Adds a user route: `pattern` is `*`, `/path` or `/path/*`; `app` is `none`, `echo`,
    /// `broadcast`, `broadcast:exclude-sender` or `bridge:HOST:PORT` (resolved here, once).
    /// A built-in route of the same pattern is replaced, keeping its id; a user route of the
    /// same pattern is [`RouteError::Duplicate`].
    pub fn insert(&mut self, pattern: &str, app: &str) -> Result<RouteId, RouteError> {
        check_pattern(pattern)?;
        let app = parse_app(app)?;
        let route = Route {
            pattern: pattern.to_owned(),
            app,
            by_user: true,
        };
        if let Some(i) = self.routes.iter().position(|r| r.pattern == pattern) {
            if self.routes[i].by_user {
                return Err(RouteError::Duplicate(pattern.to_owned()));
            }
            self.routes[i] = route;
            return Ok(i as RouteId);
        }
        if self.routes.len() > usize::from(RouteId::MAX) {
            return Err(RouteError::TooMany);
        }
        self.routes.push(route);
        Ok((self.routes.len() - 1) as RouteId)
    }

    /// Finds the route for a request target (`/path?query`): an exact route, else the longest
    /// matching wildcard, else the fallback. `None` when none matches or the one that matches
    /// serves nothing (`none`): the server answers 404.
    pub fn lookup(&self, target: &str) -> Option<(RouteId, &App)> {
        let path = strip_query(target);
        // Exact routes first (ids 1..), then the longest wildcard prefix, then route 0.
        let exact = self.routes.iter().skip(1).position(|r| r.pattern == path);
        let id = match exact {
            Some(i) => i + 1,
            None => self
                .routes
                .iter()
                .enumerate()
                .skip(1)
                .filter_map(|(i, r)| Some((i, r.wildcard_prefix()?)))
                .filter(|(_, prefix)| path.len() > prefix.len() && path.starts_with(prefix))
                .max_by_key(|(_, prefix)| prefix.len())
                .map_or(usize::from(Self::FALLBACK), |(i, _)| i),
        };
        let app = self.routes[id].app.as_ref()?;
        Some((id as RouteId, app))
    }

    /// The app of a route id from [`RouteTable::lookup`].
    ///
    /// # Panics
    /// If `id` is not a route of this table, or its route serves nothing (`none`): lookup never
    /// returns such an id.
    pub fn app(&self, id: RouteId) -> &App {
        self.routes[usize::from(id)]
            .app
            .as_ref()
            .expect("a route id from lookup has an app")
    }

    /// The app of route `id`, if it is a route of this table that serves something.
    pub fn get(&self, id: RouteId) -> Option<&App> {
        self.routes.get(usize::from(id))?.app.as_ref()
    }

    /// The pattern of route `id` as written: `*` (the fallback), `/chat` or `/rooms/*`.
    ///
    /// # Panics
    /// If `id` is not a route of this table.
    pub fn pattern(&self, id: RouteId) -> &str {
        &self.routes[usize::from(id)].pattern
    }

    /// Whether route `id` matches many paths (a `/path/*` wildcard or the fallback), each of
    /// which is its own broadcast topic, rather than one path, which is one topic (so it can be
    /// keyed by `id` alone).
    ///
    /// # Panics
    /// If `id` is not a route of this table.
    pub fn is_wildcard(&self, id: RouteId) -> bool {
        id == Self::FALLBACK || self.routes[usize::from(id)].wildcard_prefix().is_some()
    }

    /// The broadcast topic of a request for `target` that [`RouteTable::lookup`] gave route `id`:
    /// the path without its query. On an exact route that is the route's path, so all its
    /// clients share one topic; on a wildcard route and the fallback each concrete path is its
    /// own topic. No percent-decoding: `/rooms/%61` and `/rooms/a` are different topics.
    pub fn topic<'p>(&self, id: RouteId, target: &'p str) -> &'p str {
        let path = strip_query(target);
        debug_assert!(
            self.is_wildcard(id) || self.pattern(id) == path,
            "route {id} does not match {target:?}"
        );
        path
    }

    /// Number of route ids (`0..len()`): the fallback's slot, present even when the fallback is
    /// removed, and every other pattern, `none` ones included.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Always false: the fallback's slot (id 0) is always there.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Routes for the start-up log line and `--help`: `pattern=app` by id, the fallback first,
    /// `none` where a pattern serves nothing (`*=echo /broadcast=broadcast` by default). Each
    /// entry parses back to the same route.
    pub fn describe(&self) -> String {
        self.routes
            .iter()
            .map(|r| match &r.app {
                Some(app) => format!("{}={app}", r.pattern),
                None => format!("{}=none", r.pattern),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The path of a request target, without its query string.
fn strip_query(target: &str) -> &str {
    target.split_once('?').map_or(target, |(p, _)| p)
}

/// `*`, or a path starting with `/` whose only `*` is a last segment of its own (`/rooms/*`).
fn check_pattern(pattern: &str) -> Result<(), RouteError> {
    if pattern == RouteTable::FALLBACK_PATTERN {
        return Ok(());
    }
    if !pattern.starts_with('/') {
        return Err(RouteError::BadPath(pattern.to_owned()));
    }
    let literal = pattern.strip_suffix("/*").unwrap_or(pattern);
    if literal.contains('*') {
        return Err(RouteError::BadWildcard(pattern.to_owned()));
    }
    Ok(())
}

/// `none` (`Ok(None)`) or an app.
fn parse_app(app: &str) -> Result<Option<App>, RouteError> {
    match app {
        "none" => Ok(None),
        "echo" => Ok(Some(App::Echo)),
        "broadcast" => Ok(Some(App::Broadcast {
            exclude_sender: false,
        })),
        "broadcast:exclude-sender" => Ok(Some(App::Broadcast {
            exclude_sender: true,
        })),
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
            Ok(Some(App::Bridge {
                target: target.to_owned(),
                addrs,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROADCAST: App = App::Broadcast {
        exclude_sender: false,
    };

    /// The app `lookup` finds for `target`, if any.
    fn app<'t>(t: &'t RouteTable, target: &str) -> Option<&'t App> {
        t.lookup(target).map(|(_, app)| app)
    }

    fn table(specs: &[&str]) -> RouteTable {
        let mut t = RouteTable::default_table();
        for spec in specs {
            t.insert_spec(spec).unwrap();
        }
        t
    }

    #[test]
    fn default_table_echoes_everywhere_but_broadcast() {
        let t = RouteTable::default_table();
        assert_eq!(app(&t, "/"), Some(&App::Echo));
        assert_eq!(app(&t, "/echo"), Some(&App::Echo));
        assert_eq!(app(&t, "/broadcast"), Some(&BROADCAST));
        assert_eq!(app(&t, "/broadcast?x=1"), Some(&BROADCAST));
        assert_eq!(app(&t, "/broadcast/"), Some(&App::Echo));
        assert_eq!(t.lookup("/echo").unwrap().0, RouteTable::FALLBACK);
    }

    #[test]
    fn specs_parse_and_builtins_are_replaced_once_keeping_their_ids() {
        let mut t = RouteTable::default_table();
        let id = t.insert_spec("/vnc=bridge:127.0.0.1:5900").unwrap();
        assert!(matches!(t.app(id), App::Bridge { target, .. } if target == "127.0.0.1:5900"));
        let (b, _) = t.lookup("/broadcast").unwrap();
        assert_eq!(t.insert_spec("/broadcast=echo").unwrap(), b);
        assert_eq!(t.app(b), &App::Echo);
        assert_eq!(
            t.insert_spec(" * = broadcast ").unwrap(),
            RouteTable::FALLBACK
        );
        assert_eq!(app(&t, "/other"), Some(&BROADCAST));
        assert_eq!(t.lookup("/vnc").unwrap().0, id, "ids do not move");
    }

    #[test]
    fn a_pattern_the_user_gives_twice_is_refused() {
        for (first, second) in [
            ("/vnc=echo", "/vnc=broadcast"),
            ("/rooms/*=broadcast", "/rooms/*=echo"),
            ("*=echo", "*=none"),
            ("/broadcast=echo", "/broadcast=broadcast"),
        ] {
            let mut t = RouteTable::default_table();
            t.insert_spec(first).unwrap();
            let path = first.split_once('=').unwrap().0;
            assert_eq!(
                t.insert_spec(second),
                Err(RouteError::Duplicate(path.to_owned())),
                "{first} then {second}"
            );
            assert!(t
                .insert_spec(second)
                .unwrap_err()
                .to_string()
                .contains(path));
        }
    }

    #[test]
    fn wildcards_match_below_their_prefix_only() {
        let t = table(&["/rooms/*=broadcast:exclude-sender"]);
        let rooms = App::Broadcast {
            exclude_sender: true,
        };
        for path in ["/rooms/a", "/rooms/a/b", "/rooms/a?x=1", "/rooms/*"] {
            assert_eq!(app(&t, path), Some(&rooms), "{path}");
        }
        for path in [
            "/rooms/",
            "/rooms",
            "/rooms?x=/rooms/a",
            "/roomsx",
            "/room/a",
        ] {
            assert_eq!(app(&t, path), Some(&App::Echo), "{path}");
        }
    }

    #[test]
    fn exact_routes_win_then_the_longest_wildcard_then_the_fallback() {
        let t = table(&[
            "/a/*=broadcast",
            "/a/b/*=bridge:127.0.0.1:9",
            "/a/b/c=echo",
            "*=none",
        ]);
        let id = |path| t.lookup(path).map(|(id, _)| t.pattern(id).to_owned());
        assert_eq!(id("/a/b/c").as_deref(), Some("/a/b/c"));
        assert_eq!(id("/a/b/c/d").as_deref(), Some("/a/b/*"));
        assert_eq!(
            id("/a/b/").as_deref(),
            Some("/a/*"),
            "/a/b/* needs one more"
        );
        assert_eq!(id("/a/x").as_deref(), Some("/a/*"));
        assert_eq!(id("/x"), None, "no fallback");
        assert_eq!(id("/"), None);
        // The order the routes came in does not matter.
        let t = table(&["/a/b/*=bridge:127.0.0.1:9", "/a/*=broadcast"]);
        assert_eq!(t.pattern(t.lookup("/a/b/c").unwrap().0), "/a/b/*");
    }

    #[test]
    fn the_fallback_can_be_changed_or_removed() {
        let t = table(&["*=broadcast"]);
        assert_eq!(t.lookup("/x"), Some((RouteTable::FALLBACK, &BROADCAST)));
        let t = table(&["*=none"]);
        assert_eq!(t.lookup("/x"), None);
        assert_eq!(app(&t, "/broadcast"), Some(&BROADCAST), "others stay");
        assert_eq!(t.len(), 2, "the slot stays, so ids do not move");
        assert!(!t.is_empty());
    }

    #[test]
    fn none_makes_a_pattern_serve_nothing() {
        let t = table(&["/broadcast=none", "/private/*=none"]);
        assert_eq!(t.lookup("/broadcast"), None, "a removed built-in is a 404");
        assert_eq!(t.lookup("/private/x"), None);
        assert_eq!(app(&t, "/private"), Some(&App::Echo));
    }

    #[test]
    fn wildcards_and_the_fallback_have_a_topic_per_path() {
        let t = table(&["/rooms/*=broadcast", "/chat=broadcast", "*=broadcast"]);
        let topic = |target| {
            let (id, _) = t.lookup(target).unwrap();
            (t.is_wildcard(id), t.topic(id, target))
        };
        assert_eq!(topic("/chat?user=1"), (false, "/chat"));
        assert_eq!(topic("/rooms/a?user=1"), (true, "/rooms/a"));
        assert_eq!(topic("/rooms/b"), (true, "/rooms/b"));
        assert_eq!(topic("/elsewhere"), (true, "/elsewhere"));
        assert!(!t.is_wildcard(t.lookup("/broadcast").unwrap().0));
    }

    #[test]
    fn bad_specs_are_refused() {
        let mut t = RouteTable::default_table();
        for (spec, want) in [
            ("/x", RouteError::MissingEquals("/x".to_owned())),
            ("x=echo", RouteError::BadPath("x".to_owned())),
            ("=echo", RouteError::BadPath(String::new())),
            ("**=echo", RouteError::BadPath("**".to_owned())),
            ("/a*=echo", RouteError::BadWildcard("/a*".to_owned())),
            ("/a/*/b=echo", RouteError::BadWildcard("/a/*/b".to_owned())),
            ("/a/**=echo", RouteError::BadWildcard("/a/**".to_owned())),
            ("/x=shout", RouteError::UnknownApp("shout".to_owned())),
            (
                "/x=broadcast:exclude",
                RouteError::UnknownApp("broadcast:exclude".to_owned()),
            ),
            (
                "/x=bridge:host",
                RouteError::UnknownApp("bridge:host".to_owned()),
            ),
            (
                "/x=bridge::80",
                RouteError::UnknownApp("bridge::80".to_owned()),
            ),
        ] {
            assert_eq!(t.insert_spec(spec), Err(want), "{spec}");
        }
        assert_eq!(t.len(), 2, "nothing was added");
    }

    #[test]
    fn apps_display_as_their_spec() {
        let mut t = RouteTable::default_table();
        for (i, spec) in [
            "echo",
            "broadcast",
            "broadcast:exclude-sender",
            "bridge:127.0.0.1:5900",
        ]
        .into_iter()
        .enumerate()
        {
            let app = parse_app(spec).unwrap().unwrap();
            assert_eq!(app.to_string(), spec);
            let id = t.insert(&format!("/{i}"), spec).unwrap();
            assert_eq!(t.app(id), &app);
        }
    }

    #[test]
    fn describe_lists_every_route_so_that_it_parses_back() {
        let t = RouteTable::default_table();
        assert_eq!(t.describe(), "*=echo /broadcast=broadcast");
        let t = table(&[
            "/rooms/*=broadcast:exclude-sender",
            "*=none",
            "/vnc=bridge:127.0.0.1:5900",
        ]);
        let described = t.describe();
        assert_eq!(
            described,
            "*=none /broadcast=broadcast /rooms/*=broadcast:exclude-sender \
             /vnc=bridge:127.0.0.1:5900"
        );
        let mut again = RouteTable::default_table();
        for spec in described.split(' ') {
            again.insert_spec(spec).unwrap();
        }
        assert_eq!(again.describe(), described);
    }
}
