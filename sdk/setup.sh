#!/usr/bin/env bash
# Install the OFFICIAL Alibaba Cloud API Gateway client SDKs used by the sdk/ test drivers.
#   Python: PyPI aliyun-api-gateway-sign==1.0.4   -> $DIR/py   (venv)
#   Node:   npm  aliyun-api-gateway@1.1.6         -> $DIR/node (npm project)
# Idempotent: writes $DIR/.installed-<version-tag> when done; a second run exits at once.
# Needs only python3 (with venv/ensurepip) and node/npm from the machine, plus PyPI/npm registry.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
DIR="${APIGW_SDK_DIR:-$REPO/target/sdk}"
PY_PKG="aliyun-api-gateway-sign==1.0.4"
NODE_PKG="aliyun-api-gateway@1.1.6"
MARKER="$DIR/.installed-py1.0.4-node1.1.6"

if [[ -f "$MARKER" && -x "$DIR/py/bin/python" && -f "$DIR/node/node_modules/aliyun-api-gateway/package.json" ]]; then
  echo "sdk: already installed in $DIR"
  exit 0
fi

# Registries must be reached directly; drop any proxy settings for the child programs.
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy || true

command -v python3 >/dev/null || { echo "sdk: python3 not found" >&2; exit 1; }
command -v node >/dev/null || { echo "sdk: node not found" >&2; exit 1; }
command -v npm >/dev/null || { echo "sdk: npm not found" >&2; exit 1; }

mkdir -p "$DIR"

# --- Python venv ----------------------------------------------------------
if [[ ! -x "$DIR/py/bin/python" ]]; then
  rm -rf "$DIR/py"
  if ! python3 -m venv "$DIR/py" 2>/dev/null; then
    # Debian without python3-venv: build the venv without pip, then bootstrap pip via the
    # system pip if there is one.
    rm -rf "$DIR/py"
    python3 -m venv --without-pip "$DIR/py"
    if python3 -m pip --version >/dev/null 2>&1; then
      python3 -m pip --python "$DIR/py/bin/python" install --disable-pip-version-check -q pip \
        || { echo "sdk: cannot bootstrap pip in venv (install python3-venv)" >&2; exit 1; }
    else
      echo "sdk: python3 -m venv failed and no pip available (apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
fi
"$DIR/py/bin/python" -m pip install --disable-pip-version-check --no-input -q "$PY_PKG"
"$DIR/py/bin/python" -c 'from com.aliyun.api.gateway.sdk import client' \
  || { echo "sdk: python package import check failed" >&2; exit 1; }

# --- Node project ---------------------------------------------------------
mkdir -p "$DIR/node"
if [[ ! -f "$DIR/node/package.json" ]]; then
  printf '{\n  "name": "apigw-sdk-drivers",\n  "private": true,\n  "version": "0.0.0"\n}\n' \
    > "$DIR/node/package.json"
fi
(cd "$DIR/node" && npm install --no-audit --no-fund --loglevel=error --save-exact "$NODE_PKG")
(cd "$DIR/node" && node -e 'require("aliyun-api-gateway").Client' ) \
  || { echo "sdk: node package require check failed" >&2; exit 1; }

{
  echo "python: $("$DIR/py/bin/python" -m pip show aliyun-api-gateway-sign 2>/dev/null | awk '/^Version:/{print $2}')"
  echo "node: $(cd "$DIR/node" && node -p 'require("aliyun-api-gateway/package.json").version')"
  date -u +%Y-%m-%dT%H:%M:%SZ
} > "$MARKER"
echo "sdk: installed in $DIR"
