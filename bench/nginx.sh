# bench/nginx.sh: sourced by bench/run.sh and bench/layout.sh.
# nginx on 127.0.0.1:$PORT serving gen_data.py's documents, under $1.
#
#   start_bench_nginx DIR PORT   # sets NGINX_PID; fails if the port is taken
#   stop_bench_nginx             # idempotent; meant for `trap ... EXIT`

NGINX_PID=""
stop_bench_nginx() {
  if [[ -n "$NGINX_PID" ]]; then
    kill -QUIT "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
  fi
}

start_bench_nginx() {
  local ngx="$1" port="$2" here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  mkdir -p "$ngx/www" "$ngx/tmp"
  chmod 755 "$ngx" "$ngx/www"
  python3 "$here/gen_data.py" "$ngx/www"
  chmod 644 "$ngx/www"/*.json
  sed -e "s|@PREFIX@|$ngx|g" -e "s|@PORT@|$port|g" -e "s|@WORKERS@|${NGINX_WORKERS:-1}|g" \
    "$here/nginx.conf.in" >"$ngx/nginx.conf"
  if [[ -f "$ngx/nginx.pid" ]] && kill -0 "$(cat "$ngx/nginx.pid")" 2>/dev/null; then
    echo "error: an nginx from an earlier run is still running (pid $(cat "$ngx/nginx.pid")); stop it first" >&2
    return 1
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "error: something already listens on 127.0.0.1:$port (set PORT=...)" >&2
    return 1
  fi
  nginx -p "$ngx" -e "$ngx/error.log" -c "$ngx/nginx.conf" -t -q
  nginx -p "$ngx" -e "$ngx/error.log" -c "$ngx/nginx.conf" &
  NGINX_PID=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  curl -fsS "http://127.0.0.1:$port/items/1" >/dev/null
  curl -fsS -X POST -d '{}' "http://127.0.0.1:$port/orders" >/dev/null
}
