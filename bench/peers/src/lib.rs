//! Shared bits of the peer servers: argument parsing, the single-threaded runtime and the
//! tokio-tungstenite broadcast (used with and without TLS).
//!
//! Both peers run on a tokio `current_thread` runtime so that they are comparable with a server
//! pinned to one core (the comparison script pins every server with `taskset -c 0`).

use std::net::SocketAddr;

/// The listen address: the first command-line argument, or 127.0.0.1:9001.
pub fn listen_addr() -> SocketAddr {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_string())
        .parse()
        .expect("usage: <peer> [ADDR:PORT]")
}

/// A single-threaded tokio runtime with I/O enabled (no timers are needed).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio runtime")
}

/// Binds a listener with a deep accept backlog, as every server in the comparison does.
pub fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// `/broadcast` on tokio-tungstenite, shared by `peer-tungstenite` and `peer-tungstenite-tls`
/// (see `peer-tungstenite.rs` for the shape and the choices).
pub mod tungstenite_broadcast {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use futures_util::{future, SinkExt, StreamExt, TryStreamExt};
    use tokio::io::{AsyncRead, AsyncWrite};
    use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::WebSocketStream;

    /// The path that broadcasts; every other path echoes.
    pub const PATH: &str = "/broadcast";

    /// The broadcast subscribers: connection number -> its channel.
    pub type PeerMap = Arc<Mutex<HashMap<u64, UnboundedSender<Message>>>>;

    /// Serves one connection on `/broadcast` until it closes.
    pub async fn serve<S>(ws: WebSocketStream<S>, id: u64, peers: PeerMap)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sink, stream) = ws.split();
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

    /// Every path but `/broadcast`: every text and binary message back (the README's echo).
    pub async fn echo<S>(ws: WebSocketStream<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (sink, stream) = ws.split();
        let _ = stream
            .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
            .forward(sink)
            .await;
    }
}
