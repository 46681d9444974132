//! Where the load goes: `ws://host:port/path` and `wss://` URLs, beside `--addr` and `--path`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The server's default listen address (`switchyard --listen`, default 127.0.0.1:8080): the
/// generator's default target.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// A parsed `ws://` or `wss://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `wss://`: the connection speaks TLS.
    pub tls: bool,
    /// The server address (the host must be a literal loopback IP: load stays on this machine).
    pub addr: SocketAddr,
    /// The host as written (the Host header; `[::1]` keeps its brackets).
    pub host: String,
    /// The request target: path and query, `/` when the URL has none.
    pub path: String,
}

/// A URL `switchyard-load` cannot use, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// Not `ws://` or `wss://`.
    Scheme,
    /// No host, or a host that is not an IP literal (names are not resolved).
    Host,
    /// A port that is not a number from 1 to 65535.
    Port,
    /// A fragment (`#...`): not part of a WebSocket URL (RFC 6455 section 3).
    Fragment,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::Scheme => "a target URL starts with ws:// or wss://",
            UrlError::Host => "the URL's host must be an IP address (127.0.0.1, [::1])",
            UrlError::Port => "the URL's port must be a number from 1 to 65535",
            UrlError::Fragment => "a WebSocket URL has no fragment (RFC 6455 section 3)",
        })
    }
}

impl std::error::Error for UrlError {}

/// Parses `ws://host[:port][/path][?query]` (port 80 by default) or `wss://...` (443).
pub fn parse_url(url: &str) -> Result<Target, UrlError> {
    let (tls, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "ws://") {
        (false, rest)
    } else if let Some(rest) = strip_prefix_ignore_case(url, "wss://") {
        (true, rest)
    } else {
        return Err(UrlError::Scheme);
    };
    if rest.contains('#') {
        return Err(UrlError::Fragment);
    }
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    let default_port = if tls { 443 } else { 80 };
    let (host, ip, port) = if let Some(inner) = authority.strip_prefix('[') {
        let end = inner.find(']').ok_or(UrlError::Host)?;
        let ip: IpAddr = inner[..end].parse().map_err(|_| UrlError::Host)?;
        let port = match &inner[end + 1..] {
            "" => default_port,
            p => parse_port(p.strip_prefix(':').ok_or(UrlError::Port)?)?,
        };
        (format!("[{}]", &inner[..end]), ip, port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, parse_port(port)?),
            None => (authority, default_port),
        };
        let ip: IpAddr = host.parse().map_err(|_| UrlError::Host)?;
        (host.to_owned(), ip, port)
    };
    Ok(Target {
        tls,
        addr: SocketAddr::new(ip, port),
        host,
        path,
    })
}

fn parse_port(port: &str) -> Result<u16, UrlError> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(UrlError::Port),
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(tls: bool, addr: &str, host: &str, path: &str) -> Target {
        Target {
            tls,
            addr: addr.parse().unwrap(),
            host: host.into(),
            path: path.into(),
        }
    }

    #[test]
    fn ws_urls_with_and_without_port_and_path() {
        assert_eq!(
            parse_url("ws://127.0.0.1:8080/broadcast"),
            Ok(target(false, "127.0.0.1:8080", "127.0.0.1", "/broadcast"))
        );
        assert_eq!(
            parse_url("ws://127.0.0.1:9001"),
            Ok(target(false, "127.0.0.1:9001", "127.0.0.1", "/"))
        );
        assert_eq!(
            parse_url("ws://127.0.0.2"),
            Ok(target(false, "127.0.0.2:80", "127.0.0.2", "/"))
        );
        assert_eq!(
            parse_url("ws://127.0.0.1:8080?room=1"),
            Ok(target(false, "127.0.0.1:8080", "127.0.0.1", "/?room=1"))
        );
        assert_eq!(
            parse_url("WS://127.0.0.1:8080/a/b?x=1&y=2"),
            Ok(target(false, "127.0.0.1:8080", "127.0.0.1", "/a/b?x=1&y=2"))
        );
    }

    #[test]
    fn wss_implies_tls_and_port_443() {
        assert_eq!(
            parse_url("wss://127.0.0.1/chat"),
            Ok(target(true, "127.0.0.1:443", "127.0.0.1", "/chat"))
        );
        assert_eq!(
            parse_url("wss://127.0.0.1:8443/"),
            Ok(target(true, "127.0.0.1:8443", "127.0.0.1", "/"))
        );
    }

    #[test]
    fn ipv6_literals_keep_their_brackets_in_the_host() {
        assert_eq!(
            parse_url("ws://[::1]:8080/x"),
            Ok(target(false, "[::1]:8080", "[::1]", "/x"))
        );
        assert_eq!(
            parse_url("ws://[::1]"),
            Ok(target(false, "[::1]:80", "[::1]", "/"))
        );
    }

    #[test]
    fn bad_urls_say_why() {
        assert_eq!(parse_url("http://127.0.0.1:8080/"), Err(UrlError::Scheme));
        assert_eq!(parse_url("127.0.0.1:8080"), Err(UrlError::Scheme));
        assert_eq!(parse_url("ws://localhost:8080/"), Err(UrlError::Host));
        assert_eq!(parse_url("ws://:8080/"), Err(UrlError::Host));
        assert_eq!(parse_url("ws://127.0.0.1:0/"), Err(UrlError::Port));
        assert_eq!(parse_url("ws://127.0.0.1:99999/"), Err(UrlError::Port));
        assert_eq!(parse_url("ws://127.0.0.1:+80/"), Err(UrlError::Port));
        assert_eq!(parse_url("ws://127.0.0.1:/"), Err(UrlError::Port));
        assert_eq!(parse_url("ws://[::1/"), Err(UrlError::Host));
        assert_eq!(parse_url("ws://127.0.0.1/#x"), Err(UrlError::Fragment));
    }

    #[test]
    fn the_default_address_is_the_servers() {
        assert_eq!(DEFAULT_ADDR.parse::<SocketAddr>().unwrap().port(), 8080);
    }
}
