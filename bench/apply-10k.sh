#!/usr/bin/env bash
# Times `apigw apply` of a large declarative file: GROUP_COUNT x APIS_PER_GROUP anonymous APIs
# (default 100 x 100 = 10,000), each deployed to RELEASE, applied to an empty data directory,
# then applied again unchanged (which must report "nothing to change").
#
#   cargo build --release && bench/apply-10k.sh
#
# Settings: GROUP_COUNT (100), APIS_PER_GROUP (100), APIGW_BIN (target/release/apigw),
# KEEP_TMP (0; 1 keeps the temp dir with the file and the data directory).
set -euo pipefail
cd "$(dirname "$0")/.."

GROUP_COUNT="${GROUP_COUNT:-100}"
APIS_PER_GROUP="${APIS_PER_GROUP:-100}"
APIGW_BIN="${APIGW_BIN:-target/release/apigw}"
[ -x "$APIGW_BIN" ] || { echo "no $APIGW_BIN; run cargo build --release first" >&2; exit 1; }

tmp="$(mktemp -d /tmp/apigw-apply-bench.XXXXXX)"
[ "${KEEP_TMP:-0}" = 1 ] || trap 'rm -rf "$tmp"' EXIT
file="$tmp/big.yaml"

GROUP_COUNT="$GROUP_COUNT" APIS_PER_GROUP="$APIS_PER_GROUP" bench/gen-apis.sh > "$file"

export APIGW_DATA_DIR="$tmp/data"
# More groups than the default limit need a higher one.
export APIGW_MAX_GROUPS="$(( GROUP_COUNT > 100 ? GROUP_COUNT : 100 ))"
echo "file: $((GROUP_COUNT * APIS_PER_GROUP)) APIs in $GROUP_COUNT groups, $(wc -c < "$file") bytes"

run() {
  local label="$1" start end
  start=$(date +%s.%N)
  "$APIGW_BIN" apply -f "$file" > "$tmp/$label.out"
  end=$(date +%s.%N)
  printf '%-14s %6.2f s  (%s report lines; last: %s)\n' "$label" \
    "$(echo "$end - $start" | bc)" "$(wc -l < "$tmp/$label.out")" "$(tail -1 "$tmp/$label.out")"
}

run first-apply
run re-apply
grep -qx "nothing to change" "$tmp/re-apply.out" || { echo "re-apply changed something" >&2; exit 1; }
