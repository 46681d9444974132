#!/usr/bin/env python3
"""Idle memory at 100,000 upgraded connections on a host whose RLIMIT_NOFILE is 20,000.

The descriptor limit bounds each descriptor *table*, so one process cannot hold 100,000 sockets
here, on either side. The two sides get past it differently:

- Switchyard runs several reactors with `--private-fd-tables` (netio gives each reactor thread
  its own table, `unshare(CLONE_FILES)`), all pinned to core 0 with `--cpus 0`: one process,
  one port, 100,000 / workers connections per table.
- The load is split over several `switchyard-load idle --hold` processes pinned to core 1, each
  under its own limit, source addresses spread over 127.0.0.x. Each prints a line once its
  connections are open and settled and keeps them open until its stdin is closed.

Once every generator holds its share, the server's VmRSS and CPU time are read from /proc:
RSS per connection = (VmRSS now - VmRSS before the first connection) / connections held, as the
idle scenarios of compare.py compute it; CPU per connection opened = server utime+stime over the
same span / connections held.

The null server (`switchyard-null`, one thread, one table) cannot hold more than the limit, so
for it the same load goes to several null processes on consecutive ports (one per generator),
and RSS and CPU are summed over them: the same per-connection state, measured the same way,
plus nothing the single process would not have.

    bench/idle100k.py                                   # switchyard, 100,000, 6 workers
    bench/idle100k.py --connections 10000 --server null
    bench/idle100k.py --json                            # one JSON object per run on stdout

compare.py runs it as its `idle100k` and `idle10k-6w` scenarios. Loopback only; bounded.
"""

import argparse
import json
import math
import os
import queue
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("SWITCHYARD_BENCH_TARGET", os.path.join(ROOT, "target"))
SERVER_CPU = "0"
LOAD_CPU = "1"
BASE_PORT = 9200
# Longest a generator keeps its connections (it is released as soon as the server is measured).
HOLD_S = 600
# Headroom under RLIMIT_NOFILE per generator process (epoll, stdio, the pipe).
FD_HEADROOM = 64


def log(msg):
    print(f"[idle100k {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def nofile_hard():
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def table_sizes(pid):
    """Descriptors open per thread with its own table (netio reactors), by thread name."""
    out = {}
    for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            if comm.startswith("netio-"):
                out[comm] = len(os.listdir(f"/proc/{pid}/task/{tid}/fd"))
        except OSError:
            pass
    return out


def wait_for_port(port, proc, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout} s")


def server_argvs(server, workers, shards, release, private=True):
    """(port, argv) per server process."""
    if server == "switchyard":
        port = BASE_PORT
        return [(port, [os.path.join(release, "switchyard"), "--listen", f"127.0.0.1:{port}",
                        "--workers", str(workers), "--cpus", SERVER_CPU, "--log-level", "warn"]
                 + (["--private-fd-tables"] if private else []))]
    if server == "null":
        return [(BASE_PORT + 10 + i, [os.path.join(release, "switchyard-null"),
                                      f"127.0.0.1:{BASE_PORT + 10 + i}"]) for i in range(shards)]
    raise ValueError(f"unknown server {server}")


def read_lines(proc, q, index):
    for line in proc.stdout:
        q.put((index, line))
    q.put((index, None))


def stop(procs, sig=signal.SIGTERM, timeout=15):
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def measure(server="switchyard", connections=100_000, workers=6, generators=None,
            sources=64, concurrency=256, settle=1.0, release=None, private=True):
    """One run; returns a dict with compare.py's idle keys plus the details of the split.
    `private=False` (a control for what private tables cost) needs connections under the
    limit."""
    release = release or os.path.join(TARGET, "release")
    limit = nofile_hard()
    per_table = limit - FD_HEADROOM
    if generators is None:
        generators = max(workers, math.ceil(connections / per_table))
    per_gen = math.ceil(connections / generators)
    if per_gen > per_table:
        raise ValueError(f"{per_gen} connections per generator exceed its limit of {limit}")
    if server == "switchyard" and not private and connections > per_table:
        raise ValueError(f"{connections} connections do not fit one table of {limit}")
    if server == "switchyard" and workers > 1 and connections / workers > per_table * 0.9:
        raise ValueError(f"{connections} over {workers} reactors leaves no headroom under "
                         f"{limit} descriptors per table (the kernel's hash is not exact)")
    argvs = server_argvs(server, workers, generators, release, private)
    servers, gens = [], []
    server_log = open(f"/tmp/idle100k-{server}.log", "ab")
    try:
        for port, argv in argvs:
            proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + argv,
                                    stdout=server_log, stderr=server_log,
                                    preexec_fn=raise_nofile)
            servers.append((port, proc))
            wait_for_port(port, proc)
        time.sleep(0.3)
        pids = [p.pid for _, p in servers]  # taskset execs the server: same PID
        rss_before = sum(rss_kib(pid) for pid in pids)
        cpu_before = sum(cpu_s(pid) for pid in pids)
        q = queue.Queue()
        commands, offsets = [], []
        started = time.monotonic()
        for i in range(generators):
            port = servers[i % len(servers)][0]
            n = min(per_gen, connections - i * per_gen)
            argv = ["taskset", "-c", LOAD_CPU, os.path.join(release, "switchyard-load"),
                    "--addr", f"127.0.0.1:{port}", "--json", "--quiet",
                    "--sources", str(sources), "idle", "-c", str(n),
                    "--concurrency", str(concurrency), "--settle", str(settle),
                    "--hold", str(HOLD_S), "--release-on-eof"]
            commands.append(" ".join(argv))
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, preexec_fn=raise_nofile)
            gens.append(p)
            offsets.append(time.monotonic() - started)
            threading.Thread(target=read_lines, args=(p, q, i), daemon=True).start()
        held_events, finals = {}, {}
        deadline = time.monotonic() + 300
        while len(held_events) < generators:
            try:
                i, line = q.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"only {len(held_events)} of {generators} generators "
                                   "reported holding within 300 s")
            if line is None:
                err = gens[i].stderr.read().strip()[-400:]
                raise RuntimeError(f"generator {i} ended before holding: {err}")
            msg = json.loads(line)
            if msg.get("event") == "held":
                held_events[i] = msg
        all_held = time.monotonic()
        # Every generator holds its share: measure now.
        rss_after = sum(rss_kib(pid) for pid in pids)
        cpu_after = sum(cpu_s(pid) for pid in pids)
        tables = table_sizes(pids[0]) if server == "switchyard" else {}
        server_fds = [len(os.listdir(f"/proc/{pid}/fd")) for pid in pids]
        gen_fds = [len(os.listdir(f"/proc/{p.pid}/fd")) for p in gens]
        for p in gens:
            p.stdin.close()
        while len(finals) < generators:
            i, line = q.get(timeout=120)
            if line is None:
                finals.setdefault(i, {})
                continue
            finals[i] = json.loads(line)
        for p in gens:
            p.wait(timeout=60)
    finally:
        for p in gens:
            if p.poll() is None:
                p.kill()
                p.wait()
        stop([p for _, p in servers])
        server_log.close()
    held = sum(e["open"] for e in held_events.values())
    errors = sum(e["errors"] for e in held_events.values())
    # From the first generator's start to the last one's last upgrade (they overlap).
    open_time = max(offsets[i] + f.get("open_time_s", 0) for i, f in finals.items())
    return {
        "scenario": "idle",
        "server_kind": server,
        "connections": connections,
        "open": held,
        "errors": errors,
        "server_rss_before_kib": rss_before,
        "server_rss_after_kib": rss_after,
        "server_rss_per_conn_bytes": (rss_after - rss_before) * 1024 / max(held, 1),
        "server_cpu_us_per_conn": (cpu_after - cpu_before) * 1e6 / max(held, 1),
        "upgrades_per_s": held / open_time if open_time else None,
        "open_time_s": open_time,
        "seconds_to_all_held": all_held - started,
        "open_after_hold": sum(f.get("open_after_hold", 0) for f in finals.values()),
        "server_processes": len(pids),
        "workers": workers if server == "switchyard" else 1,
        "private_fd_tables": private if server == "switchyard" else None,
        "generators": generators,
        "per_generator": per_gen,
        "reactor_table_fds": tables,
        "server_process_table_fds": server_fds,
        "generator_fds": gen_fds,
        "nofile_limit": limit,
        "server_command": " ".join(["taskset", "-c", SERVER_CPU] + argvs[0][1])
        + (f"  (x{len(argvs)} on ports {argvs[0][0]}-{argvs[-1][0]})" if len(argvs) > 1 else ""),
        "command": commands[0] + f"  (x{generators}, -c split {per_gen} each)",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default="switchyard", choices=["switchyard", "null"])
    ap.add_argument("--connections", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=6,
                    help="Switchyard reactors (all on core 0), and the null server's shard "
                         "count when --generators is not given")
    ap.add_argument("--generators", type=int, help="load processes (default: --workers, or "
                    "more if the descriptor limit needs it)")
    ap.add_argument("--sources", type=int, default=64)
    ap.add_argument("--shared-table", action="store_true",
                    help="control: Switchyard without --private-fd-tables (connections must fit "
                         "one table)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="one JSON object per run on stdout")
    a = ap.parse_args()
    for r in range(a.rounds):
        log(f"round {r + 1}/{a.rounds}: {a.server}, {a.connections:,} connections")
        res = measure(a.server, a.connections, a.workers, a.generators, a.sources,
                      private=not a.shared_table)
        if a.json:
            print(json.dumps(res), flush=True)
        else:
            for k, v in res.items():
                print(f"{k:<28} {v}")
            print(flush=True)


if __name__ == "__main__":
    main()
