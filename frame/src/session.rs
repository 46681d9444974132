//! The part of a WebSocket that lives as long as the connection: role, close handshake and
//! send-side fragmentation. One byte, no heap.

use crate::config::Role;

/// The persistent protocol state of one WebSocket: what must survive between reads even when no
/// frame is in progress. Everything else (a split header, a message being assembled, the
/// extension) is in a [`Decoder`](crate::Decoder), which a server can lend from a pool while the
/// connection sits idle.
///
/// Two ways to use the codec:
///
/// - [`Connection`](crate::Connection) owns a session and a decoder (and, for clients, the
///   masking key generator): the simple choice, any role.
/// - A server that holds many idle connections keeps a `Session` per connection (1 byte) and
///   lends a [`Decoder`](crate::Decoder) per read: [`Decoder::decode`](crate::Decoder::decode)
///   takes the session, and every frame the server sends is encoded by the session's `encode_*`
///   methods (see `send.rs`), which enforce the close handshake and fragmentation rules.
///
/// `Session::new()` is the server role; the client role exists only inside a
/// [`Connection`](crate::Connection), which supplies the masking keys clients need.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Role, close state and send-side fragmentation in one byte: zero is an open server
    /// session between messages, so the echo hot path checks everything with one compare.
    bits: u8,
}

/// [`Session::bits`]: the client role.
const CLIENT: u8 = 1;
/// [`Session::bits`]: the close state, two bits (0 open, 1 closing, 2 closed).
const STATE_SHIFT: u8 = 1;
const STATE_MASK: u8 = 0b11 << STATE_SHIFT;
/// [`Session::bits`]: we sent a data frame without FIN; the next must be a continuation.
const FRAGMENTED: u8 = 1 << 3;

/// The close handshake (RFC 6455 section 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseState {
    /// Both directions open.
    Open,
    /// We sent our close frame and wait for the peer's; we send nothing more, but still deliver
    /// incoming data messages (pings are not delivered: they could not be answered).
    Closing,
    /// The handshake completed, or the connection failed: close the TCP connection. Further input
    /// is discarded.
    Closed,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    /// A server-side session: both directions open, nothing being sent.
    pub const fn new() -> Session {
        Session::with_role(Role::Server)
    }

    pub(crate) const fn with_role(role: Role) -> Session {
        Session {
            bits: match role {
                Role::Server => 0,
                Role::Client => CLIENT,
            },
        }
    }

    /// Our role.
    pub fn role(&self) -> Role {
        if self.bits & CLIENT == 0 {
            Role::Server
        } else {
            Role::Client
        }
    }

    /// The close handshake state.
    pub fn state(&self) -> CloseState {
        match (self.bits & STATE_MASK) >> STATE_SHIFT {
            0 => CloseState::Open,
            1 => CloseState::Closing,
            _ => CloseState::Closed,
        }
    }

    pub(crate) fn set_state(&mut self, state: CloseState) {
        let value = match state {
            CloseState::Open => 0,
            CloseState::Closing => 1,
            CloseState::Closed => 2,
        };
        self.bits = (self.bits & !STATE_MASK) | (value << STATE_SHIFT);
    }

    /// The close handshake is over (or failed): input is discarded. One mask and compare, for
    /// the decoder's hot path.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.bits & STATE_MASK == 2 << STATE_SHIFT
    }

    /// We sent a data frame without FIN and owe its continuation.
    pub(crate) fn fragmented(&self) -> bool {
        self.bits & FRAGMENTED != 0
    }

    pub(crate) fn set_fragmented(&mut self, fragmented: bool) {
        if fragmented {
            self.bits |= FRAGMENTED;
        } else {
            self.bits &= !FRAGMENTED;
        }
    }

    /// An open server session between messages: an unmasked whole message may go now.
    #[inline]
    pub(crate) fn is_open_server_between_messages(&self) -> bool {
        self.bits == 0
    }

    /// Whether a whole data message may be sent now: the close handshake has not started and no
    /// fragmented message of ours is open. A frame encoded once for many sessions (a broadcast,
    /// see [`encode_shared_frame`](crate::encode_shared_frame)) must only go to sessions for
    /// which this is true.
    #[inline]
    pub fn can_send_message(&self) -> bool {
        self.bits & (STATE_MASK | FRAGMENTED) == 0
    }
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role())
            .field("state", &self.state())
            .field("fragmented", &self.fragmented())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_round_trips_every_combination() {
        for role in [Role::Server, Role::Client] {
            for state in [CloseState::Open, CloseState::Closing, CloseState::Closed] {
                for fragmented in [false, true] {
                    let mut s = Session::with_role(role);
                    s.set_state(state);
                    s.set_fragmented(fragmented);
                    assert_eq!(
                        (s.role(), s.state(), s.fragmented()),
                        (role, state, fragmented)
                    );
                    assert_eq!(
                        s.can_send_message(),
                        state == CloseState::Open && !fragmented
                    );
                    assert_eq!(
                        s.is_open_server_between_messages(),
                        role == Role::Server && state == CloseState::Open && !fragmented
                    );
                }
            }
        }
    }
}
