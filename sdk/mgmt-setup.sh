#!/usr/bin/env bash
# Install the OFFICIAL Alibaba Cloud CloudAPI 2016-07-14 management SDKs used by sdk/mgmt_call.py:
#   Tea SDK:    alibabacloud-cloudapi20160714==4.9.0 (+ alibabacloud-tea-openapi 0.4.6,
#               alibabacloud-tea 0.4.3, darabonba-core 1.0.9 — the versions the specs were checked with)
#   legacy SDK: aliyun-python-sdk-cloudapi==4.9.2 + aliyun-python-sdk-core==2.16.1
# into the venv ${APIGW_SDK_DIR:-<repo>/target/sdk}/mgmt.
# Idempotent: writes $DIR/mgmt/.installed-<tag> when done; a second run exits at once.
# Needs python3 (>= 3.8, with venv) and PyPI. Proxy variables are dropped (PyPI is reached directly).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
DIR="${APIGW_SDK_DIR:-$REPO/target/sdk}"
VENV="$DIR/mgmt"
PKGS=(
  "alibabacloud-cloudapi20160714==4.9.0"
  "alibabacloud-tea-openapi==0.4.6"
  "alibabacloud-tea==0.4.3"
  "darabonba-core==1.0.9"
  "aliyun-python-sdk-cloudapi==4.9.2"
  "aliyun-python-sdk-core==2.16.1"
)
TAG="tea4.9.0-openapi0.4.6-legacy4.9.2-core2.16.1"
MARKER="$VENV/.installed-$TAG"
CHECK='import alibabacloud_cloudapi20160714.client, alibabacloud_tea_openapi.models, aliyunsdkcore.client, aliyunsdkcloudapi.request.v20160714.CreateApiGroupRequest'

if [[ -f "$MARKER" && -x "$VENV/bin/python" ]]; then
  echo "mgmt-sdk: already installed in $VENV"
  exit 0
fi

unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy || true

command -v python3 >/dev/null || { echo "mgmt-sdk: python3 not found" >&2; exit 1; }
mkdir -p "$DIR"

if [[ ! -x "$VENV/bin/python" ]]; then
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian without python3-venv: venv without pip, then bootstrap pip via the system pip.
    rm -rf "$VENV"
    python3 -m venv --without-pip "$VENV"
    if python3 -m pip --version >/dev/null 2>&1; then
      python3 -m pip --python "$VENV/bin/python" install --disable-pip-version-check -q pip \
        || { echo "mgmt-sdk: cannot bootstrap pip in venv (install python3-venv)" >&2; exit 1; }
    else
      echo "mgmt-sdk: python3 -m venv failed and no pip available (apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
fi

# alibabacloud-tea and aliyun-python-sdk-cloudapi are sdists only: pip builds them (needs setuptools,
# which the venv's pip fetches into an isolated build env).
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q "${PKGS[@]}"
"$VENV/bin/python" -c "$CHECK" \
  || { echo "mgmt-sdk: import check failed" >&2; exit 1; }

rm -f "$VENV"/.installed-*
{
  "$VENV/bin/python" -m pip freeze --disable-pip-version-check
  date -u +%Y-%m-%dT%H:%M:%SZ
} > "$MARKER"
echo "mgmt-sdk: installed in $VENV ($TAG)"
