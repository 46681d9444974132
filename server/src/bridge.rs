//! Bridge routes: each client gets a fresh TCP connection to the backend on the same reactor
//! (netio's outbound connect), and bytes flow both ways: as binary WebSocket messages to a
//! WebSocket client (as websockify does), as they are to a raw `Upgrade: tcp` client.
//!
//! The `101` waits for the backend: an upgrade on a bridge route first connects, and the
//! client gets the `101` once the connect succeeds, `502 Bad Gateway` if it fails and
//! `504 Gateway Timeout` past `backend_connect_timeout`, never a `101` followed by a close.
//! A bridge that carries no byte either way for `tunnel_idle_timeout` is closed, both sides.
//!
//! Backpressure is symmetric: when one side's outbound queue passes the cap, the other side is
//! no longer read (see `Reactor::on_pressure`), so a slow reader on either end bounds memory.

use std::io;
use std::net::SocketAddr;

use switchyard_netio::{Close, CloseReason, ConnId};

use switchyard_frame::OpCode;

use crate::app::App;
use crate::conn::{Backend, BridgeUpgrade, Conn, PendingBridge};
use crate::reactor::{tag, Core, Cx};

impl<A: App> Core<A> {
    /// Opens the backend connection for client `client`; `None` if no address could be tried.
    pub(crate) fn connect_backend(
        &mut self,
        ctx: &mut Cx<'_, A>,
        client: ConnId,
        addrs: &[SocketAddr],
        websocket: bool,
    ) -> Option<ConnId> {
        for &addr in addrs {
            let state = Conn::Backend(Backend {
                client,
                websocket,
                connected: false,
                half_closed: false,
                last_active: 0,
            });
            match ctx.connect(addr, state) {
                Ok(backend) => return Some(backend),
                Err(e) => log::debug!("bridge connect to {addr}: {e}"),
            }
        }
        self.metrics().bridge_connect_failures.inc();
        None
    }

    /// An accepted upgrade on a bridge route: connect to the backend first, and answer when
    /// the connect is reported (`backend_connected`): the prepared `101` then, a 502 if it
    /// failed, a 504 if it took longer than `backend_connect_timeout`. Until then the client is
    /// not read (what it sends waits in the kernel), and the response and the bytes that came
    /// behind the head (`leftover`) are copied into the pending state: they live in reactor
    /// buffers that the next read reuses.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn connect_bridge(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        backends: &[SocketAddr],
        upgrade: BridgeUpgrade,
        path: &str,
        response: &[u8],
        leftover: &[u8],
    ) {
        let websocket = matches!(upgrade, BridgeUpgrade::WebSocket(_));
        let Some(backend) = self.connect_backend(ctx, id, backends, websocket) else {
            let why = format_args!("tunnel to {backends:?}");
            self.reject(app, ctx, id, conn, 502, &why, None);
            return;
        };
        ctx.pause_read(id);
        let timeout = self.shared.config.backend_connect_timeout;
        let timer = ctx.set_timer(id, timeout, tag::BACKEND_CONNECT);
        let mut bytes = Vec::with_capacity(response.len() + leftover.len());
        bytes.extend_from_slice(response);
        bytes.extend_from_slice(leftover);
        *conn = Conn::Connecting(Box::new(PendingBridge {
            backend,
            timer,
            upgrade,
            path: path.into(),
            bytes,
            response_len: response.len(),
        }));
    }

    /// The backend's connect finished: answer the waiting client (`connect_bridge`).
    pub(crate) fn backend_connected(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        result: io::Result<()>,
    ) {
        let Conn::Backend(b) = conn else { return };
        let client = b.client;
        let pending = match ctx.state(client) {
            Some(state) => match std::mem::replace(state, Conn::Done) {
                Conn::Connecting(p) if p.backend == id => Some(p),
                other => {
                    *state = other;
                    None
                }
            },
            None => None,
        };
        let Some(p) = pending else {
            // The client left (or was answered 504) meanwhile.
            ctx.close(id, Close::Now);
            return;
        };
        ctx.cancel_timer(p.timer);
        let mut client_conn = Conn::Done;
        match result {
            Err(e) => {
                log::warn!("tunnel backend connect failed: {e} (502 to the client)");
                self.metrics().bridge_connect_failures.inc();
                self.reject(app, ctx, client, &mut client_conn, 502, &e, None);
            }
            Ok(()) => {
                b.connected = true;
                b.last_active = self.clock(ctx);
                let idle = self.shared.config.tunnel_idle_timeout;
                ctx.set_timer(id, idle, tag::TUNNEL_IDLE);
                let (response, leftover) = p.bytes.split_at(p.response_len);
                let _ = ctx.write(client, response);
                match p.upgrade {
                    BridgeUpgrade::WebSocket(deflate) => {
                        self.metrics().upgrades_websocket.inc();
                        let c = &mut client_conn;
                        self.start_bridged_websocket(
                            app, ctx, client, c, id, deflate, &p.path, leftover,
                        );
                        if !matches!(client_conn, Conn::WsBridge(_)) {
                            ctx.close(id, Close::AfterFlush);
                        }
                    }
                    BridgeUpgrade::Tcp => {
                        self.metrics().upgrades_tcp.inc();
                        client_conn = Conn::Raw(id);
                        if !leftover.is_empty() {
                            self.metrics().bytes_in.add(leftover.len() as u64);
                            // The running callback's own connection: corked until it returns.
                            let _ = ctx.write(id, leftover);
                        }
                    }
                }
                ctx.resume_read(client);
            }
        }
        if let Some(state) = ctx.state(client) {
            *state = client_conn;
        }
    }

    /// The connect timeout of a waiting client fired: 504, and the backend is dropped.
    pub(crate) fn backend_connect_timeout(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
    ) {
        let Conn::Connecting(p) = conn else { return };
        log::warn!("tunnel backend did not accept in time (504 to the client)");
        ctx.close(p.backend, Close::Now);
        self.metrics().bridge_connect_failures.inc();
        self.reject(app, ctx, id, conn, 504, &"backend connect timeout", None);
    }

    /// Bytes from a client (a raw tunnel's, or a bridged WebSocket's message payload) for its
    /// backend; marks the tunnel active (one store: the idle timer reads it when it fires).
    pub(crate) fn send_to_backend(&mut self, ctx: &mut Cx<'_, A>, backend: ConnId, data: &[u8]) {
        let now = self.clock(ctx);
        if let Some(Conn::Backend(b)) = ctx.state(backend) {
            b.last_active = now;
        }
        let _ = ctx.write(backend, data);
    }

    /// Bytes from a backend, for its client.
    pub(crate) fn backend_data(&mut self, ctx: &mut Cx<'_, A>, b: &mut Backend, data: &[u8]) {
        b.last_active = self.clock(ctx);
        let client = b.client;
        if b.websocket {
            // One binary message per read; the session refuses it once our close frame is out
            // (the bytes are then dropped: nothing may follow a close).
            let header = ctx.state(client).and_then(|c| c.ws_mut()).and_then(|ws| {
                ws.session
                    .encode_header(OpCode::Binary, true, data.len())
                    .ok()
            });
            let Some(header) = header else { return };
            let _ = ctx.write_vectored(client, &[header.as_bytes(), data]);
            self.metrics().messages_out.inc();
            if self.access.enabled() {
                if let Some(Conn::WsBridge(b)) = ctx.state(client) {
                    let slot = b.ws.keepalive;
                    self.access.count(slot, 0, 0, (1, data.len() as u64));
                }
            }
        } else {
            let _ = ctx.write(client, data);
        }
        self.metrics().bytes_out.add(data.len() as u64);
    }

    /// The idle timer of a bridge (on its backend connection) fired. Rather than being reset on
    /// every read, it compares the last activity with now and re-arms for the rest of the
    /// timeout; after a whole `tunnel_idle_timeout` without a byte either way, both sides
    /// close (a WebSocket client with 1001).
    pub(crate) fn tunnel_idle(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
    ) {
        let Conn::Backend(b) = conn else { return };
        let idle = self.shared.config.tunnel_idle_timeout;
        let quiet = self.since(ctx, b.last_active);
        if quiet < idle {
            ctx.set_timer(id, idle - quiet, tag::TUNNEL_IDLE);
            return;
        }
        let client = b.client;
        log::debug!("closing bridge {client} and backend {id}: idle timeout");
        self.metrics().tunnel_idle_closes.inc();
        ctx.close(id, Close::AfterFlush);
        self.end_client(app, ctx, client, 1001, "idle timeout");
    }

    /// The backend closed its sending side. A raw tunnel passes the half-close on (the client
    /// gets a FIN after the backend's last bytes and may go on sending); once both sides have
    /// sent EOF, or for a WebSocket client (close 1000), the tunnel ends after flushing.
    pub(crate) fn backend_eof(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
    ) {
        let Conn::Backend(b) = conn else { return };
        let client = b.client;
        if !b.websocket && !b.half_closed {
            b.half_closed = true;
            ctx.shutdown_write(client);
            return;
        }
        ctx.close(id, Close::AfterFlush);
        self.end_client(app, ctx, client, 1000, "backend closed");
    }

    /// The client of a raw tunnel closed its sending side: pass the half-close on to the
    /// backend, whose reply (often still to come: a request/response protocol answers after
    /// the request's EOF) keeps flowing to the client. If the backend had already sent its
    /// EOF, the tunnel ends after flushing both ways.
    pub(crate) fn raw_client_eof(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
    ) {
        let Conn::Raw(backend) = *conn else { return };
        let both_done = match ctx.state(backend) {
            Some(Conn::Backend(b)) if !b.half_closed => {
                b.half_closed = true;
                false
            }
            _ => true,
        };
        if both_done {
            ctx.close(backend, Close::AfterFlush);
            self.finish(app, ctx, id, conn);
        } else {
            ctx.shutdown_write(backend);
        }
    }

    /// The backend connection is gone (after its EOF, an error, a failed connect, or ours).
    pub(crate) fn backend_closed(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        b: Backend,
        reason: CloseReason,
    ) {
        if !b.connected {
            // Gone before its connect was reported (shutdown): a client still waiting for its
            // answer gets a 502. After a reported failure or a 504 the client is answered.
            let Some(state) = ctx.state(b.client) else {
                return;
            };
            if matches!(state, Conn::Connecting(p) if p.backend == id) {
                let mut conn = std::mem::replace(state, Conn::Done);
                self.metrics().bridge_connect_failures.inc();
                let why = "backend closed while connecting";
                self.reject(app, ctx, b.client, &mut conn, 502, &why, None);
            }
            return;
        }
        let (code, why) = match reason {
            CloseReason::Error(_) => (1011, "backend error"),
            _ => (1000, "backend closed"),
        };
        self.end_client(app, ctx, b.client, code, why);
    }

    /// Ends the client side of a bridge, with a close frame for a WebSocket client.
    fn end_client(&mut self, app: &A, ctx: &mut Cx<'_, A>, client: ConnId, code: u16, why: &str) {
        let Some(state) = ctx.state(client) else {
            return;
        };
        let mut conn = std::mem::replace(state, Conn::Done);
        match &mut conn {
            Conn::WsBridge(b) => self.close_ws(ctx, client, &mut b.ws, code, why),
            Conn::Raw(_) => {}
            _ => {
                // Already ending: leave it as it was.
                if let Some(state) = ctx.state(client) {
                    *state = conn;
                }
                return;
            }
        }
        self.finish(app, ctx, client, &mut conn);
    }
}
