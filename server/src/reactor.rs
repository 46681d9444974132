//! The netio handler: one [`Reactor`] per core, dispatching each connection's events on its
//! [`Conn`] state. A reactor is the app (shared by every core) and the [`Core`], the server
//! below the app API: the HTTP phase (`head.rs`), the WebSocket session (`ws.rs`), tunnels to
//! TCP backends (`bridge.rs`), topics (`topics.rs`), keepalive, the memory budget and
//! metrics. The core knows no particular app: it calls the app's handlers ([`App`]) with a
//! [`crate::app::Connection`] handle.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_handshake::Acceptor;
use switchyard_netio::{Accepted, Close, CloseReason, ConnId, Ctx, Handler, Pressure, ReactorInfo};

use switchyard_frame::{CloseCode, CloseState, Decoder, Session};

use crate::access::AccessLog;
use crate::app::{App, CloseInfo, ClosedBy, Connection, Message as AppMessage};
use crate::budget::{self, Budget};
use crate::config::{Config, SlowSubscriber};
use crate::conn::{Conn, HttpConn, WsConn, WsParts};
use crate::http;
use crate::metrics::{CloseBy, CoreMetrics, Registry};
use crate::published::Published;
use crate::slots::SlotTable;
use crate::tls::{TlsFailure, TlsSession, TlsTransport};
use crate::topics::{TopicId, Topics, NO_SUBSCRIPTIONS};
use crate::ws::Tally;

/// Timer tags.
pub(crate) mod tag {
    /// The request head did not complete in time (408).
    pub const HEAD: u64 = 1;
    /// A connection asked to close after flushing did not finish in time: cut it.
    pub const CLOSE_DEADLINE: u64 = 2;
    /// The reactor's periodic keepalive sweep (a reactor timer).
    pub const SWEEP: u64 = 3;
    /// A bridge backend did not accept in time (504; on the client).
    pub const BACKEND_CONNECT: u64 = 4;
    /// A bridge's idle check (on the backend; re-armed from its last activity).
    pub const TUNNEL_IDLE: u64 = 5;
    /// Shutdown with a drain window: this connection's turn to get its 1001.
    pub const DRAIN: u64 = 6;
    /// App timers: the app's 32-bit token above this bit.
    const APP: u64 = 1 << 32;

    /// The tag of an app timer.
    pub fn app(token: u32) -> u64 {
        APP | u64::from(token)
    }

    /// The app's token, if `tag` is an app timer's.
    pub fn app_token(tag: u64) -> Option<u32> {
        (tag & APP != 0).then_some(tag as u32)
    }
}

/// Keepalive values are in units of this many milliseconds since the reactor started.
const KEEPALIVE_UNIT_MS: u64 = 10;
/// Set in a keepalive value once a ping was sent for the current silence.
const PINGED: u32 = 1 << 31;

/// Messages between reactors (netio's per-reactor mailbox).
pub enum Message {
    /// A published frame, encoded once, for this reactor's subscribers of `topic`.
    Publish {
        /// The topic's name.
        topic: Arc<str>,
        /// The message, encoded once (and compressed once per deflate window, on first need).
        /// (A sender that asked not to get its own message is on the publishing reactor:
        /// connection ids mean nothing elsewhere.)
        frame: Published,
    },
}

/// What every reactor shares, read-only.
pub struct Shared {
    /// The resolved configuration.
    pub config: Config,
    /// The handshake acceptor: WebSocket, with permessage-deflate when enabled.
    pub acceptor: Acceptor<switchyard_handshake::DeflateNegotiator>,
    /// The acceptor of paths where the app accepts tunnels (`App::tunnels`): the same plus
    /// the raw `tcp` protocol.
    pub tunnel_acceptor: Acceptor<switchyard_handshake::DeflateNegotiator>,
    /// Index in `config.listen` of the admin listener (`--admin-listen`), if any: `/healthz`
    /// and `/metrics` are served there only, and nothing else is.
    pub admin_listener: Option<usize>,
    /// The plain endpoints of the main listeners.
    pub endpoints: crate::http::Endpoints,
    /// The plain endpoints of the admin listener.
    pub admin_endpoints: crate::http::Endpoints,
    /// Codec limits for every WebSocket.
    pub codec: switchyard_frame::Config,
    /// How hard permessage-deflate compresses what we send (local policy, not negotiated).
    pub compression: switchyard_frame::deflate::CompressionPolicy,
    /// Every core's metrics.
    pub metrics: Registry,
    /// The cluster engine, with `--cluster`: every local publish is forwarded to it, and each
    /// topic's first and last subscriber on a core are reported to it.
    pub cluster: Option<Arc<crate::cluster::Engine>>,
    /// The listeners (indexes in netio's listen list) whose connections speak TLS, and the
    /// rustls configuration they are served with (certificates chosen per handshake from the
    /// reloadable store).
    pub tls: Option<(std::ops::Range<usize>, Arc<rustls::ServerConfig>)>,
}

/// The per-core handler: the app and the server core below it.
pub struct Reactor<A: App> {
    /// The app, shared by every core (only borrowed per call: no reference counting per
    /// message).
    pub(crate) app: Arc<A>,
    /// Everything else.
    pub(crate) core: Core<A>,
}

/// Shorthand for the reactor's netio context.
pub(crate) type Cx<'n, A> = Ctx<'n, Reactor<A>>;

/// The server below the app API, one per core.
pub struct Core<A: App> {
    pub(crate) shared: Arc<Shared>,
    pub(crate) index: usize,
    /// Every WebSocket of this reactor, with its last activity (see [`Core::touch`]).
    pub(crate) keepalive: SlotTable,
    /// Topics and their subscribers on this reactor.
    pub(crate) topics: Topics,
    /// The access log's records (empty and unused unless `access_log` is on).
    pub(crate) access: AccessLog,
    /// Response bytes from the handshake acceptor (101s and rejections).
    pub(crate) hs_out: Box<[u8]>,
    /// Plain HTTP responses are built here.
    pub(crate) scratch: Vec<u8>,
    /// A mutable copy of frames that arrived with the upgrade head, for the codec, which
    /// unmasks in place (reads after the upgrade are decoded in netio's buffer, uncopied).
    pub(crate) input: Vec<u8>,
    /// Connections (keepalive slot and id) gathered for a loop that acts on them.
    pub(crate) ids: Vec<(u32, ConnId)>,
    /// Topic ids gathered for a publish on several topics.
    pub(crate) topic_ids: Vec<TopicId>,
    /// A decoder in the fresh state, lent to connections for one read (see `ws.rs`).
    pub(crate) spare_decoder: Option<Box<Decoder>>,
    /// This reactor's share of the memory budget and who holds what (see `budget.rs`).
    pub(crate) budget: Budget<ConnId>,
    /// Connections refused over `max_connections` since the last sweep (for one warning).
    refused_over_limit: u64,
    /// xorshift state for the drain window's jitter (needs no quality, only spread).
    rng: u64,
    epoch: Instant,
    _app: PhantomData<fn() -> A>,
}

impl<A: App> Reactor<A> {
    /// Builds the handler of one reactor.
    pub fn new(app: Arc<A>, shared: Arc<Shared>, info: &ReactorInfo) -> Self {
        let budget_share = shared.config.memory_budget / shared.config.workers.max(1);
        let access_format = (shared.config.access_log).then_some(shared.config.log_format);
        // Topics are tracked only for a cluster engine's interest table.
        let topics = if shared.cluster.is_some() {
            Topics::tracking()
        } else {
            Topics::default()
        };
        let core = Core {
            shared,
            index: info.index,
            keepalive: SlotTable::default(),
            topics,
            access: AccessLog::new(access_format),
            hs_out: vec![0u8; 4096].into_boxed_slice(),
            scratch: Vec::new(),
            input: Vec::new(),
            ids: Vec::new(),
            topic_ids: Vec::new(),
            spare_decoder: None,
            budget: Budget::new(budget_share),
            refused_over_limit: 0,
            rng: seed(info.index),
            epoch: Instant::now(),
            _app: PhantomData,
        };
        Reactor { app, core }
    }
}

/// A per-reactor random seed (non-zero): the clock's nanoseconds and the reactor's index.
fn seed(index: usize) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}

impl<A: App> Core<A> {
    /// A random point in `0..window` (the drain window's jitter).
    fn jitter(&mut self, window: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let micros = window.as_micros().max(1) as u64;
        Duration::from_micros(self.rng % micros)
    }

    /// This core's counters.
    #[inline]
    pub(crate) fn metrics(&self) -> &CoreMetrics {
        self.shared.metrics.core(self.index)
    }

    /// The keepalive clock: units of [`KEEPALIVE_UNIT_MS`] since the reactor started.
    #[inline]
    pub(crate) fn clock(&self, ctx: &Cx<'_, A>) -> u32 {
        // u64 arithmetic only (`as_millis` is u128, whose division is a libcall).
        let d = ctx.now().saturating_duration_since(self.epoch);
        let ms = d.as_secs() * 1000 + u64::from(d.subsec_millis());
        ((ms / KEEPALIVE_UNIT_MS) as u32) & !PINGED
    }

    /// Time since `stamp`, a [`Core::clock`] value.
    pub(crate) fn since(&self, ctx: &Cx<'_, A>, stamp: u32) -> Duration {
        let units = self.clock(ctx).wrapping_sub(stamp) & !PINGED;
        Duration::from_millis(u64::from(units) * KEEPALIVE_UNIT_MS)
    }

    /// Records activity on a WebSocket (hot path: a clock read from the turn and one store).
    #[inline]
    pub(crate) fn touch(&mut self, ctx: &Cx<'_, A>, keepalive: u32) {
        let now = self.clock(ctx);
        self.keepalive.set(keepalive, now);
    }

    /// Registers a new WebSocket in the keepalive table.
    pub(crate) fn register_ws<S>(&mut self, ctx: &Cx<'_, A>, id: ConnId, state: S) -> WsConn<S> {
        let now = self.clock(ctx);
        let keepalive = self.keepalive.insert(id, now);
        WsConn {
            session: Session::new(),
            closed_by: None,
            close_code: 0,
            decoder: None,
            keepalive,
            subs: NO_SUBSCRIPTIONS,
            shared_deflate: 0,
            state,
        }
    }

    /// Removes a WebSocket from the keepalive table, its topics and the memory budget.
    pub(crate) fn unregister_ws<S>(&mut self, id: ConnId, ws: &mut WsConn<S>) {
        if self.access.enabled() {
            // A connection that ended without a close handshake (`by=network`) has no close
            // code: the 1006 recorded for an EOF (for the app's close handler) is not a code
            // any frame carried (RFC 6455 7.1.5), and a reset records none either.
            let code = ws
                .closed_by
                .filter(|by| *by != ClosedBy::Network)
                .map(|_| ws.close_code);
            let by = ws.closed_by.unwrap_or(ClosedBy::Network);
            self.access.close(ws.keepalive, Instant::now(), code, by);
        }
        if ws.decoder.as_ref().is_some_and(|d| d.heap_bytes() > 0) {
            self.budget.forget(id);
        }
        if ws.subs != NO_SUBSCRIPTIONS {
            self.topics.unsubscribe_all(&mut ws.subs, ws.keepalive);
            self.count_topics();
        }
        self.keepalive.remove(ws.keepalive, id);
    }

    /// The app's WebSocket is leaving (closed, or closing with nothing more to do): its
    /// `close` handler, then out of every table. Bridged WebSockets have no app and go through
    /// [`Core::unregister_ws`] alone.
    pub(crate) fn app_closed(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        ws: &mut WsConn<A::State>,
    ) {
        let info = CloseInfo {
            code: if ws.closed_by.is_some() {
                ws.close_code
            } else {
                1006
            },
            reason: "",
            by: ws.closed_by.unwrap_or(ClosedBy::Network),
        };
        let mut tally = Tally::default();
        let mut conn = Connection {
            ctx,
            core: self,
            id,
            ws,
            decoder: None,
            reply: None,
            tally: &mut tally,
            closing: true,
        };
        app.close(&mut conn, info);
        self.add_tally(ws.keepalive, &tally);
        self.unregister_ws(id, ws);
    }

    /// Sends our close frame (once), counts it, and closes after flushing, with a deadline.
    pub(crate) fn close_ws<S>(
        &mut self,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        ws: &mut WsConn<S>,
        code: u16,
        reason: &str,
    ) {
        self.close_parts(ctx, id, ws.parts(), code, reason);
    }

    /// [`Core::close_ws`] on the parts of a WebSocket.
    pub(crate) fn close_parts(
        &mut self,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        mut ws: WsParts<'_>,
        code: u16,
        reason: &str,
    ) {
        // The session refuses a second close: only the first is sent and counted.
        if let Ok(frame) = ws.session.encode_close(Some(CloseCode(code)), reason) {
            self.metrics().close(CloseBy::Server, code);
            ws.closed(ClosedBy::Server, code);
            let _ = ctx.write(id, &frame);
        }
        // Nothing more goes out after our close; wait for the client's close frame (answered in
        // `ws.rs`), bounded by the deadline timer.
        ctx.set_timer(id, self.shared.config.close_timeout, tag::CLOSE_DEADLINE);
    }

    /// Closes after flushing, with a deadline, and forgets the connection's tables (an app's
    /// WebSocket gets its `close` handler).
    pub(crate) fn finish(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
    ) {
        match std::mem::replace(conn, Conn::Done) {
            Conn::Ws(mut ws) => self.app_closed(app, ctx, id, &mut ws),
            Conn::WsBridge(mut b) => self.unregister_ws(id, &mut b.ws),
            Conn::Http(h) => {
                ctx.cancel_timer(h.timer);
            }
            _ => {}
        }
        ctx.close(id, Close::AfterFlush);
        ctx.set_timer(id, self.shared.config.close_timeout, tag::CLOSE_DEADLINE);
    }

    /// A reject: one debug line, one metric, the response, close. `response` is a complete
    /// response; without one, the standard response for `status`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reject(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        status: u16,
        why: &dyn std::fmt::Display,
        response: Option<&[u8]>,
    ) {
        self.metrics().rejects.inc(status);
        if log::log_enabled!(log::Level::Debug) {
            let peer = ctx.peer_addr(id);
            log::debug!(
                "reject {status} to {}: {why}",
                peer.map_or("-".into(), |p| p.to_string())
            );
        }
        match response {
            Some(r) => {
                let _ = ctx.write(id, r);
            }
            None => {
                let mut out = std::mem::take(&mut self.scratch);
                out.clear();
                http::write_reject(&mut out, status);
                let _ = ctx.write(id, &out);
                self.scratch = out;
            }
        }
        self.finish(app, ctx, id, conn);
    }

    /// How much connection `id`, which holds `own` bytes, may hold after its next read: the
    /// reactor's share of the budget less what the other connections hold in unfinished
    /// messages and what every outbound queue holds. With less than a margin left, the
    /// largest holders are shed first (1013) until the margin is back or nobody else holds
    /// anything.
    pub(crate) fn read_allowance(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        own: usize,
    ) -> usize {
        let limit = self.budget.limit();
        let margin = budget::margin(limit);
        loop {
            // A shed connection's queue leaves `queued_total` at once (netio frees the queue
            // of a connection closed now), so this also holds for the next reads of the same
            // event, before netio removes the connections shed here.
            // Incomplete TLS records count too: a client may leave one per connection.
            let all = self.budget.held() + ctx.queued_total() + ctx.carried_total();
            let allowance = limit.saturating_sub(all.saturating_sub(own));
            if allowance >= margin || !self.shed_largest(app, ctx, id) {
                return allowance;
            }
        }
    }

    /// Closes a connection with a close frame (WebSockets), its backend too, and forgets it:
    /// for the budget, the message timeout, idle timeouts.
    fn close_with(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        code: u16,
        reason: &str,
        free_decoder: bool,
    ) {
        let Some(state) = ctx.state(id) else { return };
        let mut conn = std::mem::replace(state, Conn::Done);
        if let Some(ws) = conn.ws_mut() {
            if free_decoder {
                // Freed now, not after the close handshake.
                *ws.decoder = None;
            }
            self.close_parts(ctx, id, ws, code, reason);
        }
        if let Some(backend) = conn.backend() {
            ctx.close(backend, Close::AfterFlush);
        }
        self.finish(app, ctx, id, &mut conn);
    }

    /// Closes the connection other than `except` that holds the most (an unfinished message
    /// or an outbound queue) with 1013, freeing what it holds (its queue at once, with the
    /// close now). Returns `false` if nobody holds anything.
    fn shed_largest(&mut self, app: &A, ctx: &mut Cx<'_, A>, except: ConnId) -> bool {
        let holder = self.budget.largest(except);
        let queue = ctx.largest_queue().filter(|&(q, _)| q != except);
        let (victim, bytes) = match (holder, queue) {
            (Some(h), Some(q)) => std::cmp::max_by_key(h, q, |&(_, bytes)| bytes),
            (Some(h), None) => h,
            (None, Some(q)) => q,
            (None, None) => return false,
        };
        self.metrics().budget_sheds.inc();
        log::warn!("memory budget: closing {victim}, which holds {bytes} bytes, with 1013");
        self.budget.forget(victim);
        if let Some(backend) = ctx.state(victim).and_then(|c| c.backend()) {
            ctx.close(backend, Close::Now);
        }
        self.close_with(app, ctx, victim, 1013, "memory budget", true);
        // No flush for a reader that slow: the queue is dropped now.
        ctx.close(victim, Close::Now);
        true
    }

    /// Closes with 1008 every connection whose message has taken longer than
    /// `message_timeout` to arrive.
    fn close_slow_messages(&mut self, app: &A, ctx: &mut Cx<'_, A>) {
        let Some(deadline) = ctx.now().checked_sub(self.shared.config.message_timeout) else {
            return;
        };
        for id in self.budget.overdue(deadline) {
            self.budget.forget(id);
            log::debug!("closing {id} with 1008: message not complete in time");
            self.metrics().message_timeouts.inc();
            self.close_with(app, ctx, id, 1008, "message too slow", true);
        }
        let held = self.budget.held() + ctx.queued_total() + ctx.carried_total();
        self.metrics().memory_held.set(held as u64);
    }

    /// How often each reactor sweeps its keepalive table: a quarter of the ping interval (so a
    /// ping goes out at most 25% late), between 10 ms and 1 s.
    fn sweep_every(&self) -> Duration {
        (self.shared.config.ping_interval / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    /// Sweeps the keepalive table: ping the quiet, close the silent; and the budget: close
    /// the messages that take too long.
    fn sweep(&mut self, app: &A, ctx: &mut Cx<'_, A>) {
        if self.refused_over_limit > 0 {
            let n = std::mem::take(&mut self.refused_over_limit);
            log::warn!("refused {n} connections over max_connections (503) since the last sweep");
        }
        self.close_slow_messages(app, ctx);
        let now = self.clock(ctx);
        let unit = KEEPALIVE_UNIT_MS as u128;
        let ping_after = (self.shared.config.ping_interval.as_millis() / unit) as u32;
        let close_after = (self.shared.config.idle_timeout.as_millis() / unit) as u32;
        let mut ping = Vec::new();
        let mut close = Vec::new();
        for (slot, id, v) in self.keepalive.iter() {
            let quiet = now.wrapping_sub(v & !PINGED) & !PINGED;
            if quiet >= close_after {
                close.push(id);
            } else if quiet >= ping_after && v & PINGED == 0 {
                ping.push((slot, id, v | PINGED));
            }
        }
        for (slot, id, v) in ping {
            self.keepalive.set(slot, v);
            // The session refuses a ping after our close frame.
            let ping = ctx
                .state(id)
                .and_then(|c| c.ws_mut())
                .and_then(|ws| ws.session.encode_ping(b"").ok());
            if let Some(ping) = ping {
                let _ = ctx.write(id, &ping);
            }
        }
        for id in close {
            log::debug!("closing {id}: idle timeout");
            self.close_with(app, ctx, id, 1001, "idle timeout", false);
        }
    }

    /// Publishes a message on `topic`: encoded once into shared bytes, delivered to this
    /// reactor's subscribers and sent to every other reactor (each delivers to its own). The
    /// one place every publish goes through (see `topics.rs` on buses). Returns the
    /// deliveries made here.
    pub(crate) fn publish(
        &mut self,
        ctx: &mut Cx<'_, A>,
        topic: &str,
        message: AppMessage<'_>,
        exclude: Option<ConnId>,
    ) -> u64 {
        let frame = self.shared_frame(message.opcode(), message.payload());
        if let Some(local) = self.topics.find(topic) {
            return self.publish_frame(ctx, local, &frame, exclude);
        }
        // No subscriber here: the name is allocated once per publish (not per core) and the
        // frame goes to the other reactors only.
        let name: Arc<str> = Arc::from(topic);
        if let Some(cluster) = &self.shared.cluster {
            cluster.forward(&name, frame.plain());
        }
        let me = ctx.reactor_index();
        for mailbox in ctx.mailboxes() {
            if mailbox.reactor_index() != me {
                let _ = mailbox.send(Message::Publish {
                    topic: Arc::clone(&name),
                    frame: frame.clone(),
                });
            }
        }
        0
    }

    /// Publishes a message on every topic of a connection's subscription list `subs`: encoded
    /// once for all of them.
    pub(crate) fn publish_subscribed(
        &mut self,
        ctx: &mut Cx<'_, A>,
        subs: u32,
        message: AppMessage<'_>,
        exclude: Option<ConnId>,
    ) -> u64 {
        if subs == NO_SUBSCRIPTIONS {
            return 0;
        }
        let frame = self.shared_frame(message.opcode(), message.payload());
        let mut topics = std::mem::take(&mut self.topic_ids);
        topics.clear();
        topics.extend(self.topics.of(subs));
        let mut sent = 0;
        for &topic in &topics {
            sent += self.publish_frame(ctx, topic, &frame, exclude);
        }
        self.topic_ids = topics;
        sent
    }

    /// Publishes an encoded frame on a topic that has subscribers here: to the other reactors
    /// (the topic's own shared name travels) and to the local subscribers.
    fn publish_frame(
        &mut self,
        ctx: &mut Cx<'_, A>,
        topic: TopicId,
        frame: &Published,
        exclude: Option<ConnId>,
    ) -> u64 {
        if let Some(name) = self.topics.name(topic) {
            if let Some(cluster) = &self.shared.cluster {
                cluster.forward(name, frame.plain());
            }
            let me = ctx.reactor_index();
            for mailbox in ctx.mailboxes() {
                if mailbox.reactor_index() != me {
                    let _ = mailbox.send(Message::Publish {
                        topic: Arc::clone(name),
                        frame: frame.clone(),
                    });
                }
            }
        }
        self.deliver(ctx, topic, frame, exclude)
    }

    /// Delivers a published message to this reactor's subscribers of `topic`, as deferred
    /// writes (netio's `Ctx::write_shared_deferred`): sent at the end of the reactor's loop turn,
    /// one write per subscriber for all the frames of the turn. Per subscriber: a reference
    /// count, two slab lookups (state, write) and, with the skip policy, the queue length; a
    /// subscriber that agreed permessage-deflate without context takeover gets the compressed
    /// frame for its window, made once per message (`published.rs`).
    pub(crate) fn deliver(
        &mut self,
        ctx: &mut Cx<'_, A>,
        topic: TopicId,
        message: &Published,
        exclude: Option<ConnId>,
    ) -> u64 {
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.extend(
            self.topics
                .subscribers(topic)
                .filter_map(|slot| Some((slot, self.keepalive.id(slot)?))),
        );
        let skip = self.shared.config.slow_subscriber == SlowSubscriber::Skip;
        let cap = self.shared.config.outbound_cap;
        let policy = self.shared.compression;
        let (mut sent, mut bytes, mut compressions) = (0u64, 0u64, 0u64);
        for &(slot, id) in &ids {
            if Some(id) == exclude {
                continue;
            }
            if skip && ctx.queued(id).unwrap_or(0) >= cap {
                self.metrics().broadcast_skipped.inc();
                continue;
            }
            // The sender's own state is out of the table while its read is handled (`None`):
            // it is sending, so it is open, and it takes the plain frame.
            let mut window = 0;
            if let Some(Conn::Ws(ws)) = ctx.state(id) {
                if !ws.session.can_send_message() {
                    continue;
                }
                window = ws.shared_deflate;
            }
            let frame = if window == 0 {
                message.plain()
            } else {
                message.for_window(window, policy, &mut compressions)
            };
            let len = frame.len() as u64;
            // Deferred: every frame a subscriber gets in this loop turn (from this read, from
            // the other reactors' mailbox messages drained in the turn) leaves in one write.
            if ctx.write_shared_deferred(id, frame.clone()).is_ok() {
                sent += 1;
                bytes += len;
                if self.access.enabled() {
                    self.access.count(slot, 0, 0, (1, len));
                }
            }
        }
        self.ids = ids;
        let m = self.metrics();
        m.messages_out.add(sent);
        m.bytes_out.add(bytes);
        if compressions > 0 {
            m.broadcast_compressions.add(compressions);
        }
        sent
    }

    /// Subscribes a WebSocket to a topic.
    pub(crate) fn subscribe<S>(&mut self, ws: &mut WsConn<S>, topic: &str) -> bool {
        let new = self.topics.subscribe(&mut ws.subs, ws.keepalive, topic);
        self.count_topics();
        new
    }

    /// Unsubscribes a WebSocket from a topic.
    pub(crate) fn unsubscribe<S>(&mut self, ws: &mut WsConn<S>, topic: &str) -> bool {
        let gone = self.topics.unsubscribe(&mut ws.subs, ws.keepalive, topic);
        self.count_topics();
        gone
    }

    fn count_topics(&mut self) {
        if self.topics.has_changes() {
            if let Some(cluster) = &self.shared.cluster {
                for (topic, live) in self.topics.take_changes() {
                    cluster.core_interest(&topic, live);
                }
            }
        }
        let (topics, subscriptions) = self.topics.counts();
        let m = self.metrics();
        m.topics.set(topics);
        m.subscriptions.set(subscriptions);
    }

    /// Adds a handler call's (or a read's) message counts to the metrics and to the
    /// connection's access record (in keepalive slot `slot`).
    pub(crate) fn add_tally(&mut self, slot: u32, tally: &Tally) {
        if tally.messages_out > 0 {
            let m = self.metrics();
            m.messages_out.add(tally.messages_out);
            m.bytes_out.add(tally.bytes_out);
        }
        if self.access.enabled() {
            let out = (tally.messages_out, tally.bytes_out);
            self.access
                .count(slot, tally.messages_in, tally.bytes_in, out);
        }
    }

    /// Counts and logs (debug) a failed TLS connection.
    fn tls_failed(&self, id: ConnId, failure: TlsFailure, why: &dyn std::fmt::Display) {
        self.metrics().tls_failures[failure.index()].inc();
        log::debug!("tls: {id}: {}: {why}", failure.label());
    }

    /// Calls an app handler on the WebSocket `id` (outside a read: timers, drain,
    /// backpressure), if it is the app's and still open for it.
    fn with_app_conn(
        &mut self,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        call: impl FnOnce(&mut Connection<'_, '_, A>),
    ) {
        let Conn::Ws(ws) = conn else { return };
        let mut tally = Tally::default();
        let mut handle = Connection {
            ctx,
            core: self,
            id,
            ws,
            decoder: None,
            reply: None,
            tally: &mut tally,
            closing: false,
        };
        let slot = handle.ws.keepalive;
        call(&mut handle);
        self.add_tally(slot, &tally);
    }
}

impl<A: App> Handler for Reactor<A> {
    type Conn = Conn<A::State>;
    type Message = Message;

    fn accept(
        &mut self,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        info: &Accepted,
    ) -> Option<Conn<A::State>> {
        let core = &mut self.core;
        let m = core.metrics();
        m.accepted.inc();
        m.connections.inc();
        if let Some((listeners, config)) = &core.shared.tls {
            // TLS is netio's transport for this connection: everything below (the 503 just
            // after included) reads and writes plaintext without knowing.
            if listeners.contains(&info.listener) {
                match TlsSession::new(Arc::clone(config)) {
                    Ok(session) => {
                        let _ = ctx.set_transport(id, Box::new(TlsTransport::new(session)));
                    }
                    Err(e) => {
                        log::warn!("tls: cannot start a session: {e}");
                        return None;
                    }
                }
            }
        }
        if info.over_limit {
            // Logged once per sweep, not per connection: a flood must not flood the log.
            core.refused_over_limit += 1;
            let mut conn = Conn::Done;
            core.reject(
                &self.app,
                ctx,
                id,
                &mut conn,
                503,
                &"over max_connections",
                None,
            );
            return Some(conn);
        }
        let timer = ctx.set_timer(id, core.shared.config.head_timeout, tag::HEAD);
        Some(Conn::Http(HttpConn {
            partial: None,
            timer,
            served: 0,
            admin: core.shared.admin_listener == Some(info.listener),
            body: None,
        }))
    }

    fn on_data(
        &mut self,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        data: &mut [u8],
    ) {
        let (app, core) = (&*self.app, &mut self.core);
        match conn {
            Conn::Http(_) => core.on_http_data(app, ctx, id, conn, data),
            Conn::Ws(_) | Conn::WsBridge(_) => core.on_ws_data(app, ctx, id, conn, data),
            Conn::Raw(backend) => {
                let backend = *backend;
                core.metrics().bytes_in.add(data.len() as u64);
                core.send_to_backend(ctx, backend, data);
            }
            Conn::Backend(b) => core.backend_data(ctx, b, data),
            Conn::Connecting(_) | Conn::Done => {}
        }
    }

    fn on_connect(
        &mut self,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        result: std::io::Result<()>,
    ) {
        self.core
            .backend_connected(&self.app, ctx, id, conn, result);
    }

    fn on_eof(&mut self, ctx: &mut Cx<'_, A>, id: ConnId, conn: &mut Conn<A::State>) {
        let (app, core) = (&*self.app, &mut self.core);
        match conn {
            Conn::Backend(_) => core.backend_eof(app, ctx, id, conn),
            Conn::Raw(_) => core.raw_client_eof(app, ctx, id, conn),
            Conn::Ws(_) | Conn::WsBridge(_) => {
                // The client's stream ended (a half-close, `shutdown(SHUT_WR)`, or a full close)
                // before its close frame. It may still be reading, so it gets our close frame
                // before the TCP close (RFC 6455 7.1.1: the TCP connection is closed after the
                // closing handshake where possible; 7.1.7: an established connection that ends
                // SHOULD see our Close frame first). Code 1000: nothing went wrong on our side and
                // the client has finished sending (7.4.1, "the purpose for which the connection
                // was established has been fulfilled"); 1006 is what *we* record (7.1.5: no close
                // frame received) but it MUST NOT be sent (7.4.1), and 1002 would blame a framing
                // error that did not happen. Counted once, as the client's 1006: it started the
                // close, our frame only answers it (as a reply to a client's close frame is not
                // counted either). finish() then forgets the connection, so on_close does not
                // count it again, and nothing is written after the close frame: the connection
                // leaves the keepalive and topic tables and its state becomes `Done`.
                if let Some(mut ws) = conn.ws_mut() {
                    if ws.session.state() == CloseState::Open {
                        core.metrics().close(CloseBy::Client, 1006);
                        ws.closed(ClosedBy::Network, 1006);
                        if let Ok(frame) = ws.session.encode_close(Some(CloseCode(1000)), "") {
                            let _ = ctx.write(id, &frame);
                        }
                    }
                }
                if let Some(backend) = conn.backend() {
                    ctx.close(backend, Close::AfterFlush);
                }
                // Our read side is closed: netio closes once the close frame is flushed.
                core.finish(app, ctx, id, conn);
            }
            _ => core.finish(app, ctx, id, conn),
        }
    }

    fn on_transport_ready(&mut self, ctx: &mut Cx<'_, A>, id: ConnId, _: &mut Conn<A::State>) {
        let Some(tls) = ctx.transport::<TlsTransport>(id) else {
            return;
        };
        let resumed = tls.resumed() == Some(true);
        self.core.metrics().tls_handshakes[usize::from(resumed)].inc();
        log::debug!("tls: {id}: {}", tls.session().describe());
    }

    fn on_transport_error(
        &mut self,
        _: &mut Cx<'_, A>,
        id: ConnId,
        _: &mut Conn<A::State>,
        error: &std::io::Error,
    ) {
        let failure = TlsFailure::of(error).unwrap_or(TlsFailure::Protocol);
        self.core.tls_failed(id, failure, error);
    }

    fn on_timer(&mut self, ctx: &mut Cx<'_, A>, id: ConnId, conn: &mut Conn<A::State>, t: u64) {
        let (app, core) = (&*self.app, &mut self.core);
        match t {
            tag::HEAD => {
                let Conn::Http(h) = conn else { return };
                let tls = ctx.transport::<TlsTransport>(id);
                if tls.is_some_and(|t| t.session().is_handshaking()) {
                    // The handshake counts against the head timeout: a stalled one is closed
                    // (no 408: there is no channel to send it on).
                    core.tls_failed(id, TlsFailure::HandshakeTimeout, &"handshake timeout");
                    core.finish(app, ctx, id, conn);
                    return;
                }
                if h.body.is_some() {
                    core.publish_refuse(app, ctx, id, conn, 408, "body not complete in time");
                } else if h.served > 0 && h.partial.is_none() {
                    // An idle keep-alive connection: just close, as nginx does.
                    core.finish(app, ctx, id, conn);
                } else {
                    core.reject(app, ctx, id, conn, 408, &"request head timeout", None);
                }
            }
            tag::CLOSE_DEADLINE => ctx.close(id, Close::Now),
            tag::BACKEND_CONNECT => core.backend_connect_timeout(app, ctx, id, conn),
            tag::TUNNEL_IDLE => core.tunnel_idle(app, ctx, id, conn),
            tag::DRAIN => {
                if let Some(ws) = conn.ws_mut() {
                    core.close_parts(ctx, id, ws, 1001, "server shutting down");
                }
                if let Some(backend) = conn.backend() {
                    ctx.close(backend, Close::AfterFlush);
                }
            }
            t => {
                if let Some(token) = tag::app_token(t) {
                    core.with_app_conn(ctx, id, conn, |c| app.timer(c, token));
                }
            }
        }
    }

    fn on_pressure(
        &mut self,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        p: Pressure,
    ) {
        let (app, core) = (&*self.app, &mut self.core);
        let high = p == Pressure::High;
        // A tunnel's other side feeds this connection's queue: pause it while the queue is
        // over its cap. The app decides for its own connections.
        let source = match conn {
            Conn::Ws(_) => {
                if high {
                    core.with_app_conn(ctx, id, conn, |c| app.backpressure(c));
                } else {
                    core.with_app_conn(ctx, id, conn, |c| app.drain(c));
                }
                return;
            }
            Conn::WsBridge(b) => b.backend,
            Conn::Raw(backend) => *backend,
            Conn::Backend(b) => b.client,
            _ => return,
        };
        if high {
            core.metrics().backpressure_pauses.inc();
            ctx.pause_read(source);
        } else {
            ctx.resume_read(source);
        }
    }

    fn on_shutdown(&mut self, ctx: &mut Cx<'_, A>, id: ConnId, conn: &mut Conn<A::State>) {
        let (app, core) = (&*self.app, &mut self.core);
        match conn {
            Conn::Ws(_) | Conn::WsBridge(_) => {
                // With a drain window, each connection gets its close at a random point of the
                // window (`tag::DRAIN`), so that clients do not reconnect as one storm; netio's
                // deadline was moved by the window.
                let window = core.shared.config.drain_window;
                if !window.is_zero() {
                    let at = core.jitter(window);
                    ctx.set_timer(id, at, tag::DRAIN);
                    return;
                }
                // Close 1001 after whatever is queued; the client's answering close (or netio's
                // deadline) ends the connection.
                if let Some(ws) = conn.ws_mut() {
                    core.close_parts(ctx, id, ws, 1001, "server shutting down");
                }
                if let Some(backend) = conn.backend() {
                    ctx.close(backend, Close::AfterFlush);
                }
            }
            _ => core.finish(app, ctx, id, conn),
        }
    }

    fn on_close(
        &mut self,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: Conn<A::State>,
        reason: CloseReason,
    ) {
        let (app, core) = (&*self.app, &mut self.core);
        match conn {
            Conn::Backend(b) => {
                core.backend_closed(app, ctx, id, b, reason);
                return;
            }
            Conn::Ws(mut ws) => {
                if ws.session.state() == CloseState::Open {
                    core.metrics().close(CloseBy::Client, 1006);
                }
                core.app_closed(app, ctx, id, &mut ws);
            }
            Conn::WsBridge(mut b) => {
                if b.ws.session.state() == CloseState::Open {
                    core.metrics().close(CloseBy::Client, 1006);
                }
                core.unregister_ws(id, &mut b.ws);
                ctx.close(b.backend, Close::AfterFlush);
            }
            Conn::Raw(backend) => ctx.close(backend, Close::AfterFlush),
            Conn::Connecting(p) => ctx.close(p.backend, Close::Now),
            Conn::Http(_) | Conn::Done => {}
        }
        core.metrics().connections.dec();
    }

    fn on_start(&mut self, ctx: &mut Cx<'_, A>) {
        // The keepalive sweep runs on the reactor's own timer wheel: no thread, no wakeup
        // from another core.
        ctx.set_reactor_timer(self.core.sweep_every(), tag::SWEEP);
    }

    fn on_reactor_timer(&mut self, ctx: &mut Cx<'_, A>, t: u64) {
        if t == tag::SWEEP {
            self.core.sweep(&self.app, ctx);
            ctx.set_reactor_timer(self.core.sweep_every(), tag::SWEEP);
        }
    }

    fn on_message(&mut self, ctx: &mut Cx<'_, A>, message: Message) {
        match message {
            Message::Publish { topic, frame } => {
                if let Some(t) = self.core.topics.find(&topic) {
                    self.core.deliver(ctx, t, &frame, None);
                }
            }
        }
    }
}
