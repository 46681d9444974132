//! Embedding the server: start Switchyard in-process with a custom route table on an ephemeral
//! port, talk to it over a plain TCP socket (a WebSocket handshake and one masked frame, written
//! by hand), and shut it down gracefully.
//!
//! Run with `cargo run -p switchyard --example embed`.

use std::io::{Read, Write};
use std::net::TcpStream;

use switchyard::{Config, Server};

fn main() -> std::io::Result<()> {
    let mut config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        workers: 1,
        ..Config::default()
    };
    config
        .routes
        .insert_spec("/chat=broadcast")
        .expect("a valid route");
    let server = Server::start(config)?;
    let addr = server.local_addrs()[0];
    println!("listening on {addr}");

    let mut client = TcpStream::connect(addr)?;
    client.write_all(
        b"GET /echo HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        client.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    println!(
        "{}",
        String::from_utf8_lossy(&head).lines().next().unwrap_or("")
    );

    // A masked text frame "hi" (RFC 6455 section 5.3: clients mask with a 4-byte key).
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x82];
    frame.extend_from_slice(&mask);
    frame.extend(b"hi".iter().zip(mask).map(|(b, m)| b ^ m));
    client.write_all(&frame)?;
    let mut reply = [0u8; 4];
    client.read_exact(&mut reply)?;
    println!("echoed: {:?}", String::from_utf8_lossy(&reply[2..]));

    // The handle works from any thread: what /metrics serves, the open connections, shutdown.
    let handle = server.handle();
    println!("open connections: {}", handle.connections());
    handle.shutdown();
    server.join()
}
