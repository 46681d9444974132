//! JWT authentication for the upgrade: where a client's token is ([`find_token`]) and whether it
//! is good ([`JwtVerifier::verify`]), giving the [`Claims`] a connection is allowed.
//!
//! # Algorithms
//! One algorithm per server, fixed by its key: HS256 for a shared secret
//! ([`JwtVerifier::from_secret`]); ES256 or RS256 for a PEM public key
//! ([`JwtVerifier::from_public_key_pem`]), EC P-256 or RSA. A token is checked with that
//! algorithm only: a token whose header names another one (`none`, HS256 against a public key,
//! ...) is [`AuthError::WrongAlgorithm`] before any signature check, which closes the classic
//! algorithm-confusion attacks. (`alg: none` is not even an algorithm jsonwebtoken can name:
//! such a token is [`AuthError::Malformed`].)
//!
//! # Claims checked
//! `exp` is required and must not be past, `nbf` (when present) must not be in the future, each
//! with a leeway for clock skew ([`DEFAULT_LEEWAY`]). With an audience configured, `aud` must
//! name it; without one, a token that carries `aud` is refused, as RFC 7519 section 4.1.3
//! requires of a service that does not identify itself with the claim. `iss` is not checked.
//!
//! # Crate
//! [jsonwebtoken](https://docs.rs/jsonwebtoken) 12, the most used JWT crate, maintained since
//! 2015; it checks the header's algorithm against the expected one, requires `exp`, refuses
//! unknown critical header extensions and compares HMACs in constant time. Its crypto backend
//! is the pure-Rust RustCrypto one (`rust_crypto`: `hmac`, `p256`, `rsa`), not `aws_lc_rs`:
//! no C toolchain or CMake in the build, a faster build on our 2-core machines, and nothing
//! new for the fuzz builds to link. The `rsa` crate's known timing weakness (RUSTSEC-2023-0071,
//! Marvin) concerns decryption and signing with a private key; a server that only verifies
//! with a public key has no secret for it to leak.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Default leeway for `exp` and `nbf`, 30 s: servers kept by NTP agree within milliseconds, and
/// 30 s still covers a host whose clock drifted or a VM that just resumed, while an expired
/// token is honoured for at most half a minute more (tokens commonly live 5 to 60 minutes).
/// jsonwebtoken's own default is 60 s.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Shortest HS256 secret, 32 bytes: RFC 7518 section 3.2 requires a key at least as long as the
/// hash output (256 bits for HS256).
pub const MIN_SECRET_LEN: usize = 32;

/// Smallest RSA modulus, 2048 bits: RFC 7518 section 3.3 requires it for RS256.
pub const MIN_RSA_BITS: usize = 2048;

/// The query parameter that carries a token (`?token=<jwt>`).
pub const QUERY_PARAMETER: &str = "token";

/// The prefix of a `Sec-WebSocket-Protocol` entry that carries a token (`bearer.<jwt>`).
pub const SUBPROTOCOL_PREFIX: &str = "bearer.";

/// The signature algorithm a [`JwtVerifier`] accepts, fixed by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256, a shared secret.
    Hs256,
    /// ECDSA on P-256 with SHA-256, an EC public key.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, an RSA public key.
    Rs256,
}

impl JwtAlgorithm {
    /// The name a JWT header gives it (`HS256`, `ES256`, `RS256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }

    fn jsonwebtoken(self) -> Algorithm {
        match self {
            Self::Hs256 => Algorithm::HS256,
            Self::Es256 => Algorithm::ES256,
            Self::Rs256 => Algorithm::RS256,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a verified token allows: the claims Switchyard reads (others are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// `sub`: who the token is for (a user id), for apps and logs.
    pub subject: Option<String>,
    /// `name`: a display name, for apps (a chat's "alice joined").
    pub name: Option<String>,
    /// `topics`: when present, the only topics the connection may join (exact names, as
    /// [`RouteTable::topic`](crate::routes::RouteTable::topic) gives them, e.g. `/rooms/a`);
    /// an empty list allows none. When absent, any topic. See [`Claims::may_join`].
    pub topics: Option<Vec<String>>,
}

impl Claims {
    /// Whether these claims let a connection join `topic`: yes without a `topics` claim, else
    /// only if the claim lists it exactly.
    pub fn may_join(&self, topic: &str) -> bool {
        self.topics
            .as_ref()
            .is_none_or(|topics| topics.iter().any(|t| t == topic))
    }
}

/// The claims as they appear in the token (the registered names).
#[derive(Deserialize)]
struct TokenClaims {
    sub: Option<String>,
    name: Option<String>,
    topics: Option<Vec<String>>,
}

/// Why a token, or a key, was refused. [`AuthError::reason`] is the text for a 401 body,
/// [`AuthError::label`] the metrics label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No token in any carrier ([`find_token`] found none).
    Missing,
    /// Not a JWT: not three base64url parts, not JSON, or a claim of the wrong type (`exp` not a
    /// number, `topics` not a list of strings, ...).
    Malformed,
    /// The signature does not match the key.
    BadSignature,
    /// `exp` is past, by more than the leeway.
    Expired,
    /// `nbf` is in the future, by more than the leeway.
    NotYetValid,
    /// No `exp` claim: a token that never expires is refused.
    NoExpiry,
    /// `aud` does not name the configured audience, or names one where none is configured.
    WrongAudience,
    /// The header's `alg` is not the verifier's algorithm (`none` included).
    WrongAlgorithm,
    /// A key that cannot be used (from the constructors; at verification, a fault of the
    /// server's key, not of the token). The text says what is wrong with it.
    Key(String),
}

impl AuthError {
    /// Every [`AuthError::label`], for metrics that list their series up front.
    pub const LABELS: [&'static str; 9] = [
        "missing",
        "malformed",
        "bad_signature",
        "expired",
        "not_yet_valid",
        "no_expiry",
        "wrong_audience",
        "wrong_algorithm",
        "key",
    ];

    /// Short text for the body of a 401: says what to fix, gives nothing away about the key.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing token",
            Self::Malformed => "malformed token",
            Self::BadSignature => "bad token signature",
            Self::Expired => "token expired",
            Self::NotYetValid => "token not yet valid",
            Self::NoExpiry => "token has no expiry (exp)",
            Self::WrongAudience => "token is for another audience",
            Self::WrongAlgorithm => "token signed with an unexpected algorithm",
            Self::Key(_) => "server cannot verify tokens",
        }
    }

    /// The metrics label, one of [`AuthError::LABELS`] (`expired`, `bad_signature`, ...).
    pub fn label(&self) -> &'static str {
        let i = match self {
            Self::Missing => 0,
            Self::Malformed => 1,
            Self::BadSignature => 2,
            Self::Expired => 3,
            Self::NotYetValid => 4,
            Self::NoExpiry => 5,
            Self::WrongAudience => 6,
            Self::WrongAlgorithm => 7,
            Self::Key(_) => 8,
        };
        Self::LABELS[i]
    }

    fn from_jsonwebtoken(e: &jsonwebtoken::errors::Error) -> Self {
        match e.kind() {
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            ErrorKind::InvalidAudience => Self::WrongAudience,
            ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => Self::NoExpiry,
            ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => Self::WrongAudience,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::MissingAlgorithm
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::InvalidAlgorithmName => Self::WrongAlgorithm,
            ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::Provider(_) => Self::Key(e.to_string()),
            // The shape of the token (InvalidToken, Base64, Json, Utf8, InvalidClaimFormat) and
            // checks we never configure (iss, sub): the token is not one we can accept.
            _ => Self::Malformed,
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(problem) => f.write_str(problem),
            other => f.write_str(other.reason()),
        }
    }
}

impl std::error::Error for AuthError {}

/// Checks tokens against one key with one algorithm; built once at start-up, shared by every
/// reactor (`Send + Sync`, no state that changes).
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    algorithm: JwtAlgorithm,
    audience: Option<String>,
    leeway: Duration,
    validation: Validation,
}

impl fmt::Debug for JwtVerifier {
    /// The algorithm, audience and leeway; never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithm", &self.algorithm.as_str())
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// HS256 with a shared secret of at least [`MIN_SECRET_LEN`] bytes (used as given: no
    /// trimming or decoding here).
    pub fn from_secret(secret: &[u8]) -> Result<Self, AuthError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(AuthError::Key(format!(
                "an HS256 secret of {} bytes: RFC 7518 section 3.2 requires at least \
                 {MIN_SECRET_LEN}",
                secret.len()
            )));
        }
        let key = DecodingKey::from_secret(secret).map_err(|e| AuthError::Key(e.to_string()))?;
        Ok(Self::new(key, JwtAlgorithm::Hs256))
    }

    /// ES256 or RS256, chosen by the key in `pem`: a `PUBLIC KEY` (SubjectPublicKeyInfo, as
    /// `openssl pkey -pubout` writes) holding an EC P-256 or an RSA key of at least
    /// [`MIN_RSA_BITS`] bits, or an `RSA PUBLIC KEY` (PKCS#1). Private keys, certificates and
    /// other curves or key types are refused, saying which they are.
    pub fn from_public_key_pem(pem: &[u8]) -> Result<Self, AuthError> {
        ensure_crypto_provider();
        let key_error = |text: &str| Err(AuthError::Key(text.to_owned()));
        match pem_label(pem) {
            None => key_error("not PEM (no -----BEGIN line)"),
            Some("PUBLIC KEY") => {
                if let Ok(key) = DecodingKey::from_ec_pem(pem) {
                    check_curve(&key)?;
                    Ok(Self::new(key, JwtAlgorithm::Es256))
                } else if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
                    check_rsa_size(&key)?;
                    Ok(Self::new(key, JwtAlgorithm::Rs256))
                } else if DecodingKey::from_ed_pem(pem).is_ok() {
                    key_error(
                        "an Ed25519 key: only EC P-256 (ES256) and RSA (RS256) keys are \
                         supported",
                    )
                } else {
                    key_error("not a readable EC P-256 or RSA public key")
                }
            }
            Some("RSA PUBLIC KEY") => {
                let key =
                    DecodingKey::from_rsa_pem(pem).map_err(|e| AuthError::Key(e.to_string()))?;
                check_rsa_size(&key)?;
                Ok(Self::new(key, JwtAlgorithm::Rs256))
            }
            Some(label) if label.contains("PRIVATE KEY") => key_error(
                "a private key: give the public key (openssl pkey -in KEY -pubout), the server \
                 only verifies",
            ),
            Some("CERTIFICATE") => key_error(
                "a certificate: give its public key (openssl x509 -in CERT -pubkey -noout)",
            ),
            Some(label) => Err(AuthError::Key(format!("a PEM {label}, not a PUBLIC KEY"))),
        }
    }

    fn new(key: DecodingKey, algorithm: JwtAlgorithm) -> Self {
        ensure_crypto_provider();
        let mut verifier = Self {
            key,
            algorithm,
            audience: None,
            leeway: DEFAULT_LEEWAY,
            validation: Validation::new(algorithm.jsonwebtoken()),
        };
        verifier.configure();
        verifier
    }

    /// Requires `aud` to name `audience` (a token whose `aud` is a list must name it among
    /// them).
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self.configure();
        self
    }

    /// The leeway for `exp` and `nbf` (default [`DEFAULT_LEEWAY`]); whole seconds, as JWT
    /// times are (a fraction is dropped).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self.configure();
        self
    }

    /// The algorithm tokens must be signed with.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// The audience `aud` must name, if one is required.
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The leeway for `exp` and `nbf`.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// The validation rules from the settings (see the module docs).
    fn configure(&mut self) {
        let mut v = Validation::new(self.algorithm.jsonwebtoken());
        v.leeway = self.leeway.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        v.validate_aud = true;
        // `exp` is required (the default set) and `nbf` checked when present; with an audience
        // configured, `aud` is required too and must name it (a token minted for nobody in
        // particular must not pass a server that asks for its own audience).
        if let Some(audience) = &self.audience {
            v.set_audience(&[audience]);
            v.set_required_spec_claims(&["exp", "aud"]);
        }
        self.validation = v;
    }

    /// Checks `token`'s algorithm, signature, `exp`, `nbf` and `aud` (see the module docs) and
    /// returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let data = jsonwebtoken::decode::<TokenClaims>(token, &self.key, &self.validation)
            .map_err(|e| AuthError::from_jsonwebtoken(&e))?;
        let TokenClaims { sub, name, topics } = data.claims;
        Ok(Claims {
            subject: sub,
            name,
            topics,
        })
    }
}

/// Makes sure jsonwebtoken has its crypto backend: it picks `rust_crypto` by itself unless
/// some other crate in the build also enabled `aws_lc_rs`, which leaves it without a default.
fn ensure_crypto_provider() {
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        // An error means another thread installed one first, which is as good.
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    }
}

/// The label of the first PEM block (`PUBLIC KEY` in `-----BEGIN PUBLIC KEY-----`).
fn pem_label(pem: &[u8]) -> Option<&str> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let start = pem.windows(BEGIN.len()).position(|w| w == BEGIN)? + BEGIN.len();
    let rest = &pem[start..];
    let end = rest.windows(5).position(|w| w == b"-----")?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// An EC key must be on P-256, the only curve ES256 uses.
fn check_curve(key: &DecodingKey) -> Result<(), AuthError> {
    let jwk = Jwk::from_decoding_key(key, None).map_err(|e| AuthError::Key(e.to_string()))?;
    match jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Ok(()),
        AlgorithmParameters::EllipticCurve(p) => Err(AuthError::Key(format!(
            "an EC key on {}: only P-256 (ES256) is supported",
            match p.curve {
                EllipticCurve::P384 => "P-384",
                EllipticCurve::P521 => "P-521",
                _ => "another curve",
            }
        ))),
        _ => Err(AuthError::Key("not an EC key".to_owned())),
    }
}

/// An RSA key must be readable and of at least [`MIN_RSA_BITS`] bits.
fn check_rsa_size(key: &DecodingKey) -> Result<(), AuthError> {
    let jwk = Jwk::from_decoding_key(key, None)
        .map_err(|e| AuthError::Key(format!("not a readable RSA public key: {e}")))?;
    let AlgorithmParameters::RSA(rsa) = jwk.algorithm else {
        return Err(AuthError::Key("not an RSA key".to_owned()));
    };
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(rsa.n)
        .map_err(|e| AuthError::Key(e.to_string()))?;
    let n = &n[n.iter().position(|&b| b != 0).unwrap_or(n.len())..];
    let bits = n.first().map_or(0, |&top| {
        (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
    });
    if bits < MIN_RSA_BITS {
        return Err(AuthError::Key(format!(
            "an RSA key of {bits} bits: RFC 7518 section 3.3 requires at least {MIN_RSA_BITS}"
        )));
    }
    Ok(())
}

/// Where [`find_token`] found a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCarrier {
    /// `Authorization: Bearer <jwt>` (RFC 6750 section 2.1): for clients that can set headers.
    Authorization,
    /// The query parameter `token=<jwt>` (RFC 6750 section 2.3 names it `access_token`; `token`
    /// is what WebSocket clients commonly send). It may end up in proxies' access logs: prefer
    /// the other two.
    Query,
    /// A `Sec-WebSocket-Protocol` entry `bearer.<jwt>`: the one header a browser's `WebSocket`
    /// constructor lets a page set. A JWT is three base64url parts joined by dots, all of which
    /// are HTTP token characters, so it is a valid subprotocol name.
    Subprotocol,
}

impl TokenCarrier {
    /// A name for logs and metrics (`authorization`, `query`, `subprotocol`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorization => "authorization",
            Self::Query => "query",
            Self::Subprotocol => "subprotocol",
        }
    }
}

impl fmt::Display for TokenCarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Finds a request's token, looking in this order:
/// 1. `authorization`, the `Authorization` header's value: `Bearer <jwt>`, the scheme in any
///    case; another scheme (`Basic`, from a proxy) is skipped;
/// 2. `query`, the query string (with or without its `?`): the first `token=<jwt>` among its
///    `&`-separated pairs, taken as is (JWT characters need no percent-encoding);
/// 3. `offered_subprotocols`, the client's `Sec-WebSocket-Protocol` entries: the first of the
///    form `bearer.<jwt>`.
///
/// An empty token counts as none. The server never chooses a `bearer.` entry as the connection's
/// subprotocol (it is a credential, not a protocol, and choosing it would echo the token in the
/// response): a browser that needs a subprotocol offers it alongside, as in
/// `new WebSocket(url, ["chat.v1", "bearer." + jwt])`, and gets `chat.v1`.
pub fn find_token<'a>(
    authorization: Option<&'a [u8]>,
    query: Option<&'a str>,
    offered_subprotocols: &[&'a str],
) -> Option<(TokenCarrier, &'a str)> {
    if let Some(token) = authorization.and_then(bearer_token) {
        return Some((TokenCarrier::Authorization, token));
    }
    if let Some(token) = query.and_then(query_token) {
        return Some((TokenCarrier::Query, token));
    }
    offered_subprotocols
        .iter()
        .filter_map(|p| p.strip_prefix(SUBPROTOCOL_PREFIX))
        .find(|t| !t.is_empty())
        .map(|t| (TokenCarrier::Subprotocol, t))
}

/// The token of `Bearer <token>`, the scheme in any case (RFC 9110 section 11.1).
fn bearer_token(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    let (scheme, token) = value.split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(token.trim_start_matches([' ', '\t'])).filter(|t| !t.is_empty())
}

/// The value of the first non-empty `token=` pair of a query string.
fn query_token(query: &str) -> Option<&str> {
    let query = query.strip_prefix('?').unwrap_or(query);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, value)| *name == QUERY_PARAMETER && !value.is_empty())
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests;
