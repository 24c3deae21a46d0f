#!/usr/bin/env bash
# Install gRPC's official Python implementation (PyPI grpcio) used by sdk/grpc_echo.py, a real
# gRPC server and client for apigw/tests/grpc.rs, into ${APIGW_SDK_DIR:-<repo>/target/sdk}/grpc.
# Idempotent: writes $VENV/.installed-<version> when done; a second run exits at once.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
DIR="${APIGW_SDK_DIR:-$REPO/target/sdk}"
VENV="$DIR/grpc"
VERSION="1.76.0"
MARKER="$VENV/.installed-grpcio-$VERSION"

if [[ -f "$MARKER" && -x "$VENV/bin/python" ]]; then
  echo "grpc: already installed in $VENV"
  exit 0
fi

unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy || true
command -v python3 >/dev/null || { echo "grpc: python3 not found" >&2; exit 1; }
mkdir -p "$DIR"
if [[ ! -x "$VENV/bin/python" ]]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV" || { echo "grpc: python3 -m venv failed (apt-get install python3-venv)" >&2; exit 1; }
fi
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q "grpcio==$VERSION"
"$VENV/bin/python" -c 'import grpc' || { echo "grpc: import check failed" >&2; exit 1; }
rm -f "$VENV"/.installed-*
date -u +%Y-%m-%dT%H:%M:%SZ > "$MARKER"
echo "grpc: installed in $VENV (grpcio $VERSION)"
