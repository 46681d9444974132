//! permessage-deflate (RFC 7692) codec: an [`Extension`](crate::Extension) that compresses
//! outgoing messages and decompresses incoming ones.
//!
//! Owned by the deflate engineer (issue 7); work in progress. The frame engineer need not
//! implement deflate: this module is taken.
