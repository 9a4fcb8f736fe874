# Sourced by .ci/run (bash): PostgreSQL's server binaries from Debian for
# tests/serve_pg.rs, which makes a fresh cluster per test (initdb in a
# temporary directory, a free loopback port) so that it can stop and start
# the database in the middle of runs. As root the tests run the server as
# the `postgres` user that the package creates. Idempotent.

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}
if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # The package's own cluster is not used: the tests start their own.
  (service postgresql stop >/dev/null 2>&1 || true)
fi
export RBK_PG_BIN="$(pg_bin)"
echo "postgres: $("$RBK_PG_BIN/postgres" --version)"
