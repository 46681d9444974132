//! A ticker: clients of `/ticker` subscribe to one topic, and a plain thread (not a reactor)
//! publishes to it ten times a second through the thread-safe server handle. Each tick is
//! encoded once and the same bytes go to every subscriber on every core.
//!
//! ```sh
//! cargo run -p switchyard --example ticker -- 50   # 50 ticks, then a graceful shutdown
//! websocat ws://127.0.0.1:8080/ticker
//! ```

use std::time::Duration;

use switchyard::app::{App, Connection, Message, Upgrade, UpgradeRequest};
use switchyard::{Config, Server};

struct Ticker;

impl App for Ticker {
    type State = ();

    fn upgrade<'r>(&self, request: &UpgradeRequest<'r>) -> Upgrade<'r, ()> {
        match request.path() {
            "/ticker" => Upgrade::accept(()),
            _ => Upgrade::reject(404, "the ticker is at /ticker"),
        }
    }

    fn is_websocket_path(&self, path: &str) -> bool {
        path == "/ticker"
    }

    fn open(&self, conn: &mut Connection<'_, '_, Self>, _: &UpgradeRequest<'_>) {
        conn.subscribe("ticks");
    }

    // Clients only listen; what they send is ignored.
    fn message(&self, _: &mut Connection<'_, '_, Self>, _: Message<'_>) {}
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ticks: u64 = std::env::args()
        .nth(1)
        .map_or(Ok(u64::MAX), |n| n.parse())?;
    let config = Config {
        listen: vec!["127.0.0.1:8080".parse()?],
        ..Config::default()
    };
    let server = Server::start_app(config, Ticker)?;
    println!("ticks at ws://{}/ticker", server.local_addrs()[0]);
    let handle = server.handle();
    let publisher = std::thread::spawn(move || {
        for n in 0..ticks {
            let line = format!("tick {n}");
            handle.publish("ticks", Message::Text(&line));
            std::thread::sleep(Duration::from_millis(100));
        }
        handle.shutdown();
    });
    server.join()?;
    let _ = publisher.join();
    Ok(())
}
