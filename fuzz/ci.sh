#!/usr/bin/env bash
# A brief run of every fuzz target (docs/fuzzing.md), for CI: each target replays its committed
# corpus and then mutates it for FUZZ_SECONDS (default 15). A crash, a panic (a broken
# invariant), a hang past 10 s or a leak fails the step; the input is left in
# fuzz/artifacts/<target>/ and its bytes are printed.
#
# Needs the nightly toolchain and cargo-fuzz (`.ci/run` installs them when missing).
set -euo pipefail
cd "$(dirname "$0")"

secs=${FUZZ_SECONDS:-15}
# An unoptimised build without AddressSanitizer: a fraction of the build time of the
# optimised ASan build the 10-minute runs use (and kept apart from it, in target/*/debug);
# panics, broken invariants, hangs and overflows are caught all the same.
flags=(--dev --sanitizer none)
targets=$(cargo +nightly fuzz list)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One build of all targets (the same flags `cargo fuzz run` uses, so it does not rebuild).
start=$(date +%s)
CARGO_INCREMENTAL=0 cargo +nightly fuzz build "${flags[@]}"
echo "fuzz targets built in $(($(date +%s) - start)) s"

for t in $targets; do
  mkdir -p "$work/$t"
  start=$(date +%s)
  # New inputs go to the scratch directory: the committed corpus is only read.
  if ! CARGO_INCREMENTAL=0 cargo +nightly fuzz run "${flags[@]}" "$t" "$work/$t" "corpus/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$work/$t.log" 2>&1; then
    grep -m1 -A4 "panicked at" "$work/$t.log" || true
    tail -n 25 "$work/$t.log"
    echo "fuzz target $t failed (input in fuzz/artifacts/$t/)"
    exit 1
  fi
  runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$work/$t.log")
  echo "$t: ${runs:-?} runs in $(($(date +%s) - start)) s, no crash"
done
