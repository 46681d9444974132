//! The app API: your own WebSocket logic on Switchyard's pinned reactors.
//!
//! An app is a type implementing [`App`]. The server core runs everything below it (accepting,
//! the HTTP phase, the opening handshake, RFC 6455 framing and the close handshake,
//! permessage-deflate, keepalive pings, limits and the memory budget, metrics, graceful
//! shutdown) and calls the app's handlers on the reactor that owns the connection: no thread
//! hop, no lock, no allocation of the server's own per call. Each connection carries a value of
//! the app's [`App::State`] type, stored inline with the connection (`()` costs nothing).
//!
//! Handlers get a [`Connection`], the handle to one WebSocket for the duration of the call:
//! send, close, read the queued outbound bytes, pause and resume reading, subscribe to and
//! publish on topics, and set timers. Other threads reach the server through
//! [`crate::ServerHandle`] (publish, connection count, shutdown).
//!
//! # Topics
//! Any string names a topic. A publish encodes the message once; every subscriber, on any
//! core, is sent the same bytes. Publishing can include or exclude the sender
//! ([`Publish`]). A topic exists while it has subscribers (see `switchyard_topics` in
//! `/metrics`).
//!
//! # Backpressure
//! When a connection's outbound queue passes the configured cap (`outbound_cap`) the core calls
//! [`App::backpressure`] (by default: stop reading this connection, so a client that does not
//! read its replies stops being served), and [`App::drain`] once the queue fell to a quarter of
//! the cap (by default: read again).
//!
//! # A worked example: a chat with rooms in a few lines
//! ```no_run
//! use switchyard::app::{App, Connection, Message, Publish, Upgrade, UpgradeRequest};
//! use switchyard::{Config, Server};
//!
//! /// Each connection remembers its room (the request path).
//! struct Chat;
//!
//! impl App for Chat {
//!     type State = String;
//!
//!     fn upgrade<'r>(&self, request: &UpgradeRequest<'r>) -> Upgrade<'r, String> {
//!         match request.path().strip_prefix("/rooms/") {
//!             Some(room) if !room.is_empty() => Upgrade::accept(room.to_owned()),
//!             _ => Upgrade::reject(404, "no such room"),
//!         }
//!     }
//!
//!     fn open(&self, conn: &mut Connection<'_, '_, Self>, _: &UpgradeRequest<'_>) {
//!         let room = conn.state().clone();
//!         conn.subscribe(&room);
//!     }
//!
//!     fn message(&self, conn: &mut Connection<'_, '_, Self>, message: Message<'_>) {
//!         // To every topic this connection subscribes to: its room.
//!         conn.publish_subscribed(message, Publish::ExcludeSender);
//!     }
//! }
//!
//! let config = Config { listen: vec!["127.0.0.1:0".parse().unwrap()], ..Config::default() };
//! let server = Server::start_app(config, Chat)?;
//! server.join()?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchyard_frame::{Decoder, OpCode};
use switchyard_handshake::Request;
use switchyard_netio::{ConnId, Ctx, TimerId};

use crate::conn::WsConn;
use crate::reactor::{Core, Reactor};
use crate::ws::{Replies, Tally};

/// Your WebSocket logic. One value serves every connection on every core (`&self`; use
/// atomics or a lock for state shared between connections, or topics to reach them).
pub trait App: Send + Sync + Sized + 'static {
    /// What the server keeps for each connection, inline with it.
    type State: Send + 'static;

    /// An upgrade request arrived (a valid WebSocket handshake, or a raw `Upgrade: tcp`, see
    /// [`App::tunnels`]): accept it with the connection's initial state (and optionally a
    /// subprotocol), reject it with a status and body, or tunnel it to a TCP backend.
    fn upgrade<'r>(&self, request: &UpgradeRequest<'r>) -> Upgrade<'r, Self::State>;

    /// Whether `path` accepts a raw `Upgrade: tcp` (default: no). A request that offers `tcp`
    /// on such a path is given to [`App::upgrade`] with [`UpgradeRequest::is_tcp`] true, and
    /// only [`Upgrade::Tunnel`] accepts it.
    fn tunnels(&self, path: &str) -> bool {
        let _ = path;
        false
    }

    /// Whether a plain (non-upgrade) `GET` of `path` is for a WebSocket endpoint: it gets
    /// `426 Upgrade Required` with `Upgrade: websocket` instead of `404` (default: every path).
    fn is_websocket_path(&self, path: &str) -> bool {
        let _ = path;
        true
    }

    /// The `101` was sent; the connection is open (`request` is the upgrade request, still at
    /// hand: take from it what the connection needs, such as its topics). Frames that came
    /// with the request are handled after this.
    fn open(&self, conn: &mut Connection<'_, '_, Self>, request: &UpgradeRequest<'_>) {
        let _ = (conn, request);
    }

    /// Appends the app's own metrics to `/metrics` (Prometheus text format, with `# HELP`
    /// and `# TYPE` lines). Default: none.
    fn metrics(&self, out: &mut String) {
        let _ = out;
    }

    /// A whole data message (text is valid UTF-8; fragments are assembled, compressed
    /// messages inflated).
    fn message(&self, conn: &mut Connection<'_, '_, Self>, message: Message<'_>);

    /// The outbound queue passed the cap. Default: stop reading this connection until
    /// [`App::drain`].
    fn backpressure(&self, conn: &mut Connection<'_, '_, Self>) {
        conn.pause_reading();
    }

    /// The outbound queue fell below a quarter of the cap after [`App::backpressure`].
    /// Default: read again.
    fn drain(&self, conn: &mut Connection<'_, '_, Self>) {
        conn.resume_reading();
    }

    /// A timer set with [`Connection::set_timer`] fired.
    fn timer(&self, conn: &mut Connection<'_, '_, Self>, token: u32) {
        let _ = (conn, token);
    }

    /// The connection is closing (or gone): nothing can be sent on it any more, but the
    /// handle still publishes to topics and reads the state. Its subscriptions end after this.
    fn close(&self, conn: &mut Connection<'_, '_, Self>, close: CloseInfo<'_>) {
        let _ = (conn, close);
    }
}

/// How a connection ended, for [`App::close`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseInfo<'a> {
    /// The close code: the first close frame's (either side's), 1005 for a close frame
    /// without one, 1006 when the connection ended without a close frame.
    pub code: u16,
    /// The reason in that close frame, when the server has it (a client's reason is given
    /// when its close frame starts the close in the same read).
    pub reason: &'a str,
    /// Who started the close.
    pub by: ClosedBy,
}

pub use crate::access_log::ClosedBy;

/// A whole WebSocket data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (valid UTF-8).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

impl<'a> Message<'a> {
    /// The payload bytes.
    pub fn payload(&self) -> &'a [u8] {
        match *self {
            Self::Text(s) => s.as_bytes(),
            Self::Binary(b) => b,
        }
    }

    /// The frame opcode.
    pub(crate) fn opcode(&self) -> OpCode {
        match self {
            Self::Text(_) => OpCode::Text,
            Self::Binary(_) => OpCode::Binary,
        }
    }
}

/// Whether a publish reaches its sender too (if it subscribes to the topic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// Every subscriber, the sender included.
    IncludeSender,
    /// Every subscriber but the sender.
    ExcludeSender,
}

/// An upgrade request as [`App::upgrade`] sees it: the parsed request head and the peer.
pub struct UpgradeRequest<'r> {
    pub(crate) request: &'r Request<'r>,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) tcp: bool,
    pub(crate) subprotocol: Option<&'r str>,
}

impl<'r> UpgradeRequest<'r> {
    /// The request method (`GET` for WebSocket).
    pub fn method(&self) -> &'r str {
        self.request.method()
    }

    /// The path, without the query.
    pub fn path(&self) -> &'r str {
        self.request.path()
    }

    /// The query (after `?`), if any.
    pub fn query(&self) -> Option<&'r str> {
        self.request.query()
    }

    /// The first value of a header field (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&'r [u8]> {
        self.request.header(name)
    }

    /// Every header field, in order: `(name, value)`.
    pub fn headers(&self) -> impl Iterator<Item = (&'r str, &'r [u8])> + 'r {
        self.request.headers().iter().map(|h| (h.name, h.value))
    }

    /// The client's address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// A raw `Upgrade: tcp` (only on paths where [`App::tunnels`] is true) rather than a
    /// WebSocket.
    pub fn is_tcp(&self) -> bool {
        self.tcp
    }

    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its order of
    /// preference.
    pub fn offered_subprotocols(&self) -> impl Iterator<Item = &'r str> + 'r {
        self.request
            .list("sec-websocket-protocol")
            .filter_map(|p| std::str::from_utf8(p).ok())
    }

    /// The subprotocol the server's configured list (`--subprotocol`) picked, if any. An app
    /// picks its own with [`Upgrade::Accept`]'s `subprotocol` when this is `None`.
    pub fn subprotocol(&self) -> Option<&'r str> {
        self.subprotocol
    }
}

/// What [`App::upgrade`] decided.
pub enum Upgrade<'r, S> {
    /// Switch protocols; the connection starts with `state`.
    Accept {
        /// The connection's initial state.
        state: S,
        /// The subprotocol to answer: one of [`UpgradeRequest::offered_subprotocols`] (anything
        /// else is ignored and logged). `None` keeps what the configuration picked.
        subprotocol: Option<&'r str>,
    },
    /// Refuse: the client gets `status` with `body` as text, and the connection closes (a 401
    /// also says `WWW-Authenticate: Bearer`).
    Reject {
        /// An HTTP status, 400 to 599 (others become 500).
        status: u16,
        /// A short text body (the reason).
        body: Cow<'static, str>,
    },
    /// Tie the client to a fresh TCP connection to the first of `backends` that accepts:
    /// WebSocket binary messages carry the bytes both ways (as websockify does), a raw
    /// `Upgrade: tcp` becomes a byte pipe. The `101` is sent once the backend accepted (502
    /// if it refused, 504 past `backend_connect_timeout`).
    Tunnel {
        /// The backend addresses, tried in order.
        backends: Arc<[SocketAddr]>,
    },
}

impl<'r, S> Upgrade<'r, S> {
    /// Accept with `state`, no subprotocol of the app's own.
    pub fn accept(state: S) -> Self {
        Self::Accept {
            state,
            subprotocol: None,
        }
    }

    /// Reject with `status` and a text body.
    pub fn reject(status: u16, body: impl Into<Cow<'static, str>>) -> Self {
        Self::Reject {
            status,
            body: body.into(),
        }
    }
}

/// Why a send did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The connection is closing (our close frame is out) or gone.
    Closed,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the connection is closing")
    }
}

impl std::error::Error for SendError {}

/// A timer set with [`Connection::set_timer`], to cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerHandle(pub(crate) TimerId);

/// The handle to one WebSocket during a handler call. `'c` is the call, `'n` the reactor turn.
pub struct Connection<'c, 'n, A: App> {
    pub(crate) ctx: &'c mut Ctx<'n, Reactor<A>>,
    pub(crate) core: &'c mut Core<A>,
    pub(crate) id: ConnId,
    pub(crate) ws: &'c mut WsConn<A::State>,
    /// The connection's decoder when a handler runs inside a read (it holds the
    /// permessage-deflate compressor); otherwise `ws.decoder`.
    pub(crate) decoder: Option<&'c mut Decoder>,
    /// Inside a read of plain messages: replies may be built in place over the request.
    pub(crate) reply: Option<&'c mut Replies>,
    /// Message counts, added to the metrics by the caller.
    pub(crate) tally: &'c mut Tally,
    /// `close` handler: the connection is leaving, nothing is sent.
    pub(crate) closing: bool,
}

impl<A: App> Connection<'_, '_, A> {
    /// This connection's id: unique on its reactor while the connection lives (with
    /// [`Connection::core`], unique on the server).
    pub fn id(&self) -> u64 {
        self.id.as_u64()
    }

    /// The app's state of this connection.
    pub fn state(&mut self) -> &mut A::State {
        &mut self.ws.state
    }

    /// The client's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.ctx.peer_addr(self.id)
    }

    /// The reactor (core index) that owns this connection.
    pub fn core(&self) -> usize {
        self.ctx.reactor_index()
    }

    /// Sends a whole message (compressed when permessage-deflate was agreed and the message is
    /// worth it). Queued behind what is already queued; see [`App::backpressure`].
    pub fn send(&mut self, message: Message<'_>) -> Result<(), SendError> {
        if self.closing {
            return Err(SendError::Closed);
        }
        let decoder = match self.decoder.as_deref_mut() {
            Some(d) => Some(d),
            None => self.ws.decoder.as_deref_mut(),
        };
        self.core.send_message(
            self.ctx,
            self.id,
            &mut self.ws.session,
            decoder,
            self.reply.as_deref_mut(),
            self.tally,
            message,
        )
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send(Message::Text(text))
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, bytes: &[u8]) -> Result<(), SendError> {
        self.send(Message::Binary(bytes))
    }

    /// Starts the close handshake with `code` (1000-4999 but not the reserved ones; an invalid
    /// code becomes 1000) and `reason` (cut to 123 bytes at a character boundary). Nothing
    /// more is sent after it; the client's answer (or the close timeout) ends the connection.
    pub fn close(&mut self, code: u16, reason: &str) {
        if self.closing {
            return;
        }
        let (ws, reply) = (self.ws.parts(), self.reply.as_deref_mut());
        self.core
            .app_close(self.ctx, self.id, ws, reply, code, reason);
    }

    /// Outbound bytes queued for this connection (0 when everything reached the kernel).
    pub fn queued(&self) -> usize {
        self.ctx.queued(self.id).unwrap_or(0)
    }

    /// Stops reading this connection (what the client sends waits in the kernel).
    pub fn pause_reading(&mut self) {
        self.core.metrics().backpressure_pauses.inc();
        self.ctx.pause_read(self.id);
    }

    /// Reads this connection again after [`Connection::pause_reading`].
    pub fn resume_reading(&mut self) {
        self.ctx.resume_read(self.id);
    }

    /// Subscribes to `topic`. Returns `false` if already subscribed (or closing).
    pub fn subscribe(&mut self, topic: &str) -> bool {
        if self.closing {
            return false;
        }
        self.core.subscribe(&mut *self.ws, topic)
    }

    /// Unsubscribes from `topic`. Returns `false` if not subscribed.
    pub fn unsubscribe(&mut self, topic: &str) -> bool {
        self.core.unsubscribe(&mut *self.ws, topic)
    }

    /// Whether this connection subscribes to `topic`.
    pub fn is_subscribed(&self, topic: &str) -> bool {
        self.core.topics.is_subscribed(self.ws.subs, topic)
    }

    /// Publishes `message` to every subscriber of `topic` on every core, with or without this
    /// connection. Encoded once; returns the deliveries made on this core (the other cores'
    /// happen on their own reactors).
    pub fn publish(&mut self, topic: &str, message: Message<'_>, who: Publish) -> u64 {
        let exclude = (who == Publish::ExcludeSender).then_some(self.id);
        self.core.publish(self.ctx, topic, message, exclude)
    }

    /// Publishes `message` to every topic this connection subscribes to (each topic's
    /// subscribers get it once per topic), with or without this connection. Returns the
    /// deliveries made on this core.
    pub fn publish_subscribed(&mut self, message: Message<'_>, who: Publish) -> u64 {
        let exclude = (who == Publish::ExcludeSender).then_some(self.id);
        self.core
            .publish_subscribed(self.ctx, self.ws.subs, message, exclude)
    }

    /// Calls [`App::timer`] with `token` after `after` (unless cancelled or the connection
    /// closed first).
    pub fn set_timer(&mut self, after: Duration, token: u32) -> TimerHandle {
        TimerHandle(
            self.ctx
                .set_timer(self.id, after, crate::reactor::tag::app(token)),
        )
    }

    /// Cancels a timer; `false` if it already fired or was cancelled.
    pub fn cancel_timer(&mut self, timer: TimerHandle) -> bool {
        self.ctx.cancel_timer(timer.0)
    }
}
