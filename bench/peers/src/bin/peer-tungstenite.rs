//! Echo server written with tokio-tungstenite, the way its README and examples show:
//! `accept_async`, then forward every text and binary message back. `forward` feeds the sink and
//! flushes only when the stream has nothing ready, so pipelined replies are batched.

use futures_util::{future, StreamExt, TryStreamExt};

fn main() -> std::io::Result<()> {
    let addr = switchyard_peers::listen_addr();
    switchyard_peers::runtime().block_on(async move {
        let listener = switchyard_peers::bind(addr)?;
        eprintln!("peer-tungstenite listening on {addr}");
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let (sink, stream) = ws.split();
                let _ = stream
                    .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
                    .forward(sink)
                    .await;
            });
        }
    })
}
