//! The extension seam: a per-message transform keyed on RSV1 (permessage-deflate, RFC 7692).
//!
//! The decoder does not know what the transform does. It hands the extension the payload of a
//! message whose first frame had RSV1 set, in pieces as they arrive (already unmasked), and gets
//! the transformed bytes appended to the message buffer. The decoder then validates text as UTF-8
//! incrementally on the transformed output, and the extension itself bounds how far its output may
//! grow, so that a "zip bomb" fails with close 1009 before memory grows past the message limit.

/// Why an extension could not transform a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtensionError {
    /// The output would exceed the `max_len` the decoder passed in (close 1009).
    TooBig,
    /// The input is not valid for this extension, e.g. corrupt deflate data (close 1007).
    InvalidData,
}

/// A per-message transform negotiated during the handshake (e.g. permessage-deflate).
///
/// Calling order, for each incoming message whose first frame has RSV1 set:
/// [`decode_piece`](Extension::decode_piece) once per piece of payload, the last call with
/// `end_of_message = true` (possibly with an empty piece). For each outgoing message:
/// [`encode_message`](Extension::encode_message) once.
pub trait Extension: Send {
    /// Decodes `piece` (payload bytes of a compressed message, in order, unmasked) and appends the
    /// result to `out`, never letting `out.len()` exceed `max_len`: if it would, return
    /// [`ExtensionError::TooBig`] (the decoder then fails the connection with 1009). When
    /// `end_of_message` is true this is the message's last piece: finish it (permessage-deflate
    /// appends `00 00 ff ff` here) and reset the context if no context takeover was agreed.
    ///
    /// On error, leave in `out` what was decoded before the error: the decoder validates it
    /// (UTF-8 for text) before reporting the extension's error, so that the rule reported is the
    /// first one broken in stream order, whatever the split of the input.
    fn decode_piece(
        &mut self,
        piece: &[u8],
        end_of_message: bool,
        out: &mut Vec<u8>,
        max_len: usize,
    ) -> Result<(), ExtensionError>;

    /// Encodes a whole outgoing message, appending the result to `out` (which may already hold
    /// other bytes: leave them alone). Returns `Ok(true)` if what was appended is the transformed
    /// payload to send with RSV1 set, `Ok(false)` to send the message as it is (RFC 7692 allows
    /// uncompressed messages, e.g. below a minimum size); the caller then discards anything
    /// appended.
    fn encode_message(&mut self, message: &[u8], out: &mut Vec<u8>)
        -> Result<bool, ExtensionError>;
}
