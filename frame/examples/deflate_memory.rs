//! Resident memory per idle connection with permessage-deflate: creates N server-side
//! connections, each receiving one compressed message and sending one, then reads VmRSS from
//! /proc/self/status.
//!
//! ```text
//! cargo run --release -p switchyard-frame --example deflate_memory -- 10000 takeover
//! cargo run --release -p switchyard-frame --example deflate_memory -- 10000 no-takeover
//! cargo run --release -p switchyard-frame --example deflate_memory -- 10000 off
//! cargo run --release -p switchyard-frame --example deflate_memory -- 10000 takeover 9
//! ```
//!
//! Modes: `takeover` (context kept both ways, the default agreement), `no-takeover` (both
//! `*_no_context_takeover`), `server-no-takeover` (only the server resets: what a server can
//! impose unasked), `off` (no extension: the baseline). Run each in its own process. An
//! optional third argument sets both agreed window sizes (default 15).

use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, PermessageDeflate};
use switchyard_frame::{Config, Connection, Event, OpCode, Role};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(10_000, |n| n.parse().expect("a count"));
    let mode = args.next().unwrap_or_else(|| "takeover".into());
    let window_bits: u8 = args
        .next()
        .map_or(15, |n| n.parse().expect("window bits 8..=15"));
    let agreed = match mode.as_str() {
        "takeover" | "off" => DeflateConfig::default(),
        "no-takeover" => DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        },
        "server-no-takeover" => DeflateConfig {
            server_no_context_takeover: true,
            ..DeflateConfig::default()
        },
        other => panic!("unknown mode {other}"),
    };
    let agreed = DeflateConfig {
        server_max_window_bits: window_bits,
        client_max_window_bits: window_bits,
        ..agreed
    };
    let deflate = mode != "off";

    // The client side: every message stands alone, so any fresh server can read it.
    let standalone = DeflateConfig {
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let mut client = Connection::new(Role::Client, Config::default());
    if deflate {
        client.set_extension(Box::new(
            PermessageDeflate::new(Role::Client, standalone, CompressionPolicy::default()).unwrap(),
        ));
    }

    let before = rss_kib();
    let mut servers = Vec::with_capacity(count);
    let mut sent = 0usize;
    for i in 0..count {
        let mut server = Connection::new(Role::Server, Config::default());
        if deflate {
            server.set_extension(Box::new(
                PermessageDeflate::new(Role::Server, agreed, CompressionPolicy::default()).unwrap(),
            ));
        }
        let text = format!(
            r#"{{"connection":{i},"type":"hello","user":"user-{i}","room":"lobby","features":["chat","presence","typing"],"ts":1732470000{i:05}}}"#
        );
        let mut wire = Vec::new();
        client
            .encode_message(OpCode::Text, text.as_bytes(), &mut wire)
            .unwrap();
        let progress = server.handle_bytes(&mut wire).unwrap();
        let Some(Event::Text(received)) = progress.event else {
            panic!("no message");
        };
        assert_eq!(received, text);
        let mut reply = Vec::new();
        server
            .encode_message(OpCode::Text, text.as_bytes(), &mut reply)
            .unwrap();
        sent += reply.len();
        servers.push(server);
    }
    let after = rss_kib();
    let per_connection = (after.saturating_sub(before)) as f64 * 1024.0 / count as f64;
    println!(
        "mode={mode} window_bits={window_bits} connections={count} rss_before={before} KiB rss_after={after} KiB \
         per_connection={:.0} B ({:.1} KiB) reply_bytes={sent}",
        per_connection,
        per_connection / 1024.0
    );
    drop(servers);
}
