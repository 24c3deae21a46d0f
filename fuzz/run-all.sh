#!/usr/bin/env bash
# Runs each target for $1 seconds (default 600), one at a time, new inputs in work/<target>.
set -u
cd "$(dirname "$0")"
secs=${1:-600}
shift || true
targets=${*:-app_signature mgmt_signature route_match params plugin_docs condition_expr declarative_file}
mkdir -p logs
for t in $targets; do
  mkdir -p "work/$t"
  echo "== $t $(date -u +%FT%TZ)"
  cargo +nightly fuzz run "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    > "logs/$t.log" 2>&1
  echo "   rc=$? $(grep -E '^(#[0-9]+\s+DONE|stat::number_of_executed_units|stat::average_exec_per_sec)' "logs/$t.log" | tr '\n' ' ')"
done
