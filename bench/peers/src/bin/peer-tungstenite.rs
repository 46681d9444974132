//! Echo and broadcast server written with tokio-tungstenite, the way its README and examples show.
//!
//! Every path but `/broadcast` echoes: `accept_async`, then forward every text and binary message
//! back. `forward` feeds the sink and flushes only when the stream has nothing ready, so
//! pipelined replies are batched.
//!
//! `/broadcast` follows tokio-tungstenite's chat example (`examples/server.rs`): a shared map of
//! peers, each with an unbounded channel; a message read from one connection is cloned into every
//! peer's channel, and a writer task per connection forwards its channel into its sink (again
//! batched: flushed when the channel is empty). Unlike the example, the sender gets its own message too,
//! as Switchyard's default `broadcast` route does. A `Message` holds `Bytes`, so a clone is a
//! reference count, not a copy of the payload; tungstenite then frames it into each connection's
//! write buffer (it has no API to write a frame encoded once).
//!
//! Slow subscribers: the channel is unbounded, as in the example, so a subscriber that does not
//! read grows its queue in memory while the others (and the publisher) carry on; nothing blocks
//! the server on one connection.
//!
//! The broadcast code is `switchyard_peers::tungstenite_broadcast`, shared with
//! `peer-tungstenite-tls`.
//!
//! tungstenite 0.28 has no permessage-deflate (no `deflate` feature; upstream's PR is not
//! merged), so this peer runs without compression and cannot join deflate scenarios.

use switchyard_peers::tungstenite_broadcast::{self as broadcast, PeerMap};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

async fn handle_connection(stream: TcpStream, id: u64, peers: PeerMap) {
    let mut path = String::new();
    let callback = |req: &Request, resp: Response| {
        path = req.uri().path().to_owned();
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    if path == broadcast::PATH {
        broadcast::serve(ws, id, peers).await;
    } else {
        broadcast::echo(ws).await;
    }
}

fn main() -> std::io::Result<()> {
    let addr = switchyard_peers::listen_addr();
    let peers = PeerMap::default();
    switchyard_peers::runtime().block_on(async move {
        let listener = switchyard_peers::bind(addr)?;
        eprintln!(
            "peer-tungstenite listening on {addr} (broadcast on {})",
            broadcast::PATH
        );
        let mut next_id = 0u64;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            next_id += 1;
            tokio::spawn(handle_connection(stream, next_id, peers.clone()));
        }
    })
}
