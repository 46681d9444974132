//! The load generator against the null server, over loopback: every scenario completes with
//! operations counted, no errors, and the server's CPU and memory read from /proc.

mod common;

use common::field;

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

struct NullServer {
    child: Child,
    addr: String,
}

impl NullServer {
    fn start() -> Self {
        // Find a free port, then hand it to the server (a tiny race, acceptable in a test).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_switchyard-null"))
            .arg(&addr)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start switchyard-null");
        let start = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "null server never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, addr }
    }
}

impl Drop for NullServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs switchyard-load with `args` against `server` and returns its JSON output.
fn load(server: &NullServer, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard-load"))
        .args(["--addr", &server.addr, "--json", "--quiet"])
        .args(["--server-pid", &server.child.id().to_string()])
        .args(args)
        .output()
        .expect("run switchyard-load");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn upgrade_storm_counts_every_upgrade() {
    let server = NullServer::start();
    let json = load(
        &server,
        &["upgrade", "--count", "300", "--concurrency", "8"],
    );
    assert_eq!(field(&json, "ops"), 300.0, "{json}");
    assert_eq!(field(&json, "errors"), 0.0, "{json}");
    assert!(field(&json, "latency_p50_us") > 0.0);
    assert!(json.contains("server_cpu_us_per_op"), "{json}");
}

#[test]
fn echo_checks_payloads_text_and_binary() {
    let server = NullServer::start();
    for args in [
        &["echo", "-c", "4", "-w", "4", "-s", "16"][..],
        &["echo", "-c", "2", "-w", "2", "-s", "70000", "--binary"][..],
    ] {
        let mut args = args.to_vec();
        args.extend(["--duration", "0.5", "--warmup", "0.1"]);
        let json = load(&server, &args);
        assert!(field(&json, "ops") > 0.0, "{json}");
        assert_eq!(field(&json, "errors"), 0.0, "{json}");
        assert_eq!(field(&json, "open"), field(&json, "connections"), "{json}");
    }
}

#[test]
fn idle_reports_memory_per_connection() {
    let server = NullServer::start();
    let json = load(&server, &["idle", "-c", "200", "--settle", "0.2"]);
    assert_eq!(field(&json, "open"), 200.0, "{json}");
    assert_eq!(field(&json, "errors"), 0.0, "{json}");
    // The null server keeps a slab entry per connection: more than nothing.
    assert!(field(&json, "server_rss_per_conn_bytes") >= 0.0, "{json}");
}

#[test]
fn refuses_non_loopback_targets() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard-load"))
        .args([
            "--addr",
            "192.0.2.1:80",
            "--quiet",
            "upgrade",
            "--count",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
}
