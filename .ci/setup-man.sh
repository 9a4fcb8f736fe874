# Sourced by .ci/run (bash): man(1) and groff, for tests/completions.rs,
# which renders the pages `rbk man --dir` writes. Idempotent.

if ! command -v man >/dev/null 2>&1 || ! command -v groff >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq man-db groff-base >/dev/null
fi
