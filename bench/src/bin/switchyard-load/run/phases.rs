//! The threads' side of a run: build the engine, open this thread's share of the connections,
//! follow the gates the main thread opens, and hand back the counts of the window.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Plan;
use crate::cli::{Common, Scenario};
use crate::engine::{Engine, Role, Schedule, Setup};
use crate::net::Connector;
use crate::shared::RING;
use crate::workers::{Control, ThreadResult, ThreadSnapshot, Tick, Worker, TICK};

/// Longest wait for connections to open before a scenario gives up on the missing ones.
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);
/// Connection attempts failing at once, in a row, after which `open_all` stops trying.
const GIVE_UP_AFTER: u32 = 200;

/// Set when stdin reaches end of file during `idle --hold --release-on-eof`.
pub(super) static RELEASED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The part of thread `i`: build its engine, open its share, follow the gates.
pub(super) fn worker(
    plan: &Plan<'_>,
    control: &Control,
    i: usize,
    ticks: Option<mpsc::Sender<Tick>>,
    start: Instant,
) -> io::Result<ThreadResult> {
    let common = plan.common;
    let threads = plan.threads;
    let first = common.addr[0];
    let mut engine = Engine::new(
        Connector::new(first, common.sources, plan.nodelay)?,
        Setup {
            host: plan.host,
            path: plan.path,
            mode: plan.mode,
            tls: plan.tls.clone(),
            shared: Arc::clone(&plan.shared),
            offer: plan.offer,
            thread: i,
            threads,
        },
    )?;
    if plan.several {
        let nodes = common
            .addr
            .iter()
            .map(|&a| Connector::new(a, common.sources, plan.nodelay))
            .collect::<io::Result<Vec<_>>>()?;
        engine.set_nodes(
            nodes,
            Connector::new(plan.publish_addr, common.sources, plan.nodelay)?,
        );
    }
    let mut w = Worker::new(engine, i, control, ticks, start);
    // Thread i's share of n things spread round-robin.
    let share = |n: usize| n / threads + usize::from(i < n % threads);
    let per_thread = |n: usize| n.div_ceil(threads).max(1);
    let duration = Duration::from_secs_f64(common.duration);
    // --ramp-up: with --rate the rate ramps up (before the warm-up); without, the connections
    // open linearly over it.
    let (ramp, open_ramp) = match common.rate {
        Some(_) => (Duration::from_secs_f64(common.ramp_up), Duration::ZERO),
        None => (Duration::ZERO, Duration::from_secs_f64(common.ramp_up)),
    };
    let nanos = |at: Instant| at.saturating_duration_since(plan.shared.epoch).as_nanos() as u64;
    let schedule = |at: Instant, rate: f64| Schedule {
        start: nanos(at),
        rate,
        ramp: ramp.as_nanos() as u64,
    };
    let idle_result = |w: &Worker<'_>| ThreadResult::of(w, ThreadSnapshot::default(), false);
    match *plan.scenario {
        Scenario::Upgrade { concurrency, count } => {
            let start = w.snapshot();
            upgrade(
                &mut w,
                common,
                per_thread(concurrency),
                count.map(|c| share(c as usize) as u64),
            )?;
            control.arrive();
            Ok(ThreadResult::of(&w, start, false))
        }
        Scenario::Echo {
            connections,
            warmup,
            ..
        } => {
            w.engine.sending = false;
            open_all(
                &mut w,
                control,
                share(connections),
                per_thread(256),
                Role::Plain,
                open_ramp,
            )?;
            control.arrive();
            let Some(go) = control.wait(1, &mut w)? else {
                return Ok(idle_result(&w));
            };
            match common.rate {
                Some(rate) => w
                    .engine
                    // This thread's share of the rate: its share of the connections.
                    .start_open_loop(schedule(
                        go,
                        rate * share(connections) as f64 / connections.max(1) as f64,
                    )),
                None => w.engine.start_echo(),
            }
            measure(
                &mut w,
                go + ramp + Duration::from_secs_f64(warmup),
                duration,
            )
        }
        Scenario::Broadcast {
            subscribers,
            warmup,
            settle,
            all_publish,
            exclude_sender,
            ..
        } => {
            w.engine.sending = false;
            open_all(
                &mut w,
                control,
                share(subscribers),
                per_thread(256),
                Role::Plain,
                open_ramp,
            )?;
            if i == 0 && !all_publish {
                open_all(&mut w, control, 1, 1, Role::Publisher, Duration::ZERO)?;
                if plan.shared.delivered.len() == RING {
                    w.engine.register_publisher_waker()?;
                }
            }
            let publisher_open = i == 0 && !all_publish && w.engine.publisher_open();
            control.arrive();
            let Some(go) = control.wait(1, &mut w)? else {
                return Ok(idle_result(&w));
            };
            let settle = settle.unwrap_or(if plan.several { 0.5 } else { 0.0 });
            let publish_at = go + Duration::from_secs_f64(settle);
            w.run_until(publish_at)?;
            match common.rate {
                Some(rate) if all_publish => w.engine.start_open_loop(schedule(
                    publish_at,
                    rate * share(subscribers) as f64 / subscribers.max(1) as f64,
                )),
                Some(rate) => w.engine.start_open_loop(schedule(publish_at, rate)),
                None => w.engine.start_publishing(),
            }
            let mut result = measure(
                &mut w,
                publish_at + ramp + Duration::from_secs_f64(warmup),
                duration,
            )?;
            result.publisher_open = publisher_open;
            if all_publish {
                // Every thread has stopped publishing once gate 2 opens: then read until every
                // message reached every client (or 5 s passed: some were lost).
                control.arrive();
                if control.wait(2, &mut w)?.is_some() {
                    let receivers = |w: &Worker<'_>| -> u64 {
                        let open: usize = control
                            .live
                            .iter()
                            .map(|l| l.open.load(Ordering::Relaxed))
                            .sum();
                        open.saturating_sub(usize::from(exclude_sender)) as u64
                            * w.engine_published()
                    };
                    let until = Instant::now() + Duration::from_secs(5);
                    while Instant::now() < until && w.all_ops() < receivers(&w) {
                        w.step(Duration::from_millis(5))?;
                    }
                }
                result.total_ops = w.engine.counters.ops;
            }
            Ok(result)
        }
        Scenario::Idle {
            connections,
            concurrency,
            settle,
            hold,
            ..
        } => {
            open_all(
                &mut w,
                control,
                share(connections),
                per_thread(concurrency),
                Role::Plain,
                open_ramp,
            )?;
            control.arrive();
            let Some(go) = control.wait(1, &mut w)? else {
                return Ok(idle_result(&w));
            };
            w.run_until(go + Duration::from_secs_f64(settle))?;
            control.arrive();
            let Some(held) = control.wait(2, &mut w)? else {
                return Ok(idle_result(&w));
            };
            let until = held + Duration::from_secs_f64(hold);
            while Instant::now() < until && !RELEASED.load(Ordering::Acquire) {
                w.step(TICK.min(until.saturating_duration_since(Instant::now())))?;
                if control.stop.load(Ordering::Acquire) {
                    break;
                }
            }
            Ok(idle_result(&w))
        }
    }
}

/// Warm-up until `from`, then the window of `duration`: this thread's counts over it.
fn measure(w: &mut Worker<'_>, from: Instant, duration: Duration) -> io::Result<ThreadResult> {
    w.run_until(from)?;
    w.engine.reset_latency();
    let start = w.snapshot();
    w.run_until(from + duration)?;
    let result = ThreadResult::of(w, start, false);
    w.engine.sending = false;
    Ok(result)
}

/// Opens `count` connections, `concurrency` at a time, and waits until they are open (or failed,
/// or OPEN_TIMEOUT passed).
fn open_all(
    w: &mut Worker<'_>,
    control: &Control,
    count: usize,
    concurrency: usize,
    role: Role,
    ramp: Duration,
) -> io::Result<()> {
    let start = Instant::now();
    let first_attempt = w.engine.counters.attempted;
    let target_attempts = first_attempt + count as u64;
    // With a ramp, attempts are spread linearly over it: by time t, count * t / ramp.
    let allowed = |now: Instant| -> u64 {
        let t = (now - start).as_secs_f64();
        match ramp.as_secs_f64() {
            r if r > 0.0 && t < r => first_attempt + (count as f64 * t / r).ceil() as u64,
            _ => target_attempts,
        }
    };
    let tick = if ramp.is_zero() {
        TICK
    } else {
        TICK.min(Duration::from_millis(5))
    };
    // Connections that could not even be started (no free port, no descriptor) in a row: past
    // this many, the resource is exhausted and the rest are given up rather than retried.
    let mut failed_in_a_row = 0;
    while Instant::now() - start < OPEN_TIMEOUT + ramp && !control.stop.load(Ordering::Acquire) {
        let allowed = allowed(Instant::now());
        while w.engine.in_progress < concurrency
            && w.engine.counters.attempted < allowed
            && failed_in_a_row < GIVE_UP_AFTER
        {
            if w.engine.connect(role) {
                failed_in_a_row = 0;
            } else {
                failed_in_a_row += 1;
            }
        }
        let done =
            w.engine.counters.attempted >= target_attempts || failed_in_a_row >= GIVE_UP_AFTER;
        if done && w.engine.in_progress == 0 {
            break;
        }
        w.step(tick)?;
    }
    Ok(())
}

/// The upgrade storm of one thread: `concurrency` in progress, `count` in all (or until
/// --duration).
fn upgrade(
    w: &mut Worker<'_>,
    common: &Common,
    concurrency: usize,
    count: Option<u64>,
) -> io::Result<()> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(common.duration);
    loop {
        let now = Instant::now();
        let enough = match count {
            Some(count) => w.engine.counters.attempted >= count,
            None => now >= deadline,
        };
        if !enough {
            while w.engine.in_progress < concurrency {
                if !w.engine.connect(Role::Plain) {
                    break;
                }
                if count.is_some_and(|c| w.engine.counters.attempted >= c) {
                    break;
                }
            }
        } else if w.engine.in_progress == 0 || now >= deadline.max(start) + OPEN_TIMEOUT {
            break;
        }
        w.step(TICK)?;
    }
    Ok(())
}
