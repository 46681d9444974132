//! Running a scenario: the threads, opening connections, warm-up, the measurement window, and
//! the report. The threads are in `workers.rs`; each runs one engine (`engine.rs`).

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_bench::procfs;
use switchyard_bench::wire::no_takeover_offer;
use switchyard_frame::OpCode;

use crate::cli::{Common, Scenario};
use crate::engine::Mode;
use crate::payload::stamp;
use crate::report::{Held, Report};
use crate::shared::{Offer, Shared, RING};
use crate::timeline::Timeline;
use crate::tls::TlsClient;
use crate::workers::{Control, ThreadResult, Tick};

mod figures;
mod phases;

use figures::finish;
use phases::{worker, RELEASED};

/// What every thread needs to build its engine and play its part.
struct Plan<'a> {
    scenario: &'a Scenario,
    common: &'a Common,
    mode: Mode,
    host: &'static str,
    path: &'static str,
    offer: Offer,
    tls: Option<TlsClient>,
    shared: Arc<Shared>,
    threads: usize,
    nodelay: bool,
    /// Broadcast: where the publisher connects, and whether there are several addresses.
    publish_addr: SocketAddr,
    several: bool,
}

/// Runs `scenario` and returns its report.
pub fn run(scenario: &Scenario, common: &Common) -> io::Result<Report> {
    let threads = common.threads.max(1);
    let nodelay = !matches!(scenario, Scenario::Upgrade { .. } | Scenario::Idle { .. });
    let first = common.addr[0];
    // Leaked once: every connection's handshake borrows them for the whole run.
    let host: &'static str = common
        .host
        .clone()
        .unwrap_or_else(|| first.to_string())
        .leak();
    let path: &'static str = common.path.clone().unwrap_or_else(|| "/".into()).leak();
    let text_or_binary = |binary: bool| if binary { OpCode::Binary } else { OpCode::Text };
    let mut clients = 0;
    let mut ring = false;
    let mut publish_addr = first;
    let mut several = false;
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
            subscribers,
            in_flight,
            size,
            binary,
            all_publish,
            exclude_sender,
            publish_addr: to,
            ..
        } => {
            if all_publish && exclude_sender && common.rate.is_none() {
                return Err(invalid(
                    "--all-publish with --exclude-sender needs --rate (open loop)".into(),
                ));
            }
            if size < stamp::OVERHEAD {
                return Err(invalid(format!(
                    "broadcast messages carry a {}-byte stamp: -s must be at least that",
                    stamp::OVERHEAD
                )));
            }
            if in_flight == 0 || in_flight > RING / 2 {
                return Err(invalid(format!("-w must be from 1 to {}", RING / 2)));
            }
            clients = if all_publish { subscribers } else { 1 };
            ring = !all_publish && common.rate.is_none();
            publish_addr = to.unwrap_or(first);
            several = common.addr.len() > 1 || publish_addr != first;
            Mode::Broadcast {
                in_flight,
                size,
                opcode: text_or_binary(binary),
                all_publish,
                exclude_sender,
            }
        }
    };
    if common.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(invalid("--rate must be a positive number".into()));
    }
    let subprotocols: &'static [&'static str] = common
        .subprotocol
        .iter()
        .map(|s| &*s.clone().leak())
        .collect::<Vec<&'static str>>()
        .leak();
    let deflate = common.deflate.then(|| {
        let offer = no_takeover_offer();
        let mut buf = [0u8; 128];
        let value: &'static str = offer
            .write(&mut buf)
            .expect("128 bytes hold any offer")
            .to_owned()
            .leak();
        (value, offer)
    });
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
    let plan = Plan {
        scenario,
        common,
        mode,
        host,
        path,
        offer: Offer {
            subprotocols,
            deflate,
        },
        tls,
        shared: Shared::new(ring, clients),
        threads,
        nodelay,
        publish_addr,
        several,
    };

    let mut report = Report::default();
    report.text("scenario", scenario.name());
    let addrs: Vec<String> = common.addr.iter().map(ToString::to_string).collect();
    report.text("server", addrs.join(","));
    report.count("threads", threads as u64, "");
    if common.tls {
        let resumption = if common.no_resumption { "off" } else { "on" };
        let groups = if common.x25519 {
            "X25519"
        } else {
            "X25519MLKEM768 first"
        };
        report.text("tls", format!("rustls, resumption {resumption}, {groups}"));
    }
    if let Some(rate) = common.rate {
        report.num("rate", rate, 0, "messages/s (open loop, intended)");
        report.num("ramp_up_s", common.ramp_up, 1, "s");
    }

    let control = Control::new(threads);
    let (tick_tx, tick_rx) = mpsc::channel::<Tick>();
    let mut timeline = match &common.timeline {
        Some(path) => Some(Timeline::create(
            path,
            common.timeline_format,
            threads,
            &common.server_pid,
        )?),
        None => None,
    };
    let cpus: Vec<usize> = if common.cpus.is_empty() {
        common.cpu.into_iter().collect()
    } else {
        common.cpus.clone()
    };
    let start = plan.shared.epoch;
    let outcome = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let plan = &plan;
                let control = &control;
                let ticks = timeline.is_some().then(|| tick_tx.clone());
                let cpu = (!cpus.is_empty()).then(|| cpus[i % cpus.len()]);
                std::thread::Builder::new()
                    .name(format!("load-{i}"))
                    .spawn_scoped(scope, move || {
                        if let Some(cpu) = cpu {
                            if !switchyard_bench::sys::pin_to_cpu(cpu) {
                                eprintln!("warning: could not pin thread {i} to CPU {cpu}");
                            }
                        }
                        let _stop_on_panic = StopOnPanic(control);
                        let result = worker(plan, control, i, ticks, start);
                        if let Err(e) = &result {
                            eprintln!("switchyard-load: thread {i}: {e}");
                            control.stop.store(true, Ordering::Release);
                        }
                        result
                    })
                    .expect("spawn a load thread")
            })
            .collect();
        let mut main = Main {
            control: &control,
            progress: Progress::new(common.quiet),
            timeline: timeline.as_mut(),
            ticks: &tick_rx,
        };
        let coordinated = coordinate(&plan, &mut main, &mut report);
        if coordinated.is_err() {
            control.stop.store(true, Ordering::Release);
        }
        let results: Vec<io::Result<ThreadResult>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("a load thread panicked")))
            })
            .collect();
        main.drain();
        main.progress.finish();
        (coordinated, results)
    });
    let (coordinated, results) = outcome;
    let results = results.into_iter().collect::<io::Result<Vec<_>>>()?;
    let window = coordinated?;
    finish(&plan, &results, window, &mut report)?;
    Ok(report)
}

/// Stops the run if its thread panics, so that the main thread does not wait for it forever.
struct StopOnPanic<'a>(&'a Control);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop.store(true, Ordering::Release);
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// The measurement window as the main thread saw it: its length and the servers' CPU over it.
#[derive(Default)]
struct Window {
    seconds: f64,
    server_cpu: Option<Duration>,
    /// Broadcast: Redis's CPU over the window.
    redis_cpu: Option<Duration>,
    /// This process's CPU over the window.
    self_cpu: Duration,
    /// Idle: figures measured by the main thread, added to the report at the end.
    idle: Option<IdleFigures>,
    /// Broadcast with --all-publish: clients that receive each message.
    receivers: u64,
}

struct IdleFigures {
    opened_in: Duration,
    server_cpu_open: Option<Duration>,
    rss: Option<(u64, u64)>,
    held: usize,
    hold: Option<f64>,
}

fn server_cpu(pids: &[u32]) -> Option<Duration> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .map(|&pid| procfs::cpu_time(pid).ok())
        .sum::<Option<Duration>>()
}

/// The main thread's view while the workers run: progress line, timeline, waiting.
struct Main<'a> {
    control: &'a Control,
    progress: Progress,
    timeline: Option<&'a mut Timeline>,
    ticks: &'a mpsc::Receiver<Tick>,
}

impl Main<'_> {
    /// Writes the timeline's complete seconds.
    fn drain(&mut self) {
        while let Ok(tick) = self.ticks.try_recv() {
            if let Some(timeline) = self.timeline.as_deref_mut() {
                if let Err(e) = timeline.add(tick) {
                    eprintln!("warning: --timeline: {e}");
                    self.timeline = None;
                }
            }
        }
    }

    /// Waits (20 ms at a time, progress and timeline kept up) until `done`; an error if the
    /// run was stopped (a worker failed) first.
    fn wait_for(&mut self, phase: &str, mut done: impl FnMut(&Control) -> bool) -> io::Result<()> {
        loop {
            if done(self.control) {
                return Ok(());
            }
            if self.control.stop.load(Ordering::Acquire) {
                return Err(io::Error::other("a load thread stopped early"));
            }
            std::thread::sleep(Duration::from_millis(20));
            self.drain();
            self.progress.tick(self.control, phase);
        }
    }

    /// Waits until `deadline`.
    fn sleep_until(&mut self, phase: &str, deadline: Instant) -> io::Result<()> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            if self.control.stop.load(Ordering::Acquire) {
                return Err(io::Error::other("a load thread stopped early"));
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
            self.drain();
            self.progress.tick(self.control, phase);
        }
    }

    /// Open connections over all threads.
    fn open(&self) -> usize {
        self.control
            .live
            .iter()
            .map(|l| l.open.load(Ordering::Relaxed))
            .sum()
    }
}

/// The main thread's part: opens the gates at the right times and reads the servers' CPU at
/// the window's edges.
fn coordinate(plan: &Plan<'_>, main: &mut Main<'_>, report: &mut Report) -> io::Result<Window> {
    let common = plan.common;
    let pids = &common.server_pid;
    let duration = Duration::from_secs_f64(common.duration);
    // With --rate, the ramp comes before the warm-up; without, it is spent opening connections.
    let ramp = match common.rate {
        Some(_) => Duration::from_secs_f64(common.ramp_up),
        None => Duration::ZERO,
    };
    match *plan.scenario {
        Scenario::Upgrade { concurrency, count } => {
            report.count("concurrency", concurrency as u64, "");
            let _ = count;
            let start = Instant::now();
            let cpu_before = server_cpu(pids);
            let self_before = procfs::self_cpu_time().unwrap_or_default();
            main.wait_for("upgrading", |c| c.all_arrived(1))?;
            let elapsed = start.elapsed();
            let self_cpu = procfs::self_cpu_time().unwrap_or_default() - self_before;
            // Let the server finish closing the last connections before reading its CPU time.
            std::thread::sleep(Duration::from_millis(300));
            let server = server_cpu(pids)
                .zip(cpu_before)
                .map(|(a, b)| a.saturating_sub(b));
            main.control.open_gate(1);
            Ok(Window {
                seconds: elapsed.as_secs_f64(),
                server_cpu: server,
                self_cpu,
                ..Window::default()
            })
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
            main.wait_for("opening", |c| c.all_arrived(1))?;
            report.count("open", main.open() as u64, "connections");
            let go = main.control.open_gate(1);
            let from = go + ramp + Duration::from_secs_f64(warmup);
            window(main, pids, from, duration, None)
        }
        Scenario::Broadcast {
            subscribers,
            in_flight,
            size,
            binary,
            warmup,
            redis_pid,
            settle,
            all_publish,
            exclude_sender,
            ..
        } => {
            if plan.several {
                report.text("publish_addr", plan.publish_addr.to_string());
            }
            if all_publish {
                report.count(
                    "clients",
                    subscribers as u64,
                    "each publishing and subscribing",
                );
            } else {
                report.count("subscribers", subscribers as u64, "");
            }
            report.count(
                "in_flight",
                in_flight as u64,
                if all_publish {
                    "messages per client"
                } else {
                    "messages"
                },
            );
            report.count("size", size as u64, "bytes");
            report.text("kind", if binary { "binary" } else { "text" });
            main.wait_for("opening", |c| c.all_arrived(1))?;
            report.count("open", main.open() as u64, "connections");
            let go = main.control.open_gate(1);
            let settle = settle.unwrap_or(if plan.several { 0.5 } else { 0.0 });
            let from =
                go + Duration::from_secs_f64(settle) + ramp + Duration::from_secs_f64(warmup);
            let mut window = window(main, pids, from, duration, redis_pid)?;
            if all_publish {
                main.wait_for("draining", |c| c.all_arrived(2))?;
                window.receivers = main.open() as u64 - u64::from(exclude_sender);
                main.control.open_gate(2);
            }
            Ok(window)
        }
        Scenario::Idle {
            connections,
            hold,
            release_on_eof,
            ..
        } => {
            report.count("connections", connections as u64, "requested");
            let rss_before = pids.first().and_then(|&pid| procfs::rss_bytes(pid).ok());
            let start = Instant::now();
            let cpu_before = server_cpu(pids);
            main.wait_for("opening", |c| c.all_arrived(1))?;
            let opened_in = start.elapsed();
            let server_cpu_open = server_cpu(pids)
                .zip(cpu_before)
                .map(|(a, b)| a.saturating_sub(b));
            main.control.open_gate(1);
            main.wait_for("holding", |c| c.all_arrived(2))?;
            let held = main.open();
            let rss = match (pids.first(), rss_before) {
                (Some(&pid), Some(before)) => Some((before, procfs::rss_bytes(pid)?)),
                _ => None,
            };
            let hold = Duration::from_secs_f64(hold);
            if !hold.is_zero() {
                announce_hold(common, main, hold, release_on_eof)?;
            }
            let until = main.control.open_gate(2) + hold;
            if !hold.is_zero() {
                // Until the hold's end, or stdin's (the workers watch RELEASED too).
                let _ = main.wait_for("holding", |_| {
                    Instant::now() >= until || RELEASED.load(Ordering::Acquire)
                });
            }
            Ok(Window {
                idle: Some(IdleFigures {
                    opened_in,
                    server_cpu_open,
                    rss,
                    held,
                    hold: (!hold.is_zero()).then_some(hold.as_secs_f64()),
                }),
                ..Window::default()
            })
        }
    }
}

/// Waits for the window `[from, from + duration)` and reads the servers' CPU at its edges.
fn window(
    main: &mut Main<'_>,
    pids: &[u32],
    from: Instant,
    duration: Duration,
    redis_pid: Option<u32>,
) -> io::Result<Window> {
    main.sleep_until("warm-up", from)?;
    let cpu_before = server_cpu(pids);
    let redis_before = redis_pid.and_then(|pid| procfs::cpu_time(pid).ok());
    let self_before = procfs::self_cpu_time().unwrap_or_default();
    let at = Instant::now();
    main.sleep_until("measuring", from + duration)?;
    let seconds = at.elapsed().as_secs_f64();
    let self_cpu = procfs::self_cpu_time().unwrap_or_default() - self_before;
    Ok(Window {
        seconds,
        server_cpu: server_cpu(pids)
            .zip(cpu_before)
            .map(|(a, b)| a.saturating_sub(b)),
        redis_cpu: redis_pid
            .and_then(|pid| procfs::cpu_time(pid).ok())
            .zip(redis_before)
            .map(|(a, b)| a.saturating_sub(b)),
        self_cpu,
        idle: None,
        receivers: 0,
    })
}

/// `--hold`: announces the connections held on stdout and, with `release_on_eof`, stops the
/// run when stdin closes.
fn announce_hold(
    common: &Common,
    main: &Main<'_>,
    hold: Duration,
    release_on_eof: bool,
) -> io::Result<()> {
    let pid = std::process::id();
    let open = main.open();
    let errors: u64 = main
        .control
        .live
        .iter()
        .map(|l| l.errors.load(Ordering::Relaxed))
        .sum();
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
    if release_on_eof {
        std::thread::spawn(|| {
            // Read (and discard) until end of file or an error: either means "release".
            let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
            RELEASED.store(true, Ordering::Release);
        });
    }
    Ok(())
}

/// The once-a-second progress line on stderr, from the threads' live figures.
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

    fn tick(&mut self, control: &Control, phase: &str) {
        let now = Instant::now();
        if self.quiet || now - self.last < Duration::from_secs(1) {
            return;
        }
        let sum =
            |f: &dyn Fn(&crate::workers::Live) -> u64| -> u64 { control.live.iter().map(f).sum() };
        let ops = sum(&|l| l.ops.load(Ordering::Relaxed));
        let rate = (ops - self.last_ops.min(ops)) as f64 / (now - self.last).as_secs_f64();
        eprint!(
            "\r[{:6.1}s] {phase:<9} open {:>6}  opening {:>5}  ops {:>10}  {:>10.0}/s  errors {}   ",
            (now - self.start).as_secs_f64(),
            sum(&|l| l.open.load(Ordering::Relaxed) as u64),
            sum(&|l| l.in_progress.load(Ordering::Relaxed) as u64),
            ops,
            rate,
            sum(&|l| l.errors.load(Ordering::Relaxed)),
        );
        let _ = io::stderr().flush();
        self.last = now;
        self.last_ops = ops;
        self.printed = true;
    }

    fn finish(&self) {
        if self.printed {
            eprintln!();
        }
    }
}
