#!/usr/bin/env bash
# Load benchmark: backend direct vs. nginx reverse proxy vs. apigw, same wrk load.
# See bench/README.md. Everything listens on 127.0.0.1 only; everything started here is
# stopped on exit.
#
# Env (defaults):
#   DURATION=10s  CONNECTIONS=32  THREADS=1  WARMUP=2s
#   APIGW_BIN=target/release/apigw (relative to the repo root)
#   ROUNDS=3      (every target is measured ROUNDS times, interleaved; the report uses medians)
#   ONLY_NGINX=0  (1 = skip apigw: measure backend-direct and nginx-proxy only)
#   SERVER_CPUS=0 WRK_CPUS=1  (taskset -c lists: servers vs. load generator)
#   READY_TIMEOUT=30 (seconds to wait for each server to answer 200)
#   KEEP_TMP=0    (1 = keep the temp dir with configs and logs)
#   APIGW_BASELINE_BIN=  (another apigw binary, e.g. a build of an earlier commit: measured in the
#                 same run as target apigw-baseline on the anonymous API, for A/B comparisons)
#   SCENARIOS=    (comma-separated apigw target names to measure; default all)
#                 apigw-access-log: the same binary with its access log written to a file
#                 (--access-log-file, rotated) on the anonymous API, beside apigw (log off);
#                 apigw-metrics-off: the same with APIGW_METRICS=off (apigw records them)
#   REDIS_URL=    (e.g. redis://127.0.0.1:6379: also runs apigw with APIGW_REDIS_URL, measured as
#                 apigw-redis-policies on the trafficControl API, beside apigw-policies, and
#                 counts Redis commands per request from INFO commandstats). REDIS_URL=own: a
#                 redis-server of the run's own on port 18379, pinned to REDIS_CPUS (default:
#                 WRK_CPUS), so that Redis does not take the servers' CPU (in production it runs
#                 on a machine of its own)
#   PROTOCOLS=http (comma-separated: http = the targets above; ws = WebSocket round trips
#                 (ws-direct, ws-nginx, ws-apigw; load client apigw/examples/ws_load.rs against
#                 the echo backend ws_echo.rs); grpc = unary gRPC calls over h2c (grpc-direct,
#                 grpc-nginx, grpc-apigw; h2load against grpc_echo.rs). ws and grpc need
#                 `cargo build --release --examples -p apigw`)
#   MESSAGE_SIZE=64 (bytes of each WebSocket message and gRPC message)
#   EXAMPLES_DIR=target/release/examples (where ws_echo, ws_load, grpc_echo and hyper_proxy
#                 are; with hyper_proxy built, target hyper-floor: a minimal hyper proxy doing no
#                 gateway work, the floor apigw's proxy core sits on)
#   PINGAP_BIN=   (a pingap binary, e.g. ~/.cargo/bin/pingap from `cargo install pingap
#                 --version 0.13.1 --locked`: target pingap, one location to the same backend,
#                 one worker thread, beside apigw on the anonymous API)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$BENCH_DIR")
cd "$REPO_ROOT"

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
APIGW_BIN=${APIGW_BIN:-target/release/apigw}
ONLY_NGINX=${ONLY_NGINX:-0}
SERVER_CPUS=${SERVER_CPUS:-0}
WRK_CPUS=${WRK_CPUS:-1}
READY_TIMEOUT=${READY_TIMEOUT:-30}
KEEP_TMP=${KEEP_TMP:-0}

BACKEND_PORT=18081
PROXY_PORT=18082
APIGW_PORT=18080
APIGW_ADMIN_PORT=18090
BASELINE_PORT=18083
BASELINE_ADMIN_PORT=18091
APIGW_BASELINE_BIN=${APIGW_BASELINE_BIN:-}
REDIS_URL=${REDIS_URL:-}
REDIS_APIGW_PORT=18084
REDIS_APIGW_ADMIN_PORT=18092
REDIS_OWN_PORT=18379
ACCESS_LOG_PORT=18085
ACCESS_LOG_ADMIN_PORT=18093
METRICS_OFF_PORT=18086
METRICS_OFF_ADMIN_PORT=18094
SCENARIOS=${SCENARIOS:-}
PROTOCOLS=${PROTOCOLS:-http}
MESSAGE_SIZE=${MESSAGE_SIZE:-64}
EXAMPLES_DIR=${EXAMPLES_DIR:-target/release/examples}
PINGAP_BIN=${PINGAP_BIN:-}
HYPER_FLOOR_PORT=18110
PINGAP_PORT=18111
WS_BACKEND_PORT=18101
GRPC_BACKEND_PORT=18102
WS_PROXY_PORT=18103
GRPC_PROXY_PORT=18104
WS_APIGW_PORT=18105
WS_APIGW_ADMIN_PORT=18106
GRPC_APIGW_PORT=18107
GRPC_APIGW_ADMIN_PORT=18108
EXPECT_BODY="hello from backend"
OUT_DIR="$BENCH_DIR/out"

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

ensure_tools() {
    local missing=() tools=(nginx wrk curl taskset python3 pgrep)
    command -v nginx >/dev/null 2>&1 || missing+=(nginx)
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    if protocol grpc; then
        command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
        tools+=(h2load)
    fi
    if ((${#missing[@]})); then
        log "installing: ${missing[*]} (needs root)"
        apt-get update -qq && apt-get install -y "${missing[@]}"
    fi
    local t
    for t in "${tools[@]}"; do
        command -v "$t" >/dev/null 2>&1 || die "'$t' not found on PATH"
    done
}

# protocol NAME : whether PROTOCOLS lists NAME.
protocol() { [[ ",$PROTOCOLS," == *",$1,"* ]]; }

# example NAME : the path of a built example; stops the run when it is missing.
example() {
    local bin="$EXAMPLES_DIR/$1"
    [[ -x $bin ]] || die "'$bin' not found (build it with 'cargo build --release --examples -p apigw', or set EXAMPLES_DIR)"
    printf '%s\n' "$bin"
}

# render TEMPLATE OUTPUT KEY=VALUE... : replaces @KEY@ with VALUE.

start_apigw() {
    start_apigw_bin apigw "$APIGW_BIN" "$APIGW_PORT" "$APIGW_ADMIN_PORT"
}

# Collects the -H/--header arguments from a wrk argument list into CURL_HEADERS.
headers_of() {
    CURL_HEADERS=()
    while (($#)); do
        case $1 in
            -H | --header)
                (($# >= 2)) || break
                CURL_HEADERS+=(-H "$2")
                shift 2
                ;;
            *) shift ;;
        esac
    done
}

# verify NAME URL [extra wrk args] : one request with curl (same -H headers as wrk gets);
# must be 200 with the backend's body.
verify() {
    local name=$1 url=$2 resp code body
    shift 2
    headers_of "$@"
    resp=$(curl -s --max-time 5 -w '\n%{http_code}' -H 'Host: localhost' ${CURL_HEADERS[@]+"${CURL_HEADERS[@]}"} "$url" || true)
    code=${resp##*$'\n'}
    body=${resp%$'\n'*}
    body=${body%$'\n'}
    if [[ $name == *json10k* ]]; then
        verify_json10k "$name" "$url" "$code"
        return 0
    fi
    if [[ $code != 200 || $body != "$EXPECT_BODY" ]]; then
        die "$name: GET $url answered HTTP '$code' with body '$(printf '%s' "$body" | head -c 300)'; expected 200 '$EXPECT_BODY'"
    fi
    log "verified $name: 200 '$body'"
}

# verify_json10k NAME URL CODE : the 10 KB JSON document, gzip-compressed for the -gzip targets
# (asked for with Accept-Encoding: gzip), as it is for the others.
verify_json10k() {
    local name=$1 url=$2 code=$3 encoding want=identity
    [[ $name == *-gzip ]] && want=gzip
    [[ $code == 200 ]] || die "$name: GET $url answered HTTP '$code'; expected 200"
    encoding=$(curl -s --max-time 5 -o /dev/null -D - -H 'Host: localhost' \
        ${CURL_HEADERS[@]+"${CURL_HEADERS[@]}"} "$url" |
        awk -F': *' 'tolower($1) == "content-encoding" { gsub(/\r/, "", $2); print $2 }')
    [[ ${encoding:-identity} == "$want" ]] ||
        die "$name: GET $url answered Content-Encoding '${encoding:-identity}'; expected '$want'"
    log "verified $name: 200, Content-Encoding ${encoding:-identity}"
}

# run_wrk DURATION URL OUTFILE [extra wrk args] : wrk on WRK_CPUS, bounded by timeout.
run_wrk() {
    local dur=$1 url=$2 outfile=$3 limit
    shift 3
    limit=$(($(to_seconds "$dur") + 30))
    timeout "$limit" taskset -c "$WRK_CPUS" \
        wrk "-t$THREADS" "-c$CONNECTIONS" "-d$dur" --latency -H 'Host: localhost' "$@" "$url" \
        >"$outfile" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local rc=0
    wait "$pid" || rc=$?
    unset 'PIDS[${#PIDS[@]}-1]'
    return "$rc"
}

# Parses wrk --latency output into one tab-separated line:
# rps p50_ms p99_ms p50_raw p99_raw requests non2xx sock_connect sock_read sock_write sock_timeout
parse_wrk() {
    awk '
        function to_ms(s,   v, u) {
            v = s + 0; u = s; sub(/^[0-9.]+/, "", u)
            if (u == "us") return v / 1000
            if (u == "ms") return v
            if (u == "s")  return v * 1000
            if (u == "m")  return v * 60000
            if (u == "h")  return v * 3600000
            return -1
        }
        BEGIN { rps = ""; p50 = ""; p99 = ""; reqs = 0; non2xx = 0; sc = 0; sr = 0; sw = 0; st = 0 }
        /^Requests\/sec:/              { rps = $2 }
        $1 == "50%"                    { p50raw = $2; p50 = to_ms($2) }
        $1 == "99%"                    { p99raw = $2; p99 = to_ms($2) }
        / requests in /                { reqs = $1 }
        /Socket errors:/               { sc = $4 + 0; sr = $6 + 0; sw = $8 + 0; st = $10 + 0 }
        /Non-2xx or 3xx responses:/    { non2xx = $NF + 0 }
        END {
            if (rps == "" || p50 == "" || p99 == "") exit 1
            printf "%s\t%.4f\t%.4f\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", rps, p50, p99, p50raw, p99raw, reqs, non2xx, sc, sr, sw, st
        }
    ' "$1"
}

# measure NAME URL [extra wrk args] : warm-up (discarded) + measured run; appends to RESULTS.
measure() {
    local name=$1 url=$2 line raw="$RAW_DIR/$1.r${ROUND:-1}"
    shift 2
    if [[ $(to_seconds "$WARMUP") -gt 0 ]]; then
        log "warm-up  $name ($WARMUP)"
        run_wrk "$WARMUP" "$url" "$raw.warmup.txt" "$@" ||
            { cat "$raw.warmup.txt" >&2; die "wrk warm-up failed for $name"; }
    fi
    log "measure  $name ($DURATION, -t$THREADS -c$CONNECTIONS) $url"
    run_wrk "$DURATION" "$url" "$raw.txt" "$@" ||
        { cat "$raw.txt" >&2; die "wrk failed for $name"; }
    line=$(parse_wrk "$raw.txt") ||
        { cat "$raw.txt" >&2; die "could not parse wrk output for $name"; }
    printf '%s\t%s\t%s\n' "$name" "$url" "$line" >>"$RESULTS"
    log "$(printf 'result   %s: %s rps, p50 %s, p99 %s' "$name" "$(cut -f1 <<<"$line")" "$(cut -f4 <<<"$line")" "$(cut -f5 <<<"$line")")"
}

# ---------------------------------------------------------------------------
# WebSocket and gRPC targets: the same tab-separated line as parse_wrk, with messages (round
# trips) or calls per second as rps, and their errors in the non2xx column.
# ---------------------------------------------------------------------------

# verify_ws NAME URL : one connection, half a second of round trips, none failed.
verify_ws() {
    local name=$1 url=$2 out
    out=$(timeout 30 "$(example ws_load)" --url "$url" --host localhost -c 1 -s "$MESSAGE_SIZE" -d 0.5 -w 0 2>&1) ||
        die "$name: $url: $out"
    [[ $out =~ \ messages=([0-9]+)\ errors=0\  && ${BASH_REMATCH[1]} -gt 0 ]] ||
        die "$name: $url: no clean round trips: $out"
    log "verified $name: $out"
}

# measure_ws NAME URL : ws_load on WRK_CPUS (its own warm-up on the same connections, then the
# measured run); appends to RESULTS.
measure_ws() {
    local name=$1 url=$2 raw="$RAW_DIR/$1.r${ROUND:-1}" line limit
    limit=$(($(to_seconds "$DURATION") + $(to_seconds "$WARMUP") + 30))
    log "measure  $name ($WARMUP warm-up + $DURATION, -c$CONNECTIONS, $MESSAGE_SIZE-byte messages) $url"
    timeout "$limit" taskset -c "$WRK_CPUS" "$(example ws_load)" --url "$url" --host localhost \
        -c "$CONNECTIONS" -t "$THREADS" -s "$MESSAGE_SIZE" \
        -d "$(to_seconds "$DURATION")" -w "$(to_seconds "$WARMUP")" >"$raw.txt" 2>&1 ||
        { cat "$raw.txt" >&2; die "ws_load failed for $name"; }
    line=$(awk '
        $1 == "ws_load" {
            for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            printf "%s\t%s\t%s\t%sms\t%sms\t%s\t%d\t0\t0\t0\t0\n", v["messages_per_sec"], v["p50_ms"], v["p99_ms"], v["p50_ms"], v["p99_ms"], v["messages"], v["errors"]
            found = 1
        }
        END { if (!found) exit 1 }' "$raw.txt") ||
        { cat "$raw.txt" >&2; die "could not parse ws_load output for $name"; }
    printf '%s\t%s\t%s\n' "$name" "$url" "$line" >>"$RESULTS"
    log "$(printf 'result   %s: %s messages/s, p50 %s, p99 %s' "$name" "$(cut -f1 <<<"$line")" "$(cut -f4 <<<"$line")" "$(cut -f5 <<<"$line")")"
}

# grpc_message FILE : one gRPC message of MESSAGE_SIZE bytes (flag 0, 4-byte big-endian length).
grpc_message() {
    python3 -c 'import struct, sys; n = int(sys.argv[1]); sys.stdout.buffer.write(struct.pack(">BI", 0, n) + b"x" * n)' \
        "$MESSAGE_SIZE" >"$1"
}

# verify_grpc NAME URL : one unary call with curl over h2c; 200, the message echoed, and
# grpc-status 0 in the trailers.
verify_grpc() {
    local name=$1 url=$2 code
    code=$(curl -s --max-time 5 --http2-prior-knowledge -H 'Host: localhost' \
        -H 'content-type: application/grpc' -H 'te: trailers' --data-binary "@$GRPC_MESSAGE" \
        -D "$TMP/$name.headers" -o "$TMP/$name.body" -w '%{http_code}' "$url" || true)
    if [[ $code != 200 ]] || ! grep -qi '^grpc-status: 0' "$TMP/$name.headers" ||
        ! cmp -s "$TMP/$name.body" "$GRPC_MESSAGE"; then
        die "$name: POST $url answered HTTP '$code', headers and trailers: $(tr -d '\r' <"$TMP/$name.headers" | tr '\n' ' ' | head -c 500); expected 200, the message back, grpc-status 0"
    fi
    log "verified $name: 200, message echoed, grpc-status 0"
}

# measure_grpc NAME URL : h2load on WRK_CPUS (one call in flight per connection, like wrk's
# closed loop); percentiles from its per-request log; appends to RESULTS.
measure_grpc() {
    local name=$1 url=$2 raw="$RAW_DIR/$1.r${ROUND:-1}" line limit warmup=()
    limit=$(($(to_seconds "$DURATION") + $(to_seconds "$WARMUP") + 30))
    (($(to_seconds "$WARMUP") > 0)) && warmup=(--warm-up-time "$(to_seconds "$WARMUP")")
    log "measure  $name ($WARMUP warm-up + $DURATION, -c$CONNECTIONS -m1, $MESSAGE_SIZE-byte messages) $url"
    timeout "$limit" taskset -c "$WRK_CPUS" h2load -c "$CONNECTIONS" -t "$THREADS" -m 1 \
        -D "$(to_seconds "$DURATION")" ${warmup[@]+"${warmup[@]}"} -H ':authority: localhost' \
        -H 'content-type: application/grpc' -H 'te: trailers' -d "$GRPC_MESSAGE" \
        --log-file "$raw.log" "$url" >"$raw.txt" 2>&1 ||
        { cat "$raw.txt" >&2; die "h2load failed for $name"; }
    line=$(parse_h2load "$raw.txt" "$raw.log") ||
        { cat "$raw.txt" >&2; die "could not parse h2load output for $name"; }
    printf '%s\t%s\t%s\n' "$name" "$url" "$line" >>"$RESULTS"
    log "$(printf 'result   %s: %s calls/s, p50 %s, p99 %s' "$name" "$(cut -f1 <<<"$line")" "$(cut -f4 <<<"$line")" "$(cut -f5 <<<"$line")")"
}

# parse_h2load OUTPUT LOG : the parse_wrk line from h2load's summary (req/s, requests
# done, non-2xx or short of a message's bytes, errored as socket read errors, timed out) and
# its per-request log (start, status, microseconds): p50/p99 by nearest rank. The data bytes
# received are a lower bound check only (h2load counts some of the warm-up's and frame bytes).
parse_h2load() {
    local pct
    pct=$(cut -f3 "$2" | sort -n | awk '
        { t[NR] = $1 }
        function rank(p,   r) { r = int(p * NR); if (r < p * NR) r++; if (r < 1) r = 1; return t[r] }
        END { if (NR == 0) exit 1; printf "%.4f\t%.4f\n", rank(0.50) / 1000, rank(0.99) / 1000 }') || return 1
    awk -v pct="$pct" -v message=$((MESSAGE_SIZE + 5)) '
        /^finished in/   { rps = $4 }
        /^requests:/     { done = $6; errored = $12; timeout = $14 }
        /^status codes:/ { ok = $3 }
        /^traffic:/      { for (i = 1; i < NF; i++) if ($(i + 1) == "data") { data = $i; gsub(/[()]/, "", data) } }
        END {
            if (rps == "" || done == "" || data == "") exit 1
            # A refusal by the gateway is a gRPC status in an HTTP 200 without a message: answers
            # without a message back count as non-2xx.
            # (h2load may count a 2xx whose call ended after the measured time: ok > done.)
            echoed = int(data / message); if (echoed > ok) echoed = ok; if (echoed > done) echoed = done
            split(pct, p, "\t")
            printf "%s\t%s\t%s\t%sms\t%sms\t%d\t%d\t0\t%d\t0\t%d\n", rps, p[1], p[2], p[1], p[2], done, done - echoed, errored, timeout
        }' "$1"
}

# check_examples : the examples the selected protocols need are built.
check_examples() {
    if protocol ws; then
        example ws_echo >/dev/null
        example ws_load >/dev/null
    fi
    if protocol grpc; then
        example grpc_echo >/dev/null
    fi
}

# start_echo NAME BIN PORT : an echo backend (an example of the apigw crate) on SERVER_CPUS.
start_echo() { # NAME BIN PORT [more args for BIN]
    local name=$1 bin=$2 port=$3 pid
    port_in_use "$port" && die "port 127.0.0.1:$port is already in use"
    taskset -c "$SERVER_CPUS" "$bin" "127.0.0.1:$port" "${@:4}" >"$TMP/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$name" "$port" "$pid" "$TMP/$name.log"
}

# json_10k FILE : a 10 KB JSON document (text that compresses about as real JSON does).
json_10k() {
    mkdir -p "$(dirname "$1")"
    python3 - "$1" <<'PY'
import json, random, sys
random.seed(1)
words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
items, text = [], ""
while len(text) < 10240:
    items.append({"id": len(items), "name": " ".join(random.choice(words) for _ in range(3)),
                  "price": round(random.uniform(1, 500), 2), "tags": random.sample(words, 2)})
    text = json.dumps({"items": items})
with open(sys.argv[1], "w") as f:
    f.write(text[:10240 - 2].rsplit("},", 1)[0] + "}]}")
PY
}

# start_pingap : pingap (PINGAP_BIN) on PINGAP_PORT with one location to the backend, one
# worker thread, no access log (pingap's TOML configuration, written here).
start_pingap() {
    local dir="$TMP/pingap"
    mkdir -p "$dir/conf"
    cat >"$dir/conf/pingap.toml" <<TOML
[basic]
threads = 1
log_level = "WARN"

[upstreams.backend]
addrs = ["127.0.0.1:$BACKEND_PORT"]

[locations.all]
upstream = "backend"
path = "/"

[servers.bench]
addr = "127.0.0.1:$PINGAP_PORT"
locations = ["all"]
TOML
    port_in_use "$PINGAP_PORT" && die "port 127.0.0.1:$PINGAP_PORT is already in use"
    taskset -c "$SERVER_CPUS" "$PINGAP_BIN" -c "$dir/conf" >"$dir/pingap.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait_port pingap "$PINGAP_PORT" "$pid" "$dir/pingap.log"
}

# start_proto_servers : for PROTOCOLS ws and grpc, the echo backends, nginx in front of them
# (nginx-proto.conf.tmpl) and one apigw per protocol (gateway-ws / gateway-grpc.yaml.tmpl).
start_proto_servers() {
    if ! protocol ws && ! protocol grpc; then
        return 0
    fi
    if protocol ws; then
        start_echo ws-echo "$EXAMPLES_DIR/ws_echo" "$WS_BACKEND_PORT"
    fi
    if protocol grpc; then
        GRPC_MESSAGE="$TMP/grpc-message.bin"
        grpc_message "$GRPC_MESSAGE"
        start_echo grpc-echo "$EXAMPLES_DIR/grpc_echo" "$GRPC_BACKEND_PORT"
    fi
    port_in_use "$GRPC_PROXY_PORT" && die "port 127.0.0.1:$GRPC_PROXY_PORT is already in use"
    start_nginx nginx-proto nginx-proto.conf.tmpl "$WS_PROXY_PORT" "GRPC_PORT=$GRPC_PROXY_PORT" \
        "WS_BACKEND_PORT=$WS_BACKEND_PORT" "GRPC_BACKEND_PORT=$GRPC_BACKEND_PORT"
    if [[ $ONLY_NGINX == 1 ]]; then
        return 0
    fi
    if protocol ws; then
        start_apigw_bin apigw-ws "$APIGW_BIN" "$WS_APIGW_PORT" "$WS_APIGW_ADMIN_PORT" \
            gateway-ws.yaml.tmpl "WS_BACKEND_URL=http://127.0.0.1:$WS_BACKEND_PORT"
    fi
    if protocol grpc; then
        start_apigw_bin apigw-grpc "$APIGW_BIN" "$GRPC_APIGW_PORT" "$GRPC_APIGW_ADMIN_PORT" \
            gateway-grpc.yaml.tmpl "GRPC_BACKEND_URL=h2c://127.0.0.1:$GRPC_BACKEND_PORT"
    fi
}

# ---------------------------------------------------------------------------
# Targets. Each list calls "$1 NAME URL [extra wrk args]", with $1 = verify or measure.
# ---------------------------------------------------------------------------
nginx_targets() {
    local fn=$1
    "$fn" backend-direct "http://127.0.0.1:$BACKEND_PORT/hello"
    "$fn" nginx-proxy "http://127.0.0.1:$PROXY_PORT/hello"
    # The gzip scenario's baselines: the 10 KB JSON document as it is, and compressed by nginx.
    "$fn" nginx-proxy-json10k "http://127.0.0.1:$PROXY_PORT/json10k"
    "$fn" nginx-proxy-json10k-gzip "http://127.0.0.1:$PROXY_PORT/gzip/json10k" -H "Accept-Encoding: gzip"
    # The floor a proxy built on hyper sets: apigw/examples/hyper_proxy.rs, no gateway work.
    if [[ -x $EXAMPLES_DIR/hyper_proxy ]]; then
        "$fn" hyper-floor "http://127.0.0.1:$HYPER_FLOOR_PORT/hello"
    fi
    # A peer: pingap (Pingora-based), one location proxying to the same backend.
    if [[ -n $PINGAP_BIN ]]; then
        "$fn" pingap "http://127.0.0.1:$PINGAP_PORT/hello"
    fi
}

# apigw scenarios: the single place to add more. Names should start with "apigw" (each gets
# a ratio line against nginx-proxy). The APIs they call are defined in gateway.yaml.tmpl.
# Extra wrk args go after the URL, e.g. pre-signed headers for an APP-auth API:
#   "$fn" apigw-app-signed "http://127.0.0.1:$APIGW_PORT/signed" -H "X-Ca-Key: ..." -H "X-Ca-Signature: ..."
apigw_scenarios() {
    local fn=$1
    # SCENARIOS limits the apigw targets measured (nginx targets always run).
    if [[ -n $SCENARIOS ]]; then
        fn="only_listed $1"
    fi
    $fn apigw "http://127.0.0.1:$APIGW_PORT/hello"
    $fn apigw-access-log "http://127.0.0.1:$ACCESS_LOG_PORT/hello"
    $fn apigw-metrics-off "http://127.0.0.1:$METRICS_OFF_PORT/hello"
    if [[ -n $APIGW_BASELINE_BIN ]]; then
        $fn apigw-baseline "http://127.0.0.1:$BASELINE_PORT/hello"
    fi
    # APP-signed (HmacSHA256), pre-signed once by the independent reference signer; no
    # timestamp or nonce, so every request of the run verifies (one HMAC per request).
    local sig state_sig full_sig
    sig=$(sign_path /signed)
    state_sig=$(sign_path /state)
    # ipControl plugin bound (ALLOW list of three blocks, the caller in the last).
    $fn apigw-ip-control "http://127.0.0.1:$APIGW_PORT/ip"
    $fn apigw-app-signed "http://127.0.0.1:$APIGW_PORT/signed" -H "Accept: application/json" \
        -H "X-Ca-Key: bench-key" -H "X-Ca-Signature-Headers: X-Ca-Key" -H "X-Ca-Signature: $sig"
    # trafficControl (counted, never refused) and ipControl bound together.
    $fn apigw-policies "http://127.0.0.1:$APIGW_PORT/policies"
    # APP-signed, a fresh nonce each request (nonce.lua) and trafficControl counted: what a
    # cluster shares, kept in memory here.
    local state_args=(-H "Accept: application/json" -H "X-Ca-Key: bench-key"
        -H "X-Ca-Signature-Headers: X-Ca-Key" -H "X-Ca-Signature: $state_sig" -s "$BENCH_DIR/nonce.lua")
    $fn apigw-state "http://127.0.0.1:$APIGW_PORT/state" "${state_args[@]}"
    # APP-signed with a fresh nonce each request and nothing else: its CPU per request over
    # the anonymous API's is reported (target: at most 2 us).
    $fn apigw-signed-nonce "http://127.0.0.1:$APIGW_PORT/signed" -H "Accept: application/json" \
        -H "X-Ca-Key: bench-key" -H "X-Ca-Signature-Headers: X-Ca-Key" -H "X-Ca-Signature: $sig" \
        -s "$BENCH_DIR/nonce.lua"
    if [[ -n $REDIS_URL ]]; then
        # The same trafficControl + ipControl API, its counter in Redis (one script per request).
        $fn apigw-redis-policies "http://127.0.0.1:$REDIS_APIGW_PORT/policies"
        # The same as apigw-state, nonces and counter in Redis (two round trips per request).
        $fn apigw-redis-state "http://127.0.0.1:$REDIS_APIGW_PORT/state" "${state_args[@]}"
    fi
    # 10 declared parameters validated and mapped (hello_params in gateway.yaml.tmpl).
    $fn apigw-params "http://127.0.0.1:$APIGW_PORT/params/4242/orders/9007199254740993?q=phone&page=3&sort=desc&price=19.99&verbose=true" \
        -H "X-Trace: 0123456789abcdef" -H "X-Tenant: acme"
    # The full path: signature with a fresh nonce, the 10 parameters mapped, trafficControl
    # counted, ipControl bound (hello_full).
    local full_query="q=phone&page=3&sort=desc&price=19.99&verbose=true"
    full_sig=$(sign_path /full/4242/orders/9007199254740993 "$full_query")
    $fn apigw-full "http://127.0.0.1:$APIGW_PORT/full/4242/orders/9007199254740993?$full_query" \
        -H "X-Trace: 0123456789abcdef" -H "X-Tenant: acme" -H "Accept: application/json" \
        -H "X-Ca-Key: bench-key" -H "X-Ca-Signature-Headers: X-Ca-Key" -H "X-Ca-Signature: $full_sig" \
        -s "$BENCH_DIR/nonce.lua"
    # gzip: the 10 KB JSON document as it is, and compressed as it flows.
    $fn apigw-json10k "http://127.0.0.1:$APIGW_PORT/json10k"
    $fn apigw-json10k-gzip "http://127.0.0.1:$APIGW_PORT/json10k" -H "Accept-Encoding: gzip"
}

# sign_path PATH [QUERY] : the APP signature of `GET PATH[?QUERY]` by bench-key with X-Ca-Key
# signed (no timestamp or nonce among the signed headers), from the independent reference signer.
sign_path() {
    printf '{"method":"GET","path":"%s","query":"%s","secret":"bench-secret-0001","headers":[["Accept","application/json"],["X-Ca-Key","bench-key"],["X-Ca-Signature-Headers","X-Ca-Key"]]}' "$1" "${2:-}" |
        python3 "$REPO_ROOT/sdk/reference_sign.py" | python3 -c 'import json,sys; print(json.load(sys.stdin)["signature"])'
}

# only_listed FN NAME URL ... : FN only for the targets SCENARIOS names.
only_listed() {
    local fn=$1 name=$2
    shift
    [[ ",$SCENARIOS," == *",$name,"* ]] || return 0
    "$fn" "$@"
}

# ws_targets verify|measure : the echo backend directly, through nginx, through apigw.
ws_targets() {
    "${1}_ws" ws-direct "ws://127.0.0.1:$WS_BACKEND_PORT/ws"
    "${1}_ws" ws-nginx "ws://127.0.0.1:$WS_PROXY_PORT/ws"
    [[ $ONLY_NGINX == 1 ]] || "${1}_ws" ws-apigw "ws://127.0.0.1:$WS_APIGW_PORT/ws"
}

# grpc_targets verify|measure : the same for unary gRPC calls over h2c.
grpc_targets() {
    "${1}_grpc" grpc-direct "http://127.0.0.1:$GRPC_BACKEND_PORT/bench.Echo/Echo"
    "${1}_grpc" grpc-nginx "http://127.0.0.1:$GRPC_PROXY_PORT/bench.Echo/Echo"
    [[ $ONLY_NGINX == 1 ]] || "${1}_grpc" grpc-apigw "http://127.0.0.1:$GRPC_APIGW_PORT/bench.Echo/Echo"
}

all_targets() {
    if protocol http; then
        nginx_targets "$1"
        if [[ $ONLY_NGINX != 1 ]]; then
            apigw_scenarios "$1"
        fi
    fi
    if protocol ws; then
        ws_targets "$1"
    fi
    if protocol grpc; then
        grpc_targets "$1"
    fi
}

# ---------------------------------------------------------------------------
# Report: table on stdout, JSON in bench/out/result-<timestamp>.json.
# ---------------------------------------------------------------------------
report() {
    python3 - "$RESULTS" "$JSON_OUT" <<'PY'
import json, os, sys

results_file, json_out = sys.argv[1], sys.argv[2]
env_size = os.environ["MESSAGE_SIZE"]
rows = []
with open(results_file) as f:
    for line in f:
        p = line.rstrip("\n").split("\t")
        if len(p) < 13:
            continue
        name, url, rps, p50, p99, p50raw, p99raw, reqs, non2xx, sc, sr, sw, st = p[:13]
        sock = {"connect": int(sc), "read": int(sr), "write": int(sw), "timeout": int(st)}
        rows.append({
            "name": name, "url": url, "rps": float(rps),
            "p50_ms": float(p50), "p99_ms": float(p99),
            "p50_raw": p50raw, "p99_raw": p99raw,
            "requests": int(reqs), "non_2xx_3xx": int(non2xx), "socket_errors": sock,
            "errors": int(non2xx) + sum(sock.values()),
        })

# Several rounds per target: report the median of each figure, keep every round in the JSON.
import statistics
grouped = {}
for r in rows:
    grouped.setdefault(r["name"], []).append(r)
rows = []
for name, rounds in grouped.items():
    med = lambda k: statistics.median(x[k] for x in rounds)
    rows.append({
        "name": name, "url": rounds[0]["url"], "rps": med("rps"), "p50_ms": med("p50_ms"),
        "p99_ms": med("p99_ms"), "errors": sum(x["errors"] for x in rounds),
        "rounds": [{k: x[k] for k in ("rps", "p50_ms", "p99_ms", "requests", "non_2xx_3xx", "socket_errors")}
                   for x in rounds],
        "raw_output": os.path.join(os.environ["RAW_DIR_REL"], name + ".r*.txt"),
    })
by_name = {r["name"]: r for r in rows}

def ratio(a, b, key):
    x, y = by_name[a][key], by_name[b][key]
    return round(x / y, 3) if y else None

ratios = []
pairs = [(r["name"], "nginx-proxy") for r in rows
         if r["name"].startswith("apigw") and "json10k" not in r["name"]]
pairs.append(("nginx-proxy", "backend-direct"))
# The proxy floor hyper sets, and a Pingora-based peer.
pairs += [("hyper-floor", "nginx-proxy"), ("pingap", "nginx-proxy"), ("apigw", "pingap")]
# The 10 KB JSON document as it is and gzip-compressed, each against nginx doing the same.
pairs += [("apigw-json10k", "nginx-proxy-json10k"), ("apigw-json10k-gzip", "nginx-proxy-json10k-gzip")]
# Cluster runtime state in Redis against the same node keeping it in memory.
pairs += [("apigw-redis-policies", "apigw-policies"), ("apigw-redis-state", "apigw-state")]
# The access log written to a file against off.
pairs += [("apigw-access-log", "apigw")]
# Request metrics recorded (apigw) against not (APIGW_METRICS=off).
pairs += [("apigw", "apigw-metrics-off")]
# WebSocket round trips and unary gRPC calls: apigw against nginx, nginx against the backend.
pairs += [("ws-apigw", "ws-nginx"), ("ws-nginx", "ws-direct"),
          ("grpc-apigw", "grpc-nginx"), ("grpc-nginx", "grpc-direct")]
def paired(a, b):
    # The median of the per-round ratios: each round measures a and b a few seconds apart, so
    # this follows a machine whose speed drifts better than the ratio of the medians does.
    xs, ys = by_name[a]["rounds"], by_name[b]["rounds"]
    per_round = [x["rps"] / y["rps"] for x, y in zip(xs, ys) if y["rps"]]
    return round(statistics.median(per_round), 3) if per_round else None

for a, b in pairs:
    if a in by_name and b in by_name:
        ratios.append({"a": a, "b": b, "rps": ratio(a, b, "rps"), "rps_paired": paired(a, b),
                       "p50": ratio(a, b, "p50_ms"), "p99": ratio(a, b, "p99_ms")})

def ms(v):
    return f"{v:.3f}ms"

# The proxy core's targets, derived from the medians (each None when a target did not run).
def rps_of(name):
    return by_name[name]["rps"] if name in by_name else None

def rps_ratio(a, b):
    # Paired by round (see paired()).
    return paired(a, b) if a in by_name and b in by_name else None

targets = []
def target(name, value, goal, ok):
    targets.append({"target": name, "value": value, "goal": goal,
                    "met": None if value is None else bool(ok(value))})

target("anonymous apigw/nginx-proxy rps", rps_ratio("apigw", "nginx-proxy"), ">= 1.0", lambda v: v >= 1.0)
p99 = (round(by_name["apigw"]["p99_ms"] / by_name["nginx-proxy"]["p99_ms"], 3)
       if "apigw" in by_name and "nginx-proxy" in by_name and by_name["nginx-proxy"]["p99_ms"] else None)
target("anonymous apigw/nginx-proxy p99", p99, "<= 1.0", lambda v: v <= 1.0)
# On one core, 1/rps is the CPU time of a request (the backend's share is the same in both).
signed_us = None
if "apigw-signed-nonce" in by_name and "apigw" in by_name:
    per_round = [1e6 / s["rps"] - 1e6 / a["rps"]
                 for s, a in zip(by_name["apigw-signed-nonce"]["rounds"], by_name["apigw"]["rounds"])
                 if s["rps"] and a["rps"]]
    signed_us = round(statistics.median(per_round), 2) if per_round else None
target("APP-signed, fresh nonce: CPU us/request over anonymous", signed_us, "<= 2.0", lambda v: v <= 2.0)
target("full path apigw-full/nginx-proxy rps", rps_ratio("apigw-full", "nginx-proxy"), ">= 0.9", lambda v: v >= 0.9)
plain, gz = rps_ratio("apigw-json10k", "nginx-proxy-json10k"), rps_ratio("apigw-json10k-gzip", "nginx-proxy-json10k-gzip")
target("gzip 10 KB JSON: (gzip ratio)/(plain ratio)", round(gz / plain, 3) if gz and plain else None,
       ">= 0.9", lambda v: v >= 0.9)
target("anonymous apigw/pingap rps", rps_ratio("apigw", "pingap"), "> 1.0", lambda v: v > 1.0)

print()
print(f"medians of {len(rows[0]['rounds']) if rows else 0} interleaved rounds")
print(f"{'target':<20}{'rps':>12}{'p50':>12}{'p99':>12}{'errors':>10}   rps by round")
for r in rows:
    by_round = " ".join(f"{x['rps']:.0f}" for x in r["rounds"])
    print(f"{r['name']:<20}{r['rps']:>12.0f}{ms(r['p50_ms']):>12}{ms(r['p99_ms']):>12}{r['errors']:>10}   {by_round}")
for q in ratios:
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"
    print(f"ratio {q['a']}/{q['b']} rps: {fmt(q['rps'])} (per round: {fmt(q['rps_paired'])})   p50: {fmt(q['p50'])}   p99: {fmt(q['p99'])}")
for t in targets:
    if t["value"] is not None:
        verdict = "met" if t["met"] else "NOT met"
        print(f"target {t['target']}: {t['value']} (goal {t['goal']}): {verdict}")
if any(r["name"].startswith(("ws-", "grpc-")) for r in rows):
    print(f"rps of ws-*: WebSocket round trips (a {env_size}-byte message and its echo) per second; "
          f"of grpc-*: unary gRPC calls ({env_size}-byte message) per second")
if any(r["errors"] for r in rows):
    print("WARNING: some targets had errors (non-2xx/3xx responses or socket errors); see raw wrk output")

env = os.environ
doc = {
    "timestamp": env["TS"],
    "params": {
        "duration": env["DURATION"], "warmup": env["WARMUP"], "rounds": int(env["ROUNDS"]),
        "connections": int(env["CONNECTIONS"]), "threads": int(env["THREADS"]),
        "server_cpus": env["SERVER_CPUS"], "wrk_cpus": env["WRK_CPUS"],
        "only_nginx": env["ONLY_NGINX"] == "1",
        "apigw_bin": None if env["ONLY_NGINX"] == "1" else env["APIGW_BIN"],
        "apigw_worker_threads": 1, "nginx_worker_processes": 1,
        "protocols": env["PROTOCOLS"].split(","), "message_size": int(env["MESSAGE_SIZE"]),
    },
    "env": {
        "git_commit": env.get("GIT_COMMIT", ""), "nginx": env.get("NGINX_VERSION", ""),
        "wrk": env.get("WRK_VERSION", ""), "h2load": env.get("H2LOAD_VERSION", ""), "kernel": os.uname().release, "cpus": os.cpu_count(),
    },
    "results": rows,
    "ratios": ratios,
    "targets": targets,
}
with open(json_out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
print(f"\nJSON: {os.path.relpath(json_out)}")
PY
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
[[ $CONNECTIONS =~ ^[0-9]+$ && $THREADS =~ ^[0-9]+$ ]] || die "CONNECTIONS and THREADS must be integers"
((THREADS >= 1 && CONNECTIONS >= THREADS)) || die "need THREADS >= 1 and CONNECTIONS >= THREADS"
valid_duration "$DURATION" || die "bad DURATION '$DURATION' (e.g. 10s, 1m)"
valid_duration "$WARMUP" || die "bad WARMUP '$WARMUP' (e.g. 2s, 0)"

if [[ $ONLY_NGINX != 1 && ! -x $APIGW_BIN ]]; then
    die "apigw binary '$APIGW_BIN' not found or not executable (build it with 'cargo build --release', set APIGW_BIN, or run with ONLY_NGINX=1)"
fi
for p in ${PROTOCOLS//,/ }; do
    [[ $p == http || $p == ws || $p == grpc ]] || die "bad PROTOCOLS '$PROTOCOLS' (a comma-separated list of http, ws, grpc)"
done
[[ $MESSAGE_SIZE =~ ^[0-9]+$ ]] && ((MESSAGE_SIZE >= 1)) || die "MESSAGE_SIZE must be a positive integer"
ensure_tools
check_examples

TMP=$(mktemp -d /tmp/apigw-bench.XXXXXX)
chmod 755 "$TMP" # nginx workers run as an unprivileged user when started as root
TS=$(date -u +%Y%m%dT%H%M%SZ)
RAW_DIR="$OUT_DIR/raw-$TS"
RESULTS="$TMP/results.tsv"
: >"$RESULTS"
JSON_OUT="$OUT_DIR/result-$TS.json"

log "servers on CPU(s) $SERVER_CPUS, load generators on CPU(s) $WRK_CPUS; protocols $PROTOCOLS; temp dir $TMP"
json_10k "$TMP/nginx-backend/json10k.json"
start_nginx nginx-backend nginx-backend.conf.tmpl "$BACKEND_PORT"
if protocol http; then
    start_nginx nginx-proxy nginx-proxy.conf.tmpl "$PROXY_PORT" "BACKEND_PORT=$BACKEND_PORT"
    if [[ -x $EXAMPLES_DIR/hyper_proxy ]]; then
        start_echo hyper-floor "$EXAMPLES_DIR/hyper_proxy" "$HYPER_FLOOR_PORT" "127.0.0.1:$BACKEND_PORT"
    fi
    if [[ -n $PINGAP_BIN ]]; then
        start_pingap
    fi
fi
if ! protocol http; then
    :
elif [[ $ONLY_NGINX == 1 ]]; then
    log "ONLY_NGINX=1: skipping apigw"
else
    start_apigw
    if [[ -n $APIGW_BASELINE_BIN ]]; then
        start_apigw_bin apigw-baseline "$APIGW_BASELINE_BIN" "$BASELINE_PORT" "$BASELINE_ADMIN_PORT"
    fi
    if [[ -z $SCENARIOS || ",$SCENARIOS," == *",apigw-access-log,"* ]]; then
        APIGW_ACCESS_ARGS="--access-log-file $TMP/access.log" \
            start_apigw_bin apigw-access-log "$APIGW_BIN" "$ACCESS_LOG_PORT" "$ACCESS_LOG_ADMIN_PORT"
    fi
    if [[ -z $SCENARIOS || ",$SCENARIOS," == *",apigw-metrics-off,"* ]]; then
        APIGW_METRICS=off start_apigw_bin apigw-metrics-off "$APIGW_BIN" "$METRICS_OFF_PORT" "$METRICS_OFF_ADMIN_PORT"
    fi
    if [[ $REDIS_URL == own ]]; then
        port_in_use "$REDIS_OWN_PORT" && die "port 127.0.0.1:$REDIS_OWN_PORT is already in use"
        taskset -c "${REDIS_CPUS:-$WRK_CPUS}" redis-server --port "$REDIS_OWN_PORT" --bind 127.0.0.1 \
            --save '' --appendonly no >"$TMP/redis.log" 2>&1 &
        PIDS+=("$!")
        REDIS_URL="redis://127.0.0.1:$REDIS_OWN_PORT"
        for _ in $(seq 100); do redis-cli -u "$REDIS_URL" PING >/dev/null 2>&1 && break; sleep 0.1; done
        log "redis-server of this run on $REDIS_URL, CPU(s) ${REDIS_CPUS:-$WRK_CPUS}"
    fi
    if [[ -n $REDIS_URL ]]; then
        APIGW_REDIS_URL=$REDIS_URL APIGW_REDIS_PREFIX="apigw-bench-$TS:" \
            start_apigw_bin apigw-redis "$APIGW_BIN" "$REDIS_APIGW_PORT" "$REDIS_APIGW_ADMIN_PORT"
        redis_calls() {
            # Commands clients sent (round trips); the GET/INCR/PEXPIRE a script runs inside
            # Redis are counted by commandstats too, so only the top-level ones are summed.
            redis-cli -u "$REDIS_URL" INFO commandstats |
                awk -F'[=,:]' '/^cmdstat_(evalsha|eval|set|scan|publish|script|ping)/ { n += $3 } END { print n + 0 }'
        }
        REDIS_CALLS_BEFORE=$(redis_calls)
    fi
fi
start_proto_servers

all_targets verify
mkdir -p "$RAW_DIR"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    log "round $ROUND of $ROUNDS"
    all_targets measure
done

if protocol http && [[ -n $REDIS_URL && $ONLY_NGINX != 1 ]]; then
    # Requests apigw-redis answered (wrk's counts in the raw files) against Redis commands.
    redis_requests=$(cat "$RAW_DIR"/apigw-redis-policies*.txt "$RAW_DIR"/apigw-redis-state*.txt 2>/dev/null | awk '/requests in/ { n += $1 } END { print n + 0 }')
    redis_cmds=$(($(redis_calls) - REDIS_CALLS_BEFORE))
    log "Redis: $redis_cmds commands (round trips) for $redis_requests requests (warm-ups included; heartbeats add a few): $(python3 -c "print(round($redis_cmds / max($redis_requests, 1), 3))") per request"
    redis-cli -u "$REDIS_URL" --scan --pattern "apigw-bench-$TS:*" | xargs -r redis-cli -u "$REDIS_URL" DEL >/dev/null
fi

GIT_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || true)
NGINX_VERSION=$(nginx -v 2>&1 | sed 's|^nginx version: ||')
WRK_VERSION=$(wrk --version 2>&1 | head -n 1 | awk '{print $2}' || true)
H2LOAD_VERSION=$(h2load --version 2>/dev/null | awk '{print $2}' || true)
RAW_DIR_REL="bench/out/raw-$TS"
export TS DURATION WARMUP ROUNDS CONNECTIONS THREADS SERVER_CPUS WRK_CPUS ONLY_NGINX APIGW_BIN \
    RAW_DIR_REL GIT_COMMIT NGINX_VERSION WRK_VERSION H2LOAD_VERSION PROTOCOLS MESSAGE_SIZE
report
