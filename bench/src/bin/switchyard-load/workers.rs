//! The generator's threads: each runs its own engine on its share of the connections, in
//! phases that the main thread opens for all of them at once, and reports back what it counted.
//!
//! Calling order, per thread: [`Control::arrive`] when a phase's work is done, then
//! [`Control::wait`] (stepping its engine, so sockets keep being served) until the main thread
//! opens the next gate with [`Control::open_gate`], which it does once every thread arrived
//! ([`Control::all_arrived`]). Times derived from a gate's instant are the same in every thread.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use switchyard_bench::procfs;

use crate::counters::Counters;
use crate::engine::Engine;

/// Gates of a run: 0 start, 1 connections open, 2 (idle) settled.
pub const GATES: usize = 3;

/// How long one poll waits at most: deadlines, gates and the per-second tick are checked this
/// often.
pub const TICK: Duration = Duration::from_millis(50);

/// Per thread, what the progress line and the main thread read while it runs.
#[derive(Debug, Default)]
pub struct Live {
    /// Connections open.
    pub open: AtomicUsize,
    /// Connections connecting or upgrading.
    pub in_progress: AtomicUsize,
    /// Operations so far.
    pub ops: AtomicU64,
    /// Errors so far.
    pub errors: AtomicU64,
}

/// The phases of a run, shared by the main thread and the workers.
pub struct Control {
    threads: usize,
    arrived: AtomicUsize,
    gates: [OnceLock<Instant>; GATES],
    /// Set by the main thread to stop every worker early (`--hold` released, a failure).
    pub stop: AtomicBool,
    /// Per thread: live figures.
    pub live: Vec<Live>,
}

impl Control {
    /// Control for `threads` workers.
    pub fn new(threads: usize) -> Self {
        Self {
            threads,
            arrived: AtomicUsize::new(0),
            gates: Default::default(),
            stop: AtomicBool::new(false),
            live: (0..threads).map(|_| Live::default()).collect(),
        }
    }

    /// A worker finished the work before gate `gate`.
    pub fn arrive(&self) {
        self.arrived.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether every worker arrived at gate `gate` (gates are numbered from 1 here: the
    /// workers arrive once per gate).
    pub fn all_arrived(&self, gate: usize) -> bool {
        self.arrived.load(Ordering::Acquire) >= self.threads * gate
    }

    /// Opens gate `gate` now; returns its instant.
    pub fn open_gate(&self, gate: usize) -> Instant {
        let now = Instant::now();
        let _ = self.gates[gate].set(now);
        *self.gates[gate].get().expect("just set")
    }

    /// The instant gate `gate` opened, if it has.
    pub fn gate(&self, gate: usize) -> Option<Instant> {
        self.gates[gate].get().copied()
    }

    /// Steps `engine` until gate `gate` opens (or the run is stopped); returns its instant.
    pub fn wait(&self, gate: usize, engine: &mut Worker<'_>) -> std::io::Result<Option<Instant>> {
        loop {
            if let Some(at) = self.gate(gate) {
                return Ok(Some(at));
            }
            if self.stop.load(Ordering::Acquire) {
                return Ok(None);
            }
            engine.step(TICK)?;
        }
    }
}

/// One second of one thread, for `--timeline`.
pub struct Tick {
    /// Thread number.
    pub thread: usize,
    /// Whole seconds since the run's start at the end of this second.
    pub second: u64,
    /// Operations in this second.
    pub ops: u64,
    /// Latencies recorded in this second.
    pub latency: Histogram<u64>,
    /// Connections open at its end.
    pub open: usize,
    /// This thread's CPU time in this second.
    pub cpu: Duration,
}

/// A worker's engine with its bookkeeping: live figures and per-second ticks.
pub struct Worker<'a> {
    /// The engine.
    pub engine: Engine,
    /// This thread's number.
    pub thread: usize,
    control: &'a Control,
    ticks: Option<Sender<Tick>>,
    start: Instant,
    next_second: u64,
    last_ops: u64,
    last_cpu: Duration,
}

impl<'a> Worker<'a> {
    /// A worker for thread `thread` around `engine`; ticks go to `ticks` with --timeline.
    pub fn new(
        engine: Engine,
        thread: usize,
        control: &'a Control,
        ticks: Option<Sender<Tick>>,
        start: Instant,
    ) -> Self {
        Self {
            engine,
            thread,
            control,
            ticks,
            start,
            next_second: 1,
            last_ops: 0,
            last_cpu: procfs::thread_cpu_time().unwrap_or_default(),
        }
    }

    /// One engine step of at most `timeout` (shorter when an open-loop message is due), then
    /// the live figures and, at each whole second, a tick.
    pub fn step(&mut self, timeout: Duration) -> std::io::Result<()> {
        let timeout = match self.engine.until_due() {
            Some(due) => timeout.min(due),
            None => timeout,
        };
        self.engine.step(timeout)?;
        let live = &self.control.live[self.thread];
        live.open.store(self.engine.open, Ordering::Relaxed);
        live.in_progress
            .store(self.engine.in_progress, Ordering::Relaxed);
        live.ops.store(self.engine.counters.ops, Ordering::Relaxed);
        live.errors
            .store(self.engine.counters.error_count(), Ordering::Relaxed);
        if self.ticks.is_some() && self.start.elapsed() >= Duration::from_secs(self.next_second) {
            self.tick();
        }
        Ok(())
    }

    fn tick(&mut self) {
        let cpu = procfs::thread_cpu_time().unwrap_or_default();
        let ops = self.engine.counters.ops;
        let latency = self.engine.interval.clone();
        self.engine.interval.reset();
        let tick = Tick {
            thread: self.thread,
            second: self.next_second,
            ops: ops - self.last_ops,
            latency,
            open: self.engine.open,
            cpu: cpu.saturating_sub(self.last_cpu),
        };
        self.last_ops = ops;
        self.last_cpu = cpu;
        self.next_second = self.start.elapsed().as_secs() + 1;
        if let Some(ticks) = &self.ticks {
            let _ = ticks.send(tick);
        }
    }

    /// Messages published by every thread so far (--all-publish).
    pub fn engine_published(&self) -> u64 {
        self.engine.published_total()
    }

    /// Operations over all threads so far.
    pub fn all_ops(&self) -> u64 {
        self.control
            .live
            .iter()
            .map(|l| l.ops.load(Ordering::Relaxed))
            .sum()
    }

    /// Steps until `deadline` (or the run is stopped).
    pub fn run_until(&mut self, deadline: Instant) -> std::io::Result<()> {
        loop {
            let now = Instant::now();
            if now >= deadline || self.control.stop.load(Ordering::Acquire) {
                return Ok(());
            }
            self.step(TICK.min(deadline - now))?;
        }
    }

    /// What the thread counted so far, for the window's start or end.
    pub fn snapshot(&self) -> ThreadSnapshot {
        ThreadSnapshot {
            counters: self.engine.counters.clone(),
            cpu: procfs::thread_cpu_time().unwrap_or_default(),
            node_ops: self.engine.node_ops.clone(),
            compressed: deflate_counts(&self.engine),
        }
    }
}

/// Compressed messages, their bytes on the wire and decompressed, so far.
fn deflate_counts(engine: &Engine) -> [u64; 3] {
    let s = &engine.deflate_stats;
    [
        s.messages.load(Ordering::Relaxed),
        s.wire_bytes.load(Ordering::Relaxed),
        s.inflated_bytes.load(Ordering::Relaxed),
    ]
}

/// A thread's counts at one instant.
#[derive(Debug, Clone, Default)]
pub struct ThreadSnapshot {
    /// Its counters.
    pub counters: Counters,
    /// Its CPU time (utime+stime of the thread).
    pub cpu: Duration,
    /// Per subscriber address: deliveries.
    pub node_ops: Vec<u64>,
    /// Compressed messages, wire bytes, decompressed bytes.
    pub compressed: [u64; 3],
}

/// What a worker hands back at the end.
pub struct ThreadResult {
    /// Counts when the window opened (all zero if it never did).
    pub start: ThreadSnapshot,
    /// Counts when it closed (or at the end).
    pub end: ThreadSnapshot,
    /// Latencies of the window.
    pub latency: Histogram<u64>,
    /// Per subscriber address: latencies of the window.
    pub node_latency: Vec<Histogram<u64>>,
    /// Connections open at the end of the window.
    pub open: usize,
    /// The broadcast publisher was open on this thread when publishing started.
    pub publisher_open: bool,
    /// Operations over the whole run, drain included (--all-publish counts every delivery).
    pub total_ops: u64,
}

impl ThreadResult {
    /// The result of `worker` between `start` and now.
    pub fn of(worker: &Worker<'_>, start: ThreadSnapshot, publisher_open: bool) -> Self {
        Self {
            end: worker.snapshot(),
            start,
            latency: worker.engine.latency.clone(),
            node_latency: worker.engine.node_latency.clone(),
            open: worker.engine.open,
            publisher_open,
            total_ops: worker.engine.counters.ops,
        }
    }
}
