//! `Config::private_descriptor_tables`: each reactor thread has its own descriptor table, yet
//! accepts, echoes, passes mailbox messages across reactors and shuts down as before; and the
//! process holds more connections than `RLIMIT_NOFILE` allows one table (in a child process
//! whose soft limit is lowered with `ulimit -S -n`, as `emfile.rs` does).

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use switchyard_netio::{
    start, AcceptMode, Accepted, Balance, Close, CloseReason, Config, ConnId, Ctx, Handler,
    SharedBytes,
};

const CHILD_ENV: &str = "NETIO_PRIVATE_TABLES_CHILD";

/// A reactor's private table copies every descriptor the process has open when it starts, and
/// keeps those copies until it exits: tests of this file must not overlap, or one test's
/// reactors would hold the other's sockets open.
static SERIAL: Mutex<()> = Mutex::new(());

/// Tells each client its reactor (one digit), echoes, relays "pub:..." to every reactor's
/// mailbox, says "bye" on shutdown. Counts open connections over all reactors.
struct Relay {
    index: usize,
    conns: Vec<ConnId>,
    open: Arc<AtomicUsize>,
}

impl Handler for Relay {
    type Conn = ();
    type Message = SharedBytes;
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<()> {
        self.conns.push(id);
        self.open.fetch_add(1, Ordering::SeqCst);
        ctx.write(id, &[b'0' + self.index as u8]).unwrap();
        Some(())
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), data: &mut [u8]) {
        match data.strip_prefix(b"pub:") {
            Some(rest) => {
                let msg = SharedBytes::from(rest);
                for m in ctx.mailboxes() {
                    m.send(msg.clone()).unwrap();
                }
            }
            None => ctx.write(id, data).unwrap(),
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, msg: SharedBytes) {
        for &id in &self.conns {
            let _ = ctx.write_shared(id, msg.clone());
        }
    }
    fn on_shutdown(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut ()) {
        let _ = ctx.write(id, b"bye");
        ctx.close(id, Close::AfterFlush);
    }
    fn on_close(&mut self, _: &mut Ctx<'_, Self>, id: ConnId, _: (), _: CloseReason) {
        self.conns.retain(|c| *c != id);
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn config(reactors: usize, private: bool) -> Config {
    Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors,
        pin: false,
        private_descriptor_tables: private,
        ..Config::default()
    }
}

/// Epoll instances open in the descriptor table listed at `dir` (a `/proc/.../fd` directory).
fn epolls_in(dir: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy() == "anon_inode:[eventpoll]")
        .count()
}

/// Socket inodes of the TCP listeners on `port` (from `/proc/net/tcp`: state `0A` is LISTEN).
fn listener_inodes(port: u16) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(f[1].rsplit(':').next()?, 16).ok()?;
            (local_port == port && f[3] == "0A").then(|| f[9].to_owned())
        })
        .collect()
}

/// How many of the sockets `inodes` are open in the descriptor table listed at `dir`.
fn sockets_in(dir: &str, inodes: &[String]) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| {
            let t = target.to_string_lossy();
            inodes.iter().any(|i| t == format!("socket:[{i}]"))
        })
        .count()
}

/// The `/proc/self/task/TID/fd` directories of this process's netio reactor threads.
fn reactor_fd_dirs() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let comm = std::fs::read_to_string(path.join("comm")).ok()?;
            comm.starts_with("netio-")
                .then(|| path.join("fd").to_string_lossy().into_owned())
        })
        .collect()
}

#[test]
fn two_reactors_with_private_tables_accept_echo_relay_and_shut_down() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let epolls_before = epolls_in("/proc/thread-self/fd");
    let open = Arc::new(AtomicUsize::new(0));
    let o = open.clone();
    let server = start(config(2, true), move |info| Relay {
        index: info.index,
        conns: Vec::new(),
        open: o.clone(),
    })
    .unwrap();
    let addr = server.local_addrs()[0];

    // Each reactor's table holds its own epoll instance and no other; the process's table
    // (this thread's) holds none of them.
    let dirs = reactor_fd_dirs();
    assert_eq!(dirs.len(), 2, "two reactor threads");
    for dir in &dirs {
        assert_eq!(epolls_in(dir), 1, "{dir}: exactly its own epoll instance");
    }
    assert_eq!(epolls_in("/proc/thread-self/fd"), epolls_before);
    // Likewise for the listeners: a stray copy would keep a listener in the SO_REUSEPORT group
    // after its reactor closed it at shutdown, its share of new connections never accepted.
    let listeners = listener_inodes(addr.port());
    assert_eq!(listeners.len(), 2, "one SO_REUSEPORT listener per reactor");
    for dir in &dirs {
        assert_eq!(
            sockets_in(dir, &listeners),
            1,
            "{dir}: only its own listener"
        );
    }
    assert_eq!(sockets_in("/proc/thread-self/fd", &listeners), 0);

    // Connect until both reactors (the kernel's SO_REUSEPORT hash decides) have clients.
    let mut by_reactor: [Vec<TcpStream>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..400 {
        if by_reactor.iter().all(|v| v.len() >= 2) {
            break;
        }
        let mut c = client(addr);
        let tag = read_n(&mut c, 1)[0];
        by_reactor[usize::from(tag - b'0')].push(c);
    }
    assert!(
        by_reactor.iter().all(|v| v.len() >= 2),
        "both reactors accept: {} and {}",
        by_reactor[0].len(),
        by_reactor[1].len()
    );

    for (n, c) in by_reactor.iter_mut().flatten().enumerate() {
        let data = pattern(n as u64, 1000);
        send(c, &data);
        assert_eq!(read_n(c, data.len()), data, "echo on connection {n}");
    }

    // Reactor 0 to every reactor's mailbox (the wakers are valid in every table).
    send(&mut by_reactor[0][0], b"pub:hello");
    for c in by_reactor.iter_mut().flatten() {
        assert_eq!(read_n(c, 5), b"hello");
    }
    // The process's table to reactor 1.
    server.mailboxes()[1]
        .send(SharedBytes::from(&b"main"[..]))
        .unwrap();
    for c in &mut by_reactor[1] {
        assert_eq!(read_n(c, 4), b"main");
    }

    server.shutdown();
    for c in by_reactor.iter_mut().flatten() {
        assert_eq!(read_to_end(c), b"bye");
    }
    server.join().unwrap();
    assert_eq!(open.load(Ordering::SeqCst), 0, "every connection closed");

    // No copy of a listener survives anywhere: the port refuses connections.
    let err = TcpStream::connect(addr).expect_err("no listener left after shutdown");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(epolls_in("/proc/thread-self/fd"), epolls_before);
}

#[test]
fn private_tables_refuse_the_acceptor_mode() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = Config {
        accept: AcceptMode::Acceptor(Balance::RoundRobin),
        ..config(2, true)
    };
    let open = Arc::new(AtomicUsize::new(0));
    let err = start(cfg, move |info| Relay {
        index: info.index,
        conns: Vec::new(),
        open: open.clone(),
    })
    .expect_err("acceptor mode hands sockets across threads");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("ReusePort"), "{err}");
}

/// The child: two reactors, private tables or not, printing its port; then on each stdin line
/// "count" it prints the open connections; it exits when stdin closes.
#[test]
fn private_tables_child() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let open = Arc::new(AtomicUsize::new(0));
    let o = open.clone();
    let server = start(config(2, mode == "private"), move |info| Relay {
        index: info.index,
        conns: Vec::new(),
        open: o.clone(),
    })
    .unwrap();
    println!("PORT {}", server.local_addrs()[0].port());
    std::io::stdout().flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        if line.unwrap().trim() == "count" {
            println!("COUNT {}", open.load(Ordering::SeqCst));
            std::io::stdout().flush().unwrap();
        }
    }
}

/// Soft `RLIMIT_NOFILE` of the child; it connects `CLIENTS` (more than the limit) clients.
const SOFT_LIMIT: usize = 256;
const CLIENTS: usize = 360;

/// Runs the child under `ulimit -S -n SOFT_LIMIT`, connects `CLIENTS` clients and returns how
/// many the child holds once the count stops growing. If it holds them all, each is checked
/// (its reactor's tag, an echo) and the split over the reactors is returned too.
fn hold_in_child(mode: &str) -> (usize, [usize; 2]) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -S -n {SOFT_LIMIT} && exec \"$0\" --exact private_tables_child --nocapture --test-threads=1"
        ))
        .arg(exe)
        .env(CHILD_ENV, mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_number = |prefix: &str| -> usize {
        loop {
            let line = lines.next().expect("child answers").unwrap();
            // libtest prints the test name on the same line as the first output.
            if let Some(at) = line.find(prefix) {
                return line[at + prefix.len()..].trim().parse().unwrap();
            }
        }
    };
    let port = next_number("PORT ") as u16;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    // The kernel completes every handshake (backlog 4096) whether or not the child accepts.
    let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| client(addr)).collect();
    let mut count = |stdin: &mut std::process::ChildStdin| {
        writeln!(stdin, "count").unwrap();
        stdin.flush().unwrap();
        next_number("COUNT ")
    };
    let deadline = Instant::now() + TIMEOUT;
    let mut held = count(&mut stdin);
    let mut stable_since = Instant::now();
    // Done when all are held, or when the count has not moved for a second (accepts blocked by
    // EMFILE back off and retry every 50 ms, so a second without progress means stuck).
    while held < CLIENTS
        && stable_since.elapsed() < Duration::from_secs(1)
        && Instant::now() < deadline
    {
        // A poll, bounded by `deadline`: the condition is "all held, or no progress for 1 s".
        std::thread::sleep(Duration::from_millis(50));
        let now = count(&mut stdin);
        if now != held {
            held = now;
            stable_since = Instant::now();
        }
    }
    let mut split = [0; 2];
    if held == CLIENTS {
        for c in &mut clients {
            split[usize::from(read_n(c, 1)[0] - b'0')] += 1;
            send(c, b"x");
            assert_eq!(read_n(c, 1), b"x");
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "child exited with {status}");
    (held, split)
}

#[test]
fn private_tables_hold_more_connections_than_one_table_allows() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Control: with one shared table the soft limit caps the whole process.
    let (shared, _) = hold_in_child("shared");
    assert!(
        shared < SOFT_LIMIT,
        "one table held {shared} connections under a soft limit of {SOFT_LIMIT}"
    );
    // Private tables: each reactor has the limit to itself.
    let (private, split) = hold_in_child("private");
    assert_eq!(
        private, CLIENTS,
        "two private tables hold all {CLIENTS} connections under a soft limit of {SOFT_LIMIT}"
    );
    assert!(
        split.iter().all(|&n| n > 0 && n < SOFT_LIMIT),
        "each reactor holds its share under the limit: {split:?}"
    );
}
