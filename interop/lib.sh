# Shared helpers for the interop harnesses and the scripts/test.d stages. Source it, don't run it.
#
#   sy_server_bin          sets SWITCHYARD_BIN: kept if set, else `cargo build --profile ci -p switchyard`
#                          (thin LTO, no debug info: the root Cargo.toml's [profile.ci]; scripts/test
#                          builds it once and exports SWITCHYARD_BIN, so its stages build nothing)
#   sy_start_server ARGS   starts "$SWITCHYARD_BIN --listen 127.0.0.1:<free port> ARGS" and waits until
#                          it accepts; sets SY_PID SY_PORT SY_URL (ws://) SY_HTTP (http://) SY_LOG
#   sy_start_server_tls ARGS  as sy_start_server, plus a TLS listener on another free port with a
#                          certificate for localhost and 127.0.0.1 from a CA made for the run (openssl
#                          CLI); also sets SY_TLS_PORT SY_WSS_URL (wss://localhost:port) SY_HTTPS SY_CA
#   sy_make_test_ca DIR    writes ca.pem, server.pem, server.key there (ECDSA P-256, 1 day)
#   sy_stop_server         SIGTERM, then SIGKILL after 10 s; also run by the EXIT trap this file sets
#   sy_venv_py3 / sy_venv_autobahn   paths of the virtualenvs scripts/install-test-deps makes
#   SY_OUT                 where harnesses write reports and caches: $SWITCHYARD_OUT, else
#                          <target dir>/interop (git-ignored; a run writes no tracked file)
#
# Every server this starts is killed when the sourcing shell exits, whatever the exit path.

SY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SY_CACHE=${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}
sy_venv_py3=$SY_CACHE/py3-venv
sy_venv_autobahn=$SY_CACHE/autobahn-venv
SY_OUT=${SWITCHYARD_OUT:-${CARGO_TARGET_DIR:-$SY_ROOT/target}/interop}
# Python bytecode caches (conftest.py, rawws.py) go under SY_OUT rather than beside the sources.
export PYTHONPYCACHEPREFIX=${PYTHONPYCACHEPREFIX:-$SY_OUT/pycache}

sy_log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
sy_die() {
  echo "error: $*" >&2
  exit 1
}

sy_server_bin() {
  if [ -n "${SWITCHYARD_BIN:-}" ]; then
    [ -x "$SWITCHYARD_BIN" ] || sy_die "SWITCHYARD_BIN=$SWITCHYARD_BIN is not an executable file"
    return 0
  fi
  local target_dir=${CARGO_TARGET_DIR:-$SY_ROOT/target}
  sy_log "building the server: cargo build --profile ci -p switchyard (target dir $target_dir)"
  (cd "$SY_ROOT" && cargo build --profile ci --quiet -p switchyard) || sy_die "cargo build --profile ci -p switchyard failed"
  SWITCHYARD_BIN=$target_dir/ci/switchyard
  [ -x "$SWITCHYARD_BIN" ] || sy_die "built, but $SWITCHYARD_BIN does not exist"
  export SWITCHYARD_BIN
}

# A port the kernel just handed out and released: free unless someone takes it in the next instant,
# which sy_start_server survives by trying again on another port.
sy_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

sy_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

SY_PIDS=()
sy_cleanup() {
  local pid
  for pid in "${SY_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  SY_PIDS=()
}
# Server logs are kept only when the harness failed (their path is printed then).
SY_LOGS=()
trap 'sy_rc=$?; sy_cleanup; [ "$sy_rc" -ne 0 ] || rm -f "${SY_LOGS[@]}"; exit $sy_rc' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

sy_start_server() {
  sy_server_bin
  SY_LOG=$(mktemp -t switchyard-server.XXXXXX.log)
  SY_LOGS+=("$SY_LOG")
  local attempt
  for attempt in 1 2 3; do
    SY_PORT=$(sy_free_port)
    "$SWITCHYARD_BIN" --listen "127.0.0.1:$SY_PORT" "$@" >>"$SY_LOG" 2>&1 &
    SY_PID=$!
    SY_PIDS+=("$SY_PID")
    for _ in $(seq 300); do
      if sy_port_open "$SY_PORT"; then
        SY_URL=ws://127.0.0.1:$SY_PORT
        SY_HTTP=http://127.0.0.1:$SY_PORT
        export SY_URL SY_HTTP SY_PORT
        sy_log "server pid $SY_PID listening on 127.0.0.1:$SY_PORT (log $SY_LOG)"
        return 0
      fi
      kill -0 "$SY_PID" 2>/dev/null || break
      sleep 0.1
    done
    sy_log "server did not come up on port $SY_PORT (attempt $attempt); log tail:"
    tail -n 20 "$SY_LOG" >&2
    kill -KILL "$SY_PID" 2>/dev/null || true
  done
  sy_die "could not start $SWITCHYARD_BIN"
}

# A certificate authority and a server certificate for localhost and 127.0.0.1, made for the run:
# what wss:// clients that check certificates trust (Python ssl, Node's `ca` option).
sy_make_test_ca() {
  local dir=$1
  mkdir -p "$dir"
  (
    cd "$dir" || exit 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
      -subj "/CN=switchyard interop test CA" -keyout ca.key -out ca.pem \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null &&
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null &&
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext &&
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
        -extfile server.ext -out server.pem 2>/dev/null
  ) || sy_die "openssl could not make the test certificates in $dir"
}

sy_start_server_tls() {
  local dir=$SY_OUT/tls-ca
  [ -f "$dir/server.pem" ] || sy_make_test_ca "$dir"
  SY_TLS_PORT=$(sy_free_port)
  sy_start_server --listen-tls "127.0.0.1:$SY_TLS_PORT" --tls-cert "$dir/server.pem" \
    --tls-key "$dir/server.key" "$@"
  for _ in $(seq 100); do
    sy_port_open "$SY_TLS_PORT" && break
    sleep 0.1
  done
  SY_WSS_URL=wss://localhost:$SY_TLS_PORT
  SY_HTTPS=https://localhost:$SY_TLS_PORT
  SY_CA=$dir/ca.pem
  export SY_TLS_PORT SY_WSS_URL SY_HTTPS SY_CA
  sy_log "TLS listener on 127.0.0.1:$SY_TLS_PORT (CA $SY_CA)"
}

# True if the server started last is still running (a crash during a harness is a failure of its own).
sy_server_alive() {
  kill -0 "$SY_PID" 2>/dev/null
}

sy_stop_server() {
  sy_cleanup
}

sy_server_log_tail() {
  echo "--- last ${1:-30} lines of the server log ($SY_LOG)"
  tail -n "${1:-30}" "$SY_LOG"
  echo "---"
}
