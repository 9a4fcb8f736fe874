# Sourced by .ci/run (bash): installs oidc-provider and oauth2-mock-server
# (npm) into .ci/tools/oauth2, starts .ci/oauth2/servers.mjs in the
# background and exports where the servers listen. Idempotent.
_oauth2_tools="$PWD/.ci/tools/oauth2"
mkdir -p "$_oauth2_tools"
if [ ! -f "$_oauth2_tools/node_modules/oidc-provider/package.json" ] \
  || [ ! -f "$_oauth2_tools/node_modules/oauth2-mock-server/package.json" ]; then
  (cd "$_oauth2_tools" && npm install --silent --no-audit --no-fund oidc-provider@8 oauth2-mock-server@7 >/dev/null)
fi
# The script must sit beside node_modules for its imports to resolve.
cp .ci/oauth2/servers.mjs "$_oauth2_tools/servers.mjs"
_oauth2_port="${RBK_OAUTH2_PORT:-18800}"
PORT="$_oauth2_port" node "$_oauth2_tools/servers.mjs" > /tmp/rbk-ci-oauth2.log 2>&1 &
_oauth2_pid=$!
CLEANUP+=("kill $_oauth2_pid 2>/dev/null || true")
_oauth2_ready=""
for _ in $(seq 1 100); do
  if grep -q '"ready":true' /tmp/rbk-ci-oauth2.log 2>/dev/null; then _oauth2_ready=1; break; fi
  if ! kill -0 "$_oauth2_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$_oauth2_ready" ]; then
  echo "the OAuth2 test servers did not start:" >&2
  cat /tmp/rbk-ci-oauth2.log >&2
  return 1 2>/dev/null || exit 1
fi
export RBK_OIDC_URL="http://127.0.0.1:$_oauth2_port"
export RBK_MOCK_OAUTH_URL="http://127.0.0.1:$((_oauth2_port + 1))"
RBK_OIDC_CLIENT_KEY="$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' /tmp/rbk-ci-oauth2.log | head -n1)"
export RBK_OIDC_CLIENT_KEY
echo "oidc-provider at $RBK_OIDC_URL, oauth2-mock-server at $RBK_MOCK_OAUTH_URL"
