#!/usr/bin/env python3
"""As many idle upgraded WebSocket connections as this machine holds, up to one million.

One Switchyard process (`--workers W --cpus 0 --private-fd-tables`: every reactor thread has its
own descriptor table, since RLIMIT_NOFILE is 20,000 per table here) takes the connections; load
processes (`switchyard-load idle --hold`, each under its own limit, pinned to core 1, source
addresses spread over 127.0.x.y) open them in steps. Keepalive pings stay at the server's
default interval (30 s) throughout.

At each step, once every load process holds its share, it reads:
- the server's resident memory (VmRSS) and the load processes' (summed);
- the kernel's memory: the slab caches that hold sockets (TCP, sock_inode_cache, filp, dentry,
  eventpoll, skbuff, ...) from /proc/slabinfo, the whole slab from /proc/meminfo, and the TCP
  socket buffers from /proc/net/sockstat (pages). Loopback puts both ends of each connection in
  this kernel, so kernel figures per connection count two sockets;
- the time since the first connection.

At the largest step it holds the connections for `--idle-seconds` (at least two ping intervals)
and reads the server's CPU time over that span. If a step cannot be reached (a load process
fails, or the deadline passes) the run stops there and says what failed: the largest count held
is the answer. Results: one JSON object on stdout, and an SVG chart of memory against
connections (`--svg`).

    bench/million.py                                       # 1,000,000 in 5 steps
    bench/million.py --steps 20000,50000 --workers 4       # a quick check of the script

Loopback only; bounded: every load process exits after its hold time or when released.
"""

import argparse
import json
import math
import os
import queue
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import idle100k  # noqa: E402  (same directory: the shared /proc readers and process helpers)

PORT = 9300
# Descriptors per load process: under the 20,000 limit with headroom for epoll, stdio, pipes.
PER_GENERATOR = 19_000
# Slab caches that grow with sockets (names from /proc/slabinfo on this kernel; caches that a
# kernel merges into others are simply absent).
SOCKET_CACHES = ("TCP", "request_sock_TCP", "tcp_bind_bucket", "tcp_bind2_bucket",
                 "sock_inode_cache", "filp", "dentry", "eventpoll_epi", "eventpoll_pwq",
                 "skbuff_head_cache", "skbuff_fclone_cache", "skbuff_small_head")


def log(msg):
    print(f"[million {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def slab_bytes():
    """Bytes in the socket-related slab caches, by cache."""
    out = {}
    with open("/proc/slabinfo") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] in SOCKET_CACHES:
                # num_objs * objsize: what the cache occupies for its objects.
                out[parts[0]] = int(parts[2]) * int(parts[3])
    return out


def meminfo_kib():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, value = line.split(":", 1)
            out[key] = int(value.split()[0])
    return out


def tcp_sockstat():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                parts = line.split()
                return {parts[i]: int(parts[i + 1]) for i in range(1, len(parts), 2)}
    return {}


def snapshot(server_pid, gen_pids):
    slabs = slab_bytes()
    mem = meminfo_kib()
    tcp = tcp_sockstat()
    return {
        "server_rss_kib": idle100k.rss_kib(server_pid),
        "load_rss_kib": sum(idle100k.rss_kib(p) for p in gen_pids),
        "socket_slab_bytes": sum(slabs.values()),
        "slab_by_cache": slabs,
        "slab_kib": mem["Slab"],
        "mem_used_kib": mem["MemTotal"] - mem["MemAvailable"],
        "tcp_mem_pages": tcp.get("mem", 0),
        "tcp_inuse": tcp.get("inuse", 0),
        "server_cpu_s": idle100k.cpu_s(server_pid),
    }


def svg_chart(points, title):
    """Memory (MiB) against connections: one line per kind of memory."""
    series = [("server RSS", "server_rss_mib", "#1f77b4"),
              ("kernel: socket slab caches", "socket_slab_mib", "#d62728"),
              ("kernel: TCP buffers", "tcp_mem_mib", "#ff7f0e"),
              ("load generators' RSS", "load_rss_mib", "#2ca02c")]
    width, height, left, right, top, bottom = 760, 420, 70, 230, 40, 50
    xmax = max(p["connections"] for p in points) or 1
    ymax = max(max(p[key] for _, key, _ in series) for p in points) or 1
    ystep = 10 ** math.floor(math.log10(ymax))
    ymax = math.ceil(ymax / ystep) * ystep
    pw, ph = width - left - right, height - top - bottom

    def x(v):
        return left + v / xmax * pw

    def y(v):
        return top + ph - v / ymax * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14">{title}</text>',
           f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="black"/>',
           f'<text x="{left + pw / 2}" y="{height - 10}" text-anchor="middle">'
           f'connections held</text>',
           f'<text x="15" y="{top + ph / 2}" transform="rotate(-90 15 {top + ph / 2})" '
           f'text-anchor="middle">MiB</text>']
    for i in range(5):
        v = ymax * i / 4
        out.append(f'<text x="{left - 6}" y="{y(v) + 4}" text-anchor="end">{v:,.0f}</text>')
        out.append(f'<line x1="{left}" y1="{y(v)}" x2="{left + pw}" y2="{y(v)}" '
                   f'stroke="#ddd"/>')
    for p in points:
        out.append(f'<text x="{x(p["connections"])}" y="{top + ph + 16}" '
                   f'text-anchor="middle">{p["connections"] / 1000:,.0f}k</text>')
    for n, (label, key, color) in enumerate(series):
        pts = " ".join(f"{x(p['connections']):.1f},{y(p[key]):.1f}" for p in points)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        for p in points:
            out.append(f'<circle cx="{x(p["connections"]):.1f}" cy="{y(p[key]):.1f}" r="3" '
                       f'fill="{color}"/>')
        ly = top + 10 + n * 20
        out.append(f'<line x1="{left + pw + 15}" y1="{ly}" x2="{left + pw + 35}" y2="{ly}" '
                   f'stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{left + pw + 40}" y="{ly + 4}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def run(steps, workers, sources, concurrency, idle_seconds, step_deadline, release):
    idle100k.raise_nofile()
    limit = idle100k.nofile_hard()
    per_table = limit - idle100k.FD_HEADROOM
    if steps[-1] / workers > per_table * 0.9:
        raise SystemExit(f"{steps[-1]:,} connections over {workers} reactors leave no headroom "
                         f"under {limit} descriptors per table: use --workers "
                         f"{math.ceil(steps[-1] / (per_table * 0.9))} or more")
    server_argv = ["taskset", "-c", idle100k.SERVER_CPU, os.path.join(release, "switchyard"),
                   "--listen", f"127.0.0.1:{PORT}", "--workers", str(workers),
                   "--cpus", idle100k.SERVER_CPU, "--private-fd-tables", "--log-level", "warn",
                   # The default cap (262,144) would answer 503 past it: raise it over the run.
                   "--max-connections", str(steps[-1] + steps[-1] // 10)]
    server_log = open("/tmp/million-server.log", "ab")
    server = subprocess.Popen(server_argv, stdout=server_log, stderr=server_log,
                              preexec_fn=idle100k.raise_nofile)
    gens, q = [], queue.Queue()
    points, failure = [], None
    result = {"server_command": " ".join(server_argv), "workers": workers,
              "nofile_limit": limit, "sources": sources}
    try:
        idle100k.wait_for_port(PORT, server)
        time.sleep(0.5)
        base = snapshot(server.pid, [])
        started = time.monotonic()
        held_total = 0
        for step in steps:
            # One load process at a time, each waiting for the last to hold: they share core 1,
            # and a process starved of CPU would hit switchyard-load's 60 s open timeout and
            # hold fewer (a first run that started them together stopped at 688,749 so).
            while not failure and sum(g["n"] for g in gens) < step:
                n = min(PER_GENERATOR, step - sum(g["n"] for g in gens))
                argv = ["taskset", "-c", idle100k.LOAD_CPU,
                        os.path.join(release, "switchyard-load"), "--addr", f"127.0.0.1:{PORT}",
                        "--json", "--quiet", "--sources", str(sources), "idle", "-c", str(n),
                        "--concurrency", str(concurrency), "--settle", "1",
                        "--hold", str(idle100k.HOLD_S * 3), "--release-on-eof"]
                p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     preexec_fn=idle100k.raise_nofile)
                g = {"proc": p, "n": n, "held": None, "argv": argv}
                gens.append(g)
                threading.Thread(target=idle100k.read_lines, args=(p, q, len(gens) - 1),
                                 daemon=True).start()
                deadline = time.monotonic() + step_deadline
                while g["held"] is None:
                    try:
                        i, line = q.get(timeout=max(0.1, deadline - time.monotonic()))
                    except queue.Empty:
                        failure = (f"step {step:,}: load process {len(gens) - 1} did not hold "
                                   f"within {step_deadline} s")
                        break
                    if line is None:
                        err = gens[i]["proc"].stderr.read().strip()[-400:]
                        failure = f"step {step:,}: load process {i} ended before holding: {err}"
                        break
                    msg = json.loads(line)
                    if msg.get("event") == "held":
                        gens[i]["held"] = msg
                if g["held"] and g["held"]["open"] < n:
                    failure = (f"step {step:,}: load process {len(gens) - 1} opened "
                               f"{g['held']['open']:,} of {n:,} ({g['held']['errors']} errors) "
                               "within switchyard-load's open timeout")
            held_total = sum(g["held"]["open"] for g in gens if g["held"])
            errors = sum(g["held"]["errors"] for g in gens if g["held"])
            time.sleep(2)  # let the last upgrades' buffers drain before reading memory
            snap = snapshot(server.pid, [g["proc"].pid for g in gens])
            point = {
                "connections": held_total,
                "errors": errors,
                "seconds_since_start": round(time.monotonic() - started, 1),
                "server_rss_mib": (snap["server_rss_kib"] - base["server_rss_kib"]) / 1024,
                "load_rss_mib": snap["load_rss_kib"] / 1024,
                "socket_slab_mib": (snap["socket_slab_bytes"] - base["socket_slab_bytes"])
                / 2**20,
                "slab_mib": (snap["slab_kib"] - base["slab_kib"]) / 1024,
                "tcp_mem_mib": (snap["tcp_mem_pages"] - base["tcp_mem_pages"]) * 4096 / 2**20,
                "mem_used_mib": (snap["mem_used_kib"] - base["mem_used_kib"]) / 1024,
                "tcp_sockets": snap["tcp_inuse"],
                "slab_by_cache_mib": {k: round((v - base["slab_by_cache"].get(k, 0)) / 2**20, 1)
                                      for k, v in snap["slab_by_cache"].items()},
            }
            n = max(held_total, 1)
            point["server_rss_bytes_per_conn"] = point["server_rss_mib"] * 2**20 / n
            point["kernel_bytes_per_conn"] = (point["socket_slab_mib"]
                                              + point["tcp_mem_mib"]) * 2**20 / n
            point["slab_bytes_per_conn"] = point["slab_mib"] * 2**20 / n
            points.append(point)
            log(f"{held_total:,} held ({errors} errors) after {point['seconds_since_start']} s: "
                f"server {point['server_rss_bytes_per_conn']:.0f} B/conn, kernel "
                f"{point['kernel_bytes_per_conn']:.0f} B/conn (both ends), load "
                f"{point['load_rss_mib']:.0f} MiB")
            if failure or held_total < step:
                failure = failure or f"step {step:,}: {held_total:,} held, {errors} errors"
                break
        if points:
            log(f"idling {idle_seconds} s at {points[-1]['connections']:,} connections")
            cpu0 = idle100k.cpu_s(server.pid)
            t0 = time.monotonic()
            time.sleep(idle_seconds)
            cpu1 = idle100k.cpu_s(server.pid)
            span = time.monotonic() - t0
            result["idle_seconds"] = round(span, 1)
            result["idle_server_cpu_percent"] = (cpu1 - cpu0) / span * 100
            result["idle_server_cpu_us_per_conn_per_s"] = ((cpu1 - cpu0) * 1e6 / span
                                                           / points[-1]["connections"])
            alive = sum(1 for g in gens if g["proc"].poll() is None)
            result["load_processes_alive_after_idle"] = f"{alive} of {len(gens)}"
        for g in gens:
            if g["proc"].poll() is None:
                g["proc"].stdin.close()
        finals = {}
        deadline = time.monotonic() + 180
        while len(finals) < len(gens) and time.monotonic() < deadline:
            try:
                i, line = q.get(timeout=5)
            except queue.Empty:
                continue
            if line is None:
                finals.setdefault(i, {})
            else:
                msg = json.loads(line)
                if msg.get("event") != "held":
                    finals[i] = msg
        result["open_after_hold"] = sum(f.get("open_after_hold", 0) for f in finals.values())
    finally:
        for g in gens:
            if g["proc"].poll() is None:
                g["proc"].kill()
                g["proc"].wait()
        idle100k.stop([server], timeout=60)
        server_log.close()
    result["points"] = points
    result["largest_held"] = points[-1]["connections"] if points else 0
    result["failure"] = failure
    result["load_command"] = (" ".join(gens[0]["argv"]) + f"  (x{len(gens)})") if gens else None
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", default="100000,250000,500000,750000,1000000",
                    help="connection counts to stop at and measure, ascending")
    ap.add_argument("--workers", type=int, default=60,
                    help="Switchyard reactors, all on core 0, each with its own descriptor "
                         "table (60 x 19,936 descriptors leaves headroom at one million)")
    ap.add_argument("--sources", type=int, default=128,
                    help="loopback source addresses per load process (28,000 ports each)")
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--idle-seconds", type=int, default=75,
                    help="hold at the largest step this long and read server CPU (two and a "
                         "half ping intervals)")
    ap.add_argument("--step-deadline", type=int, default=900)
    ap.add_argument("--svg", help="write the memory chart here")
    a = ap.parse_args()
    steps = sorted(int(s) for s in a.steps.split(","))
    release = os.path.join(idle100k.TARGET, "release")
    res = run(steps, a.workers, a.sources, a.concurrency, a.idle_seconds, a.step_deadline,
              release)
    print(json.dumps(res, indent=1), flush=True)
    if a.svg and res["points"]:
        with open(a.svg, "w") as f:
            f.write(svg_chart(res["points"], f"Switchyard: memory held for idle WebSocket "
                                             f"connections ({res['largest_held']:,} max)"))
    if res["failure"]:
        log(f"stopped: {res['failure']}")


if __name__ == "__main__":
    main()
