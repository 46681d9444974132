//! Bridge routes: each client gets a fresh TCP connection to the backend on the same reactor
//! (netio's outbound connect), and bytes flow both ways: as binary WebSocket messages to a
//! WebSocket client (as websockify does), as they are to a raw `Upgrade: tcp` client.
//!
//! Backpressure is symmetric: when one side's outbound queue passes the cap, the other side is
//! no longer read (see `Reactor::on_pressure`), so a slow reader on either end bounds memory.

use std::io;
use std::net::SocketAddr;

use switchyard_netio::{Close, CloseReason, ConnId, Ctx};

use switchyard_frame::OpCode;

use crate::conn::{Backend, Conn};
use crate::reactor::Reactor;
use crate::routes::{App, RouteId};

impl Reactor {
    /// Opens the backend connection for client `client`; `None` if no address could be tried.
    pub(crate) fn connect_backend(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
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
            });
            match ctx.connect(addr, state) {
                Ok(backend) => return Some(backend),
                Err(e) => log::debug!("bridge connect to {addr}: {e}"),
            }
        }
        self.metrics().bridge_connect_failures.inc();
        None
    }

    /// After a `101` for `Upgrade: tcp`: tie the client to a backend and forward the bytes that
    /// came with the head.
    pub(crate) fn start_raw_tunnel(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Conn,
        route: RouteId,
        leftover: &[u8],
    ) {
        let App::Bridge { addrs, .. } = self.shared.config.routes.app(route).clone() else {
            // The tcp protocol only accepts bridge routes (see `TcpTunnel::check`).
            self.finish(ctx, id, conn);
            return;
        };
        match self.connect_backend(ctx, id, &addrs, false) {
            Some(backend) => {
                *conn = Conn::Raw(backend);
                if !leftover.is_empty() {
                    self.metrics().bytes_in.add(leftover.len() as u64);
                    let _ = ctx.write(backend, leftover);
                }
            }
            None => self.finish(ctx, id, conn),
        }
    }

    /// Bytes from a backend, for its client.
    pub(crate) fn backend_data(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        client: ConnId,
        websocket: bool,
        data: &[u8],
    ) {
        if websocket {
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
        } else {
            let _ = ctx.write(client, data);
        }
        self.metrics().bytes_out.add(data.len() as u64);
    }

    /// The backend's connect finished.
    pub(crate) fn backend_connected(
        &mut self,
        _ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Conn,
        result: io::Result<()>,
    ) {
        let Conn::Backend(b) = conn else { return };
        match result {
            Ok(()) => b.connected = true,
            Err(e) => log::debug!("bridge backend {id:?} for {:?}: {e}", b.client),
        }
    }

    /// The backend closed its sending side. A raw tunnel passes the half-close on (the client
    /// gets a FIN after the backend's last bytes and may go on sending); once both sides have
    /// sent EOF, or for a WebSocket client (close 1000), the tunnel ends after flushing.
    pub(crate) fn backend_eof(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: &mut Conn) {
        let Conn::Backend(b) = conn else { return };
        let client = b.client;
        if !b.websocket && !b.half_closed {
            b.half_closed = true;
            ctx.shutdown_write(client);
            return;
        }
        ctx.close(id, Close::AfterFlush);
        self.end_client(ctx, client, 1000, "backend closed");
    }

    /// The client of a raw tunnel closed its sending side: pass the half-close on to the
    /// backend, whose reply (often still to come: a request/response protocol answers after
    /// the request's EOF) keeps flowing to the client. If the backend had already sent its
    /// EOF, the tunnel ends after flushing both ways.
    pub(crate) fn raw_client_eof(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: &mut Conn) {
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
            self.finish(ctx, id, conn);
        } else {
            ctx.shutdown_write(backend);
        }
    }

    /// The backend connection is gone (after its EOF, an error, or a failed connect).
    pub(crate) fn backend_closed(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        _id: ConnId,
        b: Backend,
        reason: CloseReason,
    ) {
        let (code, why) = match reason {
            _ if !b.connected => {
                self.metrics().bridge_connect_failures.inc();
                // 1014 (Bad Gateway) is registered, but clients such as tungstenite 0.24
                // refuse it as reserved; 1011 is understood everywhere.
                (1011, "backend unreachable")
            }
            CloseReason::Error(_) => (1011, "backend error"),
            _ => (1000, "backend closed"),
        };
        self.end_client(ctx, b.client, code, why);
    }

    /// Ends the client side of a bridge, with a close frame for a WebSocket client.
    fn end_client(&mut self, ctx: &mut Ctx<'_, Self>, client: ConnId, code: u16, why: &str) {
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
        self.finish(ctx, client, &mut conn);
    }
}
