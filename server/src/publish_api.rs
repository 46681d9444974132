//! The publish API for backends: `POST` to a broadcast route's path publishes the request's
//! body as one message to every subscriber of that path's topic, on every core and, with a
//! cluster engine, on every node. On only with a token (`--publish-token-file` or
//! `SWITCHYARD_PUBLISH_TOKEN`).
//!
//! ```text
//! POST /rooms/lobby HTTP/1.1
//! Authorization: Bearer TOKEN
//! Content-Type: text/plain          (text/*, application/json: a text message; else binary)
//! Content-Length: 5                 (or Transfer-Encoding: chunked)
//!
//! hello
//! ```
//!
//! Answers: `204` published; `401` (with `WWW-Authenticate: Bearer`, RFC 6750 section 3)
//! without a bearer token; `403` with a wrong one; `413` for a body over
//! `max_message_size`; `405` (with `Allow: GET, POST`) for a method other than `GET`, `HEAD`
//! (a `GET` is still a WebSocket endpoint's 426) and `POST` on a broadcast route; `404` for a
//! `POST` to a path that is not a broadcast route; `400` for a broken chunked body or a text
//! body that is not UTF-8; `408` when the body does not arrive within `head_timeout` of the
//! request's start. After `204` the connection is kept (keep-alive); after the others it is
//! closed, since the body may be unread. The token is compared in constant time
//! ([`crate::config::PublishToken::matches`]).

use switchyard_handshake::{Body, PlainResponse, Request};
use switchyard_netio::ConnId;

use crate::app::{App, Message as AppMessage};
use crate::chunked::{ChunkedDecoder, ChunkedError, Progress};
use crate::config::PublishToken;
use crate::conn::Conn;
use crate::head::Next;
use crate::reactor::{Core, Cx};
use crate::routes::{App as RouteApp, RouteTable};

/// A publish whose body is still arriving, kept in the HTTP connection's state.
pub(crate) struct PendingPublish {
    topic: Box<str>,
    text: bool,
    keep_alive: bool,
    body: Vec<u8>,
    framing: Framing,
}

enum Framing {
    /// Content-Length: this many bytes left.
    Length(usize),
    Chunked(ChunkedDecoder),
}

/// What the API makes of a plain request.
pub(crate) enum Verdict {
    /// Not a publish: answered as before (a `GET` of a broadcast route gets 426, a `POST`
    /// elsewhere 404 or 405).
    NotMine,
    /// Refused with this status and reason.
    Refuse(u16, &'static str),
    /// Accepted: read the body.
    Accept(Box<PendingPublish>),
}

/// Decides a plain request: sans-IO, from the head alone.
pub(crate) fn check(
    req: &Request<'_>,
    token: &PublishToken,
    routes: &RouteTable,
    max_message_size: usize,
) -> Verdict {
    let Some((id, RouteApp::Broadcast { .. })) = routes.lookup(req.target()) else {
        return Verdict::NotMine;
    };
    match req.method() {
        "GET" | "HEAD" => return Verdict::NotMine,
        "POST" => {}
        _ => return Verdict::Refuse(405, "a broadcast route takes GET (WebSocket) and POST"),
    }
    let bearer = req.header("authorization").and_then(|v| {
        let (scheme, rest) = v.split_at_checked(7)?;
        // RFC 6750 section 2.1: the scheme is case-insensitive.
        scheme
            .eq_ignore_ascii_case(b"bearer ")
            .then(|| rest.trim_ascii())
    });
    let Some(given) = bearer else {
        return Verdict::Refuse(401, "a bearer token is required");
    };
    if !token.matches(given) {
        return Verdict::Refuse(403, "wrong token");
    }
    let framing = match req.body() {
        Body::None => Framing::Length(0),
        Body::Length(n) => match usize::try_from(n) {
            Ok(n) if n <= max_message_size => Framing::Length(n),
            _ => return Verdict::Refuse(413, "body over the maximum message size"),
        },
        Body::Chunked => Framing::Chunked(ChunkedDecoder::new(max_message_size)),
    };
    let text = req.header("content-type").is_some_and(|t| {
        let t = t.trim_ascii();
        starts_with_ignore_case(t, b"text/") || starts_with_ignore_case(t, b"application/json")
    });
    let capacity = match framing {
        Framing::Length(n) => n,
        Framing::Chunked(_) => 0,
    };
    Verdict::Accept(Box::new(PendingPublish {
        topic: routes.topic(id, req.target()).into(),
        text,
        keep_alive: req.keep_alive(),
        body: Vec::with_capacity(capacity),
        framing,
    }))
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

impl PendingPublish {
    /// Takes body bytes from `data`: `Ok(Some(used))` once the body is complete after `used`
    /// bytes, `Ok(None)` when all was used and more is needed, or the status to refuse with.
    fn feed(&mut self, data: &[u8]) -> Result<Option<usize>, (u16, &'static str)> {
        match &mut self.framing {
            Framing::Length(left) => {
                let n = (*left).min(data.len());
                self.body.extend_from_slice(&data[..n]);
                *left -= n;
                Ok((*left == 0).then_some(n))
            }
            Framing::Chunked(decoder) => match decoder.decode(data, &mut self.body) {
                Ok(Progress::Complete(n)) => Ok(Some(n)),
                Ok(Progress::Partial) => Ok(None),
                Err(e) => Err((e.status(), chunked_reason(e))),
            },
        }
    }
}

fn chunked_reason(e: ChunkedError) -> &'static str {
    match e {
        ChunkedError::TooLarge => "body over the maximum message size",
        _ => "malformed chunked body",
    }
}

impl<A: App> Core<A> {
    /// A plain request on a main listener while the publish API is on: `Some` when the API
    /// answered it (or is reading its body), `None` when it is not the API's.
    pub(crate) fn publish_request(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        req: &Request<'_>,
    ) -> Option<Next> {
        let shared = std::sync::Arc::clone(&self.shared);
        let token = shared.config.publish_token.as_deref()?;
        if shared.endpoints.serves(req.path()) {
            return None;
        }
        let mut pending = match check(
            req,
            token,
            &shared.config.routes,
            shared.config.max_message_size,
        ) {
            Verdict::NotMine => return None,
            Verdict::Refuse(status, why) => {
                self.publish_refuse(app, ctx, id, conn, status, why);
                return Some(Next::Stop);
            }
            Verdict::Accept(p) => p,
        };
        if req.expects_continue() {
            let _ = ctx.write(id, b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let head_len = req.head_len();
        match pending.feed(req.leftover()) {
            Ok(Some(used)) => Some(match self.publish_done(app, ctx, id, conn, &pending) {
                true => Next::More(head_len + used),
                false => Next::Stop,
            }),
            Ok(None) => {
                if let Conn::Http(h) = conn {
                    h.body = Some(pending);
                }
                // Everything after the head was body: nothing more to parse now.
                Some(Next::Stop)
            }
            Err((status, why)) => {
                self.publish_refuse(app, ctx, id, conn, status, why);
                Some(Next::Stop)
            }
        }
    }

    /// Bytes for a connection reading a publish body. Returns how many bytes the body took
    /// when it completed and the connection goes on with its next request; `None` when it
    /// took all (more to come) or the connection is closing.
    pub(crate) fn publish_body(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        data: &[u8],
    ) -> Option<usize> {
        let Conn::Http(h) = conn else { return None };
        let mut pending = h.body.take()?;
        match pending.feed(data) {
            Ok(Some(used)) => self
                .publish_done(app, ctx, id, conn, &pending)
                .then_some(used),
            Ok(None) => {
                if let Conn::Http(h) = conn {
                    h.body = Some(pending);
                }
                None
            }
            Err((status, why)) => {
                self.publish_refuse(app, ctx, id, conn, status, why);
                None
            }
        }
    }

    /// A whole body: publish it, answer 204. Returns whether the connection is kept.
    fn publish_done(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        pending: &PendingPublish,
    ) -> bool {
        let message = if pending.text {
            match std::str::from_utf8(&pending.body) {
                Ok(s) => AppMessage::Text(s),
                Err(_) => {
                    self.publish_refuse(app, ctx, id, conn, 400, "text body is not UTF-8");
                    return false;
                }
            }
        } else {
            AppMessage::Binary(&pending.body)
        };
        self.publish(ctx, &pending.topic, message, None);
        self.metrics().publish_api.inc(204);
        let keep_alive = pending.keep_alive;
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        write_response(&mut out, 204, "", keep_alive);
        let _ = ctx.write(id, &out);
        self.scratch = out;
        if !keep_alive {
            self.finish(app, ctx, id, conn);
            return false;
        }
        self.answered_keep_alive(ctx, id, conn);
        true
    }

    /// Refuses a publish: the status with a text body, then close (the body may be unread).
    pub(crate) fn publish_refuse(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        status: u16,
        why: &str,
    ) {
        self.metrics().publish_api.inc(status);
        log::debug!("publish API: {status} to {id}: {why}");
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        write_response(&mut out, status, why, false);
        let _ = ctx.write(id, &out);
        self.scratch = out;
        if let Conn::Http(h) = conn {
            h.body = None;
        }
        self.finish(app, ctx, id, conn);
    }
}

/// A publish API response: 204 without a body, the others with `why` as text; 401 names the
/// scheme (RFC 9110 section 11.6.1, RFC 6750 section 3), 405 the methods (RFC 9110 section
/// 15.5.6).
pub(crate) fn write_response(out: &mut Vec<u8>, status: u16, why: &str, keep_alive: bool) {
    let fields: &[(&str, &[u8])] = match status {
        401 => &[("WWW-Authenticate", b"Bearer")],
        405 => &[("Allow", b"GET, POST")],
        _ => &[],
    };
    let keep: &[(&str, &[u8])] = &[("Connection", b"keep-alive")];
    let body = if why.is_empty() {
        String::new()
    } else {
        format!("{why}\n")
    };
    let mut response = PlainResponse::new(status)
        .headers(if status == 204 && keep_alive {
            keep
        } else {
            fields
        })
        .keep_alive(keep_alive);
    if !body.is_empty() {
        response = response
            .content_type("text/plain; charset=utf-8")
            .body(body.as_bytes());
    }
    let required = match response.write(&mut []) {
        Ok(n) => n,
        Err(e) => e.required,
    };
    let start = out.len();
    out.resize(start + required, 0);
    let n = response.write(&mut out[start..]).unwrap_or(0);
    out.truncate(start + n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_handshake::{RequestParser, Status, EMPTY_HEADER};

    fn verdict(head: &str, max: usize) -> Result<(String, bool), u16> {
        let mut routes = RouteTable::default_table();
        routes.insert_spec("/rooms/*=broadcast").unwrap();
        let token = PublishToken::new("s3cret");
        let mut parser = RequestParser::new(Default::default());
        let mut headers = [EMPTY_HEADER; 32];
        let Ok(Status::Complete(req)) = parser.parse(head.as_bytes(), &mut headers) else {
            panic!("bad test head");
        };
        match check(&req, &token, &routes, max) {
            Verdict::NotMine => Err(0),
            Verdict::Refuse(s, _) => Err(s),
            Verdict::Accept(p) => Ok((p.topic.to_string(), p.text)),
        }
    }

    #[test]
    fn statuses_from_the_head() {
        let auth = "Authorization: Bearer s3cret\r\n";
        let post = |path: &str, extra: &str| {
            format!("POST {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: 3\r\n\r\n")
        };
        assert_eq!(
            verdict(&post("/rooms/a", auth), 10),
            Ok(("/rooms/a".into(), false))
        );
        assert_eq!(
            verdict(
                &post(
                    "/rooms/a?x=1",
                    &format!("{auth}Content-Type: text/plain\r\n")
                ),
                10
            ),
            Ok(("/rooms/a".into(), true))
        );
        assert_eq!(verdict(&post("/rooms/a", ""), 10), Err(401));
        assert_eq!(
            verdict(&post("/rooms/a", "Authorization: Basic czNjcmV0\r\n"), 10),
            Err(401)
        );
        assert_eq!(
            verdict(&post("/rooms/a", "Authorization: Bearer s3cre\r\n"), 10),
            Err(403)
        );
        assert_eq!(
            verdict(&post("/rooms/a", "authorization: bearer s3cret\r\n"), 10).map(|_| ()),
            Ok(())
        );
        assert_eq!(verdict(&post("/rooms/a", auth), 2), Err(413));
        assert_eq!(
            verdict(&post("/echo", auth), 10),
            Err(0),
            "not a broadcast route"
        );
        let put = format!("PUT /rooms/a HTTP/1.1\r\nHost: x\r\n{auth}\r\n");
        assert_eq!(verdict(&put, 10), Err(405));
        let get = "GET /rooms/a HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(
            verdict(get, 10),
            Err(0),
            "GET stays the WebSocket endpoint's"
        );
    }

    #[test]
    fn tokens_compare_whole() {
        let t = PublishToken::new("abc");
        assert!(t.matches(b"abc"));
        for wrong in [&b""[..], b"ab", b"abd", b"abcd", b"xbc"] {
            assert!(!t.matches(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn responses_carry_the_fields_their_status_needs() {
        let mut out = Vec::new();
        write_response(&mut out, 401, "no", false);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("HTTP/1.1 401 "), "{text}");
        assert!(text.contains("WWW-Authenticate: Bearer\r\n"), "{text}");
        out.clear();
        write_response(&mut out, 405, "no", false);
        assert!(String::from_utf8_lossy(&out).contains("Allow: GET, POST\r\n"));
        out.clear();
        write_response(&mut out, 204, "", true);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 204 "), "{text}");
        assert!(!text.contains("Content-Length: 0") || text.contains("204"));
    }
}
