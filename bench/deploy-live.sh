#!/usr/bin/env bash
# Deploy-to-live time with N APIs already deployed: applies GROUP_COUNT x APIS_PER_GROUP
# anonymous APIs (as bench/apply-10k.sh does), starts `apigw serve` on that data directory, then
# runs bench/deploy_live.py: DEPLOYS DeployApi calls through the official Tea SDK, each followed
# by a call of the API, which must already answer the new version.
#
#   cargo build --release && bash sdk/mgmt-setup.sh && bench/deploy-live.sh
#   APIS_PER_GROUP=1 bench/deploy-live.sh        # 100 APIs
#
# Settings: GROUP_COUNT (100), APIS_PER_GROUP (100), DEPLOYS (100),
# APIGW_BIN (target/release/apigw), APPLY_BIN (the binary that applies the file; default
# APIGW_BIN — set it to a newer build to measure an older APIGW_BIN without its slow apply),
# APIGW_SDK_DIR (target/sdk).
set -euo pipefail
cd "$(dirname "$0")/.."

GROUP_COUNT="${GROUP_COUNT:-100}"
APIS_PER_GROUP="${APIS_PER_GROUP:-100}"
DEPLOYS="${DEPLOYS:-100}"
APIGW_BIN="${APIGW_BIN:-target/release/apigw}"
APPLY_BIN="${APPLY_BIN:-$APIGW_BIN}"
PY="${APIGW_SDK_DIR:-target/sdk}/mgmt/bin/python"
[ -x "$APIGW_BIN" ] || { echo "no $APIGW_BIN; run cargo build --release first" >&2; exit 1; }
[ -x "$PY" ] || { echo "no $PY; run sdk/mgmt-setup.sh first" >&2; exit 1; }

tmp="$(mktemp -d /tmp/apigw-deploy-bench.XXXXXX)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

GROUP_COUNT="$GROUP_COUNT" APIS_PER_GROUP="$APIS_PER_GROUP" bench/gen-apis.sh > "$tmp/apis.yaml"

export APIGW_DATA_DIR="$tmp/data" APIGW_MAX_GROUPS="$(( GROUP_COUNT > 100 ? GROUP_COUNT : 100 ))"
"$APPLY_BIN" apply -f "$tmp/apis.yaml" > /dev/null
export APIGW_ROOT_ACCESS_KEY_ID=benchid APIGW_ROOT_ACCESS_KEY_SECRET=bench-secret-0001
APIGW_LISTEN=127.0.0.1:18180 APIGW_TLS_LISTEN=off APIGW_ADMIN_LISTEN=127.0.0.1:18190 \
  APIGW_ACCESS_LOG=off APIGW_LOG=warn "$APIGW_BIN" serve > "$tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -fs http://127.0.0.1:18190/healthz > /dev/null 2>&1 && break
  sleep 0.1
done
group=$("$APIGW_BIN" admin --endpoint 127.0.0.1:18190 DescribeApiGroups --GroupName group_0 \
  | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["ApiGroupAttributes"]["ApiGroupAttribute"][0]["GroupId"])')
echo "$((GROUP_COUNT * APIS_PER_GROUP)) APIs deployed; RSS $(ps -o rss= -p "$pid") KiB"
"$PY" bench/deploy_live.py 127.0.0.1:18190 127.0.0.1:18180 g0.bench.example.com "$group" \
  "$APIGW_ROOT_ACCESS_KEY_ID" "$APIGW_ROOT_ACCESS_KEY_SECRET" "$DEPLOYS"
echo "after $DEPLOYS deploys: RSS $(ps -o rss= -p "$pid") KiB"
