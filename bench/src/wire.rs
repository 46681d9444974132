//! The client side of the opening handshake as the load generator speaks it, through
//! `switchyard-handshake`'s client (frames go through `switchyard-frame`'s `Connection` in the
//! client role, used directly by the generator).

pub use switchyard_handshake::{ClientError, DeflateOffer, DeflateParams, DeflateResponseError};
use switchyard_handshake::{ClientRequest, Status, WebSocketKey, EMPTY_HEADER};

/// A small, fast, non-cryptographic generator (xorshift64*) for handshake nonces. RFC 6455 asks
/// for unpredictable keys; on loopback a load generator needs only distinct ones, and a
/// getrandom call per connection would add a system call to every upgrade of the storm.
#[derive(Debug, Clone)]
pub struct FastRng(u64);

impl FastRng {
    /// Seeds the generator (a zero seed is replaced: xorshift never leaves zero).
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Header fields a 101 may carry that the generator has room for.
const MAX_RESPONSE_HEADERS: usize = 32;

/// One client's opening handshake, through `switchyard-handshake`'s client side: writes the
/// upgrade request and checks the server's 101 (status, Upgrade, Connection, accept value).
#[derive(Debug, Clone)]
pub struct ClientHandshake<'a>(switchyard_handshake::ClientHandshake<'a>);

impl<'a> ClientHandshake<'a> {
    /// A handshake for `GET path` with `Host: host` and a fresh 16-byte nonce as its key
    /// (RFC 6455 section 4.1), drawn from `rng` (a getrandom call per connection would cost
    /// more than the rest of the client's work).
    pub fn new(host: &'a str, path: &'a str, rng: &mut FastRng) -> Result<Self, ClientError> {
        Self::with_request(ClientRequest::new(host, path), rng)
    }

    /// A handshake for `request` (which may offer subprotocols and extensions) with a fresh key
    /// drawn from `rng`.
    pub fn with_request(
        request: ClientRequest<'a>,
        rng: &mut FastRng,
    ) -> Result<Self, ClientError> {
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&rng.next_u64().to_ne_bytes());
        nonce[8..].copy_from_slice(&rng.next_u64().to_ne_bytes());
        switchyard_handshake::ClientHandshake::new(request, WebSocketKey::from_nonce(nonce))
            .map(Self)
    }

    /// Appends the upgrade request to `out`.
    pub fn write_request(&self, out: &mut Vec<u8>) {
        let mut request = [0u8; 1024];
        let len = self
            .0
            .write_request(&mut request)
            .expect("1 KiB holds a request with a loopback host and a short path");
        out.extend_from_slice(&request[..len]);
    }

    /// Reads the server's response from `buf` (everything received so far): `Ok(None)` until
    /// the head is complete, then `Ok(Some(consumed))` if it is a valid 101 for our key; bytes
    /// after `consumed` are frames.
    pub fn read_response(&mut self, buf: &[u8]) -> Result<Option<usize>, ClientError> {
        let mut headers = [EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        match self.0.read_response(buf, &mut headers)? {
            Status::Partial => Ok(None),
            Status::Complete(accepted) => Ok(Some(accepted.head_len)),
        }
    }

    /// [`read_response`](Self::read_response), also reporting what the 101 agreed: the
    /// subprotocol chosen (already checked to be one offered) and, if `deflate` was offered,
    /// the permessage-deflate parameters checked against that offer with
    /// [`DeflateOffer::verify`] (`None`: the server declined).
    pub fn read_agreement(
        &mut self,
        buf: &[u8],
        deflate: Option<&DeflateOffer>,
    ) -> Result<Option<Agreement>, ResponseError> {
        let mut headers = [EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        let accepted = match self.0.read_response(buf, &mut headers)? {
            Status::Partial => return Ok(None),
            Status::Complete(accepted) => accepted,
        };
        let deflate = match deflate {
            Some(offer) => offer.verify(accepted.extensions.clone())?,
            None => None,
        };
        Ok(Some(Agreement {
            head_len: accepted.head_len,
            subprotocol: accepted.subprotocol.map(str::to_owned),
            deflate,
        }))
    }
}

/// What a server's 101 agreed, as [`ClientHandshake::read_agreement`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// Bytes of the response head; the bytes after it are frames.
    pub head_len: usize,
    /// The subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
    /// The permessage-deflate parameters agreed, if offered and accepted.
    pub deflate: Option<DeflateParams>,
}

/// Why a 101 is refused: the handshake itself, or the permessage-deflate answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    /// The response is not a valid 101 for our request.
    Handshake(ClientError),
    /// The permessage-deflate answer breaks RFC 7692 section 7.1.
    Deflate(DeflateResponseError),
}

impl From<ClientError> for ResponseError {
    fn from(e: ClientError) -> Self {
        ResponseError::Handshake(e)
    }
}

impl From<DeflateResponseError> for ResponseError {
    fn from(e: DeflateResponseError) -> Self {
        ResponseError::Deflate(e)
    }
}

/// The offer `switchyard-load --deflate` makes: no context takeover either way, so that the
/// server keeps no compressor per connection and each message is compressed on its own.
pub fn no_takeover_offer() -> DeflateOffer {
    DeflateOffer {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: None,
        client_max_window_bits: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_round_trip() {
        let mut rng = FastRng::new(7);
        let mut hs = ClientHandshake::new("localhost", "/chat", &mut rng).unwrap();
        let mut req = Vec::new();
        hs.write_request(&mut req);
        let text = String::from_utf8(req).unwrap();
        assert!(text.starts_with("GET /chat HTTP/1.1\r\nHost: localhost\r\n"));
        let key = text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let accept =
            String::from_utf8(crate::accept::accept_value(key.as_bytes()).to_vec()).unwrap();
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n\x01\x00"
        );
        for cut in 0..resp.len() - 2 {
            assert_eq!(hs.clone().read_response(&resp.as_bytes()[..cut]), Ok(None));
        }
        assert_eq!(
            hs.clone().read_response(resp.as_bytes()),
            Ok(Some(resp.len() - 2))
        );
        let wrong = resp.replace(&accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(
            hs.clone().read_response(wrong.as_bytes()),
            Err(ClientError::InvalidAccept)
        );
        let refused = "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            hs.read_response(refused.as_bytes()),
            Err(ClientError::UnexpectedStatus { status: 400 })
        );
    }

    #[test]
    fn the_agreement_names_the_subprotocol_and_checks_the_deflate_answer() {
        let mut rng = FastRng::new(9);
        let offer = no_takeover_offer();
        let mut buf = [0u8; 128];
        let value = offer.write(&mut buf).unwrap();
        assert_eq!(
            value,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
        let protocols = ["a", "b"];
        let request = ClientRequest::new("127.0.0.1", "/")
            .subprotocols(&protocols)
            .extensions(value);
        let hs = ClientHandshake::with_request(request, &mut rng).unwrap();
        let mut req = Vec::new();
        hs.write_request(&mut req);
        let text = String::from_utf8(req).unwrap();
        assert!(text.contains("Sec-WebSocket-Protocol: a, b\r\n"), "{text}");
        assert!(
            text.contains(&format!("Sec-WebSocket-Extensions: {value}\r\n")),
            "{text}"
        );
        let key = text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let accept =
            String::from_utf8(crate::accept::accept_value(key.as_bytes()).to_vec()).unwrap();
        let response = |extra: &str| {
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
            )
        };
        let agreed = response(
            "Sec-WebSocket-Protocol: b\r\nSec-WebSocket-Extensions: permessage-deflate; \
             server_no_context_takeover; client_no_context_takeover\r\n",
        );
        let agreement = hs
            .clone()
            .read_agreement(agreed.as_bytes(), Some(&offer))
            .unwrap()
            .unwrap();
        assert_eq!(agreement.head_len, agreed.len());
        assert_eq!(agreement.subprotocol.as_deref(), Some("b"));
        let params = agreement.deflate.unwrap();
        assert!(params.server_no_context_takeover && params.client_no_context_takeover);
        // Declined: no deflate, not an error.
        let declined = response("");
        let agreement = hs
            .clone()
            .read_agreement(declined.as_bytes(), Some(&offer))
            .unwrap()
            .unwrap();
        assert_eq!((agreement.subprotocol, agreement.deflate), (None, None));
        // We asked for server_no_context_takeover: an answer without it fails (RFC 7692 7.1.1.1).
        let bad = response("Sec-WebSocket-Extensions: permessage-deflate\r\n");
        assert_eq!(
            hs.clone().read_agreement(bad.as_bytes(), Some(&offer)),
            Err(ResponseError::Deflate(
                DeflateResponseError::ServerNoContextTakeoverMissing
            ))
        );
        let unoffered = response("Sec-WebSocket-Protocol: c\r\n");
        assert_eq!(
            hs.clone().read_agreement(unoffered.as_bytes(), None),
            Err(ResponseError::Handshake(ClientError::UnofferedSubprotocol))
        );
    }
}
