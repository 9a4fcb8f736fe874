# Sourced by .ci/run (bash): pygls (PyPI), a second LSP client for
# tests/pygls.rs, whose lsprotocol types check the server's messages
# against the protocol's schema. Idempotent.

if ! python3 -c "import pygls.lsp.client" >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check "pygls>=1.3,<2" 2>&1 \
    | grep -v "WARNING: Running pip as" || true
fi
