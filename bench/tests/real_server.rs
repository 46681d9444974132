//! `switchyard-load` against the real `switchyard` server: several threads give the same totals
//! as one, permessage-deflate is agreed and compressed echoes are decompressed and checked, N x
//! N broadcast delivers every message to every client exactly, subprotocols are offered and
//! checked, and `--timeline` writes one line per second.
//!
//! The server binary comes from the same target directory (`target/<profile>/switchyard`); it is
//! built with `cargo build -p switchyard` first if missing.

mod common;

use common::{parse, wait_until};

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The `switchyard` binary beside this test's profile directory, built if missing.
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/real_server-HASH -> target/<profile>
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let bin = profile_dir.join("switchyard");
    if !bin.exists() {
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "switchyard"]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build -p switchyard");
        assert!(status.success(), "cargo build -p switchyard failed");
    }
    bin
}

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    /// A switchyard with one worker on a free port, with `args` added.
    fn start(args: &[&str]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(server_binary())
            .args(["--listen", &addr, "--workers", "1"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start switchyard");
        wait_until(Duration::from_secs(10), "switchyard to listen", || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
        Self { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs switchyard-load with `args` (the target first) and returns its JSON report.
fn load(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard-load"))
        .args(["--json", "--quiet"])
        .args(args)
        .output()
        .expect("run switchyard-load");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(std::str::from_utf8(&out.stdout).unwrap())
}

fn count(report: &Value, name: &str) -> u64 {
    report[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} in {report}"))
}

#[test]
fn two_threads_give_the_same_totals_as_one() {
    let server = Server::start(&[]);
    let url = format!("ws://{}/", server.addr);
    for threads in ["1", "2"] {
        // Two threads on one core: the design must work even where they add no CPU.
        let common = ["--threads", threads, "--cpus", "0,0", url.as_str()];
        let storm = load(
            &[
                &common[..],
                &["upgrade", "--count", "301", "--concurrency", "8"],
            ]
            .concat(),
        );
        assert_eq!(count(&storm, "ops"), 301, "{threads} threads: {storm}");
        assert_eq!(count(&storm, "errors"), 0, "{storm}");
        assert_eq!(count(&storm, "threads"), threads.parse::<u64>().unwrap());
        let idle = load(&[&common[..], &["idle", "-c", "201", "--settle", "0.1"]].concat());
        assert_eq!(count(&idle, "open"), 201, "{threads} threads: {idle}");
        assert_eq!(count(&idle, "errors"), 0, "{idle}");
        let echo = load(
            &[
                &common[..],
                &[
                    "echo",
                    "-c",
                    "9",
                    "-w",
                    "4",
                    "-s",
                    "100",
                    "--duration",
                    "0.5",
                    "--warmup",
                    "0.1",
                ],
            ]
            .concat(),
        );
        assert_eq!(count(&echo, "open"), 9, "{echo}");
        assert_eq!(count(&echo, "errors"), 0, "{echo}");
        assert!(count(&echo, "ops") > 0, "{echo}");
        let busy = echo["generator_cpu_busy"].as_f64().unwrap();
        assert!((0.0..=1.5).contains(&busy), "{echo}");
        let per_thread = echo["load_cpu_pct_per_thread"].as_str().unwrap();
        assert_eq!(
            per_thread.split(',').count(),
            threads.parse::<usize>().unwrap()
        );
    }
    // Broadcast with the publisher on thread 0 and subscribers on both: the ring of delivery
    // counts is shared, so the closed loop keeps going and every delivery is checked.
    let url = format!("ws://{}/broadcast", server.addr);
    let report = load(&[
        "--threads",
        "2",
        "--cpus",
        "0,0",
        &url,
        "broadcast",
        "-c",
        "50",
        "-w",
        "4",
        "--duration",
        "0.5",
        "--warmup",
        "0.1",
    ]);
    assert_eq!(count(&report, "open"), 51, "{report}");
    assert_eq!(count(&report, "errors"), 0, "{report}");
    let complete = count(&report, "broadcasts_complete");
    assert!(complete > 10, "{report}");
}

#[test]
fn n_by_n_broadcast_delivers_every_message_to_every_client() {
    let server = Server::start(&[]);
    let url = format!("ws://{}/broadcast", server.addr);
    for threads in ["1", "2"] {
        let report = load(&[
            "--threads",
            threads,
            &url,
            "broadcast",
            "--all-publish",
            "-c",
            "40",
            "-w",
            "2",
            "--duration",
            "0.5",
            "--warmup",
            "0.1",
        ]);
        assert_eq!(count(&report, "errors"), 0, "{report}");
        assert_eq!(count(&report, "receivers"), 40, "sender included: {report}");
        let published = count(&report, "published_total");
        assert!(published >= 80, "{report}");
        assert_eq!(
            count(&report, "delivered_total"),
            published * 40,
            "{report}"
        );
        assert_eq!(count(&report, "deliveries_missing"), 0, "{report}");
    }
    // With exclude-sender a message makes N - 1 deliveries (open loop: no own echo).
    let server = Server::start(&["--route", "/room=broadcast:exclude-sender"]);
    let url = format!("ws://{}/room", server.addr);
    let report = load(&[
        "--rate",
        "400",
        &url,
        "broadcast",
        "--all-publish",
        "--exclude-sender",
        "-c",
        "20",
        "--duration",
        "0.5",
        "--warmup",
        "0.1",
    ]);
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(count(&report, "receivers"), 19, "{report}");
    let published = count(&report, "published_total");
    assert!(published > 100, "{report}");
    assert_eq!(
        count(&report, "delivered_total"),
        published * 19,
        "{report}"
    );
}

#[test]
fn deflate_is_agreed_and_compressed_echoes_are_checked() {
    let server = Server::start(&["--deflate", "on"]);
    let url = format!("ws://{}/", server.addr);
    let report = load(&[
        "--deflate",
        &url,
        "echo",
        "-c",
        "4",
        "-w",
        "2",
        "-s",
        "600",
        "--duration",
        "0.5",
        "--warmup",
        "0.1",
    ]);
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(count(&report, "deflate_agreed"), 4, "{report}");
    let ops = count(&report, "ops");
    let compressed = count(&report, "compressed_messages");
    assert!(ops > 0 && compressed > 0, "{report}");
    // Every echo of 600 compressible bytes comes back compressed (the window may cut one).
    assert!(compressed + 8 >= ops, "{report}");
    assert!(
        count(&report, "compressed_wire_bytes") * 2 < count(&report, "compressed_inflated_bytes"),
        "{report}"
    );
    // A server that declines: nothing compressed, still no error.
    let plain = Server::start(&["--deflate", "off"]);
    let report = load(&[
        "--deflate",
        &format!("ws://{}/", plain.addr),
        "echo",
        "-c",
        "2",
        "-s",
        "600",
        "--duration",
        "0.3",
        "--warmup",
        "0.1",
    ]);
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(count(&report, "deflate_declined"), 2, "{report}");
    assert_eq!(count(&report, "compressed_messages"), 0, "{report}");
}

/// Broadcasts reach deflate subscribers compressed (once per message on the server, shared):
/// every delivery of a compressible 200-byte message arrives compressed, on two threads.
#[test]
fn deflate_broadcasts_arrive_compressed_and_checked() {
    let server = Server::start(&[]);
    let report = load(&[
        "--deflate",
        "--threads",
        "2",
        "--cpus",
        "0,0",
        &format!("ws://{}/broadcast", server.addr),
        "broadcast",
        "-c",
        "20",
        "-w",
        "2",
        "-s",
        "200",
        "--duration",
        "0.5",
        "--warmup",
        "0.1",
    ]);
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(count(&report, "deflate_agreed"), 21, "{report}");
    let (ops, compressed) = (count(&report, "ops"), count(&report, "compressed_messages"));
    assert!(ops > 0 && compressed >= ops, "{report}");
    assert!(
        count(&report, "compressed_wire_bytes") < count(&report, "compressed_inflated_bytes"),
        "{report}"
    );
}

#[test]
fn subprotocols_are_offered_and_the_choice_counted() {
    let server = Server::start(&["--subprotocol", "chat.v2"]);
    let report = load(&[
        "--subprotocol",
        "chat.v1",
        "--subprotocol",
        "chat.v2",
        &format!("ws://{}/", server.addr),
        "idle",
        "-c",
        "3",
        "--settle",
        "0.1",
    ]);
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(report["subprotocols"], "3 x chat.v2", "{report}");
    assert_eq!(count(&report, "subprotocol_none"), 0, "{report}");
}

#[test]
fn the_timeline_has_one_line_per_second() {
    let server = Server::start(&[]);
    let dir = std::env::temp_dir().join(format!("switchyard-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.jsonl");
    let csv = dir.join("echo.csv");
    let url = format!("ws://{}/", server.addr);
    for (file, format) in [(&path, "json"), (&csv, "csv")] {
        let report = load(&[
            "--threads",
            "2",
            "--timeline",
            file.to_str().unwrap(),
            "--timeline-format",
            format,
            "--server-pid",
            &server.child.id().to_string(),
            &url,
            "echo",
            "-c",
            "4",
            "--duration",
            "3",
            "--warmup",
            "0.2",
        ]);
        assert_eq!(count(&report, "errors"), 0, "{report}");
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text.lines().map(parse).collect();
    // The baseline (second 0), then about 3.2 s of traffic after the opening: 3 whole seconds
    // at least, at most 4.
    assert_eq!(lines[0]["t"], 0, "{text}");
    assert_eq!(lines[0]["open"], 0, "{text}");
    let lines = &lines[1..];
    assert!((3..=4).contains(&lines.len()), "{text}");
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["t"], i as u64 + 1, "{text}");
        assert_eq!(line["open"], 4, "{text}");
        assert_eq!(line["load_cpu_pct"].as_array().unwrap().len(), 2, "{text}");
        assert!(
            line["server_rss_kib"].as_u64().is_some_and(|k| k > 0),
            "{text}"
        );
    }
    assert!(lines[1]["ops_per_s"].as_u64().unwrap() > 0, "{text}");
    let csv = std::fs::read_to_string(&csv).unwrap();
    let mut rows = csv.lines();
    assert!(
        rows.next()
            .unwrap()
            .starts_with("t,ops_per_s,latency_p50_us"),
        "{csv}"
    );
    let rows: Vec<&str> = rows.collect();
    assert!(rows[0].starts_with("0,0,"), "{csv}");
    assert!((4..=5).contains(&rows.len()), "{csv}");
    assert!(rows.iter().all(|r| r.split(',').count() == 10), "{csv}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ramp_up_without_rate_opens_connections_linearly() {
    let server = Server::start(&[]);
    let dir = std::env::temp_dir().join(format!("switchyard-ramp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("idle.jsonl");
    let report = load(&[
        "--ramp-up",
        "2",
        "--threads",
        "2",
        "--timeline",
        path.to_str().unwrap(),
        &format!("ws://{}/", server.addr),
        "idle",
        "-c",
        "1000",
        "--settle",
        "1.2",
    ]);
    assert_eq!(count(&report, "open"), 1000, "{report}");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text.lines().map(parse).collect();
    // Half way through the 2 s ramp, about half are open; all of them after it.
    let at_1s = lines[1]["open"].as_u64().unwrap();
    assert!((300..=700).contains(&at_1s), "{text}");
    assert_eq!(lines.last().unwrap()["open"], 1000, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
