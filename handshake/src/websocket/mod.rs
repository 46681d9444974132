//! WebSocket specifics (RFC 6455): keys, configuration, extensions.

pub(crate) mod config;
pub(crate) mod extensions;
pub(crate) mod key;
pub(crate) mod permessage_deflate;
