//! The HTTP phase of a connection: request heads (possibly pipelined, possibly split across
//! reads), the upgrade decision, plain HTTP answers.

use switchyard_handshake::{
    Body, Decision, Request, Status, Switched, UpgradeOffer, UpgradeProtocol, Verdict, EMPTY_HEADER,
};
use switchyard_netio::{ConnId, Ctx};

use crate::conn::Conn;
use crate::http::{self, PlainRequest};
use crate::reactor::Reactor;
use crate::routes::{App, RouteTable};

/// Header storage per parse; the handshake crate's default header count limit.
const MAX_HEADERS: usize = switchyard_handshake::DEFAULT_MAX_HEADERS;

/// The raw `tcp` upgrade protocol: accepted on bridge routes only, so that
/// `Upgrade: tcp, websocket` on a bridge route gets a plain byte pipe and elsewhere falls back to
/// WebSocket (or plain HTTP).
pub struct TcpTunnel {
    /// The route table, to tell bridge routes.
    pub routes: RouteTable,
}

impl UpgradeProtocol for TcpTunnel {
    fn token(&self) -> &str {
        "tcp"
    }

    fn check(
        &self,
        request: &Request<'_>,
        _offer: &UpgradeOffer<'_>,
        _response: &mut switchyard_handshake::ResponseHeaders,
    ) -> Verdict {
        match self.routes.lookup(request.path()).1 {
            App::Bridge { .. } => Verdict::Accept,
            _ => Verdict::Decline,
        }
    }
}

/// What to do after one request was handled.
enum Next {
    /// Parse the next pipelined request from `consumed` on.
    More(usize),
    /// Wait for more bytes; `usize` bytes from the start are already consumed.
    Partial(usize),
    /// The connection changed state (upgraded, rejected, closing): stop.
    Stop,
}

impl Reactor {
    /// Bytes for a connection in the HTTP phase.
    pub(crate) fn on_http_data(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Conn,
        data: &[u8],
    ) {
        let Conn::Http(h) = conn else { return };
        match h.partial.take() {
            None => {
                let mut pos = 0;
                loop {
                    match self.one_request(ctx, id, conn, &data[pos..]) {
                        Next::More(n) => pos += n,
                        Next::Partial(n) => {
                            pos += n;
                            if pos < data.len() {
                                if let Conn::Http(h) = conn {
                                    h.partial = Some(Box::new(data[pos..].to_vec()));
                                }
                            }
                            return;
                        }
                        Next::Stop => return,
                    }
                }
            }
            Some(mut buf) => {
                buf.extend_from_slice(data);
                let mut pos = 0;
                loop {
                    match self.one_request(ctx, id, conn, &buf[pos..]) {
                        Next::More(n) => pos += n,
                        Next::Partial(n) => {
                            pos += n;
                            if pos < buf.len() {
                                buf.drain(..pos);
                                if let Conn::Http(h) = conn {
                                    h.partial = Some(buf);
                                }
                            }
                            return;
                        }
                        Next::Stop => return,
                    }
                }
            }
        }
    }

    /// Handles the request at the start of `buf`, if complete.
    fn one_request(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Conn,
        buf: &[u8],
    ) -> Next {
        if buf.is_empty() {
            return Next::Partial(0);
        }
        let shared = self.shared.clone();
        let mut parser = shared.acceptor.parser();
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let mut out = std::mem::take(&mut self.hs_out);
        let decision = match shared
            .acceptor
            .accept(&mut parser, buf, &mut headers, &mut out)
        {
            Ok(Status::Partial) => {
                self.hs_out = out;
                return Next::Partial(0);
            }
            Ok(Status::Complete(d)) => d,
            Err(too_small) => {
                // Our 4 KiB response buffer only overflows with absurdly long negotiated fields.
                self.hs_out = out;
                self.reject(ctx, id, conn, 500, &too_small, None);
                return Next::Stop;
            }
        };
        let next = match decision {
            Decision::Reject(r) => {
                let (status, error, response) = (r.status, r.error, r.response);
                self.reject(ctx, id, conn, status, &error, Some(response));
                Next::Stop
            }
            Decision::NotUpgrade(request) => self.plain(ctx, id, conn, &request),
            Decision::Switch(switch) => {
                let route = shared.config.routes.lookup(switch.request.path()).0;
                let response = switch.response;
                let leftover = switch.leftover;
                let _ = ctx.write(id, response);
                if let Conn::Http(h) = conn {
                    ctx.cancel_timer(h.timer);
                }
                match switch.protocol {
                    Switched::WebSocket { extensions, .. } => {
                        self.metrics().upgrades_websocket.inc();
                        self.start_websocket(ctx, id, conn, route, extensions, leftover);
                    }
                    Switched::Registered { .. } => {
                        self.metrics().upgrades_tcp.inc();
                        self.start_raw_tunnel(ctx, id, conn, route, leftover);
                    }
                }
                Next::Stop
            }
        };
        self.hs_out = out;
        next
    }

    /// Answers a request that is not an upgrade.
    fn plain(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Conn,
        req: &Request<'_>,
    ) -> Next {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        let written = http::respond(
            &PlainRequest {
                method: req.method(),
                target: req.target(),
                keep_alive: req.keep_alive(),
                has_body: req.body() != Body::None,
            },
            &self.shared.metrics,
            &mut out,
        );
        let _ = ctx.write(id, &out);
        // A page or metrics response can be large; do not keep its capacity per reactor.
        if out.capacity() > 64 << 10 {
            out = Vec::new();
        }
        self.scratch = out;
        self.metrics().http_responses.inc(written.status);
        if !written.keep_alive {
            self.finish(ctx, id, conn);
            return Next::Stop;
        }
        if let Conn::Http(h) = conn {
            h.served = h.served.saturating_add(1);
            // The next head gets a fresh head timeout, which also bounds keep-alive idleness.
            ctx.cancel_timer(h.timer);
            h.timer = ctx.set_timer(
                id,
                self.shared.config.head_timeout,
                crate::reactor::tag::HEAD,
            );
        }
        Next::More(req.head_len())
    }
}
