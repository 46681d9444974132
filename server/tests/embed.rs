//! The embedder's API: a server started in-process, its thread-safe handle (connection count,
//! metrics, shutdown from another thread), and the configuration types at the crate root.

mod common;

use std::time::Duration;

use common::*;
use switchyard::{Config, Server};

#[test]
fn the_handle_counts_connections_renders_metrics_and_shuts_down_from_another_thread() {
    let mut config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        workers: 2,
        pin: false,
        ..Config::default()
    };
    config.routes.insert_spec("/chat=broadcast").unwrap();
    let server = Server::start(config).unwrap();
    let handle = server.handle();
    assert_eq!(handle.connections(), 0);
    let test_server = TestServer {
        addr: server.local_addrs()[0],
        server: None,
    };
    let mut ws = common::ws(&test_server, "/chat");
    assert!(eventually(Duration::from_secs(5), || handle.connections() == 1));
    let text = handle.metrics_text();
    assert!(
        text.contains("switchyard_upgrades_total{protocol=\"websocket\"} 1"),
        "{text}"
    );
    ws.send(tungstenite::Message::text("hello")).unwrap();
    assert_eq!(next_data(&mut ws), tungstenite::Message::text("hello"));

    let remote = handle.clone();
    std::thread::spawn(move || remote.shutdown())
        .join()
        .unwrap();
    assert_eq!(close_code(&mut ws), 1001);
    server.join().unwrap();
    // The handle outlives the server: shutdown is then a no-op.
    handle.shutdown();
}
