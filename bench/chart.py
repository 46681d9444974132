#!/usr/bin/env python3
"""SVG charts of `switchyard-load --timeline` files (standard library only).

    bench/chart.py run.jsonl [more.jsonl or .csv ...] --out bench/results/run.svg [--title T]
    bench/chart.py record --kernel kernel.jsonl -- switchyard-load ... --timeline run.jsonl idle ...
    bench/chart.py run.jsonl --kernel kernel.jsonl --out idle.svg

Panels, one above the other, time (seconds since the generator started) across:
- latency p50 / p99 / p99.9 of each second (log scale), one colour per percentile, one dash
  style per file when several files are compared;
- throughput (operations per second);
- memory per open connection, when the timeline has the server's RSS (--server-pid) and
  connections open: the server's RSS growth since the first second divided by the connections
  open (user memory), and with --kernel the kernel's socket slab caches plus TCP buffer pages
  (both ends of each loopback connection) over the same connections. The kernel figures are
  sampled by `chart.py record` while the command runs, with the functions bench/million.py
  uses (`million.slab_bytes`, `million.tcp_sockstat`).
"""

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import million  # noqa: E402 - /proc readers for kernel socket memory (bench/million.py)

COLORS = {"p50": "#1f77b4", "p99": "#ff7f0e", "p999": "#d62728", "ops": "#2ca02c",
          "user": "#1f77b4", "kernel": "#d62728"}
DASHES = ["", "6,3", "2,3", "8,3,2,3"]


def read_timeline(path):
    """A --timeline file (JSON lines or CSV) as a list of dicts with numbers or None."""
    with open(path) as f:
        text = f.read()
    if text.lstrip().startswith("{"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    rows = []
    for row in csv.DictReader(text.splitlines()):
        rec = {k: (float(v) if v not in ("", None) else None) for k, v in row.items()}
        rec["load_cpu_pct"] = [v for k, v in sorted(rec.items())
                               if k.startswith("load_cpu_pct_t") and v is not None]
        rows.append(rec)
    return rows


def read_kernel(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def kernel_sample():
    """Socket slab bytes and TCP buffer pages now (bench/million.py's readers)."""
    slabs = million.slab_bytes()
    tcp = million.tcp_sockstat()
    return {"socket_slab_bytes": sum(slabs.values()), "tcp_mem_pages": tcp.get("mem", 0)}


def record(kernel_out, argv, interval=1.0):
    """Runs argv, sampling kernel socket memory every `interval` s into kernel_out."""
    start = time.monotonic()
    with open(kernel_out, "w") as out:
        proc = subprocess.Popen(argv)
        try:
            while True:
                sample = kernel_sample()
                sample["t"] = round(time.monotonic() - start, 3)
                out.write(json.dumps(sample) + "\n")
                out.flush()
                try:
                    proc.wait(timeout=interval)
                    break
                except subprocess.TimeoutExpired:
                    pass
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
    return proc.returncode


def nice_max(v):
    if v <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * mag:
            return m * mag
    return 10 * mag


def fmt_tick(v):
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def panel(x0, y0, w, h, title, series, tmax, log=False, unit=""):
    """One panel: series = [(label, color, dash, [(t, v), ...])]. Returns SVG elements."""
    vals = [v for _, _, _, pts in series for _, v in pts if v is not None and v > 0]
    out = [f'<text x="{x0}" y="{y0 - 8}" font-weight="bold">{title}</text>',
           f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    if not vals:
        out.append(f'<text x="{x0 + 10}" y="{y0 + 20}">no data</text>')
        return out
    if log:
        lo = 10 ** math.floor(math.log10(min(vals)))
        hi = 10 ** math.ceil(math.log10(max(vals)))
        hi = hi if hi > lo else lo * 10

        def ys(v):
            return y0 + h - h * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        ticks, t = [], lo
        while t <= hi * 1.001:
            ticks.append(t)
            t *= 10
    else:
        hi = nice_max(max(vals))

        def ys(v):
            return y0 + h - h * v / hi
        ticks = [hi * i / 4 for i in range(5)]
    for t in ticks:
        y = ys(t)
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
                   f'{fmt_tick(t)}{unit}</text>')
    tmax = max(tmax, 1)
    step = max(1, round(tmax / 10))
    for t in range(0, int(tmax) + 1, step):
        x = x0 + w * t / tmax
        out.append(f'<text x="{x:.1f}" y="{y0 + h + 14}" text-anchor="middle" '
                   f'font-size="11">{t}</text>')
    for i, (label, color, dash, pts) in enumerate(series):
        pts = [(t, v) for t, v in pts if v is not None and (v > 0 or not log)]
        if not pts:
            continue
        path = " ".join(f"{x0 + w * t / tmax:.1f},{ys(v):.1f}" for t, v in pts)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                   f'stroke-width="1.6"{dash_attr}/>')
        ly = y0 + 14 + 14 * i
        out.append(f'<line x1="{x0 + w + 10}" y1="{ly - 4}" x2="{x0 + w + 30}" y2="{ly - 4}" '
                   f'stroke="{color}" stroke-width="2"{dash_attr}/>')
        out.append(f'<text x="{x0 + w + 34}" y="{ly}" font-size="11">{label}</text>')
    return out


def memory_series(rows, kernel):
    """(t, user bytes per connection), (t, kernel bytes per connection) from a timeline and
    kernel samples; the first second is the baseline."""
    rss = [(r["t"], r.get("server_rss_kib"), r.get("open") or 0) for r in rows
           if r.get("server_rss_kib") is not None]
    if not rss:
        return [], []
    base_rss = rss[0][1]
    user = [(t, (kib - base_rss) * 1024 / n if n else None) for t, kib, n in rss]
    kern = []
    if kernel:
        base = kernel[0]

        def kernel_at(t):
            # The sample nearest in time.
            return min(kernel, key=lambda k: abs(k["t"] - t))
        for t, _kib, n in rss:
            k = kernel_at(t)
            total = (k["socket_slab_bytes"] - base["socket_slab_bytes"]
                     + (k["tcp_mem_pages"] - base["tcp_mem_pages"]) * 4096)
            kern.append((t, total / n if n else None))
    return user, kern


def svg(files, kernel, title):
    runs = [(os.path.basename(p), read_timeline(p)) for p in files]
    tmax = max((r["t"] for _, rows in runs for r in rows), default=1)
    w, h, left, gap = 760, 220, 80, 60
    lat, ops = [], []
    for i, (name, rows) in enumerate(runs):
        dash = DASHES[i % len(DASHES)]
        suffix = f" ({name})" if len(runs) > 1 else ""
        for key, label in (("latency_p50_us", "p50"), ("latency_p99_us", "p99"),
                           ("latency_p999_us", "p999")):
            lat.append((label.replace("p999", "p99.9") + suffix, COLORS[label], dash,
                        [(r["t"], r.get(key)) for r in rows]))
        ops.append(("ops/s" + suffix, COLORS["ops"], dash,
                    [(r["t"], r.get("ops_per_s")) for r in rows]))
    panels = [("Latency per second (us, log scale)", lat, True, ""),
              ("Throughput (operations per second)", ops, False, "")]
    mem = []
    for i, (name, rows) in enumerate(runs):
        user, kern = memory_series(rows, kernel if i == 0 else None)
        if any(v for _, v in user if v):
            dash = DASHES[i % len(DASHES)]
            suffix = f" ({name})" if len(runs) > 1 else ""
            mem.append(("server (user) B/conn" + suffix, COLORS["user"], dash, user))
            if kern:
                mem.append(("kernel B/conn, both ends" + suffix, COLORS["kernel"], dash, kern))
    if mem:
        panels.append(("Memory per open connection (bytes)", mem, False, ""))
    height = 50 + len(panels) * (h + gap) + 10
    width = left + w + 220
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="13">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="24" font-size="15" font-weight="bold">{title}</text>']
    for i, (ptitle, series, log, unit) in enumerate(panels):
        y0 = 60 + i * (h + gap)
        out += panel(left, y0, w, h, ptitle, series, tmax, log=log, unit=unit)
    out.append(f'<text x="{left + w / 2}" y="{height - 8}" text-anchor="middle">'
               f'seconds since the generator started</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "record":
        ap = argparse.ArgumentParser(description="run a command, sampling kernel socket memory")
        ap.add_argument("--kernel", required=True, help="JSON lines written once a second")
        ap.add_argument("argv", nargs=argparse.REMAINDER, help="-- command ...")
        a = ap.parse_args(sys.argv[2:])
        argv = a.argv[1:] if a.argv[:1] == ["--"] else a.argv
        if not argv:
            sys.exit("record: no command given")
        sys.exit(record(a.kernel, argv))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("timelines", nargs="+", help="--timeline files (JSON lines or CSV)")
    ap.add_argument("--out", required=True, help="SVG file to write")
    ap.add_argument("--kernel", help="kernel samples from `chart.py record` (idle runs)")
    ap.add_argument("--title", help="chart title (default: the file names)")
    a = ap.parse_args()
    kernel = read_kernel(a.kernel) if a.kernel else None
    title = a.title or ", ".join(os.path.basename(p) for p in a.timelines)
    with open(a.out, "w") as f:
        f.write(svg(a.timelines, kernel, title))
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
