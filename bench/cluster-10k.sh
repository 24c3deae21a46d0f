#!/usr/bin/env bash
# A cluster store with 10,000 APIs: apply time, each of three nodes' start-up time (spawn to
# serving, the whole configuration loaded), the time to live on the other nodes over
# CLUSTER_DEPLOYS deploys, and each node's RSS before and after. The nodes share a PostgreSQL
# database of their own (dropped at the end).
#
#   bench/cluster-10k.sh                    # release build (shares target/release)
#   PROFILE=dev bench/cluster-10k.sh        # debug build, quicker to build, slower to run
#
# Settings: DEPLOYS (100), PROFILE (release), APIGW_TEST_POSTGRES_URL (the server the test
# database is created on; default postgres://postgres@127.0.0.1:5432/postgres).
# It is the ignored test `cluster_with_10000_apis` of apigw/tests/cluster.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

DEPLOYS="${DEPLOYS:-100}"
PROFILE="${PROFILE:-release}"
server="${APIGW_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -d "$server" -q; then
  echo "PostgreSQL does not answer at $server (set APIGW_TEST_POSTGRES_URL)" >&2
  exit 1
fi
CLUSTER_DEPLOYS="$DEPLOYS" cargo test --profile "$PROFILE" -p apigw --test cluster -- \
  --ignored --nocapture --exact cluster_with_10000_apis 2>&1 \
  | grep -E '^(apply|node|[0-9]+ deploys|stale|test result|thread|error)' -A2
