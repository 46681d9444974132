//! Running a scenario: opening connections, warm-up, the measurement window, and the report.

use std::io::{self, Write as _};
use std::time::{Duration, Instant};

use switchyard_bench::procfs;
use switchyard_frame::OpCode;

use crate::cli::{Common, Scenario};
use crate::engine::{Engine, Mode, Role};
use crate::net::Connector;
use crate::report::{Held, Report};
use crate::tls::TlsClient;

/// How long one poll waits at most: the progress line and deadlines are checked this often.
const TICK: Duration = Duration::from_millis(50);
/// Longest wait for connections to open before a scenario gives up on the missing ones.
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);
/// Connection attempts failing at once, in a row, after which `open_all` stops trying.
const GIVE_UP_AFTER: u32 = 200;

/// Counters and CPU times at one instant.
struct Snapshot {
    at: Instant,
    ops: u64,
    bytes: u64,
    server_cpu: Option<Duration>,
    self_cpu: Duration,
}

fn snapshot(engine: &Engine, server_pids: &[u32]) -> Snapshot {
    // Several servers (a cluster's nodes): their CPU times added up; none if any is unreadable.
    let server_cpu = (!server_pids.is_empty())
        .then(|| {
            server_pids
                .iter()
                .map(|&pid| procfs::cpu_time(pid).ok())
                .sum::<Option<Duration>>()
        })
        .flatten();
    Snapshot {
        at: Instant::now(),
        ops: engine.counters.ops,
        bytes: engine.counters.payload_bytes,
        server_cpu,
        self_cpu: procfs::self_cpu_time().unwrap_or_default(),
    }
}

/// The once-a-second progress line on stderr.
struct Progress {
    quiet: bool,
    start: Instant,
    last: Instant,
    last_ops: u64,
    printed: bool,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        let now = Instant::now();
        Self {
            quiet,
            start: now,
            last: now,
            last_ops: 0,
            printed: false,
        }
    }

    fn tick(&mut self, engine: &Engine, phase: &str) {
        let now = Instant::now();
        if self.quiet || now - self.last < Duration::from_secs(1) {
            return;
        }
        let rate = (engine.counters.ops - self.last_ops) as f64 / (now - self.last).as_secs_f64();
        eprint!(
            "\r[{:6.1}s] {phase:<9} open {:>6}  opening {:>5}  ops {:>10}  {:>10.0}/s  errors {}   ",
            (now - self.start).as_secs_f64(),
            engine.open,
            engine.in_progress,
            engine.counters.ops,
            rate,
            engine.counters.error_count()
        );
        let _ = io::stderr().flush();
        self.last = now;
        self.last_ops = engine.counters.ops;
        self.printed = true;
    }

    fn finish(&self) {
        if self.printed {
            eprintln!();
        }
    }
}

/// Runs `scenario` and returns its report.
pub fn run(scenario: &Scenario, common: &Common) -> io::Result<Report> {
    let nodelay = !matches!(scenario, Scenario::Upgrade { .. } | Scenario::Idle { .. });
    let first = common.addr[0];
    let connector = Connector::new(first, common.sources, nodelay)?;
    // Leaked once: every connection's handshake borrows them for the whole run.
    let host: &'static str = common
        .host
        .clone()
        .unwrap_or_else(|| first.to_string())
        .leak();
    let path: &'static str = common.path.clone().leak();
    let text_or_binary = |binary: bool| if binary { OpCode::Binary } else { OpCode::Text };
    let mode = match *scenario {
        Scenario::Upgrade { .. } => Mode::Upgrade,
        Scenario::Echo {
            in_flight,
            size,
            binary,
            ..
        } => Mode::Echo {
            in_flight,
            size,
            opcode: text_or_binary(binary),
        },
        Scenario::Idle { .. } => Mode::Idle,
        Scenario::Broadcast {
            in_flight,
            size,
            binary,
            ..
        } => Mode::Broadcast {
            in_flight,
            size,
            opcode: text_or_binary(binary),
        },
    };
    let tls = match common.tls {
        true => Some(TlsClient::new(
            &common.server_name,
            common.ca.as_deref(),
            common.insecure,
            !common.no_resumption,
            common.x25519,
        )?),
        false => None,
    };
    let mut engine = Engine::new(connector, host, path, mode, tls)?;
    let mut progress = Progress::new(common.quiet);
    let duration = Duration::from_secs_f64(common.duration);
    let mut report = Report::default();
    report.text("scenario", scenario.name());
    let addrs: Vec<String> = common.addr.iter().map(ToString::to_string).collect();
    report.text("server", addrs.join(","));
    if common.tls {
        let resumption = if common.no_resumption { "off" } else { "on" };
        let groups = if common.x25519 {
            "X25519"
        } else {
            "X25519MLKEM768 first"
        };
        report.text("tls", format!("rustls, resumption {resumption}, {groups}"));
    }

    let result = match *scenario {
        Scenario::Upgrade { concurrency, count } => {
            report.count("concurrency", concurrency as u64, "");
            upgrade(
                &mut engine,
                &mut progress,
                common,
                concurrency,
                count,
                &mut report,
            )
        }
        Scenario::Echo {
            connections,
            in_flight,
            size,
            binary,
            warmup,
        } => {
            report.count("connections", connections as u64, "");
            report.count("in_flight", in_flight as u64, "per connection");
            report.count("size", size as u64, "bytes");
            report.text("kind", if binary { "binary" } else { "text" });
            engine.sending = false;
            open_all(&mut engine, &mut progress, connections, 256, Role::Plain)?;
            engine.start_echo();
            measure(
                &mut engine,
                &mut progress,
                common,
                Duration::from_secs_f64(warmup),
                duration,
                "messages",
                &mut report,
            )
        }
        Scenario::Idle {
            connections,
            concurrency,
            settle,
            hold,
            release_on_eof,
        } => idle(
            &mut engine,
            &mut progress,
            common,
            connections,
            concurrency,
            Duration::from_secs_f64(settle),
            &mut report,
        )
        .and_then(|()| {
            hold_open(
                &mut engine,
                &mut progress,
                common,
                Duration::from_secs_f64(hold),
                release_on_eof,
                &mut report,
            )
        }),
        Scenario::Broadcast {
            subscribers,
            in_flight,
            size,
            binary,
            warmup,
            publish_addr,
            redis_pid,
            settle,
        } => {
            let publish_addr = publish_addr.unwrap_or(first);
            let several = common.addr.len() > 1 || publish_addr != first;
            if several {
                let nodes = common
                    .addr
                    .iter()
                    .map(|&a| Connector::new(a, common.sources, nodelay))
                    .collect::<io::Result<Vec<_>>>()?;
                engine.set_nodes(
                    nodes,
                    Connector::new(publish_addr, common.sources, nodelay)?,
                );
                report.text("publish_addr", publish_addr.to_string());
            }
            report.count("subscribers", subscribers as u64, "");
            report.count("in_flight", in_flight as u64, "messages");
            report.count("size", size as u64, "bytes");
            report.text("kind", if binary { "binary" } else { "text" });
            open_all(&mut engine, &mut progress, subscribers, 256, Role::Plain)?;
            open_all(&mut engine, &mut progress, 1, 1, Role::Publisher)?;
            let settle = settle.unwrap_or(if several { 0.5 } else { 0.0 });
            let settle_until = Instant::now() + Duration::from_secs_f64(settle);
            while Instant::now() < settle_until {
                engine.step(TICK)?;
                progress.tick(&engine, "settling");
            }
            if engine.publisher_open() {
                engine.start_publishing();
            } else {
                engine.error("publisher did not open");
            }
            let redis_before = redis_pid.and_then(|pid| procfs::cpu_time(pid).ok());
            let node_ops_before = std::cell::RefCell::new(Vec::new());
            let result = measure_with(
                &mut engine,
                &mut progress,
                common,
                Duration::from_secs_f64(warmup),
                duration,
                "deliveries",
                &mut report,
                |engine| *node_ops_before.borrow_mut() = engine.node_ops.clone(),
            );
            if several {
                let seconds = report.seconds();
                per_node(
                    &engine,
                    &common.addr,
                    &node_ops_before.borrow(),
                    seconds,
                    &mut report,
                );
            }
            if let (Some(pid), Some(before)) = (redis_pid, redis_before) {
                if let Ok(after) = procfs::cpu_time(pid) {
                    let cpu = (after - before).as_secs_f64();
                    let seconds = report.seconds();
                    let ops = report.ops();
                    report.num("redis_cpu_pct", 100.0 * cpu / seconds, 1, "% of one core");
                    if ops > 0 {
                        report.num("redis_cpu_us_per_op", cpu * 1e6 / ops as f64, 3, "us");
                    }
                }
            }
            report.count(
                "broadcasts_complete",
                engine.counters.broadcasts_complete,
                "messages",
            );
            result
        }
    };
    progress.finish();
    result?;
    if common.tls {
        // Upgrades whose TLS handshake resumed a session (all but the first few, with
        // resumption on and a server that issues tickets).
        report.count("tls_resumed", engine.counters.tls_resumed, "handshakes");
    }
    report.count("errors", engine.counters.error_count(), "");
    if !engine.counters.errors.is_empty() {
        let kinds: Vec<String> = engine
            .counters
            .errors
            .iter()
            .map(|(kind, count)| format!("{count} x {kind}"))
            .collect();
        report.text("error_kinds", kinds.join("; "));
    }
    Ok(report)
}

/// Opens `count` connections, `concurrency` at a time, and waits until they are open (or failed,
/// or OPEN_TIMEOUT passed).
fn open_all(
    engine: &mut Engine,
    progress: &mut Progress,
    count: usize,
    concurrency: usize,
    role: Role,
) -> io::Result<()> {
    let start = Instant::now();
    let target_attempts = engine.counters.attempted + count as u64;
    // Connections that could not even be started (no free port, no descriptor) in a row: past
    // this many, the resource is exhausted and the rest are given up rather than retried.
    let mut failed_in_a_row = 0;
    while Instant::now() - start < OPEN_TIMEOUT {
        while engine.in_progress < concurrency
            && engine.counters.attempted < target_attempts
            && failed_in_a_row < GIVE_UP_AFTER
        {
            if engine.connect(role) {
                failed_in_a_row = 0;
            } else {
                failed_in_a_row += 1;
            }
        }
        let done = engine.counters.attempted >= target_attempts || failed_in_a_row >= GIVE_UP_AFTER;
        if done && engine.in_progress == 0 {
            break;
        }
        engine.step(TICK)?;
        progress.tick(engine, "opening");
    }
    Ok(())
}

fn upgrade(
    engine: &mut Engine,
    progress: &mut Progress,
    common: &Common,
    concurrency: usize,
    count: Option<u64>,
    report: &mut Report,
) -> io::Result<()> {
    let start = snapshot(engine, &common.server_pid);
    let deadline = start.at + Duration::from_secs_f64(common.duration);
    loop {
        let now = Instant::now();
        let enough = match count {
            Some(count) => engine.counters.attempted >= count,
            None => now >= deadline,
        };
        if !enough {
            while engine.in_progress < concurrency {
                if !engine.connect(Role::Plain) {
                    break;
                }
                if count.is_some_and(|c| engine.counters.attempted >= c) {
                    break;
                }
            }
        } else if engine.in_progress == 0 || now >= deadline.max(start.at) + OPEN_TIMEOUT {
            break;
        }
        engine.step(TICK)?;
        progress.tick(engine, "upgrading");
    }
    let elapsed = Instant::now() - start.at;
    // Let the server finish closing the last connections before reading its CPU time.
    std::thread::sleep(Duration::from_millis(300));
    let mut end = snapshot(engine, &common.server_pid);
    end.at = start.at + elapsed;
    figures(engine, &start, &end, "upgrades", report);
    Ok(())
}

/// Warm-up, then the measurement window of `duration`.
fn measure(
    engine: &mut Engine,
    progress: &mut Progress,
    common: &Common,
    warmup: Duration,
    duration: Duration,
    unit: &'static str,
    report: &mut Report,
) -> io::Result<()> {
    measure_with(
        engine,
        progress,
        common,
        warmup,
        duration,
        unit,
        report,
        |_| {},
    )
}

/// [`measure`], calling `at_start` when the window opens.
#[allow(clippy::too_many_arguments)]
fn measure_with(
    engine: &mut Engine,
    progress: &mut Progress,
    common: &Common,
    warmup: Duration,
    duration: Duration,
    unit: &'static str,
    report: &mut Report,
    at_start: impl FnOnce(&Engine),
) -> io::Result<()> {
    report.count("open", engine.open as u64, "connections");
    let warm_until = Instant::now() + warmup;
    while Instant::now() < warm_until {
        engine.step(TICK)?;
        progress.tick(engine, "warm-up");
    }
    engine.reset_latency();
    at_start(engine);
    let start = snapshot(engine, &common.server_pid);
    let deadline = start.at + duration;
    while Instant::now() < deadline {
        engine.step(TICK.min(deadline.saturating_duration_since(Instant::now())))?;
        progress.tick(engine, "measuring");
    }
    let end = snapshot(engine, &common.server_pid);
    engine.sending = false;
    figures(engine, &start, &end, unit, report);
    let mib = (end.bytes - start.bytes) as f64 / (1 << 20) as f64;
    report.num(
        "payload_mib_per_s",
        mib / (end.at - start.at).as_secs_f64(),
        2,
        "MiB/s (payload, one way)",
    );
    Ok(())
}

/// Throughput, latency percentiles and CPU per operation over a window.
fn figures(
    engine: &Engine,
    start: &Snapshot,
    end: &Snapshot,
    unit: &'static str,
    report: &mut Report,
) {
    let seconds = (end.at - start.at).as_secs_f64();
    let ops = end.ops - start.ops;
    report.num("duration_s", seconds, 3, "s");
    report.count("ops", ops, unit);
    report.num("ops_per_s", ops as f64 / seconds, 0, "/s");
    let us = |q: f64| engine.latency.value_at_quantile(q) as f64 / 1000.0;
    report.num("latency_p50_us", us(0.5), 1, "us");
    report.num("latency_p99_us", us(0.99), 1, "us");
    report.num("latency_p999_us", us(0.999), 1, "us");
    report.num(
        "latency_max_us",
        engine.latency.max() as f64 / 1000.0,
        1,
        "us",
    );
    if let (Some(before), Some(after)) = (start.server_cpu, end.server_cpu) {
        let cpu = (after - before).as_secs_f64();
        report.num("server_cpu_s", cpu, 2, "s (utime+stime)");
        report.num("server_cpu_pct", 100.0 * cpu / seconds, 1, "% of one core");
        report.num(
            "server_cpu_us_per_op",
            if ops > 0 {
                cpu * 1e6 / ops as f64
            } else {
                f64::NAN
            },
            3,
            "us",
        );
    }
    let load_cpu = (end.self_cpu - start.self_cpu).as_secs_f64();
    report.num(
        "load_cpu_pct",
        100.0 * load_cpu / seconds,
        1,
        "% of one core",
    );
}

/// Broadcast over several servers: deliveries/s and latency per subscriber address.
fn per_node(
    engine: &Engine,
    addrs: &[std::net::SocketAddr],
    ops_before: &[u64],
    seconds: f64,
    report: &mut Report,
) {
    for (i, (ops, h)) in engine.node_ops.iter().zip(&engine.node_latency).enumerate() {
        let ops = ops - ops_before.get(i).copied().unwrap_or(0);
        let addr = addrs.get(i).map_or_else(String::new, ToString::to_string);
        // Leaked: a handful of names per run, for a report keyed by static names.
        let name = |what: &str| -> &'static str { format!("node{i}_{what}").leak() };
        report.text(name("addr"), addr);
        report.num(name("ops_per_s"), ops as f64 / seconds, 0, "/s");
        report.num(
            name("latency_p50_us"),
            h.value_at_quantile(0.5) as f64 / 1000.0,
            1,
            "us",
        );
        report.num(
            name("latency_p99_us"),
            h.value_at_quantile(0.99) as f64 / 1000.0,
            1,
            "us",
        );
    }
}

fn idle(
    engine: &mut Engine,
    progress: &mut Progress,
    common: &Common,
    connections: usize,
    concurrency: usize,
    settle: Duration,
    report: &mut Report,
) -> io::Result<()> {
    report.count("connections", connections as u64, "requested");
    let rss_before = common
        .server_pid
        .first()
        .and_then(|&pid| procfs::rss_bytes(pid).ok());
    let start = snapshot(engine, &common.server_pid);
    open_all(engine, progress, connections, concurrency, Role::Plain)?;
    let opened_in = Instant::now() - start.at;
    let end = snapshot(engine, &common.server_pid);
    let settle_until = Instant::now() + settle;
    while Instant::now() < settle_until {
        engine.step(TICK)?;
        progress.tick(engine, "holding");
    }
    let held = engine.open;
    report.count("open", held as u64, "connections");
    report.num("open_time_s", opened_in.as_secs_f64(), 2, "s");
    report.num(
        "upgrades_per_s",
        engine.counters.upgraded as f64 / opened_in.as_secs_f64(),
        0,
        "/s",
    );
    if let (Some(before), Some(after)) = (start.server_cpu, end.server_cpu) {
        report.num(
            "server_cpu_us_per_conn",
            (after - before).as_secs_f64() * 1e6 / engine.counters.upgraded.max(1) as f64,
            2,
            "us (open only)",
        );
    }
    if let (Some(&pid), Some(before)) = (common.server_pid.first(), rss_before) {
        let after = procfs::rss_bytes(pid)?;
        report.num("server_rss_before_kib", before as f64 / 1024.0, 0, "KiB");
        report.num("server_rss_after_kib", after as f64 / 1024.0, 0, "KiB");
        report.num(
            "server_rss_per_conn_bytes",
            (after as f64 - before as f64) / held.max(1) as f64,
            1,
            "bytes",
        );
    }
    Ok(())
}

/// `--hold`: announces the connections held, then keeps them open (answering pings) until
/// `hold` has passed or, with `release_on_eof`, stdin is closed. Reports how many were still
/// open at the end.
fn hold_open(
    engine: &mut Engine,
    progress: &mut Progress,
    common: &Common,
    hold: Duration,
    release_on_eof: bool,
    report: &mut Report,
) -> io::Result<()> {
    if hold.is_zero() {
        return Ok(());
    }
    let pid = std::process::id();
    let (open, errors) = (engine.open, engine.counters.error_count());
    if common.json {
        let held = Held {
            event: "held",
            pid,
            open: open as u64,
            errors,
            hold_s: hold.as_secs_f64(),
        };
        println!("{}", held.json());
    } else {
        println!(
            "holding {open} connections for up to {:.1} s",
            hold.as_secs_f64()
        );
    }
    io::stdout().flush()?;
    let released = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if release_on_eof {
        let flag = std::sync::Arc::clone(&released);
        std::thread::spawn(move || {
            // Read (and discard) until end of file or an error: either means "release".
            let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
            flag.store(true, std::sync::atomic::Ordering::Release);
        });
    }
    let until = Instant::now() + hold;
    while Instant::now() < until && !released.load(std::sync::atomic::Ordering::Acquire) {
        engine.step(TICK.min(until.saturating_duration_since(Instant::now())))?;
        progress.tick(engine, "holding");
    }
    report.num("hold_s", hold.as_secs_f64(), 1, "s (at most)");
    report.count("open_after_hold", engine.open as u64, "connections");
    Ok(())
}
