//! The HTTP phase of a connection: request heads (possibly pipelined, possibly split across
//! reads), the upgrade decision, plain HTTP answers.

use switchyard_handshake::{
    write_rejection, Acceptor, Body, Decision, DeflateNegotiator, DeflateParams, HandshakeError,
    Header, InsufficientSize, Request, RequestParser, Status, Switched, UpgradeOffer,
    UpgradeProtocol, Verdict, EMPTY_HEADER,
};
use switchyard_netio::{ConnId, Ctx};

use crate::conn::{BridgeUpgrade, Conn};
use crate::http::{self, PlainRequest};
use crate::reactor::Reactor;
use crate::routes::{App, RouteId, RouteTable};

/// Header storage per parse; the handshake crate's default header count limit.
pub(crate) const MAX_HEADERS: usize = switchyard_handshake::DEFAULT_MAX_HEADERS;

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

impl PartialHead {
    /// Bytes kept so far.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }
}

/// What to do after one request was handled.
pub(crate) enum Next {
    /// Parse the next pipelined request from `consumed` on.
    More(usize),
    /// Wait for more bytes.
    Partial,
    /// The connection changed state (upgraded, rejected, closing): stop.
    Stop,
}

/// The parser-keeping loop of the HTTP phase: `data` is one read, `pending` what an earlier
/// read left unfinished. `one` handles the request at the start of its buffer (see
/// [`decide_head`]) with the parser that already scanned the bytes kept from earlier reads.
/// Returns what to keep for the next read: the unparsed rest with its parser, or `None` when
/// everything was consumed or `one` said [`Next::Stop`].
pub(crate) fn feed_head(
    mut pending: Option<Box<PartialHead>>,
    acceptor: &Acceptor<DeflateNegotiator>,
    data: &[u8],
    mut one: impl FnMut(&mut RequestParser, &[u8]) -> Next,
) -> Option<Box<PartialHead>> {
    let mut fresh = None;
    let (buf, parser) = match pending.as_deref_mut() {
        Some(head) => {
            head.bytes.extend_from_slice(data);
            (&head.bytes[..], &mut head.parser)
        }
        None => (data, fresh.insert(acceptor.parser())),
    };
    let mut pos = 0;
    loop {
        match one(parser, &buf[pos..]) {
            Next::More(n) => pos += n,
            Next::Stop => return None,
            Next::Partial => break,
        }
    }
    if pos == buf.len() {
        return None;
    }
    // Keep the unparsed rest with the parser that scanned it (the box is reused).
    Some(match pending {
        Some(mut head) => {
            head.bytes.drain(..pos);
            head
        }
        None => Box::new(PartialHead {
            bytes: data[pos..].to_vec(),
            parser: fresh.unwrap_or_else(|| acceptor.parser()),
        }),
    })
}

/// The answer to an upgrade on a path that no route serves (the fallback removed with `*=none`,
/// or a `none` route).
pub(crate) const NO_ROUTE: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\
    Content-Length: 10\r\nConnection: close\r\n\r\nnot found\n";

/// What a head is decided with: the route table, the acceptor of echo and broadcast routes and
/// the acceptor of bridge routes (the same plus `tcp`).
pub(crate) type Acceptors<'s> = (
    &'s RouteTable,
    &'s Acceptor<DeflateNegotiator>,
    &'s Acceptor<DeflateNegotiator>,
);

/// What [`decide_head`] made of the bytes at the start of a buffer.
pub(crate) enum Head<'a> {
    /// No complete head yet: wait for more bytes.
    Partial,
    /// The head broke a rule; `response` is the rejection the handshake crate wrote.
    Invalid {
        error: HandshakeError,
        response: &'a [u8],
    },
    /// The route (looked up once; `None`: no route serves the path) and its acceptor's
    /// decision.
    Decided(Option<RouteId>, Decision<'a, Option<DeflateParams>>),
    /// The response buffer was too small (only absurdly long negotiated fields): 500.
    TooSmall(InsufficientSize),
}

/// Parses the head at the start of `buf` with the connection's `parser`, finds its route once
/// and decides with the acceptor for that route (bridge routes also accept `tcp`); responses
/// are written into `out`.
pub(crate) fn decide_head<'a>(
    shared: Acceptors<'_>,
    parser: &mut RequestParser,
    buf: &'a [u8],
    headers: &'a mut [Header<'a>],
    out: &'a mut [u8],
) -> Head<'a> {
    let (routes, acceptor, bridge_acceptor) = shared;
    match parser.parse(buf, headers) {
        Ok(Status::Partial) => Head::Partial,
        Err(error) => match write_rejection(&error, out) {
            Ok(n) => Head::Invalid {
                error,
                response: &out[..n],
            },
            Err(too_small) => Head::TooSmall(too_small),
        },
        Ok(Status::Complete(request)) => {
            let route = routes.lookup(request.path());
            let acceptor = match route {
                Some((_, App::Bridge { .. })) => bridge_acceptor,
                _ => acceptor,
            };
            let route = route.map(|(id, _)| id);
            match acceptor.decide(request, out) {
                Ok(decision) => Head::Decided(route, decision),
                Err(too_small) => Head::TooSmall(too_small),
            }
        }
    }
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
        let pending = h.partial.take();
        let shared = self.shared.clone();
        let rest = feed_head(pending, &shared.acceptor, data, |parser, buf| {
            self.one_request(ctx, id, conn, parser, buf)
        });
        if let (Some(rest), Conn::Http(h)) = (rest, conn) {
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
        let mut out = std::mem::take(&mut self.hs_out);
        let scanned_before = parser.bytes_scanned();
        let acceptors = (
            &shared.config.routes,
            &shared.acceptor,
            &shared.bridge_acceptor,
        );
        let head = decide_head(acceptors, parser, buf, &mut headers, &mut out);
        let scanned = parser.bytes_scanned() - scanned_before;
        self.metrics().head_bytes_scanned.add(scanned);
        let (route, decision) = match head {
            Head::Partial => {
                self.hs_out = out;
                return Next::Partial;
            }
            Head::Invalid { error, response } => {
                self.reject(ctx, id, conn, error.status(), &error, Some(response));
                self.hs_out = out;
                return Next::Stop;
            }
            Head::TooSmall(too_small) => {
                // Our 4 KiB response buffer only overflows with absurdly long negotiated fields.
                self.hs_out = out;
                self.reject(ctx, id, conn, 500, &too_small, None);
                return Next::Stop;
            }
            Head::Decided(route, decision) => (route, decision),
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
                let Some(route) = route else {
                    self.reject(ctx, id, conn, 404, &"no route", Some(NO_ROUTE));
                    self.hs_out = out;
                    return Next::Stop;
                };
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
