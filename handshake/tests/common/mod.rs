//! Helpers shared by the integration tests: drive an acceptor over raw bytes and keep an owned
//! summary of the decision, so tests can compare outcomes without borrowing buffers.

#![allow(dead_code)]

use switchyard_handshake::*;

/// An owned summary of a [`Decision`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Switch {
        /// `websocket` or the registered offer's text.
        protocol: String,
        subprotocol: Option<String>,
        response: String,
        leftover: Vec<u8>,
    },
    Reject {
        error: HandshakeError,
        status: u16,
        response: String,
    },
    Plain {
        method: String,
        path: String,
        keep_alive: bool,
        body: Body,
        head_len: usize,
        leftover: Vec<u8>,
    },
}

impl Outcome {
    pub fn status(&self) -> u16 {
        match self {
            Outcome::Switch { .. } => 101,
            Outcome::Reject { status, .. } => *status,
            Outcome::Plain { .. } => 0,
        }
    }

    pub fn response(&self) -> &str {
        match self {
            Outcome::Switch { response, .. } | Outcome::Reject { response, .. } => response,
            Outcome::Plain { .. } => "",
        }
    }

    pub fn error(&self) -> Option<HandshakeError> {
        match self {
            Outcome::Reject { error, .. } => Some(*error),
            _ => None,
        }
    }

    pub fn is_plain(&self) -> bool {
        matches!(self, Outcome::Plain { .. })
    }
}

pub fn summarize<A>(decision: Decision<'_, A>) -> Outcome {
    match decision {
        Decision::Switch(switch) => {
            let (protocol, subprotocol) = match switch.protocol {
                Switched::WebSocket { subprotocol, .. } => {
                    ("websocket".to_string(), subprotocol.map(str::to_string))
                }
                Switched::Registered { offer, .. } => (offer.text.to_string(), None),
            };
            Outcome::Switch {
                protocol,
                subprotocol,
                response: String::from_utf8(switch.response.to_vec()).unwrap(),
                leftover: switch.leftover.to_vec(),
            }
        }
        Decision::Reject(reject) => Outcome::Reject {
            error: reject.error,
            status: reject.status,
            response: String::from_utf8(reject.response.to_vec()).unwrap(),
        },
        Decision::NotUpgrade(request) => Outcome::Plain {
            method: request.method().to_string(),
            path: request.path().to_string(),
            keep_alive: request.keep_alive(),
            body: request.body(),
            head_len: request.head_len(),
            leftover: request.leftover().to_vec(),
        },
    }
}

/// Feeds all of `raw` at once; panics if the head is incomplete.
pub fn run<N: ExtensionNegotiator>(acceptor: &Acceptor<N>, raw: &[u8]) -> Outcome {
    let mut parser = acceptor.parser();
    let mut headers = [EMPTY_HEADER; DEFAULT_MAX_HEADERS];
    let mut out = [0u8; 4096];
    match acceptor
        .accept(&mut parser, raw, &mut headers, &mut out)
        .unwrap()
    {
        Status::Partial => panic!("incomplete head: {:?}", String::from_utf8_lossy(raw)),
        Status::Complete(decision) => summarize(decision),
    }
}

/// Feeds `raw` in pieces of `step` bytes, growing the buffer like a server does.
pub fn run_in_steps<N: ExtensionNegotiator>(
    acceptor: &Acceptor<N>,
    raw: &[u8],
    step: usize,
) -> Outcome {
    let mut parser = acceptor.parser();
    let mut out = [0u8; 4096];
    let mut end = 0;
    loop {
        end = (end + step).min(raw.len());
        let mut headers = [EMPTY_HEADER; DEFAULT_MAX_HEADERS];
        match acceptor
            .accept(&mut parser, &raw[..end], &mut headers, &mut out)
            .unwrap()
        {
            Status::Partial => assert!(end < raw.len(), "incomplete head"),
            Status::Complete(decision) => return summarize(decision),
        }
    }
}

/// RFC 6455 section 1.2's client handshake, with section 1.3's key.
pub const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// A Chromium upgrade request with its full header set (about 500 bytes).
pub const CHROMIUM_REQUEST: &str = "GET /chat HTTP/1.1\r\n\
Host: 127.0.0.1:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://127.0.0.1:8080\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: 8VpXgk3jqZ0bYvTQW1nN3g==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

/// A minimal valid WebSocket upgrade with `extra` field lines inserted before the blank line.
pub fn ws_request(extra: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}
