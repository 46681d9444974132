//! The part of a WebSocket that lives as long as the connection: role, close handshake and
//! send-side fragmentation. Three bytes, no heap.

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
/// - A server that holds many idle connections keeps a `Session` per connection (3 bytes) and
///   lends a [`Decoder`](crate::Decoder) per read: [`Decoder::decode`](crate::Decoder::decode)
///   takes the session, and every frame the server sends is encoded by the session's `encode_*`
///   methods (see `send.rs`), which enforce the close handshake and fragmentation rules.
///
/// `Session::new()` is the server role; the client role exists only inside a
/// [`Connection`](crate::Connection), which supplies the masking keys clients need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub(crate) role: Role,
    pub(crate) state: CloseState,
    /// We sent a data frame without FIN: the next data frame must be a continuation.
    pub(crate) sending_fragmented: bool,
}

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
            role,
            state: CloseState::Open,
            sending_fragmented: false,
        }
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The close handshake state.
    pub fn state(&self) -> CloseState {
        self.state
    }

    /// Whether a whole data message may be sent now: the close handshake has not started and no
    /// fragmented message of ours is open. A frame encoded once for many sessions (a broadcast,
    /// see [`encode_shared_frame`](crate::encode_shared_frame)) must only go to sessions for
    /// which this is true.
    pub fn can_send_message(&self) -> bool {
        self.state == CloseState::Open && !self.sending_fragmented
    }
}
