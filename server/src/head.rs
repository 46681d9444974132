//! The HTTP phase of a connection: request heads (possibly pipelined, possibly split across
//! reads), the upgrade decision, plain HTTP answers.

use switchyard_handshake::{
    write_rejection, Body, Decision, Request, RequestParser, Status, Switched, UpgradeOffer,
    UpgradeProtocol, Verdict, EMPTY_HEADER,
};
use switchyard_netio::{ConnId, Ctx};

use crate::conn::{BridgeUpgrade, Conn};
use crate::http::{self, PlainRequest};
use crate::reactor::Reactor;
use crate::routes::App;

/// Header storage per parse; the handshake crate's default header count limit.
const MAX_HEADERS: usize = switchyard_handshake::DEFAULT_MAX_HEADERS;

/// The raw `tcp` upgrade protocol. Only the acceptor used for bridge routes registers it, so
/// that `Upgrade: tcp, websocket` on a bridge route gets a plain byte pipe and elsewhere falls
/// back to WebSocket (or plain HTTP); the route is looked up once, before the decision.
pub struct TcpTunnel;

impl UpgradeProtocol for TcpTunnel {
    fn token(&self) -> &str {
        "tcp"
    }

    fn check(
        &self,
        _request: &Request<'_>,
        _offer: &UpgradeOffer<'_>,
        _response: &mut switchyard_handshake::ResponseHeaders,
    ) -> Verdict {
        Verdict::Accept
    }
}

/// A request head that did not arrive in one read: its bytes so far and the parser that has
/// already scanned them, so that each read costs only its own bytes (a client sending one byte
/// at a time must not make the server re-scan the head on every read).
pub struct PartialHead {
    bytes: Vec<u8>,
    parser: RequestParser,
}

/// What to do after one request was handled.
enum Next {
    /// Parse the next pipelined request from `consumed` on.
    More(usize),
    /// Wait for more bytes.
    Partial,
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
        let mut pending = h.partial.take();
        let mut fresh = None;
        let (buf, parser) = match pending.as_deref_mut() {
            Some(head) => {
                head.bytes.extend_from_slice(data);
                (&head.bytes[..], &mut head.parser)
            }
            None => (data, fresh.insert(self.shared.acceptor.parser())),
        };
        let mut pos = 0;
        loop {
            match self.one_request(ctx, id, conn, parser, &buf[pos..]) {
                Next::More(n) => pos += n,
                Next::Stop => return,
                Next::Partial => break,
            }
        }
        if pos == buf.len() {
            return;
        }
        // Keep the unparsed rest with the parser that scanned it (the box is reused).
        let rest = match pending {
            Some(mut head) => {
                head.bytes.drain(..pos);
                head
            }
            None => Box::new(PartialHead {
                bytes: data[pos..].to_vec(),
                parser: fresh.unwrap_or_else(|| self.shared.acceptor.parser()),
            }),
        };
        if let Conn::Http(h) = conn {
            h.partial = Some(rest);
        }
    }

    /// Handles the request at the start of `buf`, if complete: parse, find the route (once),
    /// decide with the acceptor for that route.
    fn one_request(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Conn,
        parser: &mut RequestParser,
        buf: &[u8],
    ) -> Next {
        if buf.is_empty() {
            return Next::Partial;
        }
        let shared = self.shared.clone();
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let scanned_before = parser.bytes_scanned();
        let parsed = parser.parse(buf, &mut headers);
        let scanned = parser.bytes_scanned() - scanned_before;
        self.metrics().head_bytes_scanned.add(scanned);
        let mut out = std::mem::take(&mut self.hs_out);
        let decision = match parsed {
            Ok(Status::Partial) => {
                self.hs_out = out;
                return Next::Partial;
            }
            Err(error) => match write_rejection(&error, &mut out) {
                Ok(n) => {
                    self.reject(ctx, id, conn, error.status(), &error, Some(&out[..n]));
                    self.hs_out = out;
                    return Next::Stop;
                }
                Err(too_small) => Err(too_small),
            },
            Ok(Status::Complete(request)) => {
                let (route, app) = shared.config.routes.lookup(request.path());
                let acceptor = match app {
                    App::Bridge { .. } => &shared.bridge_acceptor,
                    _ => &shared.acceptor,
                };
                acceptor.decide(request, &mut out).map(|d| (route, d))
            }
        };
        let (route, decision) = match decision {
            Ok(decided) => decided,
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
                if let Conn::Http(h) = conn {
                    ctx.cancel_timer(h.timer);
                }
                let upgrade = match switch.protocol {
                    Switched::WebSocket { extensions, .. } => BridgeUpgrade::WebSocket(extensions),
                    Switched::Registered { .. } => BridgeUpgrade::Tcp,
                };
                match (upgrade, shared.config.routes.app(route)) {
                    // The 101 waits for the backend's connect (see `bridge.rs`).
                    (_, App::Bridge { .. }) => self.connect_bridge(
                        ctx,
                        id,
                        conn,
                        route,
                        upgrade,
                        switch.response,
                        switch.leftover,
                    ),
                    (BridgeUpgrade::WebSocket(extensions), _) => {
                        let _ = ctx.write(id, switch.response);
                        self.metrics().upgrades_websocket.inc();
                        let leftover = switch.leftover;
                        self.start_websocket(ctx, id, conn, route, extensions, None, leftover);
                    }
                    // Only the bridge acceptor registers the tcp protocol (see `TcpTunnel`).
                    (BridgeUpgrade::Tcp, _) => self.finish(ctx, id, conn),
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
