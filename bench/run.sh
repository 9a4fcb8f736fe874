#!/usr/bin/env bash
# bench/run.sh: `rbk run` against Hurl and a plain reqwest loop (the floor),
# on workloads served by nginx on 127.0.0.1. See docs/performance.md,
# "rbk run vs Hurl", for what it measures and the figures it gave.
#
#   bash bench/run.sh            # install what is missing, build, run, print the table
#
# Environment:
#   PORT=8089                    nginx's loopback port
#   RUNS=10                      hyperfine runs per workload
#   RBK_SRC=...                  the rbk source tree to build (default: this repo)
#   RBK_TARGET_DIR=...           cargo target dir for rbk (default: the repo's target/)
#   BENCH_OUT=/tmp/rbk-bench     where nginx's prefix, the .hurl files and results go
#   SKIP_INSTALL=1               do not apt-get / cargo install
#   N1=1000 N2=300 N3=200 NP=20000 workload sizes
#   LOOPS="1000 10000 100000"    loop sizes for the flat-cost check (sequential and parallel 32)
#
# Everything stays on 127.0.0.1; every loop is bounded; nginx is stopped on exit.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
PORT="${PORT:-8089}"
RUNS="${RUNS:-10}"
OUT="${BENCH_OUT:-/tmp/rbk-bench}"
N1="${N1:-1000}"
N2="${N2:-300}"
N3="${N3:-200}"
NP="${NP:-20000}"
# Loop sizes: the cost per item must stay flat as loops grow.
LOOPS="${LOOPS:-1000 10000 100000}"
HURL_VERSION="8.0.1" # 8.1 needs a newer rustc than 1.95
RBK_SRC="${RBK_SRC:-$REPO}"
RBK_TARGET_DIR="${RBK_TARGET_DIR:-$REPO/target}"
FLOOR_TARGET_DIR="${FLOOR_TARGET_DIR:-$BENCH_DIR/floor/target}"
BASE="http://127.0.0.1:$PORT"
export RBK_BENCH_URL="$BASE"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '>> %s\n' "$*" >&2; }

# ------------------------------------------------------------------ install
install_tools() {
  local pkgs=() p
  # libclang-dev: hurl's libxml binding runs bindgen at build time.
  for p in nginx libcurl4-openssl-dev libxml2-dev libclang-dev pkg-config wrk hyperfine time; do
    dpkg -s "$p" >/dev/null 2>&1 || pkgs+=("$p")
  done
  if ((${#pkgs[@]})); then
    log "apt-get install ${pkgs[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}"
  fi
  if ! hurl --version 2>/dev/null | grep -q "^hurl $HURL_VERSION"; then
    log "cargo install hurl $HURL_VERSION (takes a while)"
    cargo install hurl --version "$HURL_VERSION" --locked
  fi
}

if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then
  install_tools
fi
for tool in nginx wrk hyperfine hurl jq python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing" >&2; exit 1; }
done

# ------------------------------------------------------------------ build
log "building rbk (release) from $RBK_SRC into $RBK_TARGET_DIR"
(cd "$RBK_SRC" && CARGO_TARGET_DIR="$RBK_TARGET_DIR" cargo build --release --quiet)
RBK="$RBK_TARGET_DIR/release/rbk"
log "building the floor (bench/floor) into $FLOOR_TARGET_DIR"
(cd "$BENCH_DIR/floor" && CARGO_TARGET_DIR="$FLOOR_TARGET_DIR" cargo build --release --quiet)
FLOOR="$FLOOR_TARGET_DIR/release/rbk-bench-floor"

# ------------------------------------------------------------------ nginx
mkdir -p "$OUT/hurl" "$OUT/results"
chmod 755 "$OUT"
# shellcheck source=bench/nginx.sh
source "$BENCH_DIR/nginx.sh"
trap stop_bench_nginx EXIT
start_bench_nginx "$OUT/nginx" "$PORT"
log "nginx $(nginx -v 2>&1 | sed 's/.*\///') on $BASE (workers: ${NGINX_WORKERS:-1})"

# ------------------------------------------------------------------ hurl files
# Hurl has no loops: the requests are written out.
gen_hurl() {
  local i
  {
    for ((i = 0; i < N1; i++)); do
      printf 'GET %s/items/%d\nHTTP 200\n[Captures]\nname: jsonpath "$.name"\n\n' "$BASE" "$i"
    done
  } >"$OUT/hurl/w1.hurl"
  {
    for ((i = 0; i < N2; i++)); do
      printf 'GET %s/items/%d\nHTTP 200\n[Captures]\nid: jsonpath "$.id"\n\n' "$BASE" "$i"
      printf 'POST %s/orders\n{"item": {{id}}, "quantity": 1, "note": "bench %d"}\nHTTP 200\n[Captures]\norder: jsonpath "$.id"\n\n' "$BASE" "$i"
    done
  } >"$OUT/hurl/w2.hurl"
  {
    for ((i = 0; i < N3; i++)); do
      printf 'GET %s/big.json\nHTTP 200\n[Captures]\nowner: jsonpath "$.meta.owner.profile.name"\n\n' "$BASE"
    done
  } >"$OUT/hurl/w3.hurl"
  printf 'GET %s/items/1\nHTTP 200\n[Captures]\nname: jsonpath "$.name"\n' "$BASE" >"$OUT/hurl/one.hurl"
}
gen_hurl

# ------------------------------------------------------------------ check once
RB="$BENCH_DIR/rbk"
check_out() { # name, command...; the command's stdout must contain $want
  local name="$1" want="$2"
  shift 2
  local got
  got="$("$@" 2>"$OUT/results/$name.stderr")" || {
    echo "error: $name failed:" >&2
    tail -5 "$OUT/results/$name.stderr" >&2
    exit 1
  }
  grep -q -- "$want" <<<"$got" || {
    echo "error: $name printed $got, expected $want" >&2
    exit 1
  }
}
log "checking that every workload runs and captures what it should"
check_out rbk-w1 '"widget"' "$RBK" run "$RB/w1.rbk" main --arg "n=$N1"
check_out rbk-w2 '"ord-1001"' "$RBK" run "$RB/w2.rbk" main --arg "n=$N2"
check_out rbk-w3 '"Ada Lovelace"' "$RBK" run "$RB/w3.rbk" main --arg "n=$N3"
check_out rbk-par "\"requests\": $NP" "$RBK" run "$RB/par.rbk" main --arg "n=$NP"
check_out rbk-one '"widget"' "$RBK" run "$RB/one.rbk" main
for w in w1 w2 w3 one; do
  check_out "hurl-$w" '' hurl --no-output "$OUT/hurl/$w.hurl"
done
hurl_trace="$(hurl --verbose --no-output --to-entry 1 "$OUT/hurl/w3.hurl" 2>&1)"
grep -q '^\* owner: Ada Lovelace' <<<"$hurl_trace" || {
  echo "error: hurl did not capture the nested field of big.json" >&2
  exit 1
}

# ------------------------------------------------------------------ timings
# The machine may be shared: the table uses hyperfine's median wall time and
# the mean CPU time (user + system) of the client process.
time_it() { # name, command string
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$OUT/results/$1.json" "$2" >"$OUT/results/$1.txt" 2>&1
}
log "timing W1 ($N1 GETs), W2 ($N2 GET+POST chains), W3 ($N3 GETs of 50 KB), $RUNS runs each"
for w in w1 w2 w3; do
  n_var="N${w#w}"
  time_it "rbk-$w" "$RBK run $RB/$w.rbk main --arg n=${!n_var}"
  time_it "hurl-$w" "hurl --no-output $OUT/hurl/$w.hurl"
  time_it "floor-$w" "$FLOOR $w ${!n_var}"
done

log "start-up: one request"
hyperfine -N --warmup 20 --runs 200 --export-json "$OUT/results/startup.json" \
  "$RBK run $RB/one.rbk main" "$FLOOR one" "hurl --no-output $OUT/hurl/one.hurl" \
  >"$OUT/results/startup.txt" 2>&1

log "peak RSS (/usr/bin/time -v)"
rss() { # name, command...
  /usr/bin/time -v "${@:2}" >/dev/null 2>"$OUT/results/$1.time"
  awk -F': ' '/Maximum resident set size/ {printf "%.1f\n", $2 / 1024}' "$OUT/results/$1.time" >"$OUT/results/$1.rss"
}
rss rbk-one "$RBK" run "$RB/one.rbk" main
rss rbk-w1 "$RBK" run "$RB/w1.rbk" main --arg "n=$N1"
rss rbk-w2 "$RBK" run "$RB/w2.rbk" main --arg "n=$N2"
rss rbk-w3 "$RBK" run "$RB/w3.rbk" main --arg "n=$N3"
rss rbk-par "$RBK" run "$RB/par.rbk" main --arg "n=$NP"
for w in one w1 w2 w3; do rss "hurl-$w" hurl --no-output "$OUT/hurl/$w.hurl"; done
rss floor-one "$FLOOR" one
for w in w1 w2 w3; do n_var="N${w#w}"; rss "floor-$w" "$FLOOR" "$w" "${!n_var}"; done
rss floor-par "$FLOOR" par "$NP" 32

log "parallel: $NP GETs, 32 at once, against wrk -c32 -t2 -d5s"
time_it rbk-par "$RBK run $RB/par.rbk main --arg n=$NP"
time_it floor-par "$FLOOR par $NP 32"
wrk -c32 -t2 -d5s "$BASE/items/1" >"$OUT/results/wrk.txt"

log "loops: cost per item at $LOOPS items, sequential and parallel 32"
for n in $LOOPS; do
  runs=$RUNS
  ((n >= 100000)) && runs=3
  hyperfine -N --warmup 0 --runs "$runs" --export-json "$OUT/results/loop-seq-$n.json" \
    "$RBK run $RB/w1.rbk main --arg n=$n" >/dev/null 2>&1
  hyperfine -N --warmup 0 --runs "$runs" --export-json "$OUT/results/loop-par-$n.json" \
    "$RBK run $RB/par.rbk main --arg n=$n" >/dev/null 2>&1
  rss "loop-seq-$n" "$RBK" run "$RB/w1.rbk" main --arg "n=$n"
  rss "loop-par-$n" "$RBK" run "$RB/par.rbk" main --arg "n=$n"
done

# ------------------------------------------------------------------ table
python3 - "$OUT/results" "$N1" "$N2" "$N3" "$NP" "$LOOPS" <<'PY' | tee "$OUT/results/table.md"
import json, sys, statistics
d = sys.argv[1]
N1, N2, N3, NP = map(int, sys.argv[2:6])
LOOPS = [int(x) for x in sys.argv[6].split()]
def res(name, i=0):
    return json.load(open(f"{d}/{name}.json"))["results"][i]
def wall(name): return res(name)["median"]
def cpu(name): r = res(name); return r["user"] + r["system"]
def rss(name): return float(open(f"{d}/{name}.rss").read())
def ok(b): return "yes" if b else "**no**"
su = json.load(open(f"{d}/startup.json"))["results"]
start = {"rbk": su[0]["median"], "floor": su[1]["median"], "hurl": su[2]["median"]}
N = {"w1": N1, "w2": 2 * N2, "w3": N3}
names = {"w1": f"W1: {N1} GETs, capture `$.name`",
         "w2": f"W2: {N2} × (GET, capture, POST JSON, capture)",
         "w3": f"W3: {N3} GETs of 50 KB, nested capture"}
limit = {"w1": ("≤ 1.15", lambda x: x <= 1.15), "w2": ("≤ 1.15", lambda x: x <= 1.15), "w3": ("≤ 0.7", lambda x: x <= 0.7)}
print()
print("Marginal cost per request: (median wall of the workload − median wall of start-up with one request) / requests.")
print("Whole process: median wall of the workload, start-up included.")
print()
print("| workload | requests | rbk µs/req | floor µs/req | Hurl µs/req | rbk / floor (target) | whole process: Hurl / rbk (≥ 2.5) | CPU µs/req rbk / floor / Hurl |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for w in ("w1", "w2", "w3"):
    m = {x: (wall(f"{x}-{w}") - start[x]) / N[w] * 1e6 for x in ("rbk", "floor", "hurl")}
    c = {x: cpu(f"{x}-{w}") / N[w] * 1e6 for x in ("rbk", "floor", "hurl")}
    ratio = m["rbk"] / m["floor"]
    whole = wall(f"hurl-{w}") / wall(f"rbk-{w}")
    t, f = limit[w]
    print(f"| {names[w]} | {N[w]} | {m['rbk']:.1f} | {m['floor']:.1f} | {m['hurl']:.1f} | {ratio:.2f} ({t}) {ok(f(ratio))} | {whole:.2f} {ok(whole >= 2.5)} | {c['rbk']:.1f} / {c['floor']:.1f} / {c['hurl']:.1f} |")
print()
ms = {k: v * 1000 for k, v in start.items()}
print("| measure | rbk | floor | Hurl | target | met |")
print("| --- | ---: | ---: | ---: | ---: | --- |")
print(f"| start-up + one request (hyperfine median, 200 runs) | {ms['rbk']:.2f} ms | {ms['floor']:.2f} ms | {ms['hurl']:.2f} ms | ≤ 3 ms | {ok(ms['rbk'] <= 3)} |")
for label, key in (("one request", "one"), ("W1", "w1"), ("W2", "w2"), ("W3", "w3"), (f"parallel 32 × {NP}", "par")):
    r = rss(f"rbk-{key}")
    f = rss(f"floor-{key}")
    h = f"{rss('hurl-' + key)} MB" if key not in ("par",) else ""
    print(f"| peak RSS, {label} | {r} MB | {f} MB | {h} | ≤ 15 MB | {ok(r <= 15)} |")
wrk = next(float(l.split()[1]) for l in open(f"{d}/wrk.txt") if l.startswith("Requests/sec:"))
rp, fp = NP / wall("rbk-par"), NP / wall("floor-par")
print(f"| parallel 32, {NP} GETs, req/s (process start included) | {rp:.0f} | {fp:.0f} | wrk -c32 -t2: {wrk:.0f} | ≥ 90 % of the floor | {100*rp/fp:.0f} % {ok(rp >= 0.9 * fp)} |")
print()
print("Loops: wall per item (median; start-up subtracted), and peak RSS")
print()
print("| items | sequential µs/item | parallel 32 µs/item | sequential RSS | parallel RSS |")
print("| ---: | ---: | ---: | ---: | ---: |")
per = {}
for n in LOOPS:
    s_ = (wall(f"loop-seq-{n}") - start["rbk"]) / n * 1e6
    p_ = (wall(f"loop-par-{n}") - start["rbk"]) / n * 1e6
    per[n] = (s_, p_)
    print(f"| {n} | {s_:.1f} | {p_:.1f} | {rss(f'loop-seq-{n}')} MB | {rss(f'loop-par-{n}')} MB |")
lo, hi = min(LOOPS), max(LOOPS)
rs, rp_ = per[hi][0] / per[lo][0], per[hi][1] / per[lo][1]
print()
print(f"Cost per item at {hi} / at {lo}: sequential {rs:.2f} {ok(rs <= 1.1)}, parallel 32 {rp_:.2f} {ok(rp_ <= 1.1)} (target ≤ 1.1)")
PY
echo
log "raw results in $OUT/results"
