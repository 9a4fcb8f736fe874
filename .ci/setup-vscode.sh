# Sourced by .ci/run (bash): installs the VS Code extension's npm packages
# (TypeScript, vscode-languageclient, @vscode/vsce, vscode-tmgrammar-test)
# into editors/vscode/node_modules from its package-lock.json, with npm's
# download cache under .ci/tools. tests/vscode.rs then compiles the
# extension, runs the grammar tests and packages the .vsix. Idempotent.

if [ ! -x editors/vscode/node_modules/.bin/vsce ] || [ editors/vscode/package-lock.json -nt editors/vscode/node_modules/.package-lock.json ]; then
  mkdir -p .ci/tools/npm-cache
  (cd editors/vscode && npm ci --silent --no-audit --no-fund --cache "$PWD/../../.ci/tools/npm-cache" >/dev/null)
fi
export RBK_VSCODE_TOOLS="$PWD/editors/vscode/node_modules/.bin"
echo "VS Code extension tools: $("$RBK_VSCODE_TOOLS/vsce" --version)"
