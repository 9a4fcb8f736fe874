# Sourced by .ci/run (bash): installs Debian's Neovim (0.7 on bookworm) when
# it is missing, for tests/nvim.rs, which drives `rbk lsp` from a headless
# Neovim through tests/nvim/lsp_check.lua. Idempotent.

if ! command -v nvim >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq neovim >/dev/null
fi
export RBK_NVIM="$(command -v nvim)"
echo "Neovim: $("$RBK_NVIM" --version | head -1)"
