#!/usr/bin/env bash
# Cross-node fan-out through the cluster engine (issue 15): one publisher, subscribers spread
# round-robin over three switchyard processes sharing a redis-server, against the same
# subscribers on one process (cluster off, then on with no other node). Loopback only; every
# run is bounded by --duration. Prints one switchyard-load JSON object per run (with per-node
# figures and Redis's CPU for the cluster run) and a summary table.
#
#   bench/cluster/run.sh [SUBSCRIBERS] [IN_FLIGHT] [SECONDS]      # defaults 60 4 5
#
# Needs: cargo build --release -p switchyard -p switchyard-bench; redis-server (Debian's).
# The publisher is on node 0, so a third of the deliveries stay local and two thirds cross Redis;
# the per-node rows (node1, node2) are the cross-node figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
subs=${1:-60}
in_flight=${2:-4}
seconds=${3:-5}
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
out=${OUT:-$(mktemp -d -t cluster-bench.XXXXXX)}
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$out/redis.log" 2>&1 &
rpid=$!; pids+=("$rpid")
wait_port "$rport"

node() { # node PORT [extra flags...]: starts a switchyard, echoes its pid
  local port=$1; shift
  "$bin/switchyard" --listen "127.0.0.1:$port" --workers 1 --no-pin --route '/rooms/*=broadcast' \
    --log-level warn "$@" >"$out/node-$port.log" 2>&1 &
  echo $!
}

load() { # load ARGS...: one broadcast run, JSON on stdout
  "$bin/switchyard-load" --json --quiet --path /rooms/bench broadcast -c "$subs" -w "$in_flight" \
    -s 64 --warmup 1 --duration "$seconds" "$@"
}

# One node, cluster off.
p0=$(free_port); n=$(node "$p0"); pids+=("$n"); wait_port "$p0"
load --addr "127.0.0.1:$p0" --server-pid "$n" | tee "$out/single-off.json"
kill "$n"; wait "$n" 2>/dev/null || true

# One node, cluster on (its own messages come back from Redis and are skipped).
p0=$(free_port); n=$(node "$p0" --cluster "redis://127.0.0.1:$rport"); pids+=("$n"); wait_port "$p0"
load --addr "127.0.0.1:$p0" --server-pid "$n" --redis-pid "$rpid" | tee "$out/single-on.json"
kill "$n"; wait "$n" 2>/dev/null || true

# Three nodes: subscribers round-robin, the publisher on node 0.
ports=(); npids=()
for _ in 0 1 2; do
  p=$(free_port); n=$(node "$p" --cluster "redis://127.0.0.1:$rport"); pids+=("$n")
  ports+=("$p"); npids+=("$n"); wait_port "$p"
done
addrs=$(printf '127.0.0.1:%s,' "${ports[@]}"); addrs=${addrs%,}
load --addr "$addrs" --publish-addr "127.0.0.1:${ports[0]}" \
  --server-pid "${npids[0]}" --server-pid "${npids[1]}" --server-pid "${npids[2]}" \
  --redis-pid "$rpid" | tee "$out/three.json"

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
print(f"\n{'run':<22}{'deliveries/s':>14}{'p50 us':>10}{'p99 us':>10}{'server us/deliv':>17}{'redis %':>9}{'errors':>8}")
for name in ['single-off', 'single-on', 'three']:
    r = json.load(open(f'{out}/{name}.json'))
    print(f"{name:<22}{r['ops_per_s']:>14.0f}{r['latency_p50_us']:>10.0f}{r['latency_p99_us']:>10.0f}"
          f"{r.get('server_cpu_us_per_op') or float('nan'):>17.2f}{r.get('redis_cpu_pct', float('nan')):>9.1f}{r['errors']:>8}")
    for i in range(3):
        if f'node{i}_ops_per_s' in r:
            print(f"  node{i} {r[f'node{i}_addr']:<15}{r[f'node{i}_ops_per_s']:>14.0f}"
                  f"{r[f'node{i}_latency_p50_us']:>10.0f}{r[f'node{i}_latency_p99_us']:>10.0f}")
print(f"(JSON in {out})")
PY
