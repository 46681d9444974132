//! Loopback load generator for netio's figures (not a test): raw TCP echo throughput, connection
//! storms and idle-connection memory. Single-threaded mio client; pin it with `taskset`.
//!
//! ```text
//! loadgen echo  --addr A [--conns 100] [--inflight 16] [--size 16] [--secs 5] [--pid P]
//! loadgen storm --addr A [--concurrency 64] [--secs 5] [--pid P]
//! loadgen idle  --addr A --pid P [--conns 10000]
//! ```
//! `--pid` names the server process: its CPU time (utime+stime from /proc) per operation and,
//! for `idle`, its resident memory per connection (VmRSS before and after) are reported.
//! Client sockets bind to 127.0.0.2..=127.0.0.201 in turn so that a storm or 10,000 idle
//! connections do not run out of ephemeral ports.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let mut opts = HashMap::new();
    while let (Some(k), Some(v)) = (args.next(), args.next()) {
        opts.insert(k.trim_start_matches("--").to_string(), v);
    }
    let get = |k: &str, d: u64| opts.get(k).map_or(d, |v| v.parse().expect("number"));
    let addr: SocketAddr = opts.get("addr").expect("--addr").parse().expect("address");
    let pid = opts.get("pid").map(|p| p.parse::<u32>().expect("pid"));
    raise_nofile(60_000);
    match mode.as_str() {
        "echo" => echo(
            addr,
            get("conns", 100) as usize,
            get("inflight", 16) as usize,
            get("size", 16) as usize,
            get("secs", 5),
            pid,
        ),
        "storm" => storm(addr, get("concurrency", 64) as usize, get("secs", 5), pid),
        "idle" => idle(addr, get("conns", 10_000) as usize, pid.expect("--pid")),
        _ => {
            eprintln!("usage: loadgen echo|storm|idle --addr A [options] (see the source header)");
            std::process::exit(2);
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to `n`, capped by the hard limit (raising that needs
/// CAP_SYS_RESOURCE).
fn raise_nofile(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of both calls; getrlimit
    // writes it and setrlimit only reads it.
    let ok = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && {
            lim.rlim_cur = n.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0
        }
    };
    if !ok {
        eprintln!("raising RLIMIT_NOFILE: {}", io::Error::last_os_error());
    }
}

/// utime + stime of a process, in clock ticks (1/100 s here).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("server /proc stat");
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server /proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A nonblocking socket bound to 127.0.0.(2 + n % 200), connecting to `addr`.
fn connect_from(n: usize, addr: SocketAddr) -> io::Result<TcpStream> {
    let s = Socket::new(
        Domain::IPV4,
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    let src = Ipv4Addr::new(127, 0, 0, 2 + (n % 200) as u8);
    s.bind(&SocketAddr::V4(SocketAddrV4::new(src, 0)).into())?;
    s.set_nodelay(true)?;
    match s.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(s.into()))
}

struct EchoConn {
    stream: TcpStream,
    value: u8,
    unsent: usize,
    received: usize,
}

fn echo(
    addr: SocketAddr,
    conns: usize,
    inflight: usize,
    size: usize,
    secs: u64,
    pid: Option<u32>,
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut cs = Vec::with_capacity(conns);
    for i in 0..conns {
        let mut stream = connect_from(i, addr)?;
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        cs.push(EchoConn {
            stream,
            value: (i % 251) as u8,
            unsent: inflight * size,
            received: 0,
        });
    }
    let out: Vec<Vec<u8>> = (0..251u8).map(|v| vec![v; inflight * size]).collect();
    let mut buf = vec![0u8; 256 << 10];
    let mut events = Events::with_capacity(1024);
    let start = Instant::now();
    let warmup = Duration::from_secs(1);
    let end = start + warmup + Duration::from_secs(secs);
    let (mut measuring, mut messages, mut t0, mut cpu0) = (false, 0u64, start, 0);
    while Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        if !measuring && start.elapsed() >= warmup {
            (measuring, messages, t0) = (true, 0, Instant::now());
            cpu0 = pid.map_or(0, cpu_ticks);
        }
        for ev in events.iter() {
            let c = &mut cs[ev.token().0];
            if ev.is_readable() {
                loop {
                    match c.stream.read(&mut buf) {
                        Ok(0) => panic!("server closed an echo connection"),
                        Ok(n) => {
                            assert!(
                                buf[..n].iter().all(|&b| b == c.value),
                                "echoed bytes differ"
                            );
                            c.received += n;
                            let done = c.received / size;
                            c.received %= size;
                            messages += done as u64;
                            c.unsent += done * size;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
            }
            while c.unsent > 0 {
                match c.stream.write(&out[c.value as usize][..c.unsent]) {
                    Ok(n) => c.unsent -= n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let took = t0.elapsed().as_secs_f64();
    let rate = messages as f64 / took;
    println!(
        "echo conns={conns} inflight={inflight} size={size}: {:.0} msg/s, {:.1} MiB/s each way",
        rate,
        rate * size as f64 / (1 << 20) as f64
    );
    if let Some(pid) = pid {
        let cpu = (cpu_ticks(pid) - cpu0) as f64 * 10_000.0; // ticks -> us
        println!(
            "server CPU: {:.3} us/msg ({:.0}% of a core)",
            cpu / messages as f64,
            cpu / took / 1e4
        );
    }
    Ok(())
}

fn storm(addr: SocketAddr, concurrency: usize, secs: u64, pid: Option<u32>) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut slots: Vec<Option<(TcpStream, bool)>> = (0..concurrency).map(|_| None).collect();
    let mut n = 0usize;
    let open = |poll: &Poll, slot: usize, n: &mut usize| -> io::Result<(TcpStream, bool)> {
        *n += 1;
        let mut s = connect_from(*n, addr)?;
        poll.registry()
            .register(&mut s, Token(slot), Interest::READABLE | Interest::WRITABLE)?;
        Ok((s, false))
    };
    for (i, s) in slots.iter_mut().enumerate() {
        *s = Some(open(&poll, i, &mut n)?);
    }
    let mut events = Events::with_capacity(1024);
    let (mut done, mut errors) = (0u64, 0u64);
    let mut latencies: Vec<u32> = Vec::new();
    let mut started: Vec<Instant> = vec![Instant::now(); concurrency];
    let cpu0 = pid.map_or(0, cpu_ticks);
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(secs);
    while Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            let slot = ev.token().0;
            let Some((s, sent)) = slots[slot].as_mut() else {
                continue;
            };
            let mut finished = None;
            if !*sent && ev.is_writable() {
                match s.write(b"x") {
                    Ok(1) => *sent = true,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => finished = Some(false),
                }
            }
            if *sent && ev.is_readable() {
                let mut b = [0u8; 8];
                match s.read(&mut b) {
                    Ok(1) if b[0] == b'x' => finished = Some(true),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    _ => finished = Some(false),
                }
            }
            if let Some(ok) = finished {
                if ok {
                    done += 1;
                    latencies.push(started[slot].elapsed().as_micros() as u32);
                } else {
                    errors += 1;
                }
                slots[slot] = None; // close
                started[slot] = Instant::now();
                slots[slot] = Some(open(&poll, slot, &mut n)?);
            }
        }
    }
    let took = t0.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "storm concurrency={concurrency}: {:.0} conn/s (connect, 1-byte echo, close), errors {errors}, latency p50 {} us p99 {} us",
        done as f64 / took,
        pct(0.5),
        pct(0.99)
    );
    if let Some(pid) = pid {
        let cpu = (cpu_ticks(pid) - cpu0) as f64 * 10_000.0;
        println!(
            "server CPU: {:.1} us/conn ({:.0}% of a core)",
            cpu / done as f64,
            cpu / took / 1e4
        );
    }
    Ok(())
}

fn idle(addr: SocketAddr, conns: usize, pid: u32) -> io::Result<()> {
    std::thread::sleep(Duration::from_millis(200));
    let before = vm_rss_kib(pid);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut held = Vec::with_capacity(conns);
    // In batches: connect, send one byte, wait for its echo (the server has seen each one).
    for batch in (0..conns).collect::<Vec<_>>().chunks(500) {
        let mut pending = batch.len();
        let mut streams: Vec<(TcpStream, bool)> = Vec::with_capacity(batch.len());
        for (j, &i) in batch.iter().enumerate() {
            let mut s = connect_from(i, addr)?;
            poll.registry()
                .register(&mut s, Token(j), Interest::READABLE | Interest::WRITABLE)?;
            streams.push((s, false));
        }
        let mut got = vec![false; batch.len()];
        while pending > 0 {
            poll.poll(&mut events, Some(Duration::from_secs(10)))?;
            assert!(!events.is_empty(), "idle: server stopped answering");
            for ev in events.iter() {
                let j = ev.token().0;
                let (s, sent) = &mut streams[j];
                if !*sent && ev.is_writable() && s.write(b"x").is_ok() {
                    *sent = true;
                }
                if *sent && !got[j] && ev.is_readable() {
                    let mut b = [0u8; 1];
                    if let Ok(1) = s.read(&mut b) {
                        got[j] = true;
                        pending -= 1;
                    }
                }
            }
        }
        for (mut s, _) in streams {
            poll.registry().deregister(&mut s)?;
            held.push(s);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = vm_rss_kib(pid);
    println!(
        "idle conns={}: server VmRSS {before} KiB -> {after} KiB: {:.1} bytes per connection",
        held.len(),
        (after.saturating_sub(before) * 1024) as f64 / held.len() as f64
    );
    Ok(())
}
