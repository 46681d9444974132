//! The HTTP phase of a connection: request heads (possibly pipelined, possibly split across
//! reads), the upgrade decision, plain HTTP answers.

use switchyard_handshake::{
    write_rejection, Acceptor, Body, Decision, DeflateNegotiator, HandshakeError, Header,
    InsufficientSize, Request, RequestParser, Status, Switched, UpgradeOffer, UpgradeProtocol,
    Verdict, EMPTY_HEADER,
};
use switchyard_netio::ConnId;

use crate::app::{App, Upgrade, UpgradeRequest};
use crate::conn::{BridgeUpgrade, Conn};
use crate::http::{self, PlainRequest};
use crate::reactor::{Core, Cx};

/// Header storage per parse; the handshake crate's default header count limit.
pub(crate) const MAX_HEADERS: usize = switchyard_handshake::DEFAULT_MAX_HEADERS;

/// The raw `tcp` upgrade protocol. Only the acceptor used on paths where the app tunnels
/// (`App::tunnels`) registers it, so that `Upgrade: tcp, websocket` there gets a plain byte
/// pipe and elsewhere falls back to WebSocket (or plain HTTP).
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

/// What a head is decided with: the acceptor, the acceptor of paths where the app tunnels
/// (the same plus `tcp`), and which paths those are.
pub(crate) struct Acceptors<'s> {
    /// WebSocket (and permessage-deflate when enabled).
    pub websocket: &'s Acceptor<DeflateNegotiator>,
    /// The same plus the raw `tcp` protocol.
    pub tunnel: &'s Acceptor<DeflateNegotiator>,
    /// Whether a path accepts `tcp` (the app's `tunnels`).
    pub tunnels: &'s dyn Fn(&str) -> bool,
}

/// What [`decide_head`] made of the bytes at the start of a buffer.
pub(crate) enum Head<'a> {
    /// No complete head yet: wait for more bytes.
    Partial,
    /// The head broke a rule; `response` is the rejection the handshake crate wrote.
    Invalid {
        error: HandshakeError,
        response: &'a [u8],
    },
    /// The acceptor's decision.
    Decided(Decision<'a, Option<switchyard_handshake::DeflateParams>>),
    /// The response buffer was too small (only absurdly long negotiated fields): 500.
    TooSmall(InsufficientSize),
}

/// Parses the head at the start of `buf` with the connection's `parser` and decides with the
/// acceptor for its path (paths where the app tunnels also accept `tcp`); responses are written
/// into `out`.
pub(crate) fn decide_head<'a>(
    acceptors: &Acceptors<'_>,
    parser: &mut RequestParser,
    buf: &'a [u8],
    headers: &'a mut [Header<'a>],
    out: &'a mut [u8],
) -> Head<'a> {
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
            // The app is asked about tunnels only when the client offers `tcp` at all (one
            // short scan of the Upgrade field; a route lookup otherwise).
            let offers_tcp = request
                .list("upgrade")
                .any(|p| p.len() >= 3 && p[..3].eq_ignore_ascii_case(b"tcp"));
            let acceptor = if offers_tcp && (acceptors.tunnels)(request.path()) {
                acceptors.tunnel
            } else {
                acceptors.websocket
            };
            match acceptor.decide(request, out) {
                Ok(decision) => Head::Decided(decision),
                Err(too_small) => Head::TooSmall(too_small),
            }
        }
    }
}

impl<A: App> Core<A> {
    /// After an answer on a kept-alive HTTP connection: count it and give the next head a fresh
    /// head timeout, which also bounds keep-alive idleness.
    pub(crate) fn answered_keep_alive(
        &mut self,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
    ) {
        if let Conn::Http(h) = conn {
            h.served = h.served.saturating_add(1);
            ctx.cancel_timer(h.timer);
            h.timer = ctx.set_timer(
                id,
                self.shared.config.head_timeout,
                crate::reactor::tag::HEAD,
            );
        }
    }

    /// Bytes for a connection in the HTTP phase.
    pub(crate) fn on_http_data(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        data: &[u8],
    ) {
        let Conn::Http(h) = conn else { return };
        let mut data = data;
        if h.body.is_some() {
            // A publish body is arriving: it takes what it needs; a pipelined request may
            // follow.
            match self.publish_body(app, ctx, id, conn, data) {
                Some(used) if used < data.len() => data = &data[used..],
                _ => return,
            }
        }
        let Conn::Http(h) = conn else { return };
        let pending = h.partial.take();
        let shared = self.shared.clone();
        let rest = feed_head(pending, &shared.acceptor, data, |parser, buf| {
            self.one_request(app, ctx, id, conn, parser, buf)
        });
        if let (Some(rest), Conn::Http(h)) = (rest, conn) {
            h.partial = Some(rest);
        }
    }

    /// Handles the request at the start of `buf`, if complete: parse, decide with the acceptor
    /// for its path, and for an upgrade ask the app.
    fn one_request(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
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
        let tunnels = |path: &str| app.tunnels(path);
        let acceptors = Acceptors {
            websocket: &shared.acceptor,
            tunnel: &shared.tunnel_acceptor,
            tunnels: &tunnels,
        };
        let head = decide_head(&acceptors, parser, buf, &mut headers, &mut out);
        let scanned = parser.bytes_scanned() - scanned_before;
        self.metrics().head_bytes_scanned.add(scanned);
        let decision = match head {
            Head::Partial => {
                self.hs_out = out;
                return Next::Partial;
            }
            Head::Invalid { error, response } => {
                self.reject(app, ctx, id, conn, error.status(), &error, Some(response));
                self.hs_out = out;
                return Next::Stop;
            }
            Head::TooSmall(too_small) => {
                // Our 4 KiB response buffer only overflows with absurdly long negotiated fields.
                self.hs_out = out;
                self.reject(app, ctx, id, conn, 500, &too_small, None);
                return Next::Stop;
            }
            Head::Decided(decision) => decision,
        };
        let admin = matches!(conn, Conn::Http(h) if h.admin);
        let next = match decision {
            Decision::Reject(r) => {
                let (status, error, response) = (r.status, r.error, r.response);
                self.reject(app, ctx, id, conn, status, &error, Some(response));
                Next::Stop
            }
            Decision::NotUpgrade(request) => self.plain(app, ctx, id, conn, &request),
            // The admin listener serves only its plain endpoints.
            Decision::Switch(switch) if admin => self.plain(app, ctx, id, conn, &switch.request),
            Decision::Switch(switch) => {
                if let Conn::Http(h) = conn {
                    ctx.cancel_timer(h.timer);
                }
                let (upgrade, subprotocol) = match switch.protocol {
                    Switched::WebSocket {
                        extensions,
                        subprotocol,
                    } => (BridgeUpgrade::WebSocket(extensions), subprotocol),
                    Switched::Registered { .. } => (BridgeUpgrade::Tcp, None),
                };
                let request = UpgradeRequest {
                    request: &switch.request,
                    peer: ctx.peer_addr(id),
                    tcp: matches!(upgrade, BridgeUpgrade::Tcp),
                    subprotocol,
                };
                match (app.upgrade(&request), upgrade) {
                    (Upgrade::Tunnel { backends }, _) => self.connect_bridge(
                        app,
                        ctx,
                        id,
                        conn,
                        &backends,
                        upgrade,
                        switch.request.path(),
                        switch.response,
                        switch.leftover,
                    ),
                    (Upgrade::Reject { status, body }, _) => {
                        let status = if (400..600).contains(&status) {
                            status
                        } else {
                            500
                        };
                        self.app_reject(app, ctx, id, conn, status, &body);
                    }
                    (Upgrade::Accept { state, subprotocol }, BridgeUpgrade::WebSocket(deflate)) => {
                        let chosen = chosen_subprotocol(&request, subprotocol);
                        match chosen {
                            Some(chosen) => {
                                let mut response = std::mem::take(&mut self.scratch);
                                with_subprotocol(switch.response, chosen, &mut response);
                                let _ = ctx.write(id, &response);
                                self.scratch = response;
                            }
                            None => {
                                let _ = ctx.write(id, switch.response);
                            }
                        }
                        self.metrics().upgrades_websocket.inc();
                        let leftover = switch.leftover;
                        let agreed = chosen.or(request.subprotocol());
                        self.start_websocket(
                            app, ctx, id, conn, state, deflate, &request, agreed, leftover,
                        );
                    }
                    // `tcp` is only ever tunnelled.
                    (Upgrade::Accept { .. }, BridgeUpgrade::Tcp) => {
                        log::warn!("the app accepted a raw tcp upgrade without a tunnel: 500");
                        self.reject(app, ctx, id, conn, 500, &"tcp accepted", None);
                    }
                }
                Next::Stop
            }
        };
        self.hs_out = out;
        next
    }

    /// The app refused an upgrade: its status and text body, then close.
    fn app_reject(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        status: u16,
        body: &str,
    ) {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        http::write_app_reject(&mut out, status, body);
        self.metrics().app_rejects.inc();
        self.reject(app, ctx, id, conn, status, &body, Some(&out));
        self.scratch = out;
    }

    /// Answers a request that is not an upgrade (or any request on the admin listener).
    fn plain(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        req: &Request<'_>,
    ) -> Next {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        let admin = matches!(conn, Conn::Http(h) if h.admin);
        if !admin && self.shared.config.publish_token.is_some() {
            if let Some(next) = self.publish_request(app, ctx, id, conn, req) {
                return next;
            }
        }
        let endpoints = if admin {
            &self.shared.admin_endpoints
        } else {
            &self.shared.endpoints
        };
        let written = http::respond(
            &PlainRequest {
                method: req.method(),
                target: req.target(),
                keep_alive: req.keep_alive(),
                has_body: req.body() != Body::None,
                websocket: !admin && app.is_websocket_path(req.path()),
            },
            endpoints,
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
            self.finish(app, ctx, id, conn);
            return Next::Stop;
        }
        self.answered_keep_alive(ctx, id, conn);
        Next::More(req.head_len())
    }
}

/// The subprotocol the app chose, if it may: one the client offered, when the configured list
/// chose none (a conflicting choice keeps the configured one, and is logged).
fn chosen_subprotocol<'r>(
    request: &UpgradeRequest<'r>,
    chosen: Option<&'r str>,
) -> Option<&'r str> {
    let chosen = chosen?;
    if let Some(configured) = request.subprotocol() {
        if configured != chosen {
            log::warn!("app chose subprotocol {chosen} over the configured {configured}: ignored");
        }
        return None;
    }
    if request.offered_subprotocols().any(|p| p == chosen) {
        Some(chosen)
    } else {
        log::warn!("app chose subprotocol {chosen}, which the client did not offer: ignored");
        None
    }
}

/// The 101 `response` with `Sec-WebSocket-Protocol: subprotocol` added (before the blank line
/// that ends it), into `out`.
fn with_subprotocol(response: &[u8], subprotocol: &str, out: &mut Vec<u8>) {
    out.clear();
    let end = response.len().saturating_sub(2);
    out.extend_from_slice(&response[..end]);
    out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
    out.extend_from_slice(subprotocol.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}
