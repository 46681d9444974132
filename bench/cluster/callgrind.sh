#!/usr/bin/env bash
# Callgrind instructions per broadcast delivery (BENCHMARKS.md, cluster section): the server on
# core 0 under valgrind, 100 subscribers for DURATION seconds; prints the server's total
# user-space instructions and its switchyard_messages_out_total. Run twice with different
# durations and divide the differences, so start-up and shutdown cancel out:
#   a=$(bench/cluster/callgrind.sh 2); b=$(bench/cluster/callgrind.sh 6)
# Extra arguments go to the server (e.g. --cluster redis://127.0.0.1:6379).
set -euo pipefail
d=$1; shift
bin=${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/target}/release
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
out=/tmp/cg.out.$port
taskset -c 0 valgrind --tool=callgrind --callgrind-out-file=$out $bin/switchyard --listen 127.0.0.1:$port --workers 1 --no-pin --log-level warn "$@" 2>/dev/null &
pid=$!
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
$bin/switchyard-load --addr 127.0.0.1:$port --path /broadcast --quiet --json broadcast -c 100 -w 4 -s 64 --warmup 0.5 --duration $d >/dev/null
n=$(curl -s http://127.0.0.1:$port/metrics | awk '/^switchyard_messages_out_total /{print $2}')
kill -INT $pid; wait $pid || true
i=$(grep '^summary:' $out | awk '{print $2}')
echo "$i $n"
