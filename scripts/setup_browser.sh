#!/usr/bin/env bash
# What the browser tests (tests/test_browser.py) need: Debian's chromium and the npm package
# playwright-core pinned in package-lock.json. No browser is downloaded by npm or playwright.
# Safe to rerun: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=""
[ -x /usr/bin/chromium ] || missing="chromium"
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q $missing
fi
if [ ! -f node_modules/playwright-core/package.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
# (Debian's chromium launcher prints a harmless shell warning about /dev/shm on some machines)
echo "browser tools ready: $(/usr/bin/chromium --version 2>/dev/null)," \
  "playwright-core $(node -p "require('playwright-core/package.json').version")"
