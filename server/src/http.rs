//! Plain HTTP on the WebSocket port: the built-in page, `/healthz`, `/metrics`, 404, and the
//! status responses that rejects are answered with (408, 500, 502, 503 and 504 here; the
//! handshake crate writes its own 400, 403, 417, 426, 431, 501 and 505). Every response is
//! written by the handshake crate's `PlainResponse`, with its one reason-phrase table.

use switchyard_handshake::{reason_phrase, InsufficientSize, PlainResponse};

use crate::metrics::Registry;

/// The built-in page (see `page.html`): it checks echo and broadcast from a real browser.
pub const PAGE: &str = include_str!("page.html");

/// What the plain HTTP layer needs to know about a request that is not an upgrade.
#[derive(Debug, Clone, Copy)]
pub struct PlainRequest<'a> {
    /// Request method.
    pub method: &'a str,
    /// Request target (path and query).
    pub target: &'a str,
    /// Whether the connection may be kept for another request (HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`).
    pub keep_alive: bool,
    /// Whether a body follows the head. This server reads no bodies, so it answers and closes
    /// instead of trying to skip one.
    pub has_body: bool,
    /// The path is a WebSocket endpoint of the app: a plain GET of it gets 426, not 404.
    pub websocket: bool,
}

/// Where the built-in plain endpoints are served on one listener (`None`: not there).
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// The demo page.
    pub page: Option<String>,
    /// `ok` for health checks.
    pub healthz: Option<String>,
    /// Prometheus metrics.
    pub metrics: Option<String>,
}

impl Endpoints {
    /// Every endpoint at its default path (`/`, `/healthz`, `/metrics`).
    #[cfg(test)]
    pub fn defaults() -> Self {
        Self {
            page: Some("/".to_owned()),
            healthz: Some("/healthz".to_owned()),
            metrics: Some("/metrics".to_owned()),
        }
    }

    /// Whether `path` is one of these endpoints (they win over a route: the publish API never
    /// takes a POST to one).
    pub(crate) fn serves(&self, path: &str) -> bool {
        self.find(path).is_some()
    }

    fn find(&self, path: &str) -> Option<Endpoint> {
        let is = |p: &Option<String>| p.as_deref() == Some(path);
        if is(&self.page) {
            Some(Endpoint::Page)
        } else if is(&self.healthz) {
            Some(Endpoint::Healthz)
        } else if is(&self.metrics) {
            Some(Endpoint::Metrics)
        } else {
            None
        }
    }
}

#[derive(Clone, Copy)]
enum Endpoint {
    Page,
    Healthz,
    Metrics,
}

/// A response written into a buffer, and whether the connection stays open after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// HTTP status written.
    pub status: u16,
    /// Keep the connection for another request.
    pub keep_alive: bool,
}

/// Answers a plain request into `out`: the endpoints, 426 on the app's WebSocket paths, else
/// 404 (405 for methods other than GET and HEAD on an endpoint).
pub fn respond(
    req: &PlainRequest<'_>,
    endpoints: &Endpoints,
    metrics: &Registry,
    out: &mut Vec<u8>,
) -> Written {
    let keep_alive = req.keep_alive && !req.has_body;
    let path = req.target.split_once('?').map_or(req.target, |(p, _)| p);
    let head_only = req.method == "HEAD";
    let endpoint = endpoints.find(path);
    if req.method != "GET" && !head_only {
        let status = if endpoint.is_some() { 405 } else { 404 };
        let body: &[u8] = if status == 405 {
            b"method not allowed\n"
        } else {
            b"not found\n"
        };
        let fields = [("Allow", &b"GET, HEAD"[..]), KEEP_ALIVE];
        let fields = if status == 405 {
            &fields[..]
        } else {
            &fields[1..]
        };
        let response = PlainResponse::new(status)
            .content_type(TEXT)
            .headers(connection_fields(fields, keep_alive))
            .body(body)
            .keep_alive(keep_alive);
        append(out, &response);
        return Written { status, keep_alive };
    }
    let metrics_text;
    let degraded;
    let (status, content_type, body): (u16, &str, &[u8]) = match endpoint {
        Some(Endpoint::Page) => (200, "text/html; charset=utf-8", PAGE.as_bytes()),
        // Still 200 when degraded: the node serves its own clients; the body tells a balancer
        // that checks it (documented in the cluster module and the README).
        Some(Endpoint::Healthz) => match metrics.degraded() {
            Some(why) => {
                degraded = format!("degraded: {why}\n");
                (200, TEXT, degraded.as_bytes())
            }
            None => (200, TEXT, b"ok\n"),
        },
        Some(Endpoint::Metrics) => {
            metrics_text = metrics.render();
            (
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                metrics_text.as_bytes(),
            )
        }
        // RFC 9110 section 15.5.22: 426 names the protocol to upgrade to.
        None if req.websocket => (426, TEXT, b"this is a WebSocket endpoint\n"),
        None => (404, TEXT, b"not found\n"),
    };
    // `Connection: Upgrade` goes with an Upgrade field (RFC 9110 section 7.8) on a kept
    // connection; a closing one says `close` instead (written by `PlainResponse`).
    let upgrade = [
        ("Upgrade", &b"websocket"[..]),
        ("Sec-WebSocket-Version", b"13"),
        ("Connection", b"Upgrade"),
    ];
    let upgrade = if keep_alive {
        &upgrade[..]
    } else {
        &upgrade[..2]
    };
    let fields = [("Cache-Control", &b"no-store"[..]), KEEP_ALIVE];
    let response = if status == 426 {
        PlainResponse::new(status).headers(upgrade)
    } else {
        PlainResponse::new(status).headers(connection_fields(&fields, keep_alive))
    };
    let response = response
        .content_type(content_type)
        .body(body)
        .keep_alive(keep_alive)
        .head_only(head_only);
    append(out, &response);
    Written { status, keep_alive }
}

/// An app's refusal of an upgrade ([`crate::app::Upgrade::Reject`]): its status, its text body
/// and `Connection: close`; a 401 says `WWW-Authenticate: Bearer` (RFC 9110 section 15.5.2
/// requires the field, and bearer tokens are what an upgrade hook checks: RFC 6750).
pub fn write_app_reject(out: &mut Vec<u8>, status: u16, body: &str) {
    let mut text = String::with_capacity(body.len() + 1);
    text.push_str(body);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let bearer: &[(&str, &[u8])] = if status == 401 {
        &[("WWW-Authenticate", b"Bearer")]
    } else {
        &[]
    };
    let response = PlainResponse::new(status)
        .content_type(TEXT)
        .headers(bearer)
        .body(text.as_bytes())
        .keep_alive(false);
    append(out, &response);
}

/// Content-Type of the text bodies.
const TEXT: &str = "text/plain; charset=utf-8";

/// Said on every response that keeps the connection: HTTP/1.1 needs it not, but an HTTP/1.0
/// client that asked for keep-alive closes unless the answer says so (RFC 9112 section 9.3 and
/// appendix C.2.2). `PlainResponse::keep_alive(false)` writes `Connection: close` itself.
const KEEP_ALIVE: (&str, &[u8]) = ("Connection", b"keep-alive");

/// `fields` ends in [`KEEP_ALIVE`]: all of them when the connection stays, else all but it.
fn connection_fields<'f>(
    fields: &'f [(&'f str, &'f [u8])],
    keep_alive: bool,
) -> &'f [(&'f str, &'f [u8])] {
    if keep_alive {
        fields
    } else {
        &fields[..fields.len() - 1]
    }
}

/// Appends `response` to `out`: the handshake crate's writer fills a caller-owned slice and, when
/// the slice is too small, says how big it must be; an empty slice asks just that.
fn append(out: &mut Vec<u8>, response: &PlainResponse<'_>) {
    let required = match response.write(&mut []) {
        Ok(n) => n,
        Err(InsufficientSize { required }) => required,
    };
    let start = out.len();
    out.resize(start + required, 0);
    let n = response
        .write(&mut out[start..])
        .expect("the buffer has the size the writer asked for");
    out.truncate(start + n);
}

/// The statuses [`respond`] answers plain requests with (the metrics count each of them).
pub const PLAIN_STATUSES: [u16; 4] = [200, 404, 405, 426];

/// The statuses this crate rejects with itself, through [`write_reject`]: 408 (head timeout),
/// 500 (a handshake response that did not fit its buffer), 502 (a bridge route's backend
/// refused or failed the connect), 503 (over `max_connections`), 504 (a bridge route's backend
/// did not accept within `backend_connect_timeout`). The handshake crate's rejections are
/// `HandshakeError::STATUSES`.
pub const REJECT_STATUSES: [u16; 5] = [408, 500, 502, 503, 504];

/// A reject answered by this crate (not by the handshake crate): a short body naming the
/// status, and `Connection: close`; a 503 asks to retry after a second.
pub fn write_reject(out: &mut Vec<u8>, status: u16) {
    debug_assert!(REJECT_STATUSES.contains(&status), "{status} not listed");
    let body = format!("{status} {}\n", reason_phrase(status));
    let retry: &[(&str, &[u8])] = if status == 503 {
        &[("Retry-After", b"1")]
    } else {
        &[]
    };
    let response = PlainResponse::new(status)
        .content_type(TEXT)
        .headers(retry)
        .body(body.as_bytes())
        .keep_alive(false);
    append(out, &response);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(target: &str) -> (Written, String) {
        let mut out = Vec::new();
        let w = respond(
            &PlainRequest {
                method: "GET",
                target,
                keep_alive: true,
                has_body: false,
                websocket: false,
            },
            &Endpoints::defaults(),
            &Registry::new(1),
            &mut out,
        );
        (w, String::from_utf8(out).unwrap())
    }

    #[test]
    fn root_serves_the_page_with_its_contract() {
        let (w, text) = get("/");
        assert_eq!(w.status, 200);
        assert!(w.keep_alive);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains(&format!("Content-Length: {}\r\n", PAGE.len())));
        for id in ["echo-result", "broadcast-result", "extensions"] {
            assert!(PAGE.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(PAGE.contains("\"/echo\"") && PAGE.contains("\"/broadcast\""));
    }

    #[test]
    fn healthz_metrics_and_404() {
        assert!(get("/healthz").1.ends_with("\r\n\r\nok\n"));
        let (w, text) = get("/metrics?x");
        assert_eq!(w.status, 200);
        assert!(text.contains("text/plain; version=0.0.4"));
        assert!(text.contains("switchyard_connections{core=\"0\"} 0"));
        let (w, text) = get("/nope");
        assert_eq!(w.status, 404);
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
    }

    #[test]
    fn head_has_no_body_and_post_is_refused() {
        let reg = Registry::new(1);
        let mut out = Vec::new();
        let req = PlainRequest {
            method: "HEAD",
            target: "/healthz",
            keep_alive: true,
            has_body: false,
            websocket: false,
        };
        respond(&req, &Endpoints::defaults(), &reg, &mut out);
        assert!(String::from_utf8_lossy(&out).ends_with("\r\n\r\n"));
        out.clear();
        let w = respond(
            &PlainRequest {
                method: "POST",
                has_body: true,
                ..req
            },
            &Endpoints::defaults(),
            &reg,
            &mut out,
        );
        assert_eq!(w.status, 405);
        assert!(!w.keep_alive, "a body we do not read ends the connection");
    }

    #[test]
    fn rejects_close_the_connection() {
        let mut out = Vec::new();
        write_reject(&mut out, 503);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.contains("Retry-After: 1\r\n"));
    }

    #[test]
    fn every_own_reject_has_a_reason_phrase_and_closes() {
        for status in REJECT_STATUSES {
            let mut out = b"earlier bytes stay".to_vec();
            write_reject(&mut out, status);
            let text = String::from_utf8(out).unwrap();
            let rest = text.strip_prefix("earlier bytes stay").unwrap();
            let line = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
            assert!(!reason_phrase(status).is_empty(), "{status}");
            assert!(rest.starts_with(&line), "{rest}");
            assert!(rest.contains("Connection: close\r\n"), "{rest}");
            assert!(rest.ends_with(&format!("\r\n\r\n{status} {}\n", reason_phrase(status))));
        }
    }

    #[test]
    fn kept_connections_say_keep_alive_and_405_says_allow() {
        let (_, text) = get("/healthz");
        assert!(text.contains("Connection: keep-alive\r\n"), "{text}");
        assert!(text.contains("Cache-Control: no-store\r\n"), "{text}");
        assert!(!text.contains("close"), "{text}");
        let mut out = Vec::new();
        let w = respond(
            &PlainRequest {
                method: "DELETE",
                target: "/metrics",
                keep_alive: true,
                has_body: false,
                websocket: false,
            },
            &Endpoints::defaults(),
            &Registry::new(1),
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!((w.status, w.keep_alive), (405, true));
        assert!(
            text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{text}"
        );
        assert!(text.contains("Allow: GET, HEAD\r\n"), "{text}");
        assert!(text.contains("Connection: keep-alive\r\n"), "{text}");
    }

    #[test]
    fn every_plain_status_is_reachable() {
        let reg = Registry::new(1);
        let mut seen = Vec::new();
        let cases = [
            ("GET", "/", false),
            ("GET", "/nope", false),
            ("POST", "/", false),
        ];
        for (method, target, websocket) in cases.into_iter().chain([("GET", "/ws", true)]) {
            let req = PlainRequest {
                method,
                target,
                keep_alive: true,
                has_body: false,
                websocket,
            };
            seen.push(respond(&req, &Endpoints::defaults(), &reg, &mut Vec::new()).status);
        }
        assert_eq!(seen, PLAIN_STATUSES);
    }
}

#[cfg(test)]
mod endpoint_tests {
    use super::*;

    fn answer(endpoints: &Endpoints, target: &str, websocket: bool) -> (u16, String) {
        let mut out = Vec::new();
        let req = PlainRequest {
            method: "GET",
            target,
            keep_alive: true,
            has_body: false,
            websocket,
        };
        let w = respond(&req, endpoints, &Registry::new(1), &mut out);
        (w.status, String::from_utf8(out).unwrap())
    }

    #[test]
    fn websocket_paths_get_426_with_upgrade() {
        let (status, text) = answer(&Endpoints::defaults(), "/chat", true);
        assert_eq!(status, 426);
        assert!(
            text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{text}"
        );
        assert!(text.contains("Upgrade: websocket\r\n"), "{text}");
        assert!(text.contains("Sec-WebSocket-Version: 13\r\n"), "{text}");
        assert_eq!(answer(&Endpoints::defaults(), "/chat", false).0, 404);
    }

    #[test]
    fn endpoints_move_and_turn_off() {
        let moved = Endpoints {
            page: None,
            healthz: Some("/live".to_owned()),
            metrics: None,
        };
        assert_eq!(answer(&moved, "/", false).0, 404);
        assert_eq!(answer(&moved, "/healthz", false).0, 404);
        assert_eq!(answer(&moved, "/metrics", false).0, 404);
        assert!(answer(&moved, "/live", false).1.ends_with("ok\n"));
        assert_eq!(answer(&Endpoints::default(), "/healthz", true).0, 426);
    }

    #[test]
    fn app_rejects_carry_their_body_and_close() {
        let mut out = Vec::new();
        write_app_reject(&mut out, 401, "token expired");
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{text}");
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.contains("WWW-Authenticate: Bearer\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\ntoken expired\n"));
    }
}
