//! One error variant per broken rule, each mapping to the HTTP status it produces (the
//! tungstenite rule: a log line names the rule that was broken).

use core::fmt;

/// A rule broken by a request head or an upgrade request. [`HandshakeError::status`] is the
/// status the server answers with; the answer always closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The head grew past [`Limits::max_head_bytes`](crate::Limits::max_head_bytes) before its
    /// blank line (431, RFC 6585 section 5).
    HeadTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// More header fields than the limit or the caller's storage allow (431, RFC 6585 section 5).
    TooManyHeaders {
        /// The effective limit: the smaller of the configured limit and the storage length.
        limit: usize,
    },
    /// The request line is not `method SP request-target SP HTTP-version` (400, RFC 9112 3).
    MalformedRequestLine,
    /// The request line names a well-formed HTTP version whose major version is not 1 (505,
    /// RFC 9110 15.6.6). A later 1.x minor version is read as 1.1 (RFC 9110 section 2.5).
    UnsupportedHttpVersion,
    /// A field line is not `field-name ":" OWS field-value OWS` (400, RFC 9112 section 5).
    MalformedHeader,
    /// A field line starts with whitespace: obsolete line folding, or whitespace between the
    /// request line and the first field (400, RFC 9112 sections 5.2 and 2.2).
    ObsoleteLineFolding,
    /// A CR not followed by LF (400, RFC 9112 section 2.2).
    BareCarriageReturn,
    /// A NUL byte in the head (400, RFC 9110 section 5.5).
    NulInHead,
    /// Whitespace between a field name and its colon (400, RFC 9112 section 5.1).
    WhitespaceBeforeColon,
    /// An HTTP/1.1 request without a Host field (400, RFC 9112 section 3.2).
    MissingHost,
    /// More than one Host field line (400, RFC 9112 section 3.2).
    DuplicateHost,
    /// A Host value that is not a valid `uri-host [":" port]` (400, RFC 9112 section 3.2).
    InvalidHost,
    /// A Content-Length that is not a decimal number, or several that differ (400, RFC 9112 6.3).
    InvalidContentLength,
    /// Both Transfer-Encoding and Content-Length (400, RFC 9112 section 6.3, request smuggling).
    ConflictingFraming,
    /// A Transfer-Encoding whose final coding is not `chunked`, or a coding the server does not
    /// implement (501, RFC 9112 section 6.1).
    UnsupportedTransferCoding,
    /// Transfer-Encoding on an HTTP/1.0 request (400, RFC 9112 section 6.1).
    TransferEncodingInHttp10,
    /// An upgrade request with an `Expect` other than `100-continue` (417, RFC 9110 10.1.1).
    UnsupportedExpectation,
    /// The Upgrade field is not a list of `protocol-name ["/" protocol-version]` (400, RFC 9110
    /// section 7.8).
    MalformedUpgrade,
    /// A WebSocket upgrade whose method is not GET (400, RFC 6455 section 4.2.1 item 1).
    WebSocketMethodNotGet,
    /// A WebSocket upgrade whose request target is neither origin-form nor absolute-form (400,
    /// RFC 6455 section 4.2.1 item 1).
    WebSocketInvalidTarget,
    /// A WebSocket upgrade carrying a body: the bytes after the head would be read as frames
    /// (400; see the crate docs, "Upgrade with a body").
    WebSocketWithBody,
    /// No Sec-WebSocket-Key (400, RFC 6455 section 4.2.1 item 5).
    MissingWebSocketKey,
    /// A Sec-WebSocket-Key that is not the base64 of exactly 16 bytes, or several keys (400, RFC
    /// 6455 section 4.2.1 item 5).
    InvalidWebSocketKey,
    /// No Sec-WebSocket-Version, or one other than 13 (426 carrying `Sec-WebSocket-Version: 13`,
    /// RFC 6455 section 4.2.2 item 4).
    UnsupportedWebSocketVersion,
    /// A Sec-WebSocket-Protocol element that is not a token (400, RFC 6455 section 4.1).
    MalformedSubprotocols,
    /// A Sec-WebSocket-Extensions value that breaks the grammar of RFC 6455 section 9.1 (400).
    MalformedExtensions,
    /// The extension negotiator failed the handshake (400, RFC 6455 section 9.1).
    ExtensionRejected,
    /// The Origin is not allowed by the server's origin policy (403, RFC 6455 section 4.2.2).
    OriginNotAllowed,
    /// A registered upgrade protocol's acceptance check rejected the request.
    ProtocolRejected {
        /// The status the protocol asked for.
        status: u16,
    },
}

impl HandshakeError {
    /// Every status [`status`](HandshakeError::status) returns, ascending, except that of
    /// [`ProtocolRejected`](HandshakeError::ProtocolRejected), which the registered protocol
    /// chooses. A server that counts its answers by status takes its list from here.
    pub const STATUSES: [u16; 7] = [400, 403, 417, 426, 431, 501, 505];

    /// The HTTP status code this error is answered with.
    pub fn status(&self) -> u16 {
        use HandshakeError::*;
        match self {
            HeadTooLarge { .. } | TooManyHeaders { .. } => 431,
            UnsupportedHttpVersion => 505,
            UnsupportedTransferCoding => 501,
            UnsupportedExpectation => 417,
            UnsupportedWebSocketVersion => 426,
            OriginNotAllowed => 403,
            ProtocolRejected { status } => *status,
            MalformedRequestLine
            | MalformedHeader
            | ObsoleteLineFolding
            | BareCarriageReturn
            | NulInHead
            | WhitespaceBeforeColon
            | MissingHost
            | DuplicateHost
            | InvalidHost
            | InvalidContentLength
            | ConflictingFraming
            | TransferEncodingInHttp10
            | MalformedUpgrade
            | WebSocketMethodNotGet
            | WebSocketInvalidTarget
            | WebSocketWithBody
            | MissingWebSocketKey
            | InvalidWebSocketKey
            | MalformedSubprotocols
            | MalformedExtensions
            | ExtensionRejected => 400,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HandshakeError::*;
        match self {
            HeadTooLarge { limit } => write!(f, "request head larger than {limit} bytes"),
            TooManyHeaders { limit } => write!(f, "more than {limit} header fields"),
            MalformedRequestLine => f.write_str("malformed request line"),
            UnsupportedHttpVersion => f.write_str("HTTP version not supported"),
            MalformedHeader => f.write_str("malformed header field"),
            ObsoleteLineFolding => f.write_str("field line starts with whitespace (obs-fold)"),
            BareCarriageReturn => f.write_str("CR not followed by LF"),
            NulInHead => f.write_str("NUL byte in request head"),
            WhitespaceBeforeColon => f.write_str("whitespace between field name and colon"),
            MissingHost => f.write_str("HTTP/1.1 request without Host"),
            DuplicateHost => f.write_str("more than one Host field"),
            InvalidHost => f.write_str("invalid Host value"),
            InvalidContentLength => f.write_str("invalid Content-Length"),
            ConflictingFraming => f.write_str("both Transfer-Encoding and Content-Length"),
            UnsupportedTransferCoding => f.write_str("unsupported transfer coding"),
            TransferEncodingInHttp10 => f.write_str("Transfer-Encoding in an HTTP/1.0 request"),
            UnsupportedExpectation => f.write_str("expectation other than 100-continue"),
            MalformedUpgrade => f.write_str("malformed Upgrade field"),
            WebSocketMethodNotGet => f.write_str("WebSocket upgrade must use GET"),
            WebSocketInvalidTarget => f.write_str("WebSocket upgrade with an invalid target"),
            WebSocketWithBody => f.write_str("WebSocket upgrade must not carry a body"),
            MissingWebSocketKey => f.write_str("missing Sec-WebSocket-Key"),
            InvalidWebSocketKey => {
                f.write_str("Sec-WebSocket-Key is not the base64 of exactly 16 bytes")
            }
            UnsupportedWebSocketVersion => f.write_str("Sec-WebSocket-Version must be 13"),
            MalformedSubprotocols => f.write_str("malformed Sec-WebSocket-Protocol"),
            MalformedExtensions => f.write_str("malformed Sec-WebSocket-Extensions"),
            ExtensionRejected => f.write_str("extension negotiation failed"),
            OriginNotAllowed => f.write_str("origin not allowed"),
            ProtocolRejected { status } => write!(f, "upgrade protocol rejected ({status})"),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// Why a client rejects the server's answer to its upgrade request (RFC 6455 section 4.1, the
/// client's "_Fail the WebSocket Connection_" cases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The response head grew past the limit before its blank line.
    HeadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// More header fields than the caller's storage holds.
    TooManyHeaders {
        /// The storage length.
        limit: usize,
    },
    /// The response head is not valid HTTP/1.1.
    MalformedResponse,
    /// The status is not 101; the server refused (or did not understand) the upgrade.
    UnexpectedStatus {
        /// The status the server sent.
        status: u16,
    },
    /// The Upgrade field is missing or is not `websocket`.
    InvalidUpgrade,
    /// The Connection field does not contain the `upgrade` token.
    InvalidConnection,
    /// Sec-WebSocket-Accept is missing, repeated, or not the value derived from our key.
    InvalidAccept,
    /// Sec-WebSocket-Protocol names a protocol we did not offer, several, or one while we
    /// offered none.
    UnofferedSubprotocol,
    /// Sec-WebSocket-Extensions is malformed, names an extension we did not offer, or names
    /// one twice.
    UnofferedExtension,
    /// A value given to build the request is not valid in its header (a subprotocol that is
    /// not a token, a header value with CR or LF, ...).
    InvalidRequestPart,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ClientError::*;
        match self {
            HeadTooLarge { limit } => write!(f, "response head larger than {limit} bytes"),
            TooManyHeaders { limit } => write!(f, "more than {limit} response header fields"),
            MalformedResponse => f.write_str("malformed response head"),
            UnexpectedStatus { status } => write!(f, "server answered {status} instead of 101"),
            InvalidUpgrade => f.write_str("response Upgrade is not websocket"),
            InvalidConnection => f.write_str("response Connection lacks the upgrade token"),
            InvalidAccept => f.write_str("wrong or missing Sec-WebSocket-Accept"),
            UnofferedSubprotocol => f.write_str("server chose a subprotocol we did not offer"),
            UnofferedExtension => f.write_str("server accepted an extension we did not offer"),
            InvalidRequestPart => f.write_str("invalid value for the upgrade request"),
        }
    }
}

impl std::error::Error for ClientError {}

#[cfg(test)]
mod tests {
    use super::HandshakeError::{self, *};

    /// Every variant, one value each.
    fn every_error() -> Vec<HandshakeError> {
        let all = vec![
            HeadTooLarge { limit: 1 },
            TooManyHeaders { limit: 1 },
            MalformedRequestLine,
            UnsupportedHttpVersion,
            MalformedHeader,
            ObsoleteLineFolding,
            BareCarriageReturn,
            NulInHead,
            WhitespaceBeforeColon,
            MissingHost,
            DuplicateHost,
            InvalidHost,
            InvalidContentLength,
            ConflictingFraming,
            UnsupportedTransferCoding,
            TransferEncodingInHttp10,
            UnsupportedExpectation,
            MalformedUpgrade,
            WebSocketMethodNotGet,
            WebSocketInvalidTarget,
            WebSocketWithBody,
            MissingWebSocketKey,
            InvalidWebSocketKey,
            UnsupportedWebSocketVersion,
            MalformedSubprotocols,
            MalformedExtensions,
            ExtensionRejected,
            OriginNotAllowed,
            ProtocolRejected { status: 409 },
        ];
        for error in &all {
            // No wildcard: a new variant stops the build here, to be added to the list above.
            match error {
                HeadTooLarge { .. }
                | TooManyHeaders { .. }
                | MalformedRequestLine
                | UnsupportedHttpVersion
                | MalformedHeader
                | ObsoleteLineFolding
                | BareCarriageReturn
                | NulInHead
                | WhitespaceBeforeColon
                | MissingHost
                | DuplicateHost
                | InvalidHost
                | InvalidContentLength
                | ConflictingFraming
                | UnsupportedTransferCoding
                | TransferEncodingInHttp10
                | UnsupportedExpectation
                | MalformedUpgrade
                | WebSocketMethodNotGet
                | WebSocketInvalidTarget
                | WebSocketWithBody
                | MissingWebSocketKey
                | InvalidWebSocketKey
                | UnsupportedWebSocketVersion
                | MalformedSubprotocols
                | MalformedExtensions
                | ExtensionRejected
                | OriginNotAllowed
                | ProtocolRejected { .. } => {}
            }
        }
        all
    }

    #[test]
    fn statuses_lists_exactly_the_statuses_of_the_variants() {
        let mut produced: Vec<u16> = every_error()
            .iter()
            .filter(|e| !matches!(e, ProtocolRejected { .. }))
            .map(HandshakeError::status)
            .collect();
        produced.sort_unstable();
        produced.dedup();
        assert_eq!(produced, HandshakeError::STATUSES);
        for status in HandshakeError::STATUSES {
            assert!(!crate::reason_phrase(status).is_empty(), "{status}");
        }
    }
}
