//! `switchyard-load idle --hold --release-on-eof`, the building block of `bench/idle100k.py`:
//! two generator processes hold their connections to one null server at the same time, each
//! announces its hold on stdout, and each lets go as soon as its stdin is closed (long before
//! the hold's bound).

mod common;

use common::field;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Descriptors open in process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn two_generators_hold_together_and_release_on_eof() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let server = Killed(
        Command::new(env!("CARGO_BIN_EXE_switchyard-null"))
            .arg(&addr)
            .stderr(Stdio::null())
            .spawn()
            .expect("start switchyard-null"),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "null server never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The probe connections above may still be open on the server's side: take the baseline
    // once the count has stopped changing.
    let mut baseline = open_fds(server.0.id());
    let settle = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = open_fds(server.0.id());
        if now == baseline || settle.elapsed() > Duration::from_secs(5) {
            break;
        }
        baseline = now;
    }

    let mut generators: Vec<(Killed, BufReader<ChildStdout>)> = (0..2)
        .map(|_| {
            let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard-load"))
                .args(["--addr", &addr, "--json", "--quiet", "--sources", "4"])
                .args(["idle", "-c", "100", "--settle", "0.1"])
                .args(["--hold", "60", "--release-on-eof"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("run switchyard-load");
            let out = BufReader::new(child.stdout.take().unwrap());
            (Killed(child), out)
        })
        .collect();
    for (_, out) in &mut generators {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(line.contains("\"event\": \"held\""), "{line}");
        assert_eq!(field(&line, "open"), 100.0, "{line}");
        assert_eq!(field(&line, "errors"), 0.0, "{line}");
    }
    // Both hold at once: the server has all 200 (the null server closes nothing by itself).
    assert!(
        open_fds(server.0.id()) >= baseline + 200,
        "server holds both generators' connections"
    );

    let released = Instant::now();
    for (child, out) in &mut generators {
        drop(child.0.stdin.take());
        let mut report = String::new();
        out.read_line(&mut report).unwrap();
        assert_eq!(field(&report, "open_after_hold"), 100.0, "{report}");
        assert!(child.0.wait().unwrap().success());
    }
    assert!(
        released.elapsed() < Duration::from_secs(30),
        "closing stdin ends the 60 s hold early"
    );
}
