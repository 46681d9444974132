#!/usr/bin/env python3
"""Smoke test and quick figures for the peer servers' /broadcast (and echo on another path).

For each server: start it pinned to core 0, run `switchyard-load broadcast` on /broadcast with
each subscriber count (pinned to core 1, --server-pid for CPU per delivery), then a short echo on
/echo; fail if any run reports errors or no deliveries. Prints the median over --rounds of
deliveries/s, server CPU per delivery and p50 latency. Standard library only; loopback only.

    python3 bench/peers/check.py                       # every peer, 100 and 1,000 subscribers
    python3 bench/peers/check.py --servers node-ws --deflate --load /path/to/switchyard-load

Build first: `cargo build --release -p switchyard-bench` and, for the Rust peers,
`CARGO_TARGET_DIR=target/peers cargo build --release --manifest-path bench/peers/Cargo.toml`;
`npm ci --prefix bench/peers/node` for node-ws.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS_RELEASE = os.path.join(os.environ.get("SWITCHYARD_PEERS_TARGET",
                                            os.path.join(ROOT, "target", "peers")), "release")
RELEASE = os.path.join(os.environ.get("SWITCHYARD_BENCH_TARGET", os.path.join(ROOT, "target")),
                       "release")
SERVERS = {
    "tokio-tungstenite": lambda addr: [os.path.join(PEERS_RELEASE, "peer-tungstenite"), addr],
    "fastwebsockets": lambda addr: [os.path.join(PEERS_RELEASE, "peer-fastwebsockets"), addr],
    "node-ws": lambda addr: ["node", os.path.join(ROOT, "bench", "peers", "node", "server.js"),
                             addr],
    "switchyard": lambda addr: [os.path.join(RELEASE, "switchyard"), "--listen", addr,
                                "--workers", "1", "--cpus", "0", "--log-level", "warn"],
}
# Node's ws with permessage-deflate as Switchyard's default (no context takeover, from 64 B,
# level 1).
DEFLATE_ENV = {"PERMESSAGE_DEFLATE": "no-context-takeover", "PERMESSAGE_DEFLATE_THRESHOLD": "64",
               "PERMESSAGE_DEFLATE_LEVEL": "1"}


def wait_port(port, proc, timeout=10):
    until = time.time() + timeout
    while time.time() < until:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen")


def run(load, port, pid, args):
    argv = ["taskset", "-c", "1", load, "--addr", f"127.0.0.1:{port}", "--json", "--quiet"]
    if pid:
        argv += ["--server-pid", str(pid)]
    res = subprocess.run(argv + args, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {res.stderr.strip()[-300:]}")
    out = json.loads(res.stdout)
    if out.get("errors") or not out.get("ops"):
        raise RuntimeError(f"{' '.join(args)}: errors {out.get('errors')}, ops {out.get('ops')}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", default="tokio-tungstenite,fastwebsockets,node-ws")
    ap.add_argument("--subscribers", default="100,1000")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--duration", default="2")
    ap.add_argument("--deflate", action="store_true",
                    help="offer permessage-deflate (a switchyard-load with --deflate) and start "
                    "node-ws with it on")
    ap.add_argument("--load", default=os.path.join(RELEASE, "switchyard-load"))
    a = ap.parse_args()
    failed = 0
    port = 9310
    for name in a.servers.split(","):
        for subs in [int(s) for s in a.subscribers.split(",")]:
            runs = []
            for _ in range(a.rounds):
                port += 1
                addr = f"127.0.0.1:{port}"
                env = dict(os.environ, **DEFLATE_ENV) if a.deflate else None
                proc = subprocess.Popen(["taskset", "-c", "0"] + SERVERS[name](addr), env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    wait_port(port, proc)
                    extra = ["--deflate"] if a.deflate else []
                    runs.append(run(a.load, port, proc.pid, extra + [
                        "broadcast", "-c", str(subs), "-w", "4", "-s", "64", "--path",
                        "/broadcast", "--warmup", "0.5", "--duration", a.duration]))
                    run(a.load, port, None, extra + ["--path", "/echo", "echo", "-c", "10", "-w",
                                                     "4", "-s", "16", "--duration", "0.5"])
                except Exception as e:  # noqa: BLE001 - report every server
                    print(f"FAIL {name} {subs}: {e}", flush=True)
                    failed += 1
                finally:
                    proc.terminate()
                    proc.wait(timeout=10)
            if runs:
                med = {k: statistics.median(r.get(k) or 0 for r in runs)
                       for k in ("ops_per_s", "server_cpu_us_per_op", "latency_p50_us",
                                 "server_cpu_pct")}
                print(f"{name:18} {subs:5} subscribers{' deflate' if a.deflate else ''}: "
                      f"{med['ops_per_s']:10,.0f} deliveries/s  "
                      f"{med['server_cpu_us_per_op']:6.3f} us server CPU/delivery  "
                      f"p50 {med['latency_p50_us']:8,.0f} us  server core "
                      f"{med['server_cpu_pct']:3.0f}%  (median of {len(runs)})", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
