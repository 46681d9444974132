//! The broadcast app: every message goes to every connection of the same topic, on every
//! core. A connection's topic is its request path (without the query), so an exact route
//! (`/broadcast`) is one topic and a wildcard route (`/rooms/*`) makes each concrete path
//! (`/rooms/a`, `/rooms/b`) its own.
//!
//! Written on the public app API only: subscribe on open, publish to the connection's topics
//! on each message. Slow subscribers: with the default policy a subscriber whose queue passes
//! the cap is closed with 1008 (`slow_subscriber = "close"`); with `"skip"` the core skips it
//! per message instead.

use crate::app::{App, Connection, Message, Publish, Upgrade, UpgradeRequest};

/// Publishes every message to the sender's topic (its path).
#[derive(Debug, Clone, Copy)]
pub struct Broadcast {
    /// Whether the sender gets its own messages.
    pub publish: Publish,
    /// Close slow subscribers (1008) rather than let the core skip messages for them.
    pub close_slow: bool,
}

impl Broadcast {
    /// Subscribes a new connection to its path.
    pub fn join<A: App>(conn: &mut Connection<'_, '_, A>, request: &UpgradeRequest<'_>) {
        conn.subscribe(request.path());
    }

    /// Publishes a message to the connection's topics.
    pub fn relay<A: App>(conn: &mut Connection<'_, '_, A>, message: Message<'_>, who: Publish) {
        conn.publish_subscribed(message, who);
    }

    /// A subscriber's queue passed the cap.
    pub fn slow<A: App>(conn: &mut Connection<'_, '_, A>, close_slow: bool) {
        if close_slow {
            log::warn!(
                "closing connection {} with 1008: slow broadcast subscriber",
                conn.id()
            );
            conn.close(1008, "slow consumer");
        }
    }
}

impl App for Broadcast {
    type State = ();

    fn upgrade<'r>(&self, _: &UpgradeRequest<'r>) -> Upgrade<'r, ()> {
        Upgrade::accept(())
    }

    fn open(&self, conn: &mut Connection<'_, '_, Self>, request: &UpgradeRequest<'_>) {
        Self::join(conn, request);
    }

    fn message(&self, conn: &mut Connection<'_, '_, Self>, message: Message<'_>) {
        Self::relay(conn, message, self.publish);
    }

    fn backpressure(&self, conn: &mut Connection<'_, '_, Self>) {
        Self::slow(conn, self.close_slow);
    }

    fn drain(&self, _: &mut Connection<'_, '_, Self>) {}
}
