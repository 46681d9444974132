//! What a server accepts in a WebSocket upgrade: subprotocols and origins.

use core::fmt;
use std::sync::Arc;

/// Whose order of preference picks the subprotocol when several match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubprotocolPreference {
    /// The first of the server's protocols that the client offered (default: the server knows
    /// which of its protocols is best, e.g. the newest version of its own protocol).
    #[default]
    Server,
    /// The first of the client's offers that the server supports.
    Client,
}

/// Which Origin values may open a WebSocket (RFC 6455 section 4.2.2 item 4 and section 10.2);
/// others get 403. Origin protects browsers only: non-browser clients send any Origin or none.
#[derive(Clone, Default)]
pub struct OriginPolicy {
    kind: OriginKind,
}

/// The origin callback: gets the Origin value, or `None` when the request has none.
type OriginCheck = dyn Fn(Option<&[u8]>) -> bool + Send + Sync;

#[derive(Clone, Default)]
enum OriginKind {
    #[default]
    Any,
    AllowList(Vec<String>),
    Custom(Arc<OriginCheck>),
}

impl OriginPolicy {
    /// Every origin, and none (default: a server with no browser-facing secrets needs no check).
    pub fn any() -> Self {
        OriginPolicy {
            kind: OriginKind::Any,
        }
    }

    /// Only these origins (`https://example.com`, compared ASCII case-insensitively as RFC 6454
    /// section 6.1 serialises them in lower case). A request without Origin passes: it did not
    /// come from a browser, and a non-browser client could send any value anyway. Use
    /// [`OriginPolicy::custom`] to refuse those too.
    pub fn allow_list<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        OriginPolicy {
            kind: OriginKind::AllowList(origins.into_iter().map(Into::into).collect()),
        }
    }

    /// A callback deciding from the Origin value (`None` when absent).
    pub fn custom(allows: impl Fn(Option<&[u8]>) -> bool + Send + Sync + 'static) -> Self {
        OriginPolicy {
            kind: OriginKind::Custom(Arc::new(allows)),
        }
    }

    /// Whether a request with this Origin value (or none) may open a WebSocket.
    pub fn allows(&self, origin: Option<&[u8]>) -> bool {
        match &self.kind {
            OriginKind::Any => true,
            OriginKind::AllowList(list) => match origin {
                None => true,
                Some(origin) => list
                    .iter()
                    .any(|o| o.as_bytes().eq_ignore_ascii_case(origin)),
            },
            OriginKind::Custom(allows) => allows(origin),
        }
    }
}

impl fmt::Debug for OriginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            OriginKind::Any => f.write_str("OriginPolicy::Any"),
            OriginKind::AllowList(list) => f
                .debug_tuple("OriginPolicy::AllowList")
                .field(list)
                .finish(),
            OriginKind::Custom(_) => f.write_str("OriginPolicy::Custom(..)"),
        }
    }
}

/// The WebSocket part of an [`Acceptor`](crate::Acceptor)'s configuration.
#[derive(Debug, Clone, Default)]
pub struct WebSocketConfig {
    pub(crate) subprotocols: Vec<String>,
    pub(crate) preference: SubprotocolPreference,
    pub(crate) origin: OriginPolicy,
}

impl WebSocketConfig {
    /// The subprotocols the server speaks, best first. Default: none, so no
    /// Sec-WebSocket-Protocol is ever answered. A client offering only others gets a WebSocket
    /// without subprotocol (RFC 6455 section 4.2.2 item 5: the server answers with one of the
    /// offered values or none); it is the client's call to go on or close.
    /// Protocol names are tokens; others are dropped here, since no client can offer them.
    pub fn subprotocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subprotocols = protocols
            .into_iter()
            .map(Into::into)
            .filter(|p: &String| crate::tokens::is_token(p.as_bytes()))
            .collect();
        self
    }

    /// Whose preference picks among matching subprotocols. Default
    /// [`SubprotocolPreference::Server`].
    pub fn preference(mut self, preference: SubprotocolPreference) -> Self {
        self.preference = preference;
        self
    }

    /// Which origins may connect. Default [`OriginPolicy::any`].
    pub fn origin(mut self, policy: OriginPolicy) -> Self {
        self.origin = policy;
        self
    }

    /// Picks the subprotocol for the client's offers (in its order); the answer is the client's
    /// own spelling of one offered protocol, or none.
    pub(crate) fn choose_subprotocol<'a>(
        &self,
        offers: impl Iterator<Item = &'a [u8]> + Clone,
    ) -> Option<&'a [u8]> {
        match self.preference {
            SubprotocolPreference::Client => offers
                .into_iter()
                .find(|offer| self.subprotocols.iter().any(|p| p.as_bytes() == *offer)),
            SubprotocolPreference::Server => self
                .subprotocols
                .iter()
                .find_map(|p| offers.clone().find(|offer| p.as_bytes() == *offer)),
        }
    }
}
