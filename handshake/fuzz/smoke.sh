#!/usr/bin/env bash
# Short fuzz smoke run of every handshake fuzz target (STYLE.md point 9), for CI:
#   handshake/fuzz/smoke.sh [seconds per target, default 10]
# Needs cargo-fuzz (`cargo install cargo-fuzz`); only the stable toolchain exists here, so
# RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly-only sanitizer flags. Seeds come from
# seeds/; the working corpus stays in corpus/ (git-ignored). Exits non-zero on any crash.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-10}
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target}
for target in server client extensions; do
  mkdir -p "corpus/$target"
  cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
  echo "fuzz smoke: $target for ${seconds}s"
  log=$(mktemp)
  if ! cargo fuzz run -O "$target" "corpus/$target" -- -max_total_time="$seconds" >"$log" 2>&1; then
    tail -40 "$log"
    rm -f "$log"
    exit 1
  fi
  grep -E "^Done" "$log" || true
  rm -f "$log"
done
