//! `switchyard-load idle --hold --release-on-eof`, the building block of `bench/idle100k.py`:
//! two generator processes hold their connections to one null server at the same time, each
//! announces its hold on stdout, and each lets go as soon as its stdin is closed (long before
//! the hold's bound).

mod common;

use common::{parse, wait_until, Held, Report};

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Sockets among the descriptors of process `pid`.
fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
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
    wait_until(Duration::from_secs(10), "the null server to listen", || {
        std::net::TcpStream::connect(&addr).is_ok()
    });
    // The probe connection that got through is closed on our side: wait until the server has
    // closed its side too, leaving its listener as its only socket.
    let pid = server.0.id();
    wait_until(
        Duration::from_secs(10),
        "the server to close the probe",
        || open_sockets(pid) == 1,
    );

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
    for (child, out) in &mut generators {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let held: Held = parse(&line);
        assert_eq!(held.event, "held", "{line}");
        assert_eq!(held.pid, child.0.id(), "{line}");
        assert_eq!(held.open, 100, "{line}");
        assert_eq!(held.errors, 0, "{line}");
        assert_eq!(held.hold_s, 60.0, "{line}");
    }
    // Both hold at once: the server has all 200 (the null server closes nothing by itself).
    assert_eq!(
        open_sockets(pid),
        1 + 200,
        "server holds its listener and both generators' connections"
    );

    let released = Instant::now();
    for (child, out) in &mut generators {
        drop(child.0.stdin.take());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let report: Report = parse(&line);
        assert_eq!(report.scenario, "idle", "{line}");
        assert_eq!(report.open, Some(100), "{line}");
        assert_eq!(report.open_after_hold, Some(100), "{line}");
        assert_eq!(report.errors, 0, "{line}");
        assert!(child.0.wait().unwrap().success());
    }
    assert!(
        released.elapsed() < Duration::from_secs(30),
        "closing stdin ends the 60 s hold early"
    );
}
