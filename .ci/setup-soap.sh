# Sourced by .ci/run (bash): installs Spyne (PyPI), starts .ci/soap/server.py
# (a SOAP 1.1 and 1.2 ticket service) in the background and exports where it
# listens (RBK_SOAP_URL) for tests/soap_spyne.rs. Idempotent.

if ! python3 -c "import spyne, lxml" >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check "spyne>=2.14,<3" lxml 2>&1 \
    | grep -v "WARNING: Running pip as" || true
fi

_soap_port="${RBK_SOAP_PORT:-18830}"
_soap_log=/tmp/rbk-ci-soap.log
PORT="$_soap_port" python3 .ci/soap/server.py >"$_soap_log" 2>&1 &
_soap_pid=$!
CLEANUP+=("kill $_soap_pid 2>/dev/null || true")
_soap_ready=""
for _ in $(seq 1 100); do
  if grep -q '"ready":true' "$_soap_log" 2>/dev/null; then _soap_ready=1; break; fi
  if ! kill -0 "$_soap_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$_soap_ready" ]; then
  echo "the SOAP (Spyne) test server did not start:" >&2
  cat "$_soap_log" >&2
  return 1 2>/dev/null || exit 1
fi
export RBK_SOAP_URL="http://127.0.0.1:$_soap_port"
echo "Spyne SOAP server at $RBK_SOAP_URL"
unset _soap_port _soap_log _soap_ready
