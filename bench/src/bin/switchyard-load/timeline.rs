//! `--timeline FILE`: one record per second of the run, merged over the threads, after a
//! baseline record for second 0 (no connection yet: the server's memory at rest).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use switchyard_bench::procfs;

use crate::cli::TimelineFormat;
use crate::workers::Tick;

/// One second of the run.
#[derive(Debug, Serialize)]
pub struct Record {
    /// Seconds since the run's start, at the end of this second.
    pub t: u64,
    /// Operations completed in this second (upgrades, echoes, deliveries).
    pub ops_per_s: u64,
    /// Latency percentiles of this second, microseconds (null with no operation).
    pub latency_p50_us: Option<f64>,
    /// 99th percentile.
    pub latency_p99_us: Option<f64>,
    /// 99.9th percentile.
    pub latency_p999_us: Option<f64>,
    /// Connections open at its end.
    pub open: usize,
    /// With --server-pid: the (first) server's resident memory.
    pub server_rss_kib: Option<u64>,
    /// With --server-pid: the servers' CPU in this second, % of one core.
    pub server_cpu_pct: Option<f64>,
    /// The generator's CPU in this second, % of one core, per thread.
    pub load_cpu_pct: Vec<f64>,
}

/// Collects the threads' ticks and writes each second once every thread has reported it.
pub struct Timeline {
    out: BufWriter<File>,
    format: TimelineFormat,
    threads: usize,
    pending: BTreeMap<u64, Vec<Tick>>,
    server_pids: Vec<u32>,
    last_server: Option<(Instant, Duration)>,
}

impl Timeline {
    /// A timeline written to `path`.
    pub fn create(
        path: &std::path::Path,
        format: TimelineFormat,
        threads: usize,
        server_pids: &[u32],
    ) -> io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        if format == TimelineFormat::Csv {
            let cpus: Vec<String> = (0..threads).map(|i| format!("load_cpu_pct_t{i}")).collect();
            writeln!(
                out,
                "t,ops_per_s,latency_p50_us,latency_p99_us,latency_p999_us,open,server_rss_kib,\
                 server_cpu_pct,{}",
                cpus.join(",")
            )?;
        }
        let mut timeline = Self {
            out,
            format,
            threads,
            pending: BTreeMap::new(),
            server_pids: server_pids.to_vec(),
            last_server: server_cpu(server_pids).map(|cpu| (Instant::now(), cpu)),
        };
        // Second 0: the baseline before any connection (the server's memory at rest).
        let baseline = Record {
            t: 0,
            ops_per_s: 0,
            latency_p50_us: None,
            latency_p99_us: None,
            latency_p999_us: None,
            open: 0,
            server_rss_kib: timeline.server_rss_kib(),
            server_cpu_pct: None,
            load_cpu_pct: vec![0.0; threads],
        };
        timeline.write(&baseline)?;
        Ok(timeline)
    }

    fn server_rss_kib(&self) -> Option<u64> {
        self.server_pids
            .first()
            .and_then(|&pid| procfs::rss_bytes(pid).ok())
            .map(|b| b / 1024)
    }

    /// Takes one thread's tick; writes every second all threads have now reported.
    pub fn add(&mut self, tick: Tick) -> io::Result<()> {
        self.pending.entry(tick.second).or_default().push(tick);
        while let Some(entry) = self.pending.first_entry() {
            if entry.get().len() < self.threads {
                break;
            }
            let (second, mut ticks) = entry.remove_entry();
            ticks.sort_by_key(|t| t.thread);
            let record = self.record(second, &ticks);
            self.write(&record)?;
        }
        Ok(())
    }

    fn record(&mut self, second: u64, ticks: &[Tick]) -> Record {
        let mut latency =
            Histogram::<u64>::new_with_bounds(1, 120_000_000_000, 3).expect("valid bounds");
        for tick in ticks {
            let _ = latency.add(&tick.latency);
        }
        let q = |q: f64| (!latency.is_empty()).then(|| latency.value_at_quantile(q) as f64 / 1e3);
        let now = Instant::now();
        let server_cpu_pct = match (server_cpu(&self.server_pids), self.last_server) {
            (Some(cpu), Some((at, before))) => {
                self.last_server = Some((now, cpu));
                let wall = (now - at).as_secs_f64();
                (wall > 0.0).then(|| 100.0 * (cpu.saturating_sub(before)).as_secs_f64() / wall)
            }
            _ => None,
        };
        Record {
            t: second,
            ops_per_s: ticks.iter().map(|t| t.ops).sum(),
            latency_p50_us: q(0.5),
            latency_p99_us: q(0.99),
            latency_p999_us: q(0.999),
            open: ticks.iter().map(|t| t.open).sum(),
            server_rss_kib: self.server_rss_kib(),
            server_cpu_pct,
            // A tick covers about one second of its thread.
            load_cpu_pct: ticks.iter().map(|t| 100.0 * t.cpu.as_secs_f64()).collect(),
        }
    }

    fn write(&mut self, r: &Record) -> io::Result<()> {
        match self.format {
            TimelineFormat::Json => {
                serde_json::to_writer(&mut self.out, r)?;
                writeln!(self.out)?;
            }
            TimelineFormat::Csv => {
                let opt = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.1}"));
                let cpus: Vec<String> = r.load_cpu_pct.iter().map(|c| format!("{c:.1}")).collect();
                writeln!(
                    self.out,
                    "{},{},{},{},{},{},{},{},{}",
                    r.t,
                    r.ops_per_s,
                    opt(r.latency_p50_us),
                    opt(r.latency_p99_us),
                    opt(r.latency_p999_us),
                    r.open,
                    r.server_rss_kib.map_or_else(String::new, |v| v.to_string()),
                    opt(r.server_cpu_pct),
                    cpus.join(",")
                )?;
            }
        }
        self.out.flush()
    }
}

fn server_cpu(pids: &[u32]) -> Option<Duration> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .map(|&pid| procfs::cpu_time(pid).ok())
        .sum::<Option<Duration>>()
}
