#!/usr/bin/env bash
# Make sure headless Chromium and its WebDriver are present for the browser tests
# (tests/server/test_browser.py, marked `server`).
#
# Uses Debian's packages (`chromium`, `chromium-driver`), which put the binaries at
# /usr/bin/chromium and /usr/bin/chromedriver, the paths the tests look for. Installs
# them with apt-get only when one is missing and we are root; otherwise says what to do.
# Run: .ci/browser.sh   (idempotent; does nothing when both binaries exist)
set -euo pipefail

CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver

if [[ -x "$CHROMIUM" && -x "$DRIVER" ]]; then
  echo "browser: $("$CHROMIUM" --version 2>/dev/null || echo chromium) and $("$DRIVER" --version 2>/dev/null | head -n1) are present"
  exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
  echo "error: $CHROMIUM or $DRIVER is missing and this script is not running as root;" \
    "install them with: sudo apt-get install -y chromium chromium-driver" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: $CHROMIUM or $DRIVER is missing and apt-get is not available;" \
    "install Chromium and a matching chromedriver at those paths by hand." >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium chromium-driver

if [[ ! -x "$CHROMIUM" || ! -x "$DRIVER" ]]; then
  echo "error: apt-get finished but $CHROMIUM or $DRIVER is still missing." >&2
  exit 1
fi
echo "browser: installed $("$CHROMIUM" --version) and $("$DRIVER" --version | head -n1)"
