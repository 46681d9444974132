//! permessage-deflate (RFC 7692 section 7) negotiation: the server's [`PermessageDeflate`]
//! negotiator and the client's [`DeflateOffer`]. Both end in [`DeflateParams`], the agreed
//! parameters the caller copies into the `frame` crate's `DeflateConfig` (same field names).
//!
//! ```
//! use switchyard_handshake::{Acceptor, DeflatePolicy, PermessageDeflate};
//!
//! let acceptor = Acceptor::new().extensions(PermessageDeflate::new(DeflatePolicy::default()).unwrap());
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
pub use server::{DeflatePolicy, PermessageDeflate};

/// The extension token (RFC 7692 section 7).
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";
