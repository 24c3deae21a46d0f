#!/usr/bin/env bash
# Soak: apigw (release) in front of an nginx backend at a fixed fraction of its measured
# maximum rate for a long time, with a deploy every few seconds; records throughput, latency
# percentiles, errors and the gateway's RSS per interval, and plots them (bench/soak_plot.py).
# See bench/README.md.
#
# Env (defaults):
#   SOAK_MINUTES=30  RATE_FRACTION=0.8  INTERVAL=10 (seconds per sample)  DEPLOY_EVERY=10 (s)
#   CONNECTIONS=32   APIGW_BIN=target/release/apigw   SERVER_CPUS=0  LOAD_CPUS=1
#   MAX_RPS=         (skip the measurement of the maximum and use this)
#   READY_TIMEOUT=30 KEEP_TMP=0
# Output: bench/out/soak-<timestamp>/{samples.tsv,deploys.tsv,errors.tsv,summary.txt,soak.png}
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$BENCH_DIR")
cd "$REPO_ROOT"

SOAK_MINUTES=${SOAK_MINUTES:-30}
RATE_FRACTION=${RATE_FRACTION:-0.8}
INTERVAL=${INTERVAL:-10}
DEPLOY_EVERY=${DEPLOY_EVERY:-10}
CONNECTIONS=${CONNECTIONS:-32}
APIGW_BIN=${APIGW_BIN:-target/release/apigw}
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}
MAX_RPS=${MAX_RPS:-}
READY_TIMEOUT=${READY_TIMEOUT:-30}
KEEP_TMP=${KEEP_TMP:-0}
BACKEND_PORT=18081
APIGW_PORT=18080
APIGW_ADMIN_PORT=18090

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

command -v nginx >/dev/null || die "nginx not found (apt-get install nginx)"
if ! command -v oha >/dev/null; then
    log "installing oha (fixed-rate HTTP load generator) with cargo"
    cargo install oha --locked >&2
fi
python3 -c 'import matplotlib' 2>/dev/null || pip install -q matplotlib >&2

TMP=$(mktemp -d /tmp/apigw-soak.XXXXXX)
OUT="$BENCH_DIR/out/soak-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
URL="http://127.0.0.1:$APIGW_PORT/hello"

# oha_json SECONDS [RATE] : one oha run against the gateway; prints its JSON summary.
oha_json() {
    local secs=$1 rate=${2:-}
    # -w: requests in flight at the end of an interval finish (not counted as errors).
    local args=(-z "${secs}s" -w -c "$CONNECTIONS" --no-tui --output-format json -H 'Host: localhost')
    [[ -n $rate ]] && args+=(-q "$rate" --latency-correction)
    taskset -c "$LOAD_CPUS" oha "${args[@]}" "$URL"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

start_nginx backend nginx-backend.conf.tmpl "$BACKEND_PORT"
start_apigw_bin apigw "$APIGW_BIN" "$APIGW_PORT" "$APIGW_ADMIN_PORT"

if [[ -z $MAX_RPS ]]; then
    oha_json 5 >/dev/null
    MAX_RPS=$(oha_json 20 | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["summary"]["requestsPerSec"]))')
    log "measured maximum: $MAX_RPS requests/s"
fi
RATE=$(python3 -c "print(int($MAX_RPS * $RATE_FRACTION))")
log "soak: $SOAK_MINUTES min at $RATE requests/s ($RATE_FRACTION of $MAX_RPS), a deploy every ${DEPLOY_EVERY}s"

# Deploys in the background: each one a new version of the API under load.
(
    n=0
    while true; do
        sleep "$DEPLOY_EVERY"
        n=$((n + 1))
        t0=$(date +%s.%N)
        if "$APIGW_BIN" deploy --data-dir "$APIGW_DATA" --description "soak $n" bench hello_proxy RELEASE >/dev/null 2>>"$TMP/deploy.err"; then
            ok=ok
        else
            ok=failed
        fi
        printf '%s\t%s\t%s\n' "$(date +%s)" "$ok" "$(python3 -c "import time; print(round((time.time() - $t0) * 1000, 1))")"
    done
) >"$OUT/deploys.tsv" &
PIDS+=("$!")

printf 'time_s\trequests\trps\tp50_ms\tp99_ms\tp999_ms\tmax_ms\tnon200\terrors\trss_mb\n' >"$OUT/samples.tsv"
START=$(date +%s)
END=$((START + SOAK_MINUTES * 60))
while (($(date +%s) < END)); do
    oha_json "$INTERVAL" "$RATE" >"$TMP/sample.json"
    rss=$(rss_kb "$APIGW_PID")
    python3 - "$TMP/sample.json" "$(($(date +%s) - START))" "$rss" "$OUT/errors.tsv" >>"$OUT/samples.tsv" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s, p = d["summary"], d["latencyPercentiles"]
codes = d.get("statusCodeDistribution", {})
total = sum(codes.values())
non200 = total - codes.get("200", 0)
errors = sum(d.get("errorDistribution", {}).values())
for kind, n in d.get("errorDistribution", {}).items():
    print(f"{sys.argv[2]}\t{n}\t{kind}", file=open(sys.argv[4], "a"))
ms = lambda v: round((v or 0) * 1000, 3)
print(f'{sys.argv[2]}\t{total}\t{s["requestsPerSec"]:.0f}\t{ms(p["p50"])}\t{ms(p["p99"])}\t{ms(p["p99.9"])}\t{ms(s["slowest"])}\t{non200}\t{errors}\t{int(sys.argv[3]) / 1024:.1f}')
PY
    tail -n 1 "$OUT/samples.tsv" >&2
done

python3 "$BENCH_DIR/soak_plot.py" "$OUT" | tee "$OUT/summary.txt"
[[ -s $TMP/deploy.err ]] && { log "deploy errors:"; cat "$TMP/deploy.err" >&2; }
log "results in $OUT"
