#!/usr/bin/env bash
# bench/serve/cluster.sh: `rbk serve` on PostgreSQL (issue 10, SERVE.md §6):
# runs/s of the three-step runbook of bench/serve/flow.rbk against the bench
# nginx with 1, 2 and 4 worker processes behind one api node; webhook accept
# latency at a steady rate; and the time from `kill -9` of a worker to its
# runs being claimed by another. See docs/performance.md, "rbk serve on
# PostgreSQL (issue 10)".
#
#   bash bench/serve/cluster.sh
#
# Environment:
#   BENCH_OUT=/tmp/rbk-bench-cluster   PostgreSQL's cluster, logs, results
#   PORT=8089 PG_PORT=55440            nginx and PostgreSQL (loopback)
#   API_PORT=18790                     the api node (workers listen on the next ports)
#   WORKERS="1 2 4"                    worker processes per runs/s measurement
#   BURST=2000                         webhooks per runs/s measurement
#   RATES="200 500" SECONDS_AT_RATE=20 the steady rates for accept latency
#   LEASE=5s                           the lease in the kill -9 measurement
#   SKIP_BUILD=1                       use target/release/rbk as it is
#
# It needs PostgreSQL's server binaries (Debian's postgresql; RBK_PG_BIN or
# /usr/lib/postgresql/*/bin), nginx, oha, jq and python3 (bench/serve/run.sh
# installs oha). Everything stays on 127.0.0.1; every process it starts is
# stopped when it exits. PostgreSQL runs with its defaults (fsync on).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH_DIR="$(cd "$HERE/.." && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
OUT="${BENCH_OUT:-/tmp/rbk-bench-cluster}"
PORT="${PORT:-8089}"
PG_PORT="${PG_PORT:-55440}"
API_PORT="${API_PORT:-18790}"
WORKERS="${WORKERS:-1 2 4}"
BURST="${BURST:-2000}"
RATES="${RATES:-200 500}"
SECONDS_AT_RATE="${SECONDS_AT_RATE:-20}"
LEASE="${LEASE:-5s}"
RES="$OUT/results"
export PATH="$HOME/.cargo/bin:$PATH"
export RBK_JOURNAL_KEY
RBK_JOURNAL_KEY="$(printf '%064d' 7)"

log() { printf '>> %s\n' "$*" >&2; }
rec() { printf '%s\n' "$*" | tee -a "$RES/summary.txt"; }
load() { rec "   load: $(uptime | sed 's/.*load average/load average/')"; }

PIDS=()
cleanup() {
  local g
  for g in "${PIDS[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
  if [[ -n "${PGBIN:-}" && -d "$OUT/pg/data" ]]; then
    as_pg "$PGBIN/pg_ctl" -D "$OUT/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
wait_http() {
  local i
  for i in $(seq "${2:-300}"); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "error: $1 did not answer" >&2
  return 1
}

for t in nginx curl jq python3 oha; do
  command -v "$t" >/dev/null || { echo "error: $t is missing (bench/serve/run.sh installs oha)" >&2; exit 1; }
done
PGBIN="${RBK_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
[[ -x "$PGBIN/initdb" ]] || { echo "error: PostgreSQL's server is not installed (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

rm -rf "$OUT"
mkdir -p "$RES" "$OUT/pg"
: >"$RES/summary.txt"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "building rbk (release)"
  (cd "$REPO" && cargo build --release --quiet)
fi
RBK="$REPO/target/release/rbk"

# ------------------------------------------------------------------ nginx
NGX="$OUT/nginx"
mkdir -p "$NGX/www" "$NGX/tmp"
chmod 755 "$OUT" "$NGX" "$NGX/www"
python3 "$BENCH_DIR/gen_data.py" "$NGX/www" 2>/dev/null
chmod 644 "$NGX/www"/*.json
sed -e "s|@PREFIX@|$NGX|g" -e "s|@PORT@|$PORT|g" -e "s|@WORKERS@|1|g" "$BENCH_DIR/nginx.conf.in" >"$NGX/nginx.conf"
setsid nginx -p "$NGX" -e "$NGX/error.log" -c "$NGX/nginx.conf" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_http "http://127.0.0.1:$PORT/items/1"

# ------------------------------------------------------------------ PostgreSQL
[[ "$(id -u)" == 0 ]] && chown postgres "$OUT/pg"
as_pg "$PGBIN/initdb" -D "$OUT/pg/data" -U rbk --auth=trust -E UTF8 >"$OUT/pg/initdb.log"
printf '\nmax_connections = 200\n' >>"$OUT/pg/data/postgresql.conf"
as_pg "$PGBIN/pg_ctl" -D "$OUT/pg/data" -o "-p $PG_PORT -k $OUT/pg -c listen_addresses=127.0.0.1" \
  -l "$OUT/pg/server.log" -w start >/dev/null
PG="postgres://rbk@127.0.0.1:$PG_PORT/postgres"
sql() { "$PGBIN/psql" "$PG" -X -t -A -c "$1"; }
fresh_db() { sql "SET client_min_messages = warning; DROP SCHEMA public CASCADE; CREATE SCHEMA public;" >/dev/null; }

rec "# bench/serve/cluster.sh $(date -u +%FT%TZ) on $(nproc) cores, $(git -C "$REPO" log -1 --format=%h 2>/dev/null || echo '?'), $("$PGBIN/postgres" --version), $(nginx -v 2>&1 | sed 's/.*: //'), $(oha --version)"

# ------------------------------------------------------------------ nodes
NODE_PIDS=()
start_node() { # role, port, extra flags...
  local role="$1" port="$2"
  shift 2
  RBK_BENCH_URL="http://127.0.0.1:$PORT" setsid "$RBK" serve "$HERE/cluster.rbk" \
    --journal "$PG" --role "$role" --listen "127.0.0.1:$port" "$@" >>"$OUT/node-$port.log" 2>&1 &
  NODE_PIDS+=("$!")
  PIDS+=("$!")
  wait_http "http://127.0.0.1:$port/healthz"
}
stop_nodes() {
  local p
  for p in "${NODE_PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for p in "${NODE_PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 -- "-$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null || true
  done
  NODE_PIDS=()
}
unfinished() { sql "SELECT count(*) FROM rbk_runs WHERE state IN ('queued', 'running')"; }
wait_done() {
  for _ in $(seq 3000); do [[ "$(unfinished)" == 0 ]] && return 0; sleep 0.1; done
  echo "error: runs unfinished after 300 s" >&2
  return 1
}
rss_sum() { # peak RSS (VmHWM) of every node now running, KiB
  local p s=0
  for p in "${NODE_PIDS[@]}"; do s=$((s + $(awk '/VmHWM/ {print $2}' "/proc/$p/status"))); done
  echo "$s"
}
HOOK="http://127.0.0.1:$API_PORT/hooks/order"
# CPU seconds used so far by processes $@ and their children
cpu_of() {
  local p t=0
  for p in "$@" $(for q in "$@"; do pgrep -P "$q"; done); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  python3 -c "print(round($t / $(getconf CLK_TCK), 2))"
}
cpu_snapshot() {
  echo "$(cpu_of "$(head -1 "$OUT/pg/data/postmaster.pid")") $(cpu_of "${NODE_PIDS[@]}") $(cpu_of "$NGINX_PID")"
}
cpu_report() { # before-snapshot, seconds of wall time
  local a
  a="$(cpu_snapshot)"
  python3 -c "
b=[float(x) for x in '$1'.split()]; a=[float(x) for x in '$a'.split()]; w=$2
print(', '.join(f'{n} {a[i]-b[i]:.1f} s ({(a[i]-b[i])/w:.2f} cores)' for i,n in enumerate(['PostgreSQL','rbk nodes','nginx'])))"
}

# ------------------------------------------------------------------ runs/s
rec ""
rec "## runs/s: $BURST webhooks to one api node, W workers (--max-runs 32 each), journal on PostgreSQL"
for w in $WORKERS; do
  fresh_db
  start_node api "$API_PORT"
  for i in $(seq "$w"); do start_node worker $((API_PORT + i)) --max-runs 32; done
  before=$(cpu_snapshot)
  oha --no-tui --output-format json -n "$BURST" -c 64 -m POST -H 'Content-Type: application/json' \
    -d '{"n": 1}' "$HOOK" >"$RES/burst-$w.json"
  wait_done
  bad=$(sql "SELECT count(*) FROM rbk_runs WHERE state <> 'succeeded'")
  span=$(sql "SELECT round((max(finished_at) - min(created_at)) / 1000.0, 2) FROM rbk_runs")
  runs=$(sql "SELECT count(*) FROM rbk_runs")
  rec "- $w worker(s): $runs runs in ${span} s = $(python3 -c "print(round($runs / $span))") runs/s (first accept to last finish), not succeeded: $bad, accepted $(jq -r '.statusCodeDistribution|tojson' "$RES/burst-$w.json"), peak RSS of all nodes $(rss_sum) KiB"
  rec "   CPU during the burst: $(cpu_report "$before" "$span")"
  load
  stop_nodes
done

# ------------------------------------------------------------------ accept latency
rec ""
for rate in $RATES; do
  rec "## accept latency at a steady ${rate}/s for ${SECONDS_AT_RATE} s (oha, coordinated-omission corrected), one api node, 2 workers"
  fresh_db
  start_node api "$API_PORT"
  start_node worker $((API_PORT + 1)) --max-runs 32
  start_node worker $((API_PORT + 2)) --max-runs 32
  oha --no-tui --output-format json -z "${SECONDS_AT_RATE}s" -q "$rate" --latency-correction \
    -c 100 -m POST -H 'Content-Type: application/json' -d '{"n": 1}' "$HOOK" >"$RES/steady-$rate.json"
  rec "- $(jq -r '"p50 \(.latencyPercentiles.p50 * 1000 | .*1000|round/1000) ms, p99 \(.latencyPercentiles.p99 * 1000 | .*1000|round/1000) ms, \(.summary.requestsPerSec|round) req/s, codes \(.statusCodeDistribution|tojson)"' "$RES/steady-$rate.json")"
  wait_done
  rec "   runs: $(sql "SELECT count(*) FROM rbk_runs WHERE state = 'succeeded'") succeeded of $(sql "SELECT count(*) FROM rbk_runs")"
  load
  stop_nodes
  rec ""
done

# ------------------------------------------------------------------ kill -9 of a worker
rec ""
rec "## kill -9 of a worker with runs in flight (--lease $LEASE): until another worker holds each of its runs"
fresh_db
start_node api "$API_PORT"
start_node worker $((API_PORT + 1)) --lease "$LEASE" --max-runs 32
victim="${NODE_PIDS[-1]}"
start_node worker $((API_PORT + 2)) --lease "$LEASE" --max-runs 32
# A slow stream of runs that wait a second mid-run keeps runs in flight on both workers.
oha --no-tui --output-format json -z 12s -q 100 -c 20 -m POST -H 'Content-Type: application/json' \
  -d '{"n": 1}' "http://127.0.0.1:$API_PORT/hooks/slow_order" >"$RES/kill-load.json" &
loader=$!
sleep 4
ids=$(sql "SELECT string_agg(id::text, ',') FROM rbk_runs WHERE state = 'running' AND lease_owner LIKE '%/$victim/%'")
kill -KILL -- "-$victim"
killed_at=$(python3 -c 'import time; print(time.time())')
[[ -n "$ids" ]] || { echo "error: the victim held no runs" >&2; exit 1; }
n_ids=$(tr ',' '\n' <<<"$ids" | wc -l)
first=""
while :; do
  left=$(sql "SELECT count(*) FROM rbk_runs WHERE id IN ($ids) AND state = 'running' AND lease_owner LIKE '%/$victim/%'")
  now=$(python3 -c 'import time; print(time.time())')
  if [[ -z "$first" && "$left" -lt "$n_ids" ]]; then first=$(python3 -c "print(round($now - $killed_at, 2))"); fi
  [[ "$left" == 0 ]] && break
  python3 -c "import sys; sys.exit(0 if $now - $killed_at < 120 else 1)" || { echo "error: not claimed after 120 s" >&2; exit 1; }
  sleep 0.05
done
all=$(python3 -c "print(round($now - $killed_at, 2))")
wait "$loader" || true
wait_done
rec "- the victim held $n_ids running runs; first claimed elsewhere after ${first:-0} s, all after $all s (lease $LEASE; goal: under 2x the lease)"
rec "   those runs: $(sql "SELECT state || ' ' || count(*) FROM rbk_runs WHERE id IN ($ids) GROUP BY state" | tr '\n' ' ')"
rec "   all runs: $(sql "SELECT state || ' ' || count(*) FROM rbk_runs GROUP BY state" | tr '\n' ' ')"
load
stop_nodes
log "results in $RES/summary.txt"
