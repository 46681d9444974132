#!/usr/bin/env python3
"""Side-by-side benchmark of Switchyard, the null server and peer servers; writes BENCHMARKS.md.

Every server runs pinned to core 0 (`taskset -c 0`; Switchyard with one worker pinned to core 0),
the load generator `switchyard-load` pinned to core 1. Runs are interleaved (A B C D ... per
scenario, round after round) so that drifting machine load hits every server alike, and each
server process is fresh for each run. Reported: medians with min-max over the rounds, ratios to
the best peer and to the null server, the server's CPU time per operation (utime+stime from /proc),
resident memory per idle connection, and an SVG chart. Only the Python standard library is used.

    bench/compare.py            # full run (~15 min), writes BENCHMARKS.md and bench/results/
    bench/compare.py --quick    # smoke test (~1-2 min), writes bench/results/quick/ (untracked)
    bench/compare.py --strace   # syscalls per upgrade (strace -c -f), null vs switchyard

Loopback only; every run is bounded in time.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import idle100k  # noqa: E402 - the multi-process idle scenarios (bench/idle100k.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("SWITCHYARD_BENCH_TARGET", os.path.join(ROOT, "target"))
PEERS_TARGET = os.environ.get(
    "SWITCHYARD_PEERS_TARGET", os.path.join(ROOT, "target", "peers")
)
RELEASE = os.path.join(TARGET, "release")
PEERS_RELEASE = os.path.join(PEERS_TARGET, "release")
NODE_DIR = os.path.join(ROOT, "bench", "peers", "node")
SERVER_CPU = "0"
LOAD_CPU = "1"


def log(msg):
    print(f"[compare {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Servers


# A second Switchyard binary (e.g. an older commit built beside this one) compared as
# "switchyard-base" in the same run: set by --baseline.
BASELINE = None


def servers():
    """Name -> (port, argv without taskset). Ports differ so a lingering socket never collides."""
    extra = {}
    if BASELINE:
        extra["switchyard-base"] = (9105, [BASELINE, "--listen", "127.0.0.1:9105", "--workers",
                                           "1", "--cpus", SERVER_CPU, "--log-level", "warn"])
    return extra | {
        "switchyard": (9100, [os.path.join(RELEASE, "switchyard"), "--listen", "127.0.0.1:9100",
                              "--workers", "1", "--cpus", SERVER_CPU, "--log-level", "warn"]),
        "null": (9101, [os.path.join(RELEASE, "switchyard-null"), "127.0.0.1:9101"]),
        "tokio-tungstenite": (9102, [os.path.join(PEERS_RELEASE, "peer-tungstenite"),
                                     "127.0.0.1:9102"]),
        "fastwebsockets": (9103, [os.path.join(PEERS_RELEASE, "peer-fastwebsockets"),
                                  "127.0.0.1:9103"]),
        "node-ws": (9104, ["node", os.path.join(NODE_DIR, "server.js"), "127.0.0.1:9104"]),
    }


PEERS = ["tokio-tungstenite", "fastwebsockets", "node-ws"]

# Every server but the null one serves /broadcast (Switchyard's route; the peers' own, see
# bench/peers). Under a load that offers permessage-deflate (`--deflate`) the peers that cannot
# compress are left out, and Node's ws is started with it on, no context takeover both ways and
# messages from 64 B compressed at zlib level 1, as Switchyard's default `deflate = "on"`.
NO_BROADCAST = ("null",)
NO_DEFLATE = ("null", "tokio-tungstenite", "fastwebsockets")
DEFLATE_ENV = {"PERMESSAGE_DEFLATE": "no-context-takeover", "PERMESSAGE_DEFLATE_THRESHOLD": "64",
               "PERMESSAGE_DEFLATE_LEVEL": "1"}


class Server:
    """A server process pinned to SERVER_CPU, started fresh for one run."""

    def __init__(self, name, wrap=None, env=None):
        self.name = name
        self.port, argv = servers()[name]
        argv = ["taskset", "-c", SERVER_CPU] + argv
        if wrap:
            argv = wrap + argv
        self.log_path = f"/tmp/switchyard-compare-{name}.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log,
                                     preexec_fn=raise_nofile,
                                     env=dict(os.environ, **env) if env else None)
        try:
            idle100k.wait_for_port(self.port, self.proc)
        except Exception:
            self.stop()
            raise
        # taskset execs the server, so the PID is the server's (strace: its child; see below).
        self.pid = self.proc.pid

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def raise_nofile():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---------------------------------------------------------------------------------------------
# Scenarios


def scenarios(quick):
    d = "2" if quick else "3"
    warm = "0.5" if quick else "1"
    idle_small = "2000" if quick else "10000"
    out = [
        ("upgrade", "Upgrade storm (connect, 101, close; 32 in progress)",
         # 64 source addresses: a storm leaves every closed connection in TIME_WAIT for 60 s.
         ["--sources", "64", "upgrade", "--concurrency", "32", "--duration", d], "upgrades"),
        ("echo16", "Echo 16 B text, 100 connections x 16 in flight",
         ["echo", "-c", "100", "-w", "16", "-s", "16", "--warmup", warm, "--duration", d],
         "messages"),
        ("echo16k", "Echo 16 KiB binary, 100 connections x 16 in flight",
         ["echo", "-c", "100", "-w", "16", "-s", "16384", "--binary", "--warmup", warm,
          "--duration", d], "messages"),
        (f"idle{int(idle_small) // 1000}k", f"Idle, {int(idle_small):,} upgraded connections",
         ["idle", "-c", idle_small, "--settle", "1"], "connections"),
    ]
    if not quick:
        out.append(("idle19k", "Idle, 19,000 upgraded connections (the most one process "
                    "holds here)", ["idle", "-c", "19000", "--settle", "1"], "connections"))
        # Past RLIMIT_NOFILE (20,000 per descriptor table): Switchyard with 6 reactors and
        # private descriptor tables, the load in 6 processes (bench/idle100k.py). A dict of
        # arguments marks a scenario that idle100k.measure runs instead of run_one.
        out.append(("idle100k", "Idle, 100,000 upgraded connections (Switchyard: 6 reactors "
                    "on core 0 with --private-fd-tables; null: 6 processes; 6 load processes)",
                    {"connections": 100_000, "workers": 6}, "connections"))
        out.append(("idle10k-6w", "Idle, 10,000 upgraded connections, set up as idle100k",
                    {"connections": 10_000, "workers": 6}, "connections"))
    return out


def broadcast_scenario(quick):
    d = "2" if quick else "3"
    return ("broadcast", "Broadcast 64 B, 1 publisher -> 100 subscribers, 4 in flight",
            ["broadcast", "-c", "100", "-w", "4", "-s", "64", "--path", "/broadcast",
             "--warmup", "0.5", "--duration", d], "deliveries")


# Fan-out scenarios (Switchyard's /broadcast route: the sender hears its own message too), run
# only when named in --scenarios (or all of them with --scenarios fanout): bcast<N> is one
# publisher -> N subscribers, nxn<N> is N clients each publishing to all (N x N deliveries per
# round), -deflate offers permessage-deflate (the generator decompresses what comes compressed).
FANOUT = ["bcast100", "bcast1k", "bcast10k", "bcast1k-4k", "nxn100", "nxn1k",
          "bcast100-deflate", "bcast1k-deflate", "bcast1k-4k-deflate", "nxn100-deflate",
          "nxn1k-deflate"]


def fanout_scenarios(quick):
    d = "2" if quick else "3"
    out = []
    for name in FANOUT:
        base = name.removesuffix("-deflate")
        deflate = name.endswith("-deflate")
        size = 4096 if base.endswith("-4k") else 64
        n = {"100": 100, "1k": 1000, "10k": 10_000}[
            base.removeprefix("bcast").removeprefix("nxn").removesuffix("-4k")]
        if base.startswith("nxn"):
            label = f"N x N broadcast {size} B, {n:,} clients each publishing to all, 1 in flight each"
            args = ["broadcast", "--all-publish", "-c", str(n), "-w", "1"]
        else:
            label = f"Broadcast {size:,} B, 1 publisher -> {n:,} subscribers, 4 in flight"
            args = ["broadcast", "-c", str(n), "-w", "4"]
        args += ["-s", str(size), "--path", "/broadcast", "--warmup", "0.5", "--duration", d]
        if deflate:
            label += ", permessage-deflate offered"
            args = ["--deflate"] + args
        out.append((name, label, args, "deliveries"))
    return out


# The generator's threads and their CPUs (--load-threads, --load-cpus): set in main().
LOAD_THREADS = 1
LOAD_CPUS = LOAD_CPU
# Over this share of a core on its busiest thread, the generator limited the figure.
GENERATOR_BOUND = 0.90


def load_argv(server, args):
    return (["taskset", "-c", LOAD_CPUS, os.path.join(RELEASE, "switchyard-load"),
             "--addr", f"127.0.0.1:{server.port}", "--server-pid", str(server.pid),
             "--threads", str(LOAD_THREADS), "--cpus", LOAD_CPUS,
             "--json", "--quiet"] + args)


def run_one(name, args):
    server = Server(name, env=DEFLATE_ENV if "--deflate" in args else None)
    try:
        time.sleep(0.2)
        argv = load_argv(server, args)
        res = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            raise RuntimeError(f"load failed: {res.stderr.strip()[-500:]}")
        result = json.loads(res.stdout)
        result["command"] = " ".join(argv)
        busy = result.get("generator_cpu_busy")
        result["generator_bound"] = busy is not None and busy > GENERATOR_BOUND
        return result
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# Building


def build(skip, names, criterion=False):
    if skip:
        return
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    pkgs = ["-p", "switchyard-bench"] + (["-p", "switchyard"] if "switchyard" in names else [])
    log("building switchyard-bench and switchyard (release)")
    subprocess.run(["cargo", "build", "--release"] + pkgs, cwd=ROOT, env=env, check=True)
    if criterion:
        log("building the criterion suites")
        subprocess.run(["cargo", "bench", "-p", "switchyard-bench", "--no-run"], cwd=ROOT,
                       env=env, check=True)
    if any(n in names for n in ("tokio-tungstenite", "fastwebsockets")):
        log("building the peer servers (bench/peers, release)")
        subprocess.run(["cargo", "build", "--release", "--manifest-path",
                        os.path.join(ROOT, "bench", "peers", "Cargo.toml")],
                       env=dict(os.environ, CARGO_TARGET_DIR=PEERS_TARGET), check=True)
    if "node-ws" in names:
        log("installing ws from npm (bench/peers/node)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR,
                       check=True)


# ---------------------------------------------------------------------------------------------
# Machine facts


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import resource
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "nofile_hard": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        "rustc": subprocess.run(["rustc", "--version"], capture_output=True,
                                text=True).stdout.strip(),
        "node": subprocess.run(["node", "--version"], capture_output=True,
                               text=True).stdout.strip(),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                 capture_output=True, text=True).stdout.strip(),
        "uncommitted": len(subprocess.run(
            ["git", "status", "--porcelain", "--", "handshake", "frame", "netio", "server",
             "bench"], cwd=ROOT, capture_output=True, text=True).stdout.splitlines()),
    }


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def busy_processes():
    """Other processes using CPU at the moment (the machine is shared)."""
    res = subprocess.run(["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"],
                         capture_output=True, text=True)
    rows = []
    for line in res.stdout.splitlines()[:6]:
        parts = line.split(None, 1)
        if len(parts) == 2 and float(parts[0]) >= 5.0:
            rows.append(f"{parts[1]} {parts[0]}%")
    return ", ".join(rows) or "none above 5%"


# ---------------------------------------------------------------------------------------------
# Statistics and the report


def stat(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def fmt(x, digits=None):
    if x is None:
        return "-"
    if digits is None:
        digits = 0 if abs(x) >= 100 else (1 if abs(x) >= 10 else (2 if abs(x) >= 1 else 3))
    return f"{x:,.{digits}f}"


def fmtx(r):
    return "-" if r is None else f"{r:.2f}x"


def fmt_stat(s, digits=None):
    if s is None:
        return "-"
    return f"{fmt(s['median'], digits)} ({fmt(s['min'], digits)}-{fmt(s['max'], digits)})"


def summarize(results):
    """results: {scenario: {server: [json, ...]}} -> {scenario: {server: {metric: stat}}}."""
    keys = ["ops_per_s", "server_cpu_us_per_op", "latency_p50_us", "latency_p99_us",
            "latency_p999_us", "server_cpu_pct", "load_cpu_pct", "payload_mib_per_s",
            "server_rss_per_conn_bytes", "upgrades_per_s", "server_cpu_us_per_conn", "open",
            "errors", "server_rss_before_kib", "server_rss_after_kib", "generator_cpu_busy"]
    out = {}
    for scen, per_server in results.items():
        out[scen] = {}
        for server, runs in per_server.items():
            out[scen][server] = {k: stat([r.get(k) for r in runs]) for k in keys}
    return out


def med(summary, scen, server, key):
    s = summary.get(scen, {}).get(server, {}).get(key)
    return s["median"] if s else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def best_peer(summary, scen, key, higher_is_better=True):
    vals = [(med(summary, scen, p, key), p) for p in PEERS]
    vals = [v for v in vals if v[0] is not None]
    if not vals:
        return None, None
    return (max(vals) if higher_is_better else min(vals))


def generator_cell(s):
    """The generator's busiest thread, median (max) share of wall time; 'generator-bound' if any
    run went over GENERATOR_BOUND: that figure measures the generator, not the server."""
    if s is None:
        return "-"
    cell = f"{s['median']:.2f} ({s['max']:.2f})"
    return cell + " **generator-bound**" if s["max"] > GENERATOR_BOUND else cell


def svg_chart(summary, scen_list, servers_order):
    """Two panels of grouped bars, each server relative to the null server (null = 1.0):
    throughput (higher is better) and server CPU per operation (lower is better)."""
    colors = {"switchyard": "#1f77b4", "switchyard-base": "#9467bd", "null": "#7f7f7f", "tokio-tungstenite": "#ff7f0e",
              "fastwebsockets": "#2ca02c", "node-ws": "#d62728"}
    panels = [("Throughput relative to the null server (higher is better)", "ops_per_s"),
              ("Server CPU per operation relative to the null server (lower is better)",
               "server_cpu_us_per_op")]
    scen_list = [s for s in scen_list if s[0] in summary and not s[0].startswith("idle")
                 and "null" in summary[s[0]]]
    width, panel_h, top, left = 860, 250, 40, 60
    height = top + len(panels) * (panel_h + 86) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    x = left
    for name in servers_order:
        out.append(f'<rect x="{x}" y="10" width="12" height="12" fill="{colors.get(name, "#000")}"/>')
        out.append(f'<text x="{x + 16}" y="20">{name}</text>')
        x += 30 + 7 * len(name)
    for pi, (title, key) in enumerate(panels):
        y0 = top + pi * (panel_h + 86)
        out.append(f'<text x="{left}" y="{y0 + 14}" font-size="13" font-weight="bold">{title}</text>')
        vals = []
        for scen, *_ in scen_list:
            null = med(summary, scen, "null", key)
            for s in servers_order:
                r = ratio(med(summary, scen, s, key), null)
                if r is not None:
                    vals.append(r)
        # Axis capped at 3x: a bar beyond it is drawn to the cap and labelled with its value.
        cap = 3.0
        vmax = min(max(vals + [1.0]) * 1.1, cap * 1.05)
        step = next(st for st in (0.25, 0.5, 1.0, 2.0, 5.0) if vmax / st <= 8)
        base = y0 + 36 + panel_h
        plot_w = width - left - 20
        out.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="black"/>')
        tick = 0.0
        while tick <= vmax:
            ty = base - tick / vmax * panel_h
            out.append(f'<line x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}" '
                       f'stroke="{"#444" if tick == 1.0 else "#ddd"}" '
                       f'stroke-dasharray="{"4,3" if tick == 1.0 else "none"}"/>')
            out.append(f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick:g}x</text>')
            tick += step
        group_w = plot_w / max(1, len(scen_list))
        bar_w = group_w * 0.8 / max(1, len(servers_order))
        for gi, (scen, label, *_rest) in enumerate(scen_list):
            gx = left + gi * group_w + group_w * 0.1
            null = med(summary, scen, "null", key)
            for si, s in enumerate(servers_order):
                r = ratio(med(summary, scen, s, key), null)
                if r is None:
                    continue
                h = min(r, vmax) / vmax * panel_h
                bx = gx + si * bar_w
                out.append(f'<rect x="{bx:.1f}" y="{base - h:.1f}" width="{bar_w - 2:.1f}" '
                           f'height="{h:.1f}" fill="{colors.get(s, "#000")}"/>')
                capped = "&#9650;" if r > vmax else ""
                out.append(f'<text x="{bx + bar_w / 2 - 1:.1f}" y="{base - h - 3:.1f}" '
                           f'text-anchor="middle" font-size="9">{capped}{r:.2f}</text>')
            out.append(f'<text x="{gx + group_w * 0.4:.1f}" y="{base + 15}" '
                       f'text-anchor="middle">{scen}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def target_lines(summary, quick):
    """The issue-6 targets, judged from the medians."""
    rows = []

    def line(name, ok, detail):
        verdict = "n/a" if ok is None else ("MET" if ok else "MISSED")
        rows.append(f"| {name} | {verdict} | {detail} |")

    sy, null = "switchyard", "null"
    r = ratio(med(summary, "upgrade", sy, "server_cpu_us_per_op"),
              med(summary, "upgrade", null, "server_cpu_us_per_op"))
    line("Upgrade: server CPU per upgrade <= 0.85x null", None if r is None else r <= 0.85,
         f"{fmt(r, 2)}x null" if r else "not measured")
    bp, bpn = best_peer(summary, "upgrade", "ops_per_s")
    r = ratio(med(summary, "upgrade", sy, "ops_per_s"), bp)
    line("Upgrade: throughput >= best peer", None if r is None else r >= 1.0,
         f"{fmt(r, 2)}x {bpn}" if r else "not measured")
    r = ratio(med(summary, "echo16", sy, "server_cpu_us_per_op"),
              med(summary, "echo16", null, "server_cpu_us_per_op"))
    line("Echo 16 B: CPU per message <= 0.9x null", None if r is None else r <= 0.9,
         f"{fmt(r, 2)}x null" if r else "not measured")
    r = ratio(med(summary, "echo16k", sy, "server_cpu_us_per_op"),
              med(summary, "echo16k", null, "server_cpu_us_per_op"))
    line("Echo 16 KiB: CPU per message <= 1.0x null", None if r is None else r <= 1.0,
         f"{fmt(r, 2)}x null" if r else "not measured")
    bp, bpn = best_peer(summary, "echo16k", "ops_per_s")
    r = ratio(med(summary, "echo16k", sy, "ops_per_s"), bp)
    line("Echo 16 KiB: throughput >= 1.2x best peer", None if r is None else r >= 1.2,
         f"{fmt(r, 2)}x {bpn}" if r else "not measured")
    for scen in [s for s in summary if s.startswith("idle")]:
        v = med(summary, scen, sy, "server_rss_per_conn_bytes")
        line(f"{scen}: <= 100 B resident memory per connection",
             None if v is None else v <= 100, f"{fmt(v, 0)} B" if v is not None else "not measured")
    if "idle100k" not in summary:
        line("idle100k: <= 100 B per connection at 100,000", None,
             "not run (compare.py runs it in a full run, via bench/idle100k.py)")
    return rows


def write_markdown(path, summary, scen_list, servers_order, meta, chart_name, strace_rows):
    L = []
    L.append("# Benchmarks" + (" (quick smoke run)" if meta["quick"] else ""))
    L.append("")
    L.append("Written by `bench/compare.py`" + (" --quick" if meta["quick"] else "") +
             "; every figure below comes from the run it describes. Raw per-run JSON: "
             f"`{meta['raw']}`.")
    L.append("")
    L.append("## The run")
    L.append("")
    # Only the load before the run counts: the run's own two busy processes add about 2.
    busy = float(meta["load_before"].split()[0])
    if busy > 1.5:
        L.append(f"> The machine was busy during this run (1-minute load average up to {busy:.1f} "
                 "on 2 cores, other engineers building and testing): the pinned processes got "
                 "only a share of their cores, so throughput and latency figures are depressed "
                 "and noisy. Server CPU time per operation is the robust figure here.")
        L.append("")
    m = meta["machine"]
    L.append(f"- Date: {meta['started']} to {meta['finished']} (UTC).")
    L.append(f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux "
             f"{m['kernel']}; {m['rustc']}; Node {m['node']}.")
    L.append(f"- Source: commit {m.get('commit', '?')} of the shared working tree, with "
             f"{m.get('uncommitted', '?')} uncommitted file(s) under handshake/, frame/, netio/, "
             "server/, bench/ at the start (others were still working in it).")
    L.append(f"- Load on the machine (shared with other work): load average {meta['load_before']} "
             f"before, {meta['load_after']} after; busiest other processes at the start: "
             f"{meta['busy_before']}; at the end: {meta['busy_after']}.")
    if meta.get("boost", "none") != "none":
        L.append(f"- Scheduling: the script, the servers and the generator ran in their own "
                 f"scheduler autogroup ({meta['boost']}), to get a larger share of their cores "
                 "from the other work on the machine; every server got the same treatment.")
    L.append(f"- Layout: each server pinned to core {SERVER_CPU} (`taskset -c {SERVER_CPU}`; "
             f"Switchyard with `--workers 1 --cpus {SERVER_CPU}`), the load generator "
             f"`switchyard-load` to core {LOAD_CPU}; one fresh server process per run.")
    L.append(f"- Rounds: {meta['rounds']}, interleaved (every server once per scenario per round, "
             "then the next round). Figures are medians, with (min-max) over the rounds.")
    L.append("- Server CPU per operation: utime+stime of the server process from "
             "`/proc/PID/stat` over the measurement window, divided by the operations in it.")
    L.append("- Peers: tokio-tungstenite and fastwebsockets echo servers (and `/broadcast`: "
             "every message to every connection on it, sender included) on a tokio "
             "`current_thread` runtime (`bench/peers/`), Node's `ws` (`bench/peers/node/`), and "
             "`switchyard-null` (`bench/src/bin/switchyard-null.rs`): one mio thread, reads to "
             "the blank line, fixed 101, unmask and rewrite header, no validation.")
    L.append("")
    L.append("## Reproduce")
    L.append("")
    L.append("```")
    L.append(meta["invocation"])
    L.append("```")
    L.append("")
    L.append("Each run is a fresh server plus one command of this shape (from the first round):")
    L.append("")
    L.append("```")
    for cmd in meta["commands"]:
        L.append(cmd)
    L.append("```")
    L.append("")
    L.append("## Is the load generator the bottleneck?")
    L.append("")
    L.append("The generator must be able to saturate the null server. Median share of a core "
             "used, null server vs generator, in the throughput scenarios (on loopback the "
             "sender's system call also runs the receiver's TCP input path, so kernel work is "
             "split between the two processes):")
    L.append("")
    L.append("| scenario | server core % | load generator core % | reading |")
    L.append("|---|---|---|---|")
    for scen, _label, _args, _unit in scen_list:
        if scen.startswith("idle") or scen not in summary:
            continue
        srv = "null" if "null" in summary[scen] else "switchyard"
        sc = med(summary, scen, srv, "server_cpu_pct")
        lc = med(summary, scen, srv, "load_cpu_pct")
        busy = med(summary, scen, srv, "generator_cpu_busy")
        if sc is None or lc is None:
            reading = "-"
        elif busy is not None and busy > GENERATOR_BOUND:
            reading = "generator-bound (busiest generator thread over 90%)"
        elif sc >= 90 and lc < sc:
            reading = "server saturated, generator has headroom"
        elif sc >= 90:
            reading = "both near a full core"
        elif lc >= 90:
            reading = "generator-bound"
        else:
            reading = "neither core full: other work on the machine took the rest"
        L.append(f"| {scen} ({srv}) | {fmt(sc, 0)} | {fmt(lc, 0)} | {reading} |")
    L.append("")
    L.append("## Performance targets")
    L.append("")
    L.append("| target | verdict | median |")
    L.append("|---|---|---|")
    L.extend(target_lines(summary, meta["quick"]))
    L.append("")
    if meta.get("notes"):
        L.append("")
        L.append("## Notes on the targets (written after reading this run; figures quoted from "
                 "its tables)")
        L.append("")
        L.append(meta["notes"])
    L.append("")
    L.append(f"![chart]({chart_name})")
    L.append("")
    for scen, label, _args, unit in scen_list:
        if scen not in summary:
            continue
        L.append(f"## {label}")
        L.append("")
        if scen.startswith("idle"):
            null_rss = med(summary, scen, "null", "server_rss_per_conn_bytes")
            L.append("| server | RSS per connection (B) | vs null | RSS before (KiB) | "
                     "RSS after (KiB) | connections held | upgrades/s while opening | "
                     "server CPU per connection opened (us) |")
            L.append("|---|---|---|---|---|---|---|---|")
            for s in servers_order:
                d = summary[scen].get(s)
                if not d:
                    continue
                L.append(f"| {s} | {fmt_stat(d['server_rss_per_conn_bytes'], 0)} | "
                         f"{fmtx(ratio(med(summary, scen, s, 'server_rss_per_conn_bytes'), null_rss))} | "
                         f"{fmt(med(summary, scen, s, 'server_rss_before_kib'), 0)} | "
                         f"{fmt(med(summary, scen, s, 'server_rss_after_kib'), 0)} | "
                         f"{fmt_stat(d['open'], 0)} | {fmt_stat(d['upgrades_per_s'], 0)} | "
                         f"{fmt_stat(d['server_cpu_us_per_conn'])} |")
            L.append("")
            L.append("RSS per connection is the server's VmRSS after opening minus before, divided "
                     "by the connections held: memory a server reserves at start-up is in "
                     "'before', not in the per-connection figure.")
            if scen in ("idle100k", "idle10k-6w"):
                L.append("")
                L.append("Set-up (`bench/idle100k.py`; RLIMIT_NOFILE is 20,000 per descriptor "
                         "table here): Switchyard is one process with `--workers 6 --cpus 0 "
                         "--private-fd-tables` (each reactor thread has its own descriptor "
                         "table); the null server, one thread with one table, runs as 6 "
                         "processes on consecutive ports, all on core 0, with RSS and CPU "
                         "summed over them. The load is 6 `switchyard-load idle --hold` "
                         "processes on core 1; figures are read once all 6 hold their share.")
            L.append("")
            continue
        bp, bpn = best_peer(summary, scen, "ops_per_s")
        null_ops = med(summary, scen, "null", "ops_per_s")
        null_cpu = med(summary, scen, "null", "server_cpu_us_per_op")
        L.append(f"| server | {unit}/s | server CPU/op (us) | CPU/op vs null | "
                 f"throughput vs best peer ({bpn or '-'}) | throughput vs null | p50 (us) | "
                 f"p99 (us) | p99.9 (us) | server core % | load core % | generator busy | "
                 f"errors |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for s in servers_order:
            d = summary[scen].get(s)
            if not d:
                continue
            L.append(f"| {s} | {fmt_stat(d['ops_per_s'], 0)} | "
                     f"{fmt_stat(d['server_cpu_us_per_op'])} | "
                     f"{fmtx(ratio(med(summary, scen, s, 'server_cpu_us_per_op'), null_cpu))} | "
                     f"{fmtx(ratio(med(summary, scen, s, 'ops_per_s'), bp))} | "
                     f"{fmtx(ratio(med(summary, scen, s, 'ops_per_s'), null_ops))} | "
                     f"{fmt(med(summary, scen, s, 'latency_p50_us'))} | "
                     f"{fmt(med(summary, scen, s, 'latency_p99_us'))} | "
                     f"{fmt(med(summary, scen, s, 'latency_p999_us'))} | "
                     f"{fmt(med(summary, scen, s, 'server_cpu_pct'), 0)} | "
                     f"{fmt(med(summary, scen, s, 'load_cpu_pct'), 0)} | "
                     f"{generator_cell(d.get('generator_cpu_busy'))} | "
                     f"{fmt(med(summary, scen, s, 'errors'), 0)} |")
        L.append("")
    if strace_rows:
        L.extend(strace_rows)
        L.append("")
    L.append("## What could not be measured here")
    L.append("")
    L.append(f"- One process holding 100,000 connections in one descriptor table: the "
             f"sandbox's hard `RLIMIT_NOFILE` is {m['nofile_hard']:,} and the processes lack "
             "CAP_SYS_RESOURCE. idle100k therefore gives Switchyard's reactors private tables "
             "and splits the load (and the null server) over processes; see its section.")
    L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


# ---------------------------------------------------------------------------------------------
# strace


def strace_upgrades(names, count):
    """Syscalls per upgrade for each server: strace -c -f over `count` upgrades."""
    rows = ["| server | syscall | calls per upgrade |", "|---|---|---|"]
    totals = []
    for name in names:
        out_path = f"/tmp/switchyard-strace-{name}.txt"
        server = Server(name, wrap=["strace", "-c", "-f", "-o", out_path])
        try:
            time.sleep(0.5)
            # With strace in front, the traced server is strace's child; CPU figures are not
            # taken here (tracing dominates them), only call counts.
            argv = ["taskset", "-c", LOAD_CPU, os.path.join(RELEASE, "switchyard-load"),
                    "--addr", f"127.0.0.1:{server.port}", "--json", "--quiet", "upgrade",
                    "--concurrency", "8", "--count", str(count)]
            res = subprocess.run(argv, capture_output=True, text=True, timeout=300)
            done = json.loads(res.stdout).get("ops", 0) if res.returncode == 0 else 0
            time.sleep(0.5)
        finally:
            # Kill the traced server (strace's child); strace then writes its summary and exits.
            child = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True,
                                   text=True).stdout.split()
            for pid in child:
                os.kill(int(pid), signal.SIGKILL)
            server.stop()
        calls = parse_strace(out_path)
        total = sum(calls.values())
        totals.append((name, total / max(done, 1), done))
        for sc, n in sorted(calls.items(), key=lambda kv: -kv[1]):
            per = n / max(done, 1)
            if per >= 0.01:
                rows.append(f"| {name} | {sc} | {per:.2f} |")
    rows.insert(0, "")
    rows.insert(0, "Totals: " + "; ".join(f"{n}: {t:.2f} syscalls per upgrade over {d} upgrades"
                                          for n, t, d in totals) + ".")
    rows.insert(0, "")
    rows.insert(0, "`strace -c -f` on the server during `switchyard-load upgrade --concurrency 8 "
                   f"--count {count}` (tracing slows everything: counts only, no times).")
    rows.insert(0, "")
    rows.insert(0, "## Syscalls per upgrade (strace -c -f)")
    return rows


def perf_profiles(names, scen_list, seconds):
    """Top symbols of each server (perf record -g, self time) during the throughput scenarios."""
    rows = []
    for scen, label, args, _unit in scen_list:
        if scen not in ("upgrade", "echo16", "echo16k"):
            continue
        for name in names:
            server = Server(name)
            data = f"/tmp/switchyard-perf-{name}-{scen}.data"
            try:
                time.sleep(0.2)
                # Longer than the profile so that it covers steady traffic only.
                run_args = [a if a != args[args.index("--duration") + 1] else str(seconds + 4)
                            for a in args]
                load = subprocess.Popen(load_argv(server, run_args), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                time.sleep(2.5)
                subprocess.run(["perf", "record", "-F", "1999", "-g", "-p", str(server.pid),
                                "-o", data, "--", "sleep", str(seconds)],
                               capture_output=True, timeout=seconds + 60)
                load.wait(timeout=120)
            finally:
                server.stop()
            rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                                  "--sort", "sym", "--percent-limit", "1.5", "-g", "none"],
                                 capture_output=True, text=True)
            lines = [ln.strip() for ln in rep.stdout.splitlines()
                     if ln.strip() and not ln.startswith("#")][:14]
            rows.append(f"**{name}, {scen}** ({label}; self time, symbols above 1.5%):")
            rows.append("")
            rows.append("```")
            rows.extend(lines)
            rows.append("```")
            rows.append("")
    return rows


def sources_demo():
    """In a private network namespace whose ephemeral port range is cut to 1,000 ports, show
    that one source address caps connections to one server at the range, and that spreading
    over 127.0.0.x lifts the cap (the same mechanism that passes ~28,000 with the default
    range). Returns markdown lines."""
    null = os.path.join(RELEASE, "switchyard-null")
    load = os.path.join(RELEASE, "switchyard-load")
    script = f"""
set -e
ip link set lo up
echo '40000 40999' > /proc/sys/net/ipv4/ip_local_port_range
{null} 127.0.0.1:9300 2>/dev/null & A=$!
{null} 127.0.0.1:9301 2>/dev/null & B=$!
sleep 0.5
{load} --addr 127.0.0.1:9300 --json --quiet --sources 1 idle -c 3000 --settle 0.2
{load} --addr 127.0.0.1:9301 --json --quiet --sources 16 idle -c 15000 --settle 0.2
kill $A $B
"""
    try:
        res = subprocess.run(["unshare", "-n", "bash", "-c", script], capture_output=True,
                             text=True, timeout=180)
        runs = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
        return [f"Source-address spreading could not be demonstrated here: {e}."]
    if len(runs) != 2:
        return ["Source-address spreading could not be demonstrated here (unshare -n failed: "
                f"{res.stderr.strip()[-200:]})."]
    return [
        "## Past the ephemeral port range: source addresses",
        "",
        "In a private network namespace (`unshare -n`) with `ip_local_port_range` cut to 1,000 "
        "ports, against `switchyard-null`:",
        "",
        "| sources | connections asked | held | errors |",
        "|---|---|---|---|",
        f"| 1 (127.0.0.1) | 3,000 | {runs[0]['open']:,.0f} | {runs[0]['errors']:,.0f} |",
        f"| 16 (127.0.0.1-16) | 15,000 | {runs[1]['open']:,.0f} | {runs[1]['errors']:,.0f} |",
        "",
        "One source address stops at the port range (EADDRNOTAVAIL); spread over 16 the "
        "generator holds as many as asked. With the default range (28,232 ports) the same "
        "spreading is what takes one generator past 28,000 connections to one server address; "
        "here the descriptor limit (20,000 per process) stops every process first.",
    ]


def criterion_rows():
    """Runs the criterion suites of bench/ pinned to the load core; returns a markdown table of
    the median estimates (criterion's [low estimate high] time per iteration)."""
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    res = subprocess.run(["taskset", "-c", LOAD_CPU, "cargo", "bench", "-p", "switchyard-bench",
                          "--bench", "handshake", "--bench", "codec", "--bench", "roundtrip",
                          "--", "--warm-up-time", "1", "--measurement-time", "3", "--noplot"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    rows = ["## Criterion (bench/benches, pinned to core 1)", "",
            "`cargo bench -p switchyard-bench -- --warm-up-time 1 --measurement-time 3`: time per "
            "iteration, [low estimate high] of criterion's 95% interval, and throughput where "
            "the bench declares one.", "",
            "| benchmark | time | throughput |", "|---|---|---|"]
    name, time_s = None, None
    for line in res.stdout.splitlines():
        if "%" in line:
            continue  # criterion's "change" lines compare with an earlier run: not figures
        m = re.match(r"^(\S.*?)\s+time:\s+\[(.*)\]", line)
        if m:
            name, time_s = m.group(1).strip(), m.group(2)
            rows.append(f"| {name} | {time_s} | |")
            continue
        if not line.startswith(" ") and line.strip() and "time:" not in line:
            # Long names print on their own line, the figures on the next.
            maybe = line.strip()
            if "/" in maybe and " " not in maybe:
                name = maybe
            continue
        m = re.match(r"^\s+time:\s+\[(.*)\]", line)
        if m and name:
            rows.append(f"| {name} | {m.group(1)} | |")
            continue
        m = re.match(r"^\s+thrpt:\s+\[(.*)\]", line)
        if m and rows[-1].endswith("| |"):
            parts = m.group(1).split()
            rows[-1] = rows[-1][:-2] + f" {parts[2]} {parts[3]} |" if len(parts) >= 4 else rows[-1]
    if res.returncode != 0:
        rows.append("")
        rows.append(f"cargo bench failed: {res.stderr.strip()[-300:]}")
    return rows


def parse_strace(path):
    calls = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                # % time, seconds, usecs/call, calls, [errors], syscall
                if len(parts) >= 5 and parts[0].replace(".", "").isdigit() and \
                        parts[-1] not in ("total",):
                    try:
                        n = int(parts[3])
                    except ValueError:
                        continue
                    calls[parts[-1]] = calls.get(parts[-1], 0) + n
    except OSError:
        pass
    return calls


# ---------------------------------------------------------------------------------------------


def read_notes(path):
    if not path:
        return ""
    with open(path) as f:
        return f.read().strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one short round (~2 min), smoke test")
    ap.add_argument("--rounds", type=int, help="rounds (default 5, quick 1)")
    ap.add_argument("--servers", default="switchyard,null,tokio-tungstenite,fastwebsockets,node-ws",
                    help="comma-separated subset")
    ap.add_argument("--scenarios", help="comma-separated subset of scenario names; the fan-out "
                    "ones (" + ", ".join(FANOUT) + "; all of them: fanout) run only when named")
    ap.add_argument("--load-threads", type=int, default=1, metavar="N",
                    help="switchyard-load --threads (default 1: one core for the load here)")
    ap.add_argument("--load-cpus", default=LOAD_CPU, metavar="LIST",
                    help=f"CPUs of the load generator, comma-separated (default {LOAD_CPU})")
    ap.add_argument("--baseline", metavar="BIN",
                    help="another switchyard binary (e.g. an older commit's, built beside this "
                    "one), run as server 'switchyard-base' in the same rounds: before/after")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--boost", type=int, default=0, metavar="N",
                    help="run in an own scheduler autogroup with nice -N, so that a shared, busy "
                         "machine gives the pinned processes a larger share of their cores")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                    help="first wait up to SECONDS for the 1-minute load average to drop below "
                         "1.0 (the machine is shared)")
    ap.add_argument("--strace", action="store_true",
                    help="also count syscalls per upgrade (null and switchyard)")
    ap.add_argument("--strace-only", action="store_true", help="only the strace count")
    ap.add_argument("--criterion", action="store_true",
                    help="also run the criterion suites and tabulate them")
    ap.add_argument("--perf", action="store_true",
                    help="also profile null and switchyard with perf record (top symbols)")
    ap.add_argument("--notes", help="a markdown file of notes written after reading the run, "
                    "inserted after the targets table")
    ap.add_argument("--from-json", help="rewrite the report from a raw results file, no runs")
    ap.add_argument("--out", help="markdown output (default BENCHMARKS.md, quick: "
                    "bench/results/quick/BENCHMARKS.md)")
    a = ap.parse_args()
    global BASELINE
    BASELINE = os.path.abspath(a.baseline) if a.baseline else None
    global LOAD_THREADS, LOAD_CPUS
    LOAD_THREADS, LOAD_CPUS = a.load_threads, a.load_cpus
    names = [n for n in a.servers.split(",") if n]
    for n in names:
        if n not in servers():
            sys.exit(f"unknown server {n}; known: {', '.join(servers())}")
    rounds = a.rounds or (1 if a.quick else 5)
    quick_dir = os.path.join(ROOT, "bench", "results", "quick")
    if a.quick:
        os.makedirs(quick_dir, exist_ok=True)
    out_md = a.out or (os.path.join(quick_dir, "BENCHMARKS.md") if a.quick
                       else os.path.join(ROOT, "BENCHMARKS.md"))
    if a.from_json:
        with open(a.from_json) as f:
            saved = json.load(f)
        meta, results = saved["meta"], saved["results"]
        scen_list = scenarios(meta["quick"])
        if "broadcast" in results:
            scen_list.append(broadcast_scenario(meta["quick"]))
        scen_list += fanout_scenarios(meta["quick"])
        scen_list = [sc for sc in scen_list if sc[0] in results]
        names = [n for n in servers() if any(n in per for per in results.values())]
        meta["notes"] = read_notes(a.notes)
        report(out_md, meta, results, scen_list, names, saved.get("strace", []))
        return
    for tool in ("taskset", "node") + (("strace",) if a.strace or a.strace_only else ()):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (apt-get install util-linux strace nodejs)")
    build(a.no_build, names, a.criterion)

    if a.wait_quiet > 0:
        until = time.time() + a.wait_quiet
        while time.time() < until and float(loadavg().split()[0]) >= 1.0:
            log(f"waiting for a quiet machine: load average {loadavg()}")
            time.sleep(15)
    boost = "none"
    if a.boost:
        try:
            if os.getsid(0) != os.getpid():
                os.setsid()
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(-a.boost))
            with open("/proc/self/autogroup") as f:
                boost = f.read().strip()
            log(f"scheduler autogroup: {boost}")
        except OSError as e:
            log(f"could not boost: {e}")
    started = datetime.datetime.now(datetime.timezone.utc)
    notes = read_notes(a.notes)
    meta = {"quick": a.quick, "rounds": rounds, "machine": machine(), "boost": boost,
            "started": started.strftime("%Y-%m-%d %H:%M:%S"), "load_before": loadavg(),
            "busy_before": busy_processes(),
            "invocation": "python3 bench/compare.py " + " ".join(sys.argv[1:])}
    scen_list = scenarios(a.quick)
    if any(n not in NO_BROADCAST for n in names):
        scen_list.append(broadcast_scenario(a.quick))
    if a.scenarios:
        keep = a.scenarios.split(",")
        if "fanout" in keep:
            keep += FANOUT
        scen_list = [s for s in scen_list + fanout_scenarios(a.quick) if s[0] in keep]
    results = {s[0]: {} for s in scen_list}
    commands = {}
    if not a.strace_only:
        for r in range(rounds):
            for scen, label, args, _unit in scen_list:
                for name in names:
                    if (scen == "broadcast" or scen in FANOUT) and name in NO_BROADCAST:
                        continue
                    if isinstance(args, list) and "--deflate" in args and name in NO_DEFLATE:
                        continue
                    if isinstance(args, dict) and name not in ("switchyard", "null"):
                        continue  # idle100k.py drives Switchyard and the null server only
                    log(f"round {r + 1}/{rounds} {scen} {name}")
                    try:
                        res = (idle100k.measure(name, release=RELEASE, **args)
                               if isinstance(args, dict) else run_one(name, args))
                    except Exception as e:  # noqa: BLE001 - one failed run must not stop the rest
                        log(f"  FAILED: {e}")
                        res = {"failed": str(e)}
                    res["round"] = r + 1
                    results[scen].setdefault(name, []).append(res)
                    if "command" in res and scen not in commands:
                        commands[scen] = re.sub(r"--server-pid \d+", "--server-pid PID",
                                                res["command"])
                    if "ops_per_s" in res:
                        log(f"  {fmt(res['ops_per_s'], 0)}/s, server "
                            f"{fmt(res.get('server_cpu_us_per_op'), 3)} us/op, server core "
                            f"{fmt(res.get('server_cpu_pct'), 0)}%, load core "
                            f"{fmt(res.get('load_cpu_pct'), 0)}%, errors {res.get('errors')}")
                    elif "server_rss_per_conn_bytes" in res:
                        log(f"  {fmt(res['open'], 0)} held, "
                            f"{fmt(res['server_rss_per_conn_bytes'], 0)} B/conn, "
                            f"errors {res.get('errors')}")
    strace_rows = []
    if a.strace or a.strace_only:
        sn = [n for n in ("null", "switchyard") if n in names]
        log(f"strace -c -f over upgrades: {', '.join(sn)}")
        strace_rows = strace_upgrades(sn, 2000 if a.quick else 5000)
    if not a.quick and not a.strace_only and shutil.which("unshare"):
        log("source-address spreading in a private network namespace")
        strace_rows = strace_rows + [""] + sources_demo()
    if a.criterion:
        log("criterion suites (cargo bench -p switchyard-bench)")
        strace_rows = strace_rows + [""] + criterion_rows()
    perf_rows = []
    if a.perf:
        pn = [n for n in ("switchyard", "null") if n in names]
        log(f"perf record during upgrade, echo16, echo16k: {', '.join(pn)}")
        perf_rows = perf_profiles(pn, scen_list, 2 if a.quick else 4)
    strace_rows = strace_rows + (["", "## Profiles (perf record)", ""] + perf_rows
                                 if perf_rows else [])
    finished = datetime.datetime.now(datetime.timezone.utc)
    meta.update({"finished": finished.strftime("%Y-%m-%d %H:%M:%S"), "load_after": loadavg(),
                 "busy_after": busy_processes()})
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    raw_dir = quick_dir if a.quick else os.path.join(ROOT, "bench", "results")
    os.makedirs(raw_dir, exist_ok=True)
    raw = os.path.join(raw_dir, f"{stamp}.json")
    meta["raw"] = os.path.relpath(raw, ROOT)
    meta["commands"] = [commands[s[0]] for s in scen_list if s[0] in commands]
    meta["notes"] = notes
    with open(raw, "w") as f:
        json.dump({"meta": meta, "results": results, "strace": strace_rows}, f, indent=1)
    report(out_md, meta, results, scen_list, names, strace_rows)


def report(out_md, meta, results, scen_list, names, strace_rows):
    ok = {s: {n: [r for r in runs if "failed" not in r] for n, runs in per.items()}
          for s, per in results.items()}
    summary = summarize(ok)
    # The chart lives with the raw results (bench/results/), not at the repository root.
    chart = os.path.join(os.path.dirname(os.path.join(ROOT, meta["raw"])),
                         os.path.splitext(os.path.basename(out_md))[0].lower() + ".svg")
    with open(chart, "w") as f:
        f.write(svg_chart(summary, scen_list, names))
    write_markdown(out_md, summary, scen_list, names, meta,
                   os.path.relpath(chart, os.path.dirname(os.path.abspath(out_md))), strace_rows)
    log(f"wrote {os.path.relpath(out_md, ROOT)}, {os.path.relpath(chart, ROOT)}, {meta['raw']}")


if __name__ == "__main__":
    main()
