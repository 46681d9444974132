//! The load generator against the null server, over loopback: every scenario completes with
//! operations counted, no errors, and the server's CPU and memory read from /proc.

mod common;

use common::{parse, wait_until, Report};

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::Duration;

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
        wait_until(Duration::from_secs(10), "the null server to listen", || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
        Self { child, addr }
    }
}

impl Drop for NullServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs switchyard-load with `args` against `server` and returns its JSON report.
fn load(server: &NullServer, args: &[&str]) -> Report {
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
    parse(std::str::from_utf8(&out.stdout).unwrap())
}

#[test]
fn upgrade_storm_counts_every_upgrade() {
    let server = NullServer::start();
    let report = load(
        &server,
        &["upgrade", "--count", "300", "--concurrency", "8"],
    );
    assert_eq!(report.scenario, "upgrade", "{report:?}");
    assert_eq!(report.server, server.addr, "{report:?}");
    assert_eq!(report.ops, Some(300), "{report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    assert!(
        report.latency_p50_us.is_some_and(|us| us > 0.0),
        "{report:?}"
    );
    // With --server-pid and 300 upgrades done, CPU per upgrade is a finite number (null only
    // when nothing was done); the server may well have used less than one clock tick.
    assert!(
        report.server_cpu_us_per_op.is_some_and(|us| us >= 0.0),
        "{report:?}"
    );
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
        let report = load(&server, &args);
        let connections: u64 = args[2].parse().unwrap();
        assert_eq!(report.scenario, "echo", "{report:?}");
        assert!(report.ops.is_some_and(|n| n > 0), "{report:?}");
        assert_eq!(report.errors, 0, "{report:?}");
        assert_eq!(report.connections, Some(connections), "{report:?}");
        assert_eq!(report.open, Some(connections), "{report:?}");
    }
}

#[test]
fn idle_reports_memory_per_connection() {
    let server = NullServer::start();
    let report = load(&server, &["idle", "-c", "200", "--settle", "0.2"]);
    assert_eq!(report.scenario, "idle", "{report:?}");
    assert_eq!(report.open, Some(200), "{report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    // The figure is the growth of the server's VmRSS over the connections held: it must be
    // there (--server-pid given), agree with the before and after figures, and be plausible
    // (the null server holds a slab entry and two empty Vecs per connection, not kilobytes;
    // page granularity may make the growth 0).
    let (Some(before), Some(after), Some(per_conn)) = (
        report.server_rss_before_kib,
        report.server_rss_after_kib,
        report.server_rss_per_conn_bytes,
    ) else {
        panic!("server memory not reported: {report:?}");
    };
    assert!(
        ((after - before) * 1024.0 / 200.0 - per_conn).abs() < 0.01,
        "{report:?}"
    );
    assert!((0.0..4096.0).contains(&per_conn), "{report:?}");
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
