//! The per-connection state kept in netio's slab: one small enum, so that an idle connection
//! costs a few dozen bytes (the target is at most 100 bytes of server memory per idle
//! WebSocket).
//!
//! Nothing buffered lives inline. A partial request head, a frame split across reads, a
//! fragmented message: each is boxed and exists only while needed (`None` when idle). The
//! WebSocket protocol state is the frame crate's: a 1-byte [`Session`] inline and a [`Decoder`]
//! only while a read ended inside a frame (or for life, with permessage-deflate).

use switchyard_frame::{Decoder, Session};
use switchyard_handshake::DeflateParams;
use switchyard_netio::{ConnId, TimerId};

use crate::app::ClosedBy;
use crate::head::PartialHead;

/// What one connection is doing; `S` is the app's per-connection state.
pub enum Conn<S> {
    /// Reading an HTTP request head (a new connection, or between keep-alive requests).
    Http(HttpConn),
    /// A WebSocket served by the app.
    Ws(WsConn<S>),
    /// A WebSocket on a bridge route, tied to its backend connection (boxed: bridged
    /// connections are few and each has a backend socket anyway, and it keeps `Conn` small).
    WsBridge(Box<Bridged>),
    /// An upgrade on a bridge route whose backend is still connecting: the `101` waits for the
    /// connect (a failure gets 502, the connect timeout 504) and the client is not read
    /// meanwhile (boxed: it holds the response bytes, and lasts one connect).
    Connecting(Box<PendingBridge>),
    /// A raw `Upgrade: tcp` tunnel: the client side, tied to its backend connection.
    Raw(ConnId),
    /// The server's connection to a bridge backend, tied to its client.
    Backend(Backend),
    /// Answered and closing (a reject, a closed WebSocket): input is ignored.
    Done,
}

/// A connection before its upgrade.
pub struct HttpConn {
    /// A request head that did not arrive in one read, with its parser; `None` when nothing is
    /// pending.
    pub partial: Option<Box<PartialHead>>,
    /// The head timeout (408), re-armed per request; cancelling one that fired is harmless.
    pub timer: TimerId,
    /// Requests already answered on this connection (keep-alive).
    pub served: u32,
    /// Accepted on the admin listener: only `/healthz` and `/metrics`, no upgrades.
    pub admin: bool,
    /// A publish API request whose body is still arriving (`publish_api.rs`).
    pub body: Option<Box<crate::publish_api::PendingPublish>>,
}

/// A WebSocket connection; `S` is the app's state (`()` for a bridged WebSocket, which has no
/// app).
pub struct WsConn<S> {
    /// Close handshake and send-side state: every frame we send is encoded through it.
    pub session: Session,
    /// Who started the close, once someone did (see [`WsParts::closed`]).
    pub closed_by: Option<ClosedBy>,
    /// The first close frame's code (either side's), once there is one.
    pub close_code: u16,
    /// The decoder, only while it holds state between reads (a split frame, a fragmented
    /// message) or an extension (permessage-deflate: its contexts stay for life); `None` at a
    /// message boundary, which is where idle connections sit: the reactor lends its spare.
    pub decoder: Option<Box<Decoder>>,
    /// Slot in the reactor's keepalive table.
    pub keepalive: u32,
    /// Index of its subscription list in the reactor's topics (`NO_SUBSCRIPTIONS` when it
    /// subscribes to nothing, as most connections).
    pub subs: u32,
    /// The permessage-deflate window (9..=15) of the compressed broadcast frames it takes,
    /// shared with every subscriber that agreed the same (no server context takeover); 0 for
    /// the plain frames (no deflate, or context takeover). See `published.rs`.
    pub shared_deflate: u8,
    /// The app's state.
    pub state: S,
}

/// A bridge upgrade waiting for its backend (see `bridge.rs`).
pub struct PendingBridge {
    /// The backend connection, connecting.
    pub backend: ConnId,
    /// The connect timeout (504); it replaced the head timeout.
    pub timer: TimerId,
    /// What the client is switching to.
    pub upgrade: BridgeUpgrade,
    /// The request path (for the access log).
    pub path: Box<str>,
    /// The prepared `101` response (`..response_len`), then the bytes that came behind the
    /// request head: the client's first frames or tunnel bytes, sent on once connected.
    pub bytes: Vec<u8>,
    /// Where the response ends in `bytes`.
    pub response_len: usize,
}

/// The protocol a bridge client switches to.
#[derive(Debug, Clone, Copy)]
pub enum BridgeUpgrade {
    /// WebSocket, with the permessage-deflate parameters agreed, if any.
    WebSocket(Option<DeflateParams>),
    /// Raw `Upgrade: tcp`.
    Tcp,
}

/// A bridged WebSocket and its backend.
pub struct Bridged {
    /// The WebSocket side.
    pub ws: WsConn<()>,
    /// The backend connection.
    pub backend: ConnId,
}

/// The app-independent parts of a WebSocket (`Ws` or `WsBridge`).
pub struct WsParts<'a> {
    /// The session.
    pub session: &'a mut Session,
    /// The decoder, when kept.
    pub decoder: &'a mut Option<Box<Decoder>>,
    /// Who closed first.
    pub closed_by: &'a mut Option<ClosedBy>,
    /// The first close code.
    pub close_code: &'a mut u16,
}

impl<S> WsConn<S> {
    /// The app-independent parts.
    pub fn parts(&mut self) -> WsParts<'_> {
        WsParts {
            session: &mut self.session,
            decoder: &mut self.decoder,
            closed_by: &mut self.closed_by,
            close_code: &mut self.close_code,
        }
    }
}

impl WsParts<'_> {
    /// Records who started the close (the first call wins).
    pub fn closed(&mut self, by: ClosedBy, code: u16) {
        if self.closed_by.is_none() {
            *self.closed_by = Some(by);
            *self.close_code = code;
        }
    }
}

impl<S> Conn<S> {
    /// The WebSocket parts, for `Ws` and `WsBridge`.
    pub fn ws_mut(&mut self) -> Option<WsParts<'_>> {
        match self {
            Conn::Ws(ws) => Some(ws.parts()),
            Conn::WsBridge(b) => Some(b.ws.parts()),
            _ => None,
        }
    }

    /// The bridge backend of a `WsBridge` or `Raw` client.
    pub fn backend(&self) -> Option<ConnId> {
        match self {
            Conn::WsBridge(b) => Some(b.backend),
            Conn::Raw(backend) => Some(*backend),
            _ => None,
        }
    }
}

/// The backend side of a bridge.
pub struct Backend {
    /// The client connection.
    pub client: ConnId,
    /// The client speaks WebSocket (bytes travel as binary messages) rather than raw TCP.
    pub websocket: bool,
    /// The connect completed.
    pub connected: bool,
    /// Raw tunnels: one side's EOF was passed on to the other as a FIN (half-close); the
    /// tunnel ends when the other side's EOF follows.
    pub half_closed: bool,
    /// When bytes last went through the tunnel, either way (`Reactor::clock` units): the
    /// idle timer, armed on this connection, re-arms itself from it instead of being reset per
    /// read.
    pub last_active: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_state_stays_small() {
        // An idle WebSocket is `Conn::Ws` with `codec: None`: this is all it holds inline.
        // `()` is the state of echo-like apps; a route id (u16) the built-in apps' router's.
        let size = std::mem::size_of::<Conn<()>>();
        let slot = switchyard_netio::conn_slot_size::<Conn<()>>();
        eprintln!("size_of::<Conn<()>>() = {size}, netio slot = {slot}");
        assert!(size <= 32, "Conn is {size} bytes");
        assert!(std::mem::size_of::<WsConn<()>>() <= 24);
        assert!(std::mem::size_of::<WsConn<u16>>() <= 24);
        assert!(std::mem::size_of::<Conn<u16>>() <= 32);
        assert!(switchyard_netio::conn_slot_size::<Conn<u16>>() <= 64);
        assert!(slot <= 64, "netio slot is {slot} bytes");
    }
}
