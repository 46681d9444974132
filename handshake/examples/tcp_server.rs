//! A blocking `std::net::TcpListener` server embedding the handshake crate: answers WebSocket
//! upgrades with a 101 (then echoes raw bytes, standing in for a frame codec), plain requests
//! with a short page, and bad requests with the status their rule names.
//!
//! Run: `cargo run -p switchyard-handshake --example tcp_server -- 127.0.0.1:8080 [max_conns]`
//! (it stops by itself after `max_conns` connections, default unbounded).

use std::io::{Read, Write};
use std::net::TcpListener;
use switchyard_handshake::{
    Acceptor, Decision, PlainResponse, Status, WebSocketConfig, EMPTY_HEADER,
};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let max_conns: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    let acceptor = Acceptor::new().websocket(WebSocketConfig::default().subprotocols(["echo"]));
    let listener = TcpListener::bind(&addr)?;
    eprintln!("listening on {}", listener.local_addr()?);
    for stream in listener.incoming().take(max_conns) {
        let mut stream = stream?;
        let mut parser = acceptor.parser();
        let (mut buf, mut len, mut out) = ([0u8; 8192], 0, [0u8; 1024]);
        loop {
            let n = stream.read(&mut buf[len..])?;
            if n == 0 {
                break;
            }
            len += n;
            let mut headers = [EMPTY_HEADER; 64];
            let decision = acceptor.accept(&mut parser, &buf[..len], &mut headers, &mut out);
            match decision.expect("1 KiB holds every response this server writes") {
                Status::Partial => continue,
                Status::Complete(Decision::Switch(switch)) => {
                    stream.write_all(switch.response)?;
                    stream.write_all(switch.leftover)?;
                    std::io::copy(&mut stream.try_clone()?, &mut stream)?;
                }
                Status::Complete(Decision::Reject(reject)) => stream.write_all(reject.response)?,
                Status::Complete(Decision::NotUpgrade(request)) => {
                    let status = if request.path() == "/" { 200 } else { 404 };
                    let mut page = [0u8; 256];
                    let n = PlainResponse::new(status)
                        .content_type("text/plain")
                        .body(b"switchyard handshake example\n")
                        .keep_alive(false)
                        .write(&mut page)
                        .expect("256 bytes hold this page");
                    stream.write_all(&page[..n])?;
                }
            }
            break;
        }
    }
    Ok(())
}
