//! The report's figures, merged over the threads' results.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use hdrhistogram::Histogram;

use super::{IdleFigures, Plan, Window};
use crate::cli::Scenario;
use crate::counters::Counters;
use crate::report::Report;
use crate::workers::ThreadResult;

/// Merges the threads' results into the report.
pub(super) fn finish(
    plan: &Plan<'_>,
    results: &[ThreadResult],
    window: Window,
    report: &mut Report,
) -> io::Result<()> {
    let common = plan.common;
    let mut end = Counters::default();
    for r in results {
        end.merge(&r.end.counters);
    }
    if let Some(idle) = &window.idle {
        idle_figures(idle, &end, report);
        if idle.hold.is_some() {
            let open: usize = results.iter().map(|r| r.open).sum();
            report.count("open_after_hold", open as u64, "connections");
        }
    } else {
        let unit = match plan.scenario {
            Scenario::Upgrade { .. } => "upgrades",
            Scenario::Echo { .. } => "messages",
            Scenario::Broadcast { .. } => "deliveries",
            Scenario::Idle { .. } => "",
        };
        figures(results, &window, unit, report);
    }
    if let Scenario::Broadcast { all_publish, .. } = plan.scenario {
        if plan.several {
            per_node(results, &common.addr, window.seconds, report);
        }
        if let Some(cpu) = window.redis_cpu {
            let cpu = cpu.as_secs_f64();
            let ops = report.ops();
            report.num(
                "redis_cpu_pct",
                100.0 * cpu / window.seconds,
                1,
                "% of one core",
            );
            if ops > 0 {
                report.num("redis_cpu_us_per_op", cpu * 1e6 / ops as f64, 3, "us");
            }
        }
        if *all_publish {
            // Over the whole run, drain included: every message must reach every receiver.
            let published = plan.shared.published.load(Ordering::Relaxed);
            let delivered: u64 = results.iter().map(|r| r.total_ops).sum();
            let expected = published * window.receivers;
            report.count("published_total", published, "messages (whole run)");
            report.count("receivers", window.receivers, "clients per message");
            report.count(
                "delivered_total",
                delivered,
                "deliveries (whole run, drained)",
            );
            report.count("deliveries_missing", expected.saturating_sub(delivered), "");
        }
        if !all_publish && common.rate.is_none() {
            report.count("broadcasts_complete", end.broadcasts_complete, "messages");
        }
        if !all_publish && !results.iter().any(|r| r.publisher_open) {
            *end.errors.entry("publisher did not open").or_default() += 1;
        }
    }
    if common.deflate {
        let d = |k: usize| -> u64 {
            results
                .iter()
                .map(|r| r.end.compressed[k] - r.start.compressed[k])
                .sum()
        };
        report.count("deflate_agreed", end.deflate_agreed, "connections");
        report.count("deflate_declined", end.deflate_declined, "connections");
        report.count("compressed_messages", d(0), "received in the window");
        report.count(
            "compressed_wire_bytes",
            d(1),
            "bytes (their payloads as received)",
        );
        report.count(
            "compressed_inflated_bytes",
            d(2),
            "bytes (the same, decompressed)",
        );
        let wire: u64 = results
            .iter()
            .map(|r| r.end.counters.wire_bytes - r.start.counters.wire_bytes)
            .sum();
        report.count("received_wire_bytes", wire, "bytes (all frames, window)");
    }
    if !common.subprotocol.is_empty() {
        let chosen: Vec<String> = end
            .subprotocols
            .iter()
            .map(|(name, n)| format!("{n} x {name}"))
            .collect();
        let chosen = if chosen.is_empty() {
            "none".to_owned()
        } else {
            chosen.join("; ")
        };
        report.text("subprotocols", chosen);
        report.count("subprotocol_none", end.subprotocol_none, "connections");
    }
    if common.tls {
        // Upgrades whose TLS handshake resumed a session (all but the first few, with
        // resumption on and a server that issues tickets).
        report.count("tls_resumed", end.tls_resumed, "handshakes");
    }
    report.count("errors", end.error_count(), "");
    if !end.errors.is_empty() {
        let kinds: Vec<String> = end
            .errors
            .iter()
            .map(|(kind, count)| format!("{count} x {kind}"))
            .collect();
        report.text("error_kinds", kinds.join("; "));
    }
    Ok(())
}

/// Throughput, latency percentiles, CPU per operation, and the generator's own CPU per thread.
fn figures(results: &[ThreadResult], window: &Window, unit: &'static str, report: &mut Report) {
    let seconds = window.seconds;
    let ops: u64 = results
        .iter()
        .map(|r| r.end.counters.ops - r.start.counters.ops)
        .sum();
    let bytes: u64 = results
        .iter()
        .map(|r| r.end.counters.payload_bytes - r.start.counters.payload_bytes)
        .sum();
    let mut latency =
        Histogram::<u64>::new_with_bounds(1, 120_000_000_000, 3).expect("valid bounds");
    for r in results {
        let _ = latency.add(&r.latency);
    }
    report.num("duration_s", seconds, 3, "s");
    report.count("ops", ops, unit);
    report.num("ops_per_s", ops as f64 / seconds, 0, "/s");
    let us = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    report.num("latency_p50_us", us(0.5), 1, "us");
    report.num("latency_p99_us", us(0.99), 1, "us");
    report.num("latency_p999_us", us(0.999), 1, "us");
    report.num("latency_max_us", latency.max() as f64 / 1000.0, 1, "us");
    if let Some(cpu) = window.server_cpu {
        let cpu = cpu.as_secs_f64();
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
    report.num(
        "load_cpu_pct",
        100.0 * window.self_cpu.as_secs_f64() / seconds,
        1,
        "% of one core",
    );
    let busy: Vec<f64> = results
        .iter()
        .map(|r| r.end.cpu.saturating_sub(r.start.cpu).as_secs_f64() / seconds)
        .collect();
    report.num(
        "generator_cpu_busy",
        busy.iter().copied().fold(0.0, f64::max),
        3,
        "of wall time, busiest thread (over 0.90: generator-bound)",
    );
    let per_thread: Vec<String> = busy.iter().map(|b| format!("{:.1}", 100.0 * b)).collect();
    report.text("load_cpu_pct_per_thread", per_thread.join(","));
    report.num(
        "payload_mib_per_s",
        bytes as f64 / (1 << 20) as f64 / seconds,
        2,
        "MiB/s (payload, one way)",
    );
}

fn idle_figures(idle: &IdleFigures, end: &Counters, report: &mut Report) {
    report.count("open", idle.held as u64, "connections");
    report.num("open_time_s", idle.opened_in.as_secs_f64(), 2, "s");
    report.num(
        "upgrades_per_s",
        end.upgraded as f64 / idle.opened_in.as_secs_f64(),
        0,
        "/s",
    );
    if let Some(cpu) = idle.server_cpu_open {
        report.num(
            "server_cpu_us_per_conn",
            cpu.as_secs_f64() * 1e6 / end.upgraded.max(1) as f64,
            2,
            "us (open only)",
        );
    }
    if let Some((before, after)) = idle.rss {
        report.num("server_rss_before_kib", before as f64 / 1024.0, 0, "KiB");
        report.num("server_rss_after_kib", after as f64 / 1024.0, 0, "KiB");
        report.num(
            "server_rss_per_conn_bytes",
            (after as f64 - before as f64) / idle.held.max(1) as f64,
            1,
            "bytes",
        );
    }
    if let Some(hold) = idle.hold {
        report.num("hold_s", hold, 1, "s (at most)");
    }
}

/// Broadcast over several servers: deliveries/s and latency per subscriber address.
fn per_node(results: &[ThreadResult], addrs: &[SocketAddr], seconds: f64, report: &mut Report) {
    for (i, addr) in addrs.iter().enumerate() {
        let ops: u64 = results
            .iter()
            .map(|r| {
                r.end.node_ops.get(i).copied().unwrap_or(0)
                    - r.start.node_ops.get(i).copied().unwrap_or(0)
            })
            .sum();
        let mut h = Histogram::<u64>::new_with_bounds(1, 120_000_000_000, 3).expect("valid bounds");
        for r in results {
            if let Some(node) = r.node_latency.get(i) {
                let _ = h.add(node);
            }
        }
        // Leaked: a handful of names per run, for a report keyed by static names.
        let name = |what: &str| -> &'static str { format!("node{i}_{what}").leak() };
        report.text(name("addr"), addr.to_string());
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
