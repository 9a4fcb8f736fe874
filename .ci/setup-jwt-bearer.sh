# Sourced by .ci/run (bash): installs Authlib and Flask (PyPI), makes an RSA
# key and a certificate for it with openssl, starts .ci/jwt_bearer/server.py
# (an Authlib authorization server for the JWT bearer grant, RFC 7523) in
# the background and exports where it listens (RBK_JWT_BEARER_URL) and the
# private key and certificate paths (RBK_JWT_BEARER_KEY, RBK_JWT_BEARER_CERT)
# for tests/auth_jwt_bearer.rs. Idempotent.

if ! python3 -c "
import importlib.metadata as m, flask, joserfc
v = tuple(int(x) for x in m.version('authlib').split('.')[:2])
assert v >= (1, 9), v
" >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check "authlib>=1.9,<2" "flask>=3,<4" 2>&1 \
    | grep -v "WARNING: Running pip as" || true
fi
if ! command -v openssl >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi

# The key is made fresh for each run, owner-only, in a private directory.
_jwtb_dir="$(mktemp -d "${TMPDIR:-/tmp}/rbk-jwt-bearer.XXXXXX")"
CLEANUP+=("rm -rf '$_jwtb_dir'")
if ! (umask 077 \
  && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$_jwtb_dir/key.pem" \
  && openssl req -x509 -new -key "$_jwtb_dir/key.pem" -subj "/CN=rbk-jwt-ps" -days 2 \
    -out "$_jwtb_dir/cert.pem") >"$_jwtb_dir/openssl.log" 2>&1; then
  echo "openssl could not make the JWT bearer test key:" >&2
  cat "$_jwtb_dir/openssl.log" >&2
  return 1 2>/dev/null || exit 1
fi
chmod 600 "$_jwtb_dir/key.pem"

_jwtb_port="${RBK_JWT_BEARER_PORT:-18810}"
_jwtb_log=/tmp/rbk-ci-jwt-bearer.log
PORT="$_jwtb_port" JWT_BEARER_KEY="$_jwtb_dir/key.pem" JWT_BEARER_CERT="$_jwtb_dir/cert.pem" \
  python3 .ci/jwt_bearer/server.py >"$_jwtb_log" 2>&1 &
_jwtb_pid=$!
CLEANUP+=("kill $_jwtb_pid 2>/dev/null || true")
_jwtb_ready=""
for _ in $(seq 1 100); do
  if grep -q '"ready":true' "$_jwtb_log" 2>/dev/null; then _jwtb_ready=1; break; fi
  if ! kill -0 "$_jwtb_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$_jwtb_ready" ]; then
  echo "the JWT bearer (Authlib) test server did not start:" >&2
  cat "$_jwtb_log" >&2
  return 1 2>/dev/null || exit 1
fi
export RBK_JWT_BEARER_URL="http://127.0.0.1:$_jwtb_port"
export RBK_JWT_BEARER_KEY="$_jwtb_dir/key.pem"
export RBK_JWT_BEARER_CERT="$_jwtb_dir/cert.pem"
echo "Authlib JWT bearer server at $RBK_JWT_BEARER_URL"
unset _jwtb_port _jwtb_log _jwtb_ready
