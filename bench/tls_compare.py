#!/usr/bin/env python3
"""TLS benchmark (issue 14): Switchyard over wss:// beside Switchyard over ws:// and TLS peers,
in one run, interleaved rounds, medians with min-max. Prints a markdown report on stdout and
writes the raw runs to bench/results/tls-<stamp>.json.

Every server is pinned to core 0 (`taskset -c 0`; Switchyard with one worker on core 0), the
load generator (`switchyard-load`, rustls client over aws-lc-rs) to core 1, as in
bench/compare.py. The certificate is ECDSA P-256 from a CA the script makes with the openssl CLI.

Servers:
  switchyard        plain ws:// (the reference: plain-text figures of the same build)
  switchyard-tls    --listen-tls, the same build
  tungstenite-tls   tokio-tungstenite + tokio-rustls (bench/peers, peer-tungstenite-tls)
  node-ws-tls       Node `ws` on https.createServer (bench/peers/node/server.js with a cert)

Scenarios (TLS servers; the plain server runs the same without TLS):
  upgrade-full      connect, TLS handshake without resumption (X25519), 101, close; 32 at once
  upgrade-resumed   the same with TLS 1.3 tickets (every handshake after the first resumes)
  upgrade-full-pq   as upgrade-full, the client offering X25519MLKEM768 first (browsers do;
                    rustls servers take it, OpenSSL 3.0 (Node) answers with X25519)
  echo16            100 connections x 16 in flight, 16 B text
  echo16k           100 connections x 16 in flight, 16 KiB binary
  idle10k           10,000 upgraded connections held: server RSS per connection

    bench/tls_compare.py [--rounds 3] [--servers ...] [--scenarios ...]
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402 - helpers shared with the main comparison
import idle100k  # noqa: E402

ROOT = compare.ROOT
RELEASE = compare.RELEASE
CERT_DIR = os.path.join(compare.TARGET, "bench-tls")


def make_cert():
    """A CA and an ECDSA P-256 server certificate for localhost / 127.0.0.1 (openssl CLI)."""
    os.makedirs(CERT_DIR, exist_ok=True)
    if os.path.exists(os.path.join(CERT_DIR, "server.pem")):
        return
    sh = f"""set -e; cd {CERT_DIR}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \\
  -subj "/CN=switchyard bench CA" -keyout ca.key -out ca.pem \\
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \\
  -keyout server.key -out server.csr
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \\
  -extfile server.ext -out server.pem
"""
    subprocess.run(["bash", "-c", sh], check=True, capture_output=True)


def servers():
    """Name -> (port the load connects to, argv without taskset, TLS?)."""
    cert, key = os.path.join(CERT_DIR, "server.pem"), os.path.join(CERT_DIR, "server.key")
    sy = os.path.join(RELEASE, "switchyard")
    common = ["--workers", "1", "--cpus", compare.SERVER_CPU, "--log-level", "warn"]
    return {
        "switchyard": (9120, [sy, "--listen", "127.0.0.1:9120"] + common, False),
        "switchyard-tls": (9122, [sy, "--listen", "127.0.0.1:9121", "--listen-tls",
                                  "127.0.0.1:9122", "--tls-cert", cert, "--tls-key", key]
                           + common, True),
        "tungstenite-tls": (9123, [os.path.join(compare.PEERS_RELEASE, "peer-tungstenite-tls"),
                                   "127.0.0.1:9123", cert, key], True),
        "node-ws-tls": (9124, ["node", os.path.join(compare.NODE_DIR, "server.js"),
                               "127.0.0.1:9124", cert, key], True),
    }


def scenarios(duration):
    d = str(duration)
    return [
        ("upgrade-full", "TLS upgrade storm, full handshakes, X25519 (32 in progress)",
         ["--sources", "64", "upgrade", "--concurrency", "32", "--duration", d],
         ["--no-resumption", "--x25519"]),
        ("upgrade-resumed", "TLS upgrade storm, resumed handshakes (TLS 1.3 tickets), X25519",
         ["--sources", "64", "upgrade", "--concurrency", "32", "--duration", d], ["--x25519"]),
        ("upgrade-full-pq", "TLS upgrade storm, full handshakes, the client offering "
         "X25519MLKEM768 first (as browsers do)",
         ["--sources", "64", "upgrade", "--concurrency", "32", "--duration", d],
         ["--no-resumption"]),
        ("echo16", "Echo 16 B text, 100 connections x 16 in flight",
         ["echo", "-c", "100", "-w", "16", "-s", "16", "--warmup", "1", "--duration", d], []),
        ("echo16k", "Echo 16 KiB binary, 100 connections x 16 in flight",
         ["echo", "-c", "100", "-w", "16", "-s", "16384", "--binary", "--warmup", "1",
          "--duration", d], []),
        ("idle10k", "Idle, 10,000 upgraded connections",
         ["idle", "-c", "10000", "--settle", "1"], []),
    ]


def run_one(name, args, tls_args):
    port, argv, tls = servers()[name]
    log_path = f"/tmp/switchyard-tls-compare-{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(["taskset", "-c", compare.SERVER_CPU] + argv, stdout=log,
                                stderr=log, preexec_fn=compare.raise_nofile)
        try:
            idle100k.wait_for_port(port, proc)
            time.sleep(0.2)
            load = ["taskset", "-c", compare.LOAD_CPU, os.path.join(RELEASE, "switchyard-load"),
                    "--addr", f"127.0.0.1:{port}", "--server-pid", str(proc.pid), "--json",
                    "--quiet"]
            if tls:
                load += ["--tls", "--ca", os.path.join(CERT_DIR, "ca.pem")] + tls_args
            res = subprocess.run(load + args, capture_output=True, text=True, timeout=300)
            if res.returncode != 0:
                raise RuntimeError(f"load failed: {res.stderr.strip()[-400:]}")
            out = json.loads(res.stdout)
            out["command"] = " ".join(load + args).replace(str(proc.pid), "PID")
            return out
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=8)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def med(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return (statistics.median(values), min(values), max(values))


def fmt(m, digits):
    if m is None:
        return "-"
    mid, lo, hi = m
    return f"{mid:,.{digits}f} ({lo:,.{digits}f}-{hi:,.{digits}f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3)
    ap.add_argument("--servers", default="switchyard,switchyard-tls,tungstenite-tls,node-ws-tls")
    ap.add_argument("--scenarios", help="comma-separated subset")
    a = ap.parse_args()
    make_cert()
    names = a.servers.split(",")
    scen = scenarios(a.duration)
    if a.scenarios:
        keep = a.scenarios.split(",")
        scen = [s for s in scen if s[0] in keep]
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {s[0]: {n: [] for n in names} for s in scen}
    for r in range(a.rounds):
        for key, _label, args, tls_args in scen:
            for name in names:
                if key in ("upgrade-full", "upgrade-full-pq") and not servers()[name][2]:
                    continue  # the plain server's storm is listed once, under upgrade-resumed
                compare.log(f"round {r + 1}/{a.rounds} {key} {name}")
                try:
                    res = run_one(name, args, tls_args)
                except Exception as e:  # noqa: BLE001 - one failed run must not stop the rest
                    compare.log(f"  FAILED: {e}")
                    res = {"failed": str(e)}
                results[key][name].append(res)
                if "ops_per_s" in res:
                    compare.log(f"  {res['ops_per_s']:,.0f}/s, server "
                                f"{res.get('server_cpu_us_per_op')} us/op, resumed "
                                f"{res.get('tls_resumed')}, errors {res.get('errors')}")
                elif "server_rss_per_conn_bytes" in res:
                    compare.log(f"  {res['server_rss_per_conn_bytes']:,.0f} B/conn, "
                                f"errors {res.get('errors')}")
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    raw = os.path.join(ROOT, "bench", "results", f"tls-{stamp}.json")
    meta = {"started": started.strftime("%Y-%m-%d %H:%M:%S"), "rounds": a.rounds,
            "machine": compare.machine(), "load_after": compare.loadavg(),
            "invocation": "python3 bench/tls_compare.py " + " ".join(sys.argv[1:])}
    with open(raw, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    print(f"Run {meta['started']} UTC, {a.rounds} rounds, `{meta['invocation']}`; raw "
          f"`{os.path.relpath(raw, ROOT)}`; load average after: {meta['load_after']}.\n")
    for key, label, _args, _tls in scen:
        idle = key.startswith("idle")
        print(f"### {label}\n")
        if idle:
            print("| server | RSS per connection (B) | errors |\n|---|---|---|")
        else:
            print("| server | server CPU per op (us) | ops/s | server core % | load core % | "
                  "resumed handshakes | errors |\n|---|---|---|---|---|---|---|")
        for name in names:
            runs = [x for x in results[key][name] if "failed" not in x]
            if not runs:
                continue
            errors = sum(x.get("errors", 0) for x in runs)
            if idle:
                rss = med([x.get("server_rss_per_conn_bytes") for x in runs])
                print(f"| {name} | {fmt(rss, 0)} | {errors} |")
            else:
                cpu = med([x.get("server_cpu_us_per_op") for x in runs])
                ops = med([x.get("ops_per_s") for x in runs])
                core = med([x.get("server_cpu_pct") for x in runs])
                lcore = med([x.get("load_cpu_pct") for x in runs])
                resumed = med([x.get("tls_resumed") for x in runs])
                print(f"| {name} | {fmt(cpu, 2)} | {fmt(ops, 0)} | {fmt(core, 0)} | "
                      f"{fmt(lcore, 0)} | {fmt(resumed, 0) if resumed else '-'} | {errors} |")
        print()


if __name__ == "__main__":
    main()
