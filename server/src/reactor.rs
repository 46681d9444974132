//! The netio handler: one [`Reactor`] per core, dispatching each connection's events on its
//! [`Conn`] state. The protocol phases live in `head.rs` (HTTP), `ws.rs` (WebSocket, echo and
//! broadcast) and `bridge.rs` (backends and raw tunnels).

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_handshake::Acceptor;
use switchyard_netio::{
    Accepted, Close, CloseReason, ConnId, Ctx, Handler, Pressure, ReactorInfo, SharedBytes,
};

use switchyard_frame::{CloseCode, CloseState, Decoder, Session};

use crate::budget::{self, Budget};
use crate::config::{Config, SlowSubscriber};
use crate::conn::{Conn, HttpConn, WsConn};
use crate::http;
use crate::metrics::{CloseBy, CoreMetrics, Registry};
use crate::routes::{App, RouteId};
use crate::slots::{SlotTable, SubscriberTable};

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
}

/// Keepalive values are in units of this many milliseconds since the reactor started.
const KEEPALIVE_UNIT_MS: u64 = 10;
/// Set in a keepalive value once a ping was sent for the current silence.
const PINGED: u32 = 1 << 31;

/// Messages between reactors (netio's per-reactor mailbox).
pub enum Message {
    /// A broadcast frame, encoded once, for this reactor's subscribers of `route`.
    Broadcast {
        /// The broadcast route.
        route: RouteId,
        /// The whole frame, header and payload.
        frame: SharedBytes,
    },
}

/// What every reactor shares, read-only.
pub struct Shared {
    /// The resolved configuration.
    pub config: Config,
    /// The handshake acceptor of echo and broadcast routes: WebSocket, with permessage-deflate
    /// when enabled.
    pub acceptor: Acceptor<switchyard_handshake::DeflateNegotiator>,
    /// The acceptor of bridge routes: the same plus the raw `tcp` protocol.
    pub bridge_acceptor: Acceptor<switchyard_handshake::DeflateNegotiator>,
    /// Codec limits for every WebSocket.
    pub codec: switchyard_frame::Config,
    /// How hard permessage-deflate compresses what we send (local policy, not negotiated).
    pub compression: switchyard_frame::deflate::CompressionPolicy,
    /// Every core's metrics.
    pub metrics: Registry,
}

/// The per-core handler.
pub struct Reactor {
    pub(crate) shared: Arc<Shared>,
    pub(crate) core: usize,
    /// Every WebSocket of this reactor, with its last activity (see [`Reactor::touch`]).
    pub(crate) keepalive: SlotTable,
    /// Broadcast subscribers, by route id.
    pub(crate) subscribers: Vec<SubscriberTable>,
    /// Response bytes from the handshake acceptor (101s and rejections).
    pub(crate) hs_out: Box<[u8]>,
    /// Plain HTTP responses are built here.
    pub(crate) scratch: Vec<u8>,
    /// A mutable copy of frames that arrived with the upgrade head, for the codec, which
    /// unmasks in place (reads after the upgrade are decoded in netio's buffer, uncopied).
    pub(crate) input: Vec<u8>,
    /// Ids gathered for a loop that acts on connections.
    pub(crate) ids: Vec<ConnId>,
    /// A decoder in the fresh state, lent to connections for one read (see `ws.rs`).
    pub(crate) spare_decoder: Option<Box<Decoder>>,
    /// This reactor's share of the memory budget and who holds what (see `budget.rs`).
    pub(crate) budget: Budget<ConnId>,
    epoch: Instant,
}

impl Reactor {
    /// Builds the handler of one reactor.
    pub fn new(shared: Arc<Shared>, info: &ReactorInfo) -> Self {
        let routes = shared.config.routes.len();
        let budget_share = shared.config.memory_budget / shared.config.workers.max(1);
        Reactor {
            shared,
            core: info.index,
            keepalive: SlotTable::default(),
            subscribers: (0..routes).map(|_| SubscriberTable::default()).collect(),
            hs_out: vec![0u8; 4096].into_boxed_slice(),
            scratch: Vec::new(),
            input: Vec::new(),
            ids: Vec::new(),
            spare_decoder: None,
            budget: Budget::new(budget_share),
            epoch: Instant::now(),
        }
    }

    /// This core's counters.
    #[inline]
    pub(crate) fn metrics(&self) -> &CoreMetrics {
        self.shared.metrics.core(self.core)
    }

    /// The keepalive clock: units of [`KEEPALIVE_UNIT_MS`] since the reactor started.
    #[inline]
    pub(crate) fn clock(&self, ctx: &Ctx<'_, Self>) -> u32 {
        // u64 arithmetic only (`as_millis` is u128, whose division is a libcall).
        let d = ctx.now().saturating_duration_since(self.epoch);
        let ms = d.as_secs() * 1000 + u64::from(d.subsec_millis());
        ((ms / KEEPALIVE_UNIT_MS) as u32) & !PINGED
    }

    /// Time since `stamp`, a [`Reactor::clock`] value.
    pub(crate) fn since(&self, ctx: &Ctx<'_, Self>, stamp: u32) -> Duration {
        let units = self.clock(ctx).wrapping_sub(stamp) & !PINGED;
        Duration::from_millis(u64::from(units) * KEEPALIVE_UNIT_MS)
    }

    /// Records activity on a WebSocket (hot path: a clock read from the turn and one store).
    #[inline]
    pub(crate) fn touch(&mut self, ctx: &Ctx<'_, Self>, ws: &WsConn) {
        let now = self.clock(ctx);
        self.keepalive.set(ws.keepalive, now);
    }

    /// Registers a new WebSocket in the keepalive table (and as a subscriber on a broadcast
    /// route).
    pub(crate) fn register_ws(
        &mut self,
        ctx: &Ctx<'_, Self>,
        id: ConnId,
        route: RouteId,
    ) -> WsConn {
        let now = self.clock(ctx);
        let keepalive = self.keepalive.insert(id, now);
        let subscriber = match self.shared.config.routes.app(route) {
            App::Broadcast { .. } => self.subscribers[usize::from(route)].insert(keepalive),
            _ => u32::MAX,
        };
        WsConn {
            session: Session::new(),
            decoder: None,
            keepalive,
            subscriber,
            route,
        }
    }

    /// Removes a WebSocket from the keepalive and subscriber tables and the memory budget.
    pub(crate) fn unregister_ws(&mut self, id: ConnId, ws: &WsConn) {
        if ws.decoder.as_ref().is_some_and(|d| d.heap_bytes() > 0) {
            self.budget.forget(id);
        }
        self.keepalive.remove(ws.keepalive, id);
        if ws.subscriber != u32::MAX {
            self.subscribers[usize::from(ws.route)].remove(ws.subscriber, ws.keepalive);
        }
    }

    /// Sends our close frame (once), counts it, and closes after flushing, with a deadline.
    pub(crate) fn close_ws(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        ws: &mut WsConn,
        code: u16,
        reason: &str,
    ) {
        // The session refuses a second close: only the first is sent and counted.
        if let Ok(frame) = ws.session.encode_close(Some(CloseCode(code)), reason) {
            self.metrics().close(CloseBy::Server, code);
            let _ = ctx.write(id, &frame);
        }
        // Nothing more goes out after our close; wait for the client's close frame (answered in
        // `ws.rs`), bounded by the deadline timer.
        ctx.set_timer(id, self.shared.config.close_timeout, tag::CLOSE_DEADLINE);
    }

    /// Closes after flushing, with a deadline, and forgets the connection's tables.
    pub(crate) fn finish(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: &mut Conn) {
        match std::mem::replace(conn, Conn::Done) {
            Conn::Ws(ws) => self.unregister_ws(id, &ws),
            Conn::WsBridge(b) => self.unregister_ws(id, &b.ws),
            Conn::Http(h) => {
                ctx.cancel_timer(h.timer);
            }
            _ => {}
        }
        ctx.close(id, Close::AfterFlush);
        ctx.set_timer(id, self.shared.config.close_timeout, tag::CLOSE_DEADLINE);
    }

    /// A reject: one debug line, one metric, the response, close.
    pub(crate) fn reject(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Conn,
        status: u16,
        why: &dyn std::fmt::Display,
        response: Option<&[u8]>,
    ) {
        self.metrics().rejects.inc(status);
        if log::log_enabled!(log::Level::Debug) {
            let peer = ctx.peer_addr(id);
            log::debug!("reject {status} to {peer:?}: {why}");
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
        self.finish(ctx, id, conn);
    }

    /// How much connection `id`, which holds `own` bytes, may hold after its next read: the
    /// reactor's share of the budget less what the other connections hold in unfinished
    /// messages and what every outbound queue holds. With less than a margin left, the
    /// largest holders are shed first (1013) until the margin is back or nobody else holds
    /// anything.
    pub(crate) fn read_allowance(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        own: usize,
    ) -> usize {
        let limit = self.budget.limit();
        let margin = budget::margin(limit);
        loop {
            // A shed connection's queue leaves `queued_total` at once (netio frees the queue
            // of a connection closed now), so this also holds for the next reads of the same
            // event, before netio removes the connections shed here.
            let all = self.budget.held() + ctx.queued_total();
            let allowance = limit.saturating_sub(all.saturating_sub(own));
            if allowance >= margin || !self.shed_largest(ctx, id) {
                return allowance;
            }
        }
    }

    /// Closes the connection other than `except` that holds the most (an unfinished message
    /// or an outbound queue) with 1013, freeing what it holds (its queue at once, with the
    /// close now). Returns `false` if nobody holds anything.
    fn shed_largest(&mut self, ctx: &mut Ctx<'_, Self>, except: ConnId) -> bool {
        let holder = self.budget.largest(except);
        let queue = ctx.largest_queue().filter(|&(q, _)| q != except);
        let (victim, bytes) = match (holder, queue) {
            (Some(h), Some(q)) => std::cmp::max_by_key(h, q, |&(_, bytes)| bytes),
            (Some(h), None) => h,
            (None, Some(q)) => q,
            (None, None) => return false,
        };
        self.metrics().budget_sheds.inc();
        log::warn!("memory budget: closing {victim:?}, which holds {bytes} bytes, with 1013");
        self.budget.forget(victim);
        if let Some(state) = ctx.state(victim) {
            let mut conn = std::mem::replace(state, Conn::Done);
            if let Some(ws) = conn.ws_mut() {
                // Freed now, not after the close handshake.
                ws.decoder = None;
                self.close_ws(ctx, victim, ws, 1013, "memory budget");
            }
            if let Some(backend) = conn.backend() {
                ctx.close(backend, Close::Now);
            }
            self.finish(ctx, victim, &mut conn);
        }
        // No flush for a reader that slow: the queue is dropped now.
        ctx.close(victim, Close::Now);
        true
    }

    /// Closes with 1008 every connection whose message has taken longer than
    /// `message_timeout` to arrive.
    fn close_slow_messages(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(deadline) = ctx.now().checked_sub(self.shared.config.message_timeout) else {
            return;
        };
        for id in self.budget.overdue(deadline) {
            self.budget.forget(id);
            let Some(state) = ctx.state(id) else { continue };
            let mut conn = std::mem::replace(state, Conn::Done);
            log::debug!("closing {id:?} with 1008: message not complete in time");
            self.metrics().message_timeouts.inc();
            if let Some(ws) = conn.ws_mut() {
                ws.decoder = None;
                self.close_ws(ctx, id, ws, 1008, "message too slow");
            }
            if let Some(backend) = conn.backend() {
                ctx.close(backend, Close::AfterFlush);
            }
            self.finish(ctx, id, &mut conn);
        }
        let held = self.budget.held() + ctx.queued_total();
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
    fn sweep(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.close_slow_messages(ctx);
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
            log::debug!("closing {id:?}: idle timeout");
            let Some(conn) = ctx.state(id) else { continue };
            let mut conn = std::mem::replace(conn, Conn::Done);
            if let Some(ws) = conn.ws_mut() {
                self.close_ws(ctx, id, ws, 1001, "idle timeout");
            }
            if let Some(backend) = conn.backend() {
                ctx.close(backend, Close::AfterFlush);
            }
            self.finish(ctx, id, &mut conn);
        }
    }

    /// Delivers a broadcast frame to this reactor's subscribers of `route`, as deferred writes
    /// (netio's `Ctx::write_shared_deferred`): sent at the end of the reactor's loop turn, one
    /// write per subscriber for all the frames of the turn. Per subscriber: a reference count,
    /// two slab lookups (state, write) and, with the skip policy, the queue length.
    pub(crate) fn deliver(&mut self, ctx: &mut Ctx<'_, Self>, route: RouteId, frame: &SharedBytes) {
        let Some(table) = self.subscribers.get(usize::from(route)) else {
            return;
        };
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.extend(table.iter().filter_map(|slot| self.keepalive.id(slot)));
        let skip = self.shared.config.slow_subscriber == SlowSubscriber::Skip;
        let cap = self.shared.config.outbound_cap;
        let mut sent = 0u64;
        for &id in &ids {
            if skip && ctx.queued(id).unwrap_or(0) >= cap {
                self.metrics().broadcast_skipped.inc();
                continue;
            }
            // The sender's own state is out of the table while its read is handled (`None`):
            // it is sending, so it is open.
            if let Some(Conn::Ws(ws)) = ctx.state(id) {
                if !ws.session.can_send_message() {
                    continue;
                }
            }
            // Deferred: every frame a subscriber gets in this loop turn (from this read, from
            // the other reactors' mailbox messages drained in the turn) leaves in one write.
            if ctx.write_shared_deferred(id, frame.clone()).is_ok() {
                sent += 1;
            }
        }
        self.ids = ids;
        let m = self.metrics();
        m.messages_out.add(sent);
        m.bytes_out.add(sent * frame.len() as u64);
    }
}

impl Handler for Reactor {
    type Conn = Conn;
    type Message = Message;

    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, info: &Accepted) -> Option<Conn> {
        let m = self.metrics();
        m.accepted.inc();
        m.connections.inc();
        if info.over_limit {
            let mut conn = Conn::Done;
            self.reject(ctx, id, &mut conn, 503, &"over max_connections", None);
            return Some(conn);
        }
        let timer = ctx.set_timer(id, self.shared.config.head_timeout, tag::HEAD);
        Some(Conn::Http(HttpConn {
            partial: None,
            timer,
            served: 0,
        }))
    }

    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: &mut Conn, data: &mut [u8]) {
        match conn {
            Conn::Http(_) => self.on_http_data(ctx, id, conn, data),
            Conn::Ws(_) | Conn::WsBridge(_) => self.on_ws_data(ctx, id, conn, data),
            Conn::Raw(backend) => {
                let backend = *backend;
                self.metrics().bytes_in.add(data.len() as u64);
                self.send_to_backend(ctx, backend, data);
            }
            Conn::Backend(b) => self.backend_data(ctx, b, data),
            Conn::Connecting(_) | Conn::Done => {}
        }
    }

    fn on_connect(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Conn,
        result: std::io::Result<()>,
    ) {
        self.backend_connected(ctx, id, conn, result);
    }

    fn on_eof(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: &mut Conn) {
        match conn {
            Conn::Backend(_) => self.backend_eof(ctx, id, conn),
            Conn::Raw(_) => self.raw_client_eof(ctx, id, conn),
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
                // leaves the keepalive and subscriber tables and its state becomes `Done`.
                if let Some(ws) = conn.ws_mut() {
                    if ws.session.state() == CloseState::Open {
                        self.metrics().close(CloseBy::Client, 1006);
                        if let Ok(frame) = ws.session.encode_close(Some(CloseCode(1000)), "") {
                            let _ = ctx.write(id, &frame);
                        }
                    }
                }
                if let Some(backend) = conn.backend() {
                    ctx.close(backend, Close::AfterFlush);
                }
                // Our read side is closed: netio closes once the close frame is flushed.
                self.finish(ctx, id, conn);
            }
            _ => self.finish(ctx, id, conn),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: &mut Conn, t: u64) {
        match t {
            tag::HEAD => {
                let Conn::Http(h) = conn else { return };
                if h.served > 0 && h.partial.is_none() {
                    // An idle keep-alive connection: just close, as nginx does.
                    self.finish(ctx, id, conn);
                } else {
                    self.reject(ctx, id, conn, 408, &"request head timeout", None);
                }
            }
            tag::CLOSE_DEADLINE => ctx.close(id, Close::Now),
            tag::BACKEND_CONNECT => self.backend_connect_timeout(ctx, id, conn),
            tag::TUNNEL_IDLE => self.tunnel_idle(ctx, id, conn),
            _ => {}
        }
    }

    fn on_pressure(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: &mut Conn, p: Pressure) {
        let high = p == Pressure::High;
        // Who feeds this connection's queue: pause it while the queue is over its cap.
        let source = match conn {
            Conn::Ws(ws) => match self.shared.config.routes.app(ws.route) {
                App::Broadcast { .. } => {
                    if high && self.shared.config.slow_subscriber == SlowSubscriber::Close {
                        log::debug!("closing {id:?}: slow broadcast subscriber");
                        self.close_ws(ctx, id, ws, 1008, "slow consumer");
                        self.finish(ctx, id, conn);
                    }
                    // With the skip policy, `deliver` checks the queue per message.
                    return;
                }
                // Echo: the sender is the receiver.
                _ => id,
            },
            Conn::WsBridge(b) => b.backend,
            Conn::Raw(backend) => *backend,
            Conn::Backend(b) => b.client,
            _ => return,
        };
        if high {
            self.metrics().backpressure_pauses.inc();
            ctx.pause_read(source);
        } else {
            ctx.resume_read(source);
        }
    }

    fn on_shutdown(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: &mut Conn) {
        match conn {
            Conn::Ws(_) | Conn::WsBridge(_) => {
                // Close 1001 after whatever is queued; the client's answering close (or netio's
                // deadline) ends the connection.
                if let Some(ws) = conn.ws_mut() {
                    self.close_ws(ctx, id, ws, 1001, "server shutting down");
                }
                if let Some(backend) = conn.backend() {
                    ctx.close(backend, Close::AfterFlush);
                }
            }
            _ => self.finish(ctx, id, conn),
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: Conn, reason: CloseReason) {
        match conn {
            Conn::Backend(b) => {
                self.backend_closed(ctx, id, b, reason);
                return;
            }
            Conn::Ws(ws) => {
                if ws.session.state() == CloseState::Open {
                    self.metrics().close(CloseBy::Client, 1006);
                }
                self.unregister_ws(id, &ws);
            }
            Conn::WsBridge(b) => {
                if b.ws.session.state() == CloseState::Open {
                    self.metrics().close(CloseBy::Client, 1006);
                }
                self.unregister_ws(id, &b.ws);
                ctx.close(b.backend, Close::AfterFlush);
            }
            Conn::Raw(backend) => ctx.close(backend, Close::AfterFlush),
            Conn::Connecting(p) => ctx.close(p.backend, Close::Now),
            Conn::Http(_) | Conn::Done => {}
        }
        self.metrics().connections.dec();
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        // The keepalive sweep runs on the reactor's own timer wheel: no thread, no wakeup
        // from another core.
        ctx.set_reactor_timer(self.sweep_every(), tag::SWEEP);
    }

    fn on_reactor_timer(&mut self, ctx: &mut Ctx<'_, Self>, t: u64) {
        if t == tag::SWEEP {
            self.sweep(ctx);
            ctx.set_reactor_timer(self.sweep_every(), tag::SWEEP);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, message: Message) {
        match message {
            Message::Broadcast { route, frame } => self.deliver(ctx, route, &frame),
        }
    }
}
