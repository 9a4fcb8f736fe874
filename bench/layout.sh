#!/usr/bin/env bash
# bench/layout.sh: write link/order.txt, the order in which lld lays out the
# functions of the release binary (see build.rs and docs/performance.md,
# "Round 5: code layout").
#
#   bash bench/layout.sh         # build, profile under callgrind, write link/order.txt
#
# It profiles what users run most: start-up with one request, the bench
# workloads (against nginx on 127.0.0.1:$PORT), the README's offline example
# and `rbk check` of examples/. Each profile records every function that ran;
# the file lists them in that order, start-up first.
#
# Run it again after large changes or a new Rust toolchain: names that no
# longer match are skipped by the linker, so a stale file costs speed, never
# correctness. Needs valgrind, nginx, python3.
#
# Environment: PORT=8089, BENCH_OUT=/tmp/rbk-layout (nginx prefix, profiles).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
PORT="${PORT:-8089}"
OUT="${BENCH_OUT:-/tmp/rbk-layout}"
export RBK_BENCH_URL="http://127.0.0.1:$PORT"

for tool in valgrind nginx python3 curl; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing" >&2; exit 1; }
done

(cd "$REPO" && cargo build --release --quiet)
RBK="$(realpath "$REPO/target/release/rbk")"

mkdir -p "$OUT/profiles"
chmod 755 "$OUT"
rm -f "$OUT/profiles"/*
# shellcheck source=bench/nginx.sh
source "$BENCH_DIR/nginx.sh"
trap stop_bench_nginx EXIT
start_bench_nginx "$OUT/nginx" "$PORT"

profiles=()
profile() { # name, rbk arguments...
  local out="$OUT/profiles/$1"
  (cd "$REPO" && valgrind --tool=callgrind --demangle=no --callgrind-out-file="$out" \
    "$RBK" "${@:2}" >/dev/null 2>"$out.log") || {
    echo "error: rbk ${*:2} failed under callgrind:" >&2
    tail -5 "$out.log" >&2
    exit 1
  }
  profiles+=("$out")
}
RB="$BENCH_DIR/rbk"
profile one run "$RB/one.rbk" main
profile w1 run "$RB/w1.rbk" main --arg n=20
profile w2 run "$RB/w2.rbk" main --arg n=10
profile w3 run "$RB/w3.rbk" main --arg n=5
profile par run "$RB/par.rbk" main --arg n=200
profile quickstart run examples/quickstart.rbk --replay examples/quickstart.cassette.json
profile check check examples

python3 "$BENCH_DIR/layout_order.py" "$RBK" "$REPO/link/order.txt" "${profiles[@]}"
echo "now rebuild: cargo build --release (build.rs hands link/order.txt to the linker)" >&2
