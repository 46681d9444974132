//! Restarts that drop nothing: processes sharing one port with `--reuse-port` through a rolling
//! restart under load lose no connection attempt; without it, a second process on the port is
//! refused with the address named; `--drain-window` spreads the 1001 closes of a SIGTERM.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const MIGRATE_REQ: &str = "/proc/sys/net/ipv4/tcp_migrate_req";

/// Sets `net.ipv4.tcp_migrate_req` to 1 for the test (connections queued on a listener that
/// closes move to another socket of its SO_REUSEPORT group instead of being reset), and puts
/// the old value back on drop. Needs root (CI and the development machines run as root).
struct MigrateReq(Option<String>);

impl MigrateReq {
    fn enable() -> MigrateReq {
        let old = std::fs::read_to_string(MIGRATE_REQ).ok();
        match std::fs::write(MIGRATE_REQ, "1") {
            Ok(()) => MigrateReq(old),
            Err(e) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("cannot set {MIGRATE_REQ}: {e} (the test needs root)");
                }
                eprintln!(
                    "\n!!! {MIGRATE_REQ} cannot be set ({e}): connections queued on a closing \
                     listener may be reset, and this test may fail. Run as root. !!!\n"
                );
                MigrateReq(None)
            }
        }
    }
}

impl Drop for MigrateReq {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            let _ = std::fs::write(MIGRATE_REQ, old.trim());
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One connection attempt: connect, upgrade, get the 101.
fn attempt(addr: SocketAddr) -> Result<(), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&upgrade_request("/echo", ""))
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match std::io::Read::read(&mut s, &mut b) {
            Ok(0) => return Err(format!("closed after {:?}", String::from_utf8_lossy(&buf))),
            Ok(_) => buf.push(b[0]),
            Err(e) => return Err(e.to_string()),
        }
    }
    if buf.starts_with(b"HTTP/1.1 101") {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&buf).into_owned())
    }
}

#[test]
fn a_rolling_restart_on_one_port_loses_no_connection_attempt() {
    let _migrate = MigrateReq::enable();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "--listen",
        &listen,
        "--reuse-port",
        "--workers",
        "2",
        "--no-pin",
        "--shutdown-timeout",
        "2",
    ];
    let mut a = Binary::spawn(&args, &[]);
    let addr = a.addr;

    // Without --reuse-port, a second process on the address is refused, naming it.
    let (status, stderr) = run_binary_to_exit(
        &["--listen", &listen, "--no-pin"],
        &[],
        Duration::from_secs(10),
    );
    assert!(!status.success());
    assert!(stderr.contains(&listen), "{stderr}");

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
            thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match attempt(addr) {
                        Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            failures.lock().unwrap().push(e);
                            0
                        }
                    };
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    // Roll: B starts beside A, A drains; C beside B, B drains.
    let mut b = Binary::spawn(&args, &[]);
    thread::sleep(Duration::from_millis(300));
    a.sigterm();
    assert!(a.wait_exit(Duration::from_secs(10)).success());
    let c = Binary::spawn(&args, &[]);
    thread::sleep(Duration::from_millis(300));
    b.sigterm();
    assert!(b.wait_exit(Duration::from_secs(10)).success());
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    let ok = ok.load(Ordering::Relaxed);
    assert!(
        failures.is_empty(),
        "{} of {} attempts failed: {:?}",
        failures.len(),
        ok + failures.len() as u64,
        &failures[..failures.len().min(5)]
    );
    assert!(ok > 100, "only {ok} attempts");
    drop(c);
}

#[test]
fn sigterm_with_a_drain_window_spreads_the_closes_over_it() {
    let mut server = Binary::spawn(
        &[
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--no-pin",
            "--drain-window",
            "1",
        ],
        &[],
    );
    let addr = server.addr;
    let clients: Vec<Client> = (0..20)
        .map(|_| {
            let (ws, _) =
                tungstenite::client::client(format!("ws://{addr}/echo"), tcp(addr)).unwrap();
            ws
        })
        .collect();
    let start = Instant::now();
    server.sigterm();
    let waits: Vec<_> = clients
        .into_iter()
        .map(|mut ws| thread::spawn(move || (close_code(&mut ws), start.elapsed())))
        .collect();
    let mut times: Vec<Duration> = waits
        .into_iter()
        .map(|w| {
            let (code, t) = w.join().unwrap();
            assert_eq!(code, 1001);
            t
        })
        .collect();
    times.sort();
    let spread = times[times.len() - 1] - times[0];
    assert!(
        spread > Duration::from_millis(400),
        "closes not spread: {times:?}"
    );
    assert!(
        times[times.len() - 1] < Duration::from_millis(2500),
        "{times:?}"
    );
    assert!(server.wait_exit(Duration::from_secs(10)).success());
}
