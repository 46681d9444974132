//! permessage-deflate (RFC 7692 section 7) negotiation: the server's [`DeflateNegotiator`]
//! negotiator and the client's [`DeflateOffer`]. Both end in [`DeflateParams`], the four agreed
//! parameters, which become the `frame` crate's `DeflateConfig` through one conversion
//! (`DeflateConfig::from`, behind that crate's `handshake` feature). Compression level and
//! minimum size are local policy, not negotiated: the `frame` crate's `CompressionPolicy`.
//!
//! ```
//! use switchyard_handshake::{Acceptor, DeflateNegotiator, DeflatePolicy};
//!
//! let acceptor = Acceptor::new().extensions(DeflateNegotiator::new(DeflatePolicy::default()).unwrap());
//! // `Switched::WebSocket { extensions: Some(params), .. }` then carries the agreement.
//! # let _ = acceptor;
//! ```
//!
//! Window sizes: RFC 7692 allows 8 to 15 bits, and the negotiation accepts and answers 8. zlib
//! (and zlib-rs, which the `frame` crate uses) cannot compress raw deflate with a 256-byte
//! window and uses 512 bytes instead, as Chromium does; since zlib's matches never reach back
//! further than the window minus 262 bytes (250 here), the output still fits a 256-byte window.

mod client;
mod params;
mod server;

pub use client::{DeflateOffer, DeflateResponseError};
pub use params::{DeflateParams, DeflatePolicyError};
pub use server::{DeflateNegotiator, DeflatePolicy};

/// The extension token (RFC 7692 section 7).
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";
