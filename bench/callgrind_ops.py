#!/usr/bin/env python3
"""User-space instructions per operation of a server, under valgrind's callgrind: robust where
CPU time is not (a shared, noisy machine). Two runs of different lengths per case; the
difference of their instruction totals divided by the difference of the operations the
server counted (/metrics), so start-up, the /metrics request and shutdown cancel out.

    bench/callgrind_ops.py --bin target/release/switchyard [--tls-cert C --tls-key K --ca CA]
        [--cases upgrade,echo16,echo16k,tls-upgrade-full,...]

Server on core 0 (`taskset -c 0`, one worker), switchyard-load on core 1. Prints one line per
case: instructions per operation and the two runs' figures.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
import idle100k  # noqa: E402

PLAIN, TLS = 9130, 9131

CASES = {
    # name: (load args, TLS load?, TLS load args, /metrics series counted)
    "upgrade": (["--sources", "64", "upgrade", "--concurrency", "8"], False, [],
                'switchyard_upgrades_total{protocol="websocket"}'),
    "echo16": (["echo", "-c", "10", "-w", "16", "-s", "16", "--warmup", "0"], False, [],
               "switchyard_messages_in_total"),
    "echo16k": (["echo", "-c", "10", "-w", "4", "-s", "16384", "--binary", "--warmup", "0"],
                False, [], "switchyard_messages_in_total"),
    "broadcast": (["broadcast", "-c", "20", "-w", "4", "-s", "64", "--path", "/broadcast",
                   "--warmup", "0"], False, [], "switchyard_messages_out_total"),
    "tls-upgrade-full": (["--sources", "64", "upgrade", "--concurrency", "8"], True,
                         ["--no-resumption"], 'switchyard_upgrades_total{protocol="websocket"}'),
    "tls-upgrade-resumed": (["--sources", "64", "upgrade", "--concurrency", "8"], True, [],
                            'switchyard_upgrades_total{protocol="websocket"}'),
    "tls-echo16": (["echo", "-c", "10", "-w", "16", "-s", "16", "--warmup", "0"], True, [],
                   "switchyard_messages_in_total"),
    "tls-echo16k": (["echo", "-c", "10", "-w", "4", "-s", "16384", "--binary", "--warmup", "0"],
                    True, [], "switchyard_messages_in_total"),
}


def metric(series):
    with urllib.request.urlopen(f"http://127.0.0.1:{PLAIN}/metrics", timeout=30) as r:
        text = r.read().decode()
    total = 0
    for line in text.splitlines():
        if line.startswith(series) and not line.startswith("#"):
            rest = line[len(series):]
            if rest.startswith(" ") or rest.startswith("{"):
                total += int(float(line.rsplit(" ", 1)[1]))
    return total


def one_run(a, case, duration):
    load_args, tls, tls_args, series = CASES[case]
    out = tempfile.NamedTemporaryFile(prefix="callgrind-", suffix=".out", delete=False).name
    argv = ["taskset", "-c", "0", "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            a.bin, "--listen", f"127.0.0.1:{PLAIN}", "--workers", "1", "--no-pin",
            "--log-level", "warn", "--shutdown-timeout", "20"]
    if a.tls_cert:
        argv += ["--listen-tls", f"127.0.0.1:{TLS}", "--tls-cert", a.tls_cert,
                 "--tls-key", a.tls_key]
    log = open("/tmp/callgrind-server.log", "ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=log, preexec_fn=compare.raise_nofile)
    try:
        idle100k.wait_for_port(PLAIN, proc, timeout=120)
        time.sleep(1)
        port = TLS if tls else PLAIN
        load = ["taskset", "-c", "1", os.path.join(compare.RELEASE, "switchyard-load"),
                "--addr", f"127.0.0.1:{port}", "--quiet", "--json", "--duration", str(duration)]
        if tls:
            load += ["--tls", "--ca", a.ca] + tls_args
        subprocess.run(load + load_args, capture_output=True, text=True, timeout=600,
                       check=True)
        ops = metric(series)
    finally:
        proc.terminate()
        proc.wait(timeout=120)
        log.close()
    with open(out) as f:
        text = f.read()
    os.unlink(out)
    m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    return int(m.group(1)), ops


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--ca")
    ap.add_argument("--cases", default="upgrade,echo16,echo16k,broadcast")
    ap.add_argument("--short", type=float, default=2)
    ap.add_argument("--long", type=float, default=6)
    a = ap.parse_args()
    for case in a.cases.split(","):
        i1, o1 = one_run(a, case, a.short)
        i2, o2 = one_run(a, case, a.long)
        per = (i2 - i1) / max(1, o2 - o1)
        print(f"{case}: {per:,.0f} instructions per op (runs: {i1:,} instr / {o1:,} ops, "
              f"{i2:,} instr / {o2:,} ops)", flush=True)


if __name__ == "__main__":
    main()
