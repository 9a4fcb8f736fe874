# Sourced by .ci/run (bash): installs Debian's chromium-driver (WebDriver for
# the chromium .ci/run installs; both from the same Debian release, so their
# versions match) for tests/serve_page.rs, which starts chromedriver itself
# and keeps a screenshot in target/artifacts/serve-page.png. Idempotent.

if ! command -v chromedriver >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
export RBK_CHROMEDRIVER="$(command -v chromedriver)"
export RBK_CHROMIUM="$(command -v chromium)"
echo "chromedriver: $("$RBK_CHROMEDRIVER" --version 2>/dev/null | head -1)"
mkdir -p target/artifacts
