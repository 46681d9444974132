#!/usr/bin/env bash
# netio figures (benchmarks, not tests): raw TCP echo throughput with 1 and 2 reactors,
# connection storms in each accept mode, resident memory per idle connection.
# Server and load generator are the release examples bench_server and loadgen; the load is
# pinned to core 1 with taskset. Runs are interleaved (A B A B ...) and repeated REPEATS times;
# report medians. Usage: netio/benches/figures.sh [REPEATS] (default 3). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEATS=${1:-3}
SECS=${SECS:-4}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q --release -p switchyard-netio --example bench_server --example loadgen
R=$CARGO_TARGET_DIR/release/examples
PORT=7300

server() { # server ARGS... ; sets SP
    PORT=$((PORT + 1))
    ADDR=127.0.0.1:$PORT
    taskset -c "$SERVER_CPUS" "$R/bench_server" --addr "$ADDR" "$@" 2>/dev/null &
    SP=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
}
stop() { kill "$SP"; wait "$SP" 2>/dev/null || true; }
load() { taskset -c 1 "$R/loadgen" "$@" --addr "$ADDR" --pid "$SP" 2>/dev/null; }

echo "# netio figures $(date -u +%FT%TZ), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$REPEATS"); do
    for reactors in 1 2; do
        if [ "$reactors" = 1 ]; then SERVER_CPUS=0; CPUS=0; else SERVER_CPUS=0,1; CPUS=0,1; fi
        server --reactors "$reactors" --cpus "$CPUS"
        echo "## run $i, echo, $reactors reactor(s) on CPU $CPUS, load on CPU 1"
        load echo --conns 100 --inflight 16 --size 16 --secs "$SECS"
        load echo --conns 10 --inflight 4 --size 16384 --secs "$SECS"
        stop
    done
done
SERVER_CPUS=0,1
MODES=(reuseport rr ll defer)
for i in $(seq "$REPEATS"); do
    # Rotate the order (A B C D, B C D A, ...) so that no mode always runs first or last.
    for k in 0 1 2 3; do
        mode=${MODES[$(((i + k) % 4))]}
        if [ "$mode" = defer ]; then
            server --reactors 2 --cpus 0,1 --accept reuseport --defer-accept 1
        else
            server --reactors 2 --cpus 0,1 --accept "$mode"
        fi
        echo "## run $i, storm, 2 reactors, accept $mode"
        load storm --concurrency 64 --secs "$SECS"
        stop
    done
done
if command -v strace >/dev/null; then
    for mode in reuseport rr; do
        server --reactors 1 --cpus 0 --accept "$mode"
        strace -c -f -p "$SP" -o "/tmp/netio-strace-$mode.txt" &
        ST=$!
        sleep 0.5
        echo "## syscalls, storm, 1 reactor, accept $mode (strace -c -f; divide by the connections)"
        load storm --concurrency 16 --secs 3 | grep conn/s
        kill -INT "$ST"
        wait "$ST" 2>/dev/null || true
        stop
        grep -E "^ *[0-9]" "/tmp/netio-strace-$mode.txt" | awk '{print "  " $NF ": " $4}'
    done
fi
for reactors in 1 2; do
    SERVER_CPUS=0,1
    server --reactors "$reactors"
    echo "## idle, $reactors reactor(s)"
    load idle --conns 10000
    stop
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
