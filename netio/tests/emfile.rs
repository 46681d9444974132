//! `EMFILE` on accept: the reactor backs off instead of spinning, and accepts again once
//! descriptors free up. The server runs in a child process (this test binary re-executed with
//! an environment variable) whose `RLIMIT_NOFILE` is lowered with `ulimit -n`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use switchyard_netio::{start, AcceptMode, Accepted, Balance, Config, ConnId, Ctx, Handler};

const CHILD_ENV: &str = "NETIO_EMFILE_CHILD";

struct Echo;

impl Handler for Echo {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<()> {
        Some(())
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), data: &mut [u8]) {
        let _ = ctx.write(id, data);
    }
}

/// The child: an echo server that prints its port and runs until its stdin closes.
#[test]
fn emfile_child() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let accept = if mode == "acceptor" {
        AcceptMode::Acceptor(Balance::RoundRobin)
    } else {
        AcceptMode::ReusePort
    };
    let config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 1,
        accept,
        accept_backoff: Duration::from_millis(50),
        ..Config::default()
    };
    let server = start(config, |_| Echo).unwrap();
    println!("PORT {}", server.local_addrs()[0].port());
    std::io::stdout().flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// The child's `RLIMIT_NOFILE`: it holds fewer descriptors than there are clients.
const FD_LIMIT: usize = 40;

/// Every descriptor number below `FD_LIMIT` is taken in process `pid`: the next accept fails
/// with EMFILE. (A count of `/proc/PID/fd` would not do: descriptors inherited above the limit
/// count too.)
fn descriptor_table_full(pid: u32) -> bool {
    (0..FD_LIMIT).all(|fd| std::fs::symlink_metadata(format!("/proc/{pid}/fd/{fd}")).is_ok())
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn backs_off(mode: &str) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {FD_LIMIT} && exec \"$0\" --exact emfile_child --nocapture --test-threads=1"
        ))
        .arg(exe)
        .env(CHILD_ENV, mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines.next().expect("child printed its port").unwrap();
        // libtest prints the test name on the same line.
        if let Some(at) = line.find("PORT ") {
            break line[at + 5..].trim().parse().unwrap();
        }
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    // More clients than the child has descriptors: the kernel queues the rest in the backlog.
    let mut clients: Vec<_> = (0..80).map(|_| client(addr)).collect();
    wait_until("the child to run out of descriptors", || {
        descriptor_table_full(child.id())
    });
    let before = cpu_ticks(child.id());
    // Kept on purpose: the CPU the child uses over one second out of descriptors is the measure.
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(child.id()) - before;
    // A spinning accept loop would use ~100 ticks (a whole core) in that second.
    assert!(
        used < 25,
        "the server used {used} ticks of CPU in 1 s while out of descriptors"
    );
    for c in &mut clients {
        send(c, b"x");
    }
    // Free descriptors: the queued connections must be accepted and served after the backoff.
    let late = clients.split_off(40);
    drop(clients);
    for mut c in late {
        assert_eq!(
            read_n(&mut c, 1),
            b"x",
            "a connection queued during EMFILE is served"
        );
    }
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "child exited with {status}");
}

#[test]
fn emfile_backs_off_and_recovers_reuseport() {
    if std::env::var_os(CHILD_ENV).is_none() {
        backs_off("reuseport");
    }
}

#[test]
fn emfile_backs_off_and_recovers_acceptor() {
    if std::env::var_os(CHILD_ENV).is_none() {
        backs_off("acceptor");
    }
}
