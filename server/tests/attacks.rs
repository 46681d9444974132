//! Attacks on the whole process, against the binary: 300 clients each holding an unfinished
//! compressed message that would inflate to 60 MiB, then 300 each holding an unfinished 4 MiB
//! plain message. The server's resident memory stays under its budget plus its idle
//! footprint, the attackers are closed with the budget's codes, and a well-behaved echo client
//! is served throughout. Prints the figures RELIABILITY.md reports (`--nocapture`).
//! `SWITCHYARD_ATTACK_CLIENTS` changes the number of attackers per attack (default 300; for
//! the compressed attack 60 in a debug build, whose unoptimised inflater would take minutes
//! for 300: RELIABILITY.md's figures come from `cargo test --release`).

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use tungstenite::Message;

const BUDGET: usize = 256 << 20;

/// The server process, killed when the test ends however it ends.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> ServerProcess {
    let (child, addr, _) = spawn_binary(args);
    ServerProcess { child, addr }
}

/// Resident memory of `pid` in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Samples the resident memory every 10 ms until stopped; returns the peak.
fn watch_rss(pid: u32, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(rss(pid));
            thread::sleep(Duration::from_millis(10));
        }
        peak
    })
}

/// A well-behaved client on `path` (`/echo`, or `/broadcast`, where it is the only subscriber
/// and gets its own messages back) sending a small message every 10 ms; every message must
/// come back, in order, and the round trips are kept.
fn well_behaved(
    addr: SocketAddr,
    path: &'static str,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Vec<Duration>> {
    let url = format!("ws://{addr}{path}");
    thread::spawn(move || {
        let (mut ws, _) = tungstenite::connect(url).expect("the well-behaved client connects");
        let mut rtts = Vec::new();
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let text = format!("ping {i}");
            let start = Instant::now();
            ws.send(Message::text(text.clone())).expect("send");
            loop {
                match ws.read().expect("the well-behaved client was dropped") {
                    Message::Text(t) => {
                        assert_eq!(t.as_str(), text);
                        break;
                    }
                    _ => continue,
                }
            }
            rtts.push(start.elapsed());
            i += 1;
            thread::sleep(Duration::from_millis(10));
        }
        rtts
    })
}

fn metric(addr: SocketAddr, series: &str) -> u64 {
    http_get(addr, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// Runs one attack: `clients` connections each send `frame` after an upgrade with
/// `extra_headers`; reports and checks what the server did.
fn attack(name: &str, extra_headers: &str, frame: &[u8], clients: usize) {
    let server = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--no-pin",
        "--memory-budget",
        &BUDGET.to_string(),
        // 64 MiB messages are allowed, so that the budget, not the message limit, stops them.
        "--max-message-size",
        "67108864",
    ]);
    let pid = server.child.id();
    let idle_rss = rss(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let peak = watch_rss(pid, stop.clone());
    let good = well_behaved(server.addr, "/echo", stop.clone());
    let subscriber = well_behaved(server.addr, "/broadcast", stop.clone());
    let start = Instant::now();
    let closed = Arc::new(AtomicU64::new(0));
    let codes = Arc::new(Mutex::new(Vec::new()));
    let mut attackers = Vec::new();
    for _ in 0..clients {
        let mut s: TcpStream = raw_ws_with(server.addr, "/echo", extra_headers);
        // A close may come while we still write: that is the server refusing, not a failure.
        let _ = s.write_all(frame);
        attackers.push(s);
    }
    let sent = start.elapsed();
    // Read every attacker's fate (a close code, or none: still held) in parallel.
    let readers: Vec<_> = attackers
        .into_iter()
        .map(|mut s| {
            let (closed, codes) = (closed.clone(), codes.clone());
            thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let code = raw_close_code(&mut s);
                if code.is_some() {
                    closed.fetch_add(1, Ordering::Relaxed);
                }
                codes.lock().unwrap().push(code);
                s
            })
        })
        .collect();
    let held: Vec<TcpStream> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    let shed_time = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let peak = peak.join().unwrap();
    let mut rtts = good.join().unwrap();
    rtts.sort();
    let mut broadcast = subscriber.join().unwrap();
    broadcast.sort();
    let codes = codes.lock().unwrap().clone();
    let count = |c: Option<u16>| codes.iter().filter(|&&x| x == c).count();
    let shed = metric(
        server.addr,
        "switchyard_budget_closes_total{reason=\"shed\"}",
    );
    let too_big = metric(
        server.addr,
        "switchyard_budget_closes_total{reason=\"too_big\"}",
    );
    println!(
        "{name}: {clients} attackers sent in {:.2} s, fates read by {:.2} s: {} closed 1009, \
         {} closed 1013, {} other closes, {} still held (shed {shed}, too_big {too_big}); \
         resident memory idle {} MiB, peak {} MiB (budget {} MiB); well-behaved echo: {} round \
         trips, p50 {:?}, p99 {:?}, max {:?}; broadcast subscriber: {} messages, p50 {:?}, \
         p99 {:?}",
        sent.as_secs_f64(),
        shed_time.as_secs_f64(),
        count(Some(1009)),
        count(Some(1013)),
        codes
            .iter()
            .flatten()
            .filter(|&&c| c != 1009 && c != 1013)
            .count(),
        count(None),
        idle_rss >> 20,
        peak >> 20,
        BUDGET >> 20,
        rtts.len(),
        percentile(&rtts, 0.5),
        percentile(&rtts, 0.99),
        rtts.last().unwrap(),
        broadcast.len(),
        percentile(&broadcast, 0.5),
        percentile(&broadcast, 0.99),
    );
    // Under the budget plus what the process held idle, with room for the allocator's own
    // bookkeeping and the read buffers.
    assert!(
        peak <= idle_rss + BUDGET as u64 + (32 << 20),
        "peak resident memory {} MiB",
        peak >> 20
    );
    assert!(
        codes.iter().flatten().all(|&c| c == 1009 || c == 1013),
        "{codes:?}"
    );
    assert!(!rtts.is_empty() && !broadcast.is_empty());
    drop(held);
}

fn clients(debug_default: usize) -> usize {
    let default = if cfg!(debug_assertions) {
        debug_default
    } else {
        300
    };
    std::env::var("SWITCHYARD_ATTACK_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn unfinished_compressed_messages_that_inflate_to_60_mib() {
    // The first fragment (RSV1, no FIN) of a binary message of 60 MiB of zeros.
    let frame = client_frame_raw(0x42, &bomb(60 << 20));
    attack("compressed 60 MiB", DEFLATE, &frame, clients(60));
}

#[test]
fn unfinished_plain_messages_of_4_mib() {
    // The first fragment (no FIN) of a binary message, 4 MiB of it.
    let frame = client_frame_raw(0x02, &vec![1u8; 4 << 20]);
    attack("plain 4 MiB", "", &frame, clients(300));
}
