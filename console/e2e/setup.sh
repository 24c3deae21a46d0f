#!/usr/bin/env bash
# Installs what the console's browser tests need: playwright-core from npm (locked in
# package-lock.json; no browser download) and Debian's chromium. Idempotent.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy || true
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [[ ! -x "${APIGW_CHROMIUM:-/usr/bin/chromium}" ]]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "console e2e: installing chromium"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "console e2e: no chromium at ${APIGW_CHROMIUM:-/usr/bin/chromium}" >&2
    exit 1
  fi
fi
if [[ ! -f "$HERE/node_modules/playwright-core/package.json" ]]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "console e2e: ready"
