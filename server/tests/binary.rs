//! The `switchyard` binary itself: the first log line, a TOML config file, `--help`, and
//! SIGTERM (every client gets close 1001, the process exits 0).

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tungstenite::Message;

/// Starts the binary with `args`; returns it and the address from its first log line.
fn spawn(args: &[&str]) -> (Child, SocketAddr, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while stderr.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    let addr = first
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split([' ', ',']).next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in the first log line: {first:?}"));
    (child, addr, first)
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > within {
            let _ = child.kill();
            panic!("the server did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn first_line_then_sigterm_closes_every_client_with_1001_and_exits_0() {
    let (mut child, addr, first) = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--no-pin",
        "--shutdown-timeout",
        "3",
    ]);
    assert!(first.contains("workers=2"), "{first}");
    assert!(first.contains("unpinned"), "{first}");
    let server = TestServerAddr(addr);
    let mut clients: Vec<_> = (0..4).map(|_| server.ws("/echo")).collect();
    for c in clients.iter_mut() {
        c.send(Message::text("x")).unwrap();
        next_data(c);
    }
    sigterm(&child);
    for c in clients.iter_mut() {
        assert_eq!(close_code(c), 1001);
    }
    let status = wait_exit(&mut child, Duration::from_secs(5));
    assert!(status.success(), "{status}");
}

#[test]
fn toml_config_file_sets_routes_and_limits() {
    let dir = std::env::temp_dir().join(format!("switchyard-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        "listen = [\"127.0.0.1:0\"]\nworkers = 1\npin = false\nmax_message_size = 100\n\
         [routes]\n\"/room\" = \"broadcast\"\n",
    )
    .unwrap();
    let (mut child, addr, first) = spawn(&["--config", path.to_str().unwrap()]);
    assert!(first.contains("/room=broadcast"), "{first}");
    assert!(first.contains("workers=1"), "{first}");
    let server = TestServerAddr(addr);
    let mut a = server.ws("/room");
    let mut b = server.ws("/room");
    a.send(Message::text("hi")).unwrap();
    assert_eq!(next_data(&mut b), Message::text("hi"));
    a.send(Message::binary(vec![0u8; 101])).unwrap();
    assert_eq!(close_code(&mut a), 1009);
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_flags_exit_with_status_2_and_help_reads_well() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["--workers", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("workers must be at least 1"));
    let help = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--listen",
        "--subprotocol",
        "--route",
        "--config",
        "--workers",
        "--max-message-size",
        "--allow-origin",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

/// A server address for the common helpers (which expect a `TestServer`).
struct TestServerAddr(SocketAddr);

impl TestServerAddr {
    fn ws(&self, path: &str) -> Client {
        use tungstenite::client::IntoClientRequest as _;
        let req = format!("ws://{}{}", self.0, path)
            .into_client_request()
            .unwrap();
        tungstenite::client::client(req, tcp(self.0))
            .expect("websocket upgrade")
            .0
    }
}
