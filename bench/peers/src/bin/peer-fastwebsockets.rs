//! Echo and broadcast server written with fastwebsockets + hyper.
//!
//! Every path but `/broadcast` echoes, in the shape of fastwebsockets' `echo_server` example:
//! hyper's HTTP/1 server performs the upgrade, then a task reads frames through a
//! `FragmentCollector` and writes each text or binary message back (one write per frame, as the
//! example does).
//!
//! `/broadcast`: fastwebsockets has no broadcast example, so this follows its `echo_server_split`
//! example (`WebSocket::split` over `tokio::io::split`, a `FragmentCollectorRead` on the read
//! half) plus a shared map of subscribers, each with an unbounded channel drained by a writer
//! task. A message is framed once, by the reader that got it (`Frame::write`; server frames are
//! unmasked, so the bytes are the same for every subscriber), and every subscriber's channel gets
//! a clone of those `Bytes` (a reference count). The writer puts whatever is queued into a
//! `BufWriter` and flushes when its channel is empty: one write per wake-up, not one per frame.
//! The sender gets its own message too, as Switchyard's default `broadcast` route does. Pongs and
//! the close reply go through the same channel, so the writer is the socket's only writer.
//!
//! Slow subscribers: the channel is unbounded (the usual tokio fan-out shape), so a subscriber
//! that does not read grows its queue in memory while the others carry on; nothing blocks the
//! server on one connection.
//!
//! fastwebsockets has no permessage-deflate, so this peer cannot join deflate scenarios.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fastwebsockets::{
    after_handshake_split, upgrade, FragmentCollector, FragmentCollectorRead, Frame, OpCode, Role,
    WebSocketError,
};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

const BROADCAST_PATH: &str = "/broadcast";

/// The broadcast subscribers: connection number -> its channel of encoded frames.
#[derive(Default)]
struct Hub {
    next_id: AtomicU64,
    peers: Mutex<HashMap<u64, UnboundedSender<Bytes>>>,
}

/// A frame as it goes on the wire from the server (no mask).
fn encode(mut frame: Frame<'_>) -> Bytes {
    let mut buf = Vec::new();
    let len = frame.write(&mut buf).len();
    buf.truncate(len);
    Bytes::from(buf)
}

async fn handle_echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => break,
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
    Ok(())
}

async fn write_queued<W: tokio::io::AsyncWrite + Unpin>(
    mut out: BufWriter<W>,
    mut rx: UnboundedReceiver<Bytes>,
) -> std::io::Result<()> {
    while let Some(frame) = rx.recv().await {
        out.write_all(&frame).await?;
        while let Ok(frame) = rx.try_recv() {
            out.write_all(&frame).await?;
        }
        out.flush().await?;
    }
    out.shutdown().await
}

async fn handle_broadcast(fut: upgrade::UpgradeFut, hub: Arc<Hub>) -> Result<(), WebSocketError> {
    // The split of `echo_server_split`, except that the write half is the socket itself: the
    // writer task writes frames already encoded. `after_handshake_split` wants a writer for its
    // own write half, which is never used here (pongs and the close reply come out of
    // `read_frame` through `send_fn`), hence `tokio::io::sink()`.
    let (read, write) = tokio::io::split(fut.await?.into_inner());
    let (read, _) = after_handshake_split(read, tokio::io::sink(), Role::Server);
    let mut ws = FragmentCollectorRead::new(read);
    let (tx, rx) = unbounded_channel();
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
    hub.peers.lock().unwrap().insert(id, tx.clone());
    let writer = tokio::spawn(write_queued(BufWriter::new(write), rx));
    let result = loop {
        let frame = match ws
            .read_frame(&mut |obligated: Frame<'_>| {
                let _ = tx.send(encode(obligated));
                async { Ok::<_, WebSocketError>(()) }
            })
            .await
        {
            Ok(frame) => frame,
            Err(e) => break Err(e),
        };
        match frame.opcode {
            OpCode::Close => break Ok(()),
            OpCode::Text | OpCode::Binary => {
                // Framed once; everyone on the path gets the same bytes, the sender included
                // (Switchyard's default).
                let bytes = encode(Frame::new(true, frame.opcode, None, frame.payload));
                for peer in hub.peers.lock().unwrap().values() {
                    let _ = peer.send(bytes.clone());
                }
            }
            _ => {}
        }
    };
    hub.peers.lock().unwrap().remove(&id);
    // The writer sends what is queued (the close reply among it), then shuts the socket.
    drop(tx);
    let _ = writer.await;
    result
}

fn main() -> std::io::Result<()> {
    let addr = switchyard_peers::listen_addr();
    let hub = Arc::new(Hub::default());
    switchyard_peers::runtime().block_on(async move {
        let listener = switchyard_peers::bind(addr)?;
        eprintln!("peer-fastwebsockets listening on {addr} (broadcast on {BROADCAST_PATH})");
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let hub = hub.clone();
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let service = service_fn(move |mut req: Request<Incoming>| {
                    let hub = hub.clone();
                    async move {
                        let broadcast = req.uri().path() == BROADCAST_PATH;
                        let (response, fut) = upgrade::upgrade(&mut req)?;
                        tokio::spawn(async move {
                            let _ = if broadcast {
                                tokio::task::unconstrained(handle_broadcast(fut, hub)).await
                            } else {
                                tokio::task::unconstrained(handle_echo(fut)).await
                            };
                        });
                        Ok::<Response<Empty<Bytes>>, WebSocketError>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(io, service)
                    .with_upgrades()
                    .await;
            });
        }
    })
}
