//! Plain HTTP on the WebSocket port: the built-in page, `/healthz`, `/metrics`, 404, and the
//! status responses that rejects are answered with (408 and 503 here; the handshake crate
//! writes its own 400, 403, 426 and 431).

use std::io::Write as _;

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
}

/// A response written into a buffer, and whether the connection stays open after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// HTTP status written.
    pub status: u16,
    /// Keep the connection for another request.
    pub keep_alive: bool,
}

/// Answers a plain request into `out`.
pub fn respond(req: &PlainRequest<'_>, metrics: &Registry, out: &mut Vec<u8>) -> Written {
    let keep_alive = req.keep_alive && !req.has_body;
    let path = req.target.split_once('?').map_or(req.target, |(p, _)| p);
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        let status = match path {
            "/" | "/healthz" | "/metrics" => 405,
            _ => 404,
        };
        write_response(
            out,
            status,
            "text/plain; charset=utf-8",
            if status == 405 {
                "method not allowed\n"
            } else {
                "not found\n"
            }
            .as_bytes(),
            &[("Allow", "GET, HEAD")],
            keep_alive,
            false,
        );
        return Written { status, keep_alive };
    }
    let metrics_text;
    let (status, content_type, body): (u16, &str, &[u8]) = match path {
        "/" => (200, "text/html; charset=utf-8", PAGE.as_bytes()),
        "/healthz" => (200, "text/plain; charset=utf-8", b"ok\n"),
        "/metrics" => {
            metrics_text = metrics.render();
            (
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                metrics_text.as_bytes(),
            )
        }
        _ => (404, "text/plain; charset=utf-8", b"not found\n"),
    };
    write_response(
        out,
        status,
        content_type,
        body,
        &[("Cache-Control", "no-store")],
        keep_alive,
        head_only,
    );
    Written { status, keep_alive }
}

/// The reason phrase of the statuses this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Writes a response with a fixed-length body.
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    body: &[u8],
    extra: &[(&str, &str)],
    keep_alive: bool,
    head_only: bool,
) {
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        reason(status),
        body.len()
    );
    for (k, v) in extra {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    out.extend_from_slice(if keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// A reject answered by this crate (not by the handshake crate): a short body naming the
/// status, and `Connection: close`.
pub fn write_reject(out: &mut Vec<u8>, status: u16) {
    let body = format!("{status} {}\n", reason(status));
    let extra: &[(&str, &str)] = if status == 503 {
        &[("Retry-After", "1")]
    } else {
        &[]
    };
    write_response(
        out,
        status,
        "text/plain; charset=utf-8",
        body.as_bytes(),
        extra,
        false,
        false,
    );
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
            },
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
        };
        respond(&req, &reg, &mut out);
        assert!(String::from_utf8_lossy(&out).ends_with("\r\n\r\n"));
        out.clear();
        let w = respond(
            &PlainRequest {
                method: "POST",
                has_body: true,
                ..req
            },
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
}
