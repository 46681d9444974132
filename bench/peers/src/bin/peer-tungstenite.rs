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
//! tungstenite 0.28 has no permessage-deflate (no `deflate` feature; upstream's PR is not
//! merged), so this peer runs without compression and cannot join deflate scenarios.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{future, SinkExt, StreamExt, TryStreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

/// The broadcast subscribers: connection number -> its channel.
type PeerMap = Arc<Mutex<HashMap<u64, UnboundedSender<Message>>>>;

const BROADCAST_PATH: &str = "/broadcast";

async fn handle_connection(stream: TcpStream, id: u64, peers: PeerMap) {
    let mut path = String::new();
    let callback = |req: &Request, resp: Response| {
        path = req.uri().path().to_owned();
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let (mut sink, stream) = ws.split();
    if path != BROADCAST_PATH {
        let _ = stream
            .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
            .forward(sink)
            .await;
        return;
    }

    let (tx, mut rx) = unbounded_channel();
    peers.lock().unwrap().insert(id, tx);

    // The writer is its own task (as in axum's chat example) rather than `select`ed with the
    // reader as in tokio-tungstenite's example: polled together, every delivery would also poll
    // the reader, and tungstenite zeroes its whole read buffer (128 KiB) before each read
    // attempt, ready or not. Apart, the reader is polled only when the socket is readable.
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            sink.feed(msg).await?;
            // Everything already queued goes out in the same write.
            while let Ok(msg) = rx.try_recv() {
                sink.feed(msg).await?;
            }
            sink.flush().await?;
        }
        Ok::<_, tokio_tungstenite::tungstenite::Error>(())
    });
    let _ = stream
        .try_for_each(|msg| {
            if msg.is_text() || msg.is_binary() {
                // Everyone on the path, the sender included (Switchyard's default).
                for peer in peers.lock().unwrap().values() {
                    let _ = peer.send(msg.clone());
                }
            }
            future::ok(())
        })
        .await;
    // Dropping the sender ends the writer once it has sent what is queued.
    peers.lock().unwrap().remove(&id);
    let _ = writer.await;
}

fn main() -> std::io::Result<()> {
    let addr = switchyard_peers::listen_addr();
    let peers = PeerMap::default();
    switchyard_peers::runtime().block_on(async move {
        let listener = switchyard_peers::bind(addr)?;
        eprintln!("peer-tungstenite listening on {addr} (broadcast on {BROADCAST_PATH})");
        let mut next_id = 0u64;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            next_id += 1;
            tokio::spawn(handle_connection(stream, next_id, peers.clone()));
        }
    })
}
