# Sourced by .ci/run (bash): makes sure the real curl is installed, for
# tests/import_curl.rs (each imported method is compared with what curl
# itself sends). Idempotent.

if ! command -v curl >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
fi
curl --version | head -1
