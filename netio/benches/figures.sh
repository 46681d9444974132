#!/usr/bin/env bash
# netio figures (benchmarks, not tests): echo throughput with 1 and 2 reactors, an upgrade
# storm, resident memory per idle connection - measured through the server that runs on netio
# (`switchyard`) with the workspace's load generator `switchyard-load`, pinned to core 1.
# The figures in FIGURES.md were taken with an earlier raw-TCP client (see the note there);
# these runs include the WebSocket handshake and framing on top of netio.
# Runs are repeated REPEATS times; report medians. Usage: netio/benches/figures.sh [REPEATS]
# (default 3). Loopback only; every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEATS=${1:-3}
SECS=${SECS:-4}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q --release -p switchyard -p switchyard-bench
R=$CARGO_TARGET_DIR/release
PORT=7300

server() { # server ARGS... ; sets SP
    PORT=$((PORT + 1))
    ADDR=127.0.0.1:$PORT
    taskset -c "$SERVER_CPUS" "$R/switchyard" --listen "$ADDR" --log-level warn "$@" 2>/dev/null &
    SP=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
}
stop() { kill "$SP"; wait "$SP" 2>/dev/null || true; }
load() { taskset -c 1 "$R/switchyard-load" --addr "$ADDR" --server-pid "$SP" --quiet "$@"; }

echo "# netio figures $(date -u +%FT%TZ), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$REPEATS"); do
    for reactors in 1 2; do
        if [ "$reactors" = 1 ]; then SERVER_CPUS=0; CPUS=0; else SERVER_CPUS=0,1; CPUS=0,1; fi
        server --workers "$reactors" --cpus "$CPUS"
        echo "## run $i, echo, $reactors reactor(s) on CPU $CPUS, load on CPU 1"
        load echo -c 100 -w 16 -s 16 --duration "$SECS"
        load echo -c 10 -w 4 -s 16384 --binary --duration "$SECS"
        echo "## run $i, upgrade storm, $reactors reactor(s) on CPU $CPUS"
        load --sources 64 upgrade --concurrency 64 --duration "$SECS"
        stop
    done
done
if command -v strace >/dev/null; then
    SERVER_CPUS=0
    server --workers 1 --cpus 0
    strace -c -f -p "$SP" -o /tmp/netio-strace-upgrade.txt &
    ST=$!
    sleep 0.5
    echo "## syscalls, upgrade storm, 1 reactor (strace -c -f; divide by the upgrades)"
    load --sources 64 upgrade --concurrency 16 --duration 3 | grep -E "^ops "
    kill -INT "$ST"
    wait "$ST" 2>/dev/null || true
    stop
    grep -E "^ *[0-9]" /tmp/netio-strace-upgrade.txt | awk '{print "  " $NF ": " $4}'
fi
for reactors in 1 2; do
    SERVER_CPUS=0,1
    server --workers "$reactors" --cpus 0,1
    echo "## idle, $reactors reactor(s)"
    load idle -c 10000
    stop
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
