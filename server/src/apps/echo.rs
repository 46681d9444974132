//! The echo app: every message goes back to its sender, same kind and payload.
//!
//! Written on the public app API only. The reply is the one `send` of the handler; when it
//! runs inside a read of uncompressed messages, the core builds it in place over the request
//! frame (see `ws.rs`), so an echo costs no copy beyond the kernel's.

use crate::app::{App, Connection, Message, Upgrade, UpgradeRequest};

/// Echoes every message to its sender.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Echo {
    /// The handler body, shared with the built-in router.
    pub fn echo<A: App>(conn: &mut Connection<'_, '_, A>, message: Message<'_>) {
        // A closing connection refuses the send: nothing to do then.
        let _ = conn.send(message);
    }
}

impl App for Echo {
    type State = ();

    fn upgrade<'r>(&self, _: &UpgradeRequest<'r>) -> Upgrade<'r, ()> {
        Upgrade::accept(())
    }

    fn message(&self, conn: &mut Connection<'_, '_, Self>, message: Message<'_>) {
        Self::echo(conn, message);
    }
}
