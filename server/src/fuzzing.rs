//! A sans-IO entry point into the HTTP phase for fuzzing (feature `fuzzing`, hidden, not API).
//!
//! `HttpPhase` feeds reads through the reactor's own code: the parser-keeping loop
//! (`feed_head`: a head split across reads is kept with the parser that scanned it), the
//! route lookup and acceptor choice (`decide_head`) with acceptors built by the server's own
//! `acceptor` function from a `Config`, and the plain HTTP answers of `http.rs`. Only the
//! socket side is replaced: what would be written or done is recorded as an `Outcome`.

use std::io;

use switchyard_handshake::{RequestParser, Switched, EMPTY_HEADER};

use crate::app::App;
use crate::config::Config;
use crate::head::{decide_head, feed_head, Acceptors, Head, Next, PartialHead, MAX_HEADERS};
use crate::http::{self, PlainRequest};
use crate::metrics::Registry;
use crate::server::acceptor;
use switchyard_handshake::Body;

/// What the server did with one request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A parse error: the handshake crate's rejection (`response`), then close.
    Invalid {
        /// HTTP status.
        status: u16,
        /// The response bytes.
        response: Vec<u8>,
    },
    /// The acceptor refused the upgrade: its response, then close.
    Reject {
        /// HTTP status.
        status: u16,
        /// The response bytes.
        response: Vec<u8>,
    },
    /// A plain request answered by `http.rs`.
    Plain {
        /// HTTP status written.
        status: u16,
        /// Whether the connection stays for another request.
        keep_alive: bool,
        /// Response length.
        len: usize,
    },
    /// A switch (101): WebSocket or, on bridge routes only, `tcp`.
    Switch {
        /// The route looked up (`u16::MAX`: none, which the app answers with 404).
        route: u16,
        /// `tcp` rather than WebSocket.
        tcp: bool,
        /// The response bytes.
        response: Vec<u8>,
        /// Bytes behind the head in this read (the first frames or tunnel bytes).
        leftover: Vec<u8>,
    },
    /// 500: the response buffer was too small.
    TooSmall,
}

/// One connection's HTTP phase without a socket.
pub struct HttpPhase {
    config: Config,
    acceptor: switchyard_handshake::Acceptor<switchyard_handshake::DeflateNegotiator>,
    bridge_acceptor: switchyard_handshake::Acceptor<switchyard_handshake::DeflateNegotiator>,
    app: crate::apps::Builtin,
    metrics: Registry,
    pending: Option<Box<PartialHead>>,
    out: Box<[u8]>,
    outcomes: Vec<Outcome>,
    stopped: bool,
    scanned: u64,
    offered: u64,
}

impl HttpPhase {
    /// The HTTP phase as a server with `config` runs it (same acceptors, same routes).
    pub fn new(config: Config) -> io::Result<HttpPhase> {
        Ok(HttpPhase {
            acceptor: acceptor(&config, false)?,
            bridge_acceptor: acceptor(&config, true)?,
            app: crate::apps::Builtin::new(&config),
            config,
            metrics: Registry::new(1),
            pending: None,
            // The reactor's response buffer size (`Reactor::hs_out`).
            out: vec![0; 4096].into_boxed_slice(),
            outcomes: Vec::new(),
            stopped: false,
            scanned: 0,
            offered: 0,
        })
    }

    /// Back to a new connection's state, keeping the configuration and its acceptors (building
    /// them costs more than deciding a head, so a fuzz target reuses one phase per
    /// configuration).
    pub fn reset(&mut self) {
        self.pending = None;
        self.outcomes.clear();
        self.stopped = false;
        self.scanned = 0;
        self.offered = 0;
    }

    /// One read. Ignored once the connection left the HTTP phase (switched, rejected, closed).
    pub fn feed(&mut self, data: &[u8]) {
        if self.stopped {
            return;
        }
        self.offered += data.len() as u64;
        let pending = self.pending.take();
        let HttpPhase {
            config,
            ref acceptor,
            ref bridge_acceptor,
            ref app,
            metrics,
            out,
            outcomes,
            stopped,
            scanned,
            ..
        } = self;
        let one = |parser: &mut RequestParser, buf: &[u8]| {
            if buf.is_empty() {
                return Next::Partial;
            }
            let mut headers = [EMPTY_HEADER; MAX_HEADERS];
            let before = parser.bytes_scanned();
            let tunnels = |path: &str| app.tunnels(path);
            let acceptors = Acceptors {
                websocket: acceptor,
                tunnel: bridge_acceptor,
                tunnels: &tunnels,
            };
            let head = decide_head(&acceptors, parser, buf, &mut headers, out);
            *scanned += parser.bytes_scanned() - before;
            let (outcome, next) = match head {
                Head::Partial => return Next::Partial,
                Head::Invalid { error, response } => (
                    Outcome::Invalid {
                        status: error.status(),
                        response: response.to_vec(),
                    },
                    Next::Stop,
                ),
                Head::TooSmall(_) => (Outcome::TooSmall, Next::Stop),
                Head::Decided(decision) => match decision {
                    switchyard_handshake::Decision::Reject(r) => (
                        Outcome::Reject {
                            status: r.status,
                            response: r.response.to_vec(),
                        },
                        Next::Stop,
                    ),
                    switchyard_handshake::Decision::Switch(s) => (
                        Outcome::Switch {
                            route: config
                                .routes
                                .lookup(s.request.path())
                                .map_or(u16::MAX, |r| r.0),
                            tcp: matches!(s.protocol, Switched::Registered { .. }),
                            response: s.response.to_vec(),
                            leftover: s.leftover.to_vec(),
                        },
                        Next::Stop,
                    ),
                    switchyard_handshake::Decision::NotUpgrade(req) => {
                        // As `head.rs`'s `plain`: answer, then the next pipelined request or
                        // close.
                        let mut response = Vec::new();
                        let written = http::respond(
                            &PlainRequest {
                                method: req.method(),
                                target: req.target(),
                                keep_alive: req.keep_alive(),
                                has_body: req.body() != Body::None,
                                websocket: app.is_websocket_path(req.path()),
                            },
                            &crate::server::endpoints(config).0,
                            metrics,
                            &mut response,
                        );
                        let next = if written.keep_alive {
                            Next::More(req.head_len())
                        } else {
                            Next::Stop
                        };
                        let outcome = Outcome::Plain {
                            status: written.status,
                            keep_alive: written.keep_alive,
                            len: response.len(),
                        };
                        (outcome, next)
                    }
                },
            };
            if matches!(next, Next::Stop) {
                *stopped = true;
            }
            outcomes.push(outcome);
            next
        };
        let kept = feed_head(pending, acceptor, data, one);
        self.pending = kept;
    }

    /// What was decided so far, one entry per request head.
    pub fn outcomes(&self) -> &[Outcome] {
        &self.outcomes
    }

    /// Whether the connection left the HTTP phase.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Bytes the request parsers scanned, over every read (`RequestParser::bytes_scanned`).
    pub fn bytes_scanned(&self) -> u64 {
        self.scanned
    }

    /// Bytes fed while in the HTTP phase.
    pub fn bytes_offered(&self) -> u64 {
        self.offered
    }

    /// Bytes of an unfinished head kept for the next read.
    pub fn pending_bytes(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.len())
    }
}
