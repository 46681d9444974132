//! The `switchyard` binary itself: the first log line, a TOML config file, `--help`, and
//! SIGTERM (every client gets close 1001, the process exits 0; with every reactor busy, the
//! process still ends within the shutdown timeout plus the watchdog's grace).

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;
use switchyard::signals::{EXIT_WATCHDOG, WATCHDOG_GRACE};
use switchyard_frame::deflate::{CompressionPolicy, DeflateConfig, PermessageDeflate};
use switchyard_frame::{Config, Connection, OpCode, Role};
use tungstenite::Message;

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
    let (mut child, addr, first) = spawn_binary(&[
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
    let (mut child, addr, first) = spawn_binary(&["--config", path.to_str().unwrap()]);
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

/// One permessage-deflate binary message as a client sends it (masked, compressed without
/// context takeover, so the same bytes can be sent again and again).
fn compressed_message(payload: &[u8]) -> Vec<u8> {
    let mut client = Connection::new(Role::Client, Config::default());
    let config = DeflateConfig {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let deflate = PermessageDeflate::new(Role::Client, config, CompressionPolicy::default());
    client.set_extension(Box::new(deflate.unwrap()));
    let mut wire = Vec::new();
    client
        .encode_message(OpCode::Binary, payload, &mut wire)
        .unwrap();
    wire
}

/// `clients` connections to `/echo` with permessage-deflate, each sending `wire` in a loop from
/// one thread and discarding the echoes in another, until the server goes away (or a minute
/// passes). Returns once echoes come back: the reactors are busy.
fn keep_busy(
    addr: SocketAddr,
    wire: &std::sync::Arc<Vec<u8>>,
    clients: usize,
) -> Vec<std::thread::JoinHandle<()>> {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let echoed = Arc::new(AtomicUsize::new(0));
    let give_up = Instant::now() + Duration::from_secs(60);
    // Every upgrade first: once messages flow, a reactor may not answer a handshake for a while.
    let upgraded: Vec<_> = (0..clients)
        .map(|_| {
            raw_ws_with(
                addr,
                "/echo",
                "Sec-WebSocket-Extensions: permessage-deflate\r\n",
            )
        })
        .collect();
    let mut threads = Vec::new();
    for s in upgraded {
        let mut reader = s.try_clone().unwrap();
        let echoed = Arc::clone(&echoed);
        threads.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            while Instant::now() < give_up {
                match reader.read(&mut buf) {
                    Ok(n @ 1..) => {
                        echoed.fetch_add(n, Ordering::SeqCst);
                    }
                    // EOF, a reset, or ten silent seconds: the server is gone or stuck.
                    _ => return,
                }
            }
        }));
        let wire = Arc::clone(wire);
        let mut s = s;
        threads.push(std::thread::spawn(move || {
            while Instant::now() < give_up && s.write_all(&wire).is_ok() {}
        }));
    }
    assert!(
        eventually(Duration::from_secs(30), || echoed.load(Ordering::SeqCst)
            > 0),
        "echoes before the signal"
    );
    threads
}

/// SIGTERM once to a server whose reactors are busy with `wire` from many clients: the process
/// ends within the shutdown timeout plus the watchdog's grace (and some slack for a loaded test
/// machine). Returns the exit status.
fn sigterm_while_busy(wire: Vec<u8>) -> std::process::ExitStatus {
    let timeout = Duration::from_millis(300);
    let (mut child, addr, _) = spawn_binary(&[
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--no-pin",
        "--shutdown-timeout",
        &timeout.as_secs_f64().to_string(),
    ]);
    let threads = keep_busy(addr, &std::sync::Arc::new(wire), 8);
    let start = Instant::now();
    sigterm(&child);
    let status = wait_exit(
        &mut child,
        timeout + WATCHDOG_GRACE + Duration::from_secs(2),
    );
    let took = start.elapsed();
    eprintln!("exited with {status} after {took:?}");
    for t in threads {
        t.join().unwrap();
    }
    status
}

#[test]
fn sigterm_while_reactors_inflate_large_messages_ends_the_process_in_time() {
    // 8 MiB of zeros deflates to a few KiB: one 256 KiB read holds dozens of them, seconds of
    // inflating and recompressing in one callback (longer than the shutdown timeout in a debug
    // build). The reactors may not reach their loop in time: then the watchdog ends the
    // process, with its own status.
    let wire = compressed_message(&vec![0u8; 8 << 20]);
    assert_eq!(wire[0], 0xC2, "the message is compressed");
    let status = sigterm_while_busy(wire);
    assert!(
        status.success() || status.code() == Some(EXIT_WATCHDOG),
        "{status}"
    );
}

#[test]
fn sigterm_while_reactors_are_busy_with_many_reads_ends_gracefully() {
    // Incompressible 1 MiB messages (sent uncompressed: deflate would not shrink them, but the
    // echo still tries): each read is a short piece of work, but every turn has a budget of
    // reads for every client. The reactors notice the signal and their deadline
    // between reads and stop by themselves: exit status 0.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let status = sigterm_while_busy(compressed_message(&noise));
    assert!(status.success(), "{status}");
}
