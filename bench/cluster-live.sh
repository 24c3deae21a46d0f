#!/usr/bin/env bash
# Time to live on the other nodes of a three-node cluster. Three `apigw serve` processes share
# one PostgreSQL database (a database of their own, dropped at the end). DEPLOYS times: ModifyApi
# (not timed), then DeployApi through the next node in turn (management API); the node that
# took the call is called at once and must already answer the new version (never stale); the
# two others are polled every millisecond until they do. Prints p50/p90/max of the time from
# the DeployApi call to live on each other node, and from its return. The nodes' own polling
# is off (one minute): only the push (LISTEN/NOTIFY) makes a change live.
#
#   bench/cluster-live.sh                  # optimised build (the bench profile: release, thin LTO)
#   PROFILE=dev bench/cluster-live.sh      # debug build, quicker to build, slower to reload
#
# Settings: DEPLOYS (100), PROFILE (bench), APIGW_TEST_POSTGRES_URL (the server the test database
# is created on; default postgres://postgres@127.0.0.1:5432/postgres).
# It is the ignored test `cluster_time_to_live_over_100_deploys` of apigw/tests/cluster.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

DEPLOYS="${DEPLOYS:-100}"
PROFILE="${PROFILE:-bench}"
server="${APIGW_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -d "$server" -q; then
  echo "PostgreSQL does not answer at $server (set APIGW_TEST_POSTGRES_URL)" >&2
  exit 1
fi
CLUSTER_DEPLOYS="$DEPLOYS" CARGO_INCREMENTAL=0 cargo test --profile "$PROFILE" -p apigw \
  --test cluster -- --ignored --nocapture --exact cluster_time_to_live_over_100_deploys 2>&1 \
  | grep -E '^(from|[0-9]+ deploys|stale|test result|thread|error)'
