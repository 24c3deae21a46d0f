#!/usr/bin/env bash
# Shared by bench/run.sh and bench/soak.sh: logging, child-process bookkeeping (every
# long-running child is recorded in PIDS and stopped on exit), config templates, readiness
# checks, and starting the nginx backend and apigw. Callers set BENCH_DIR, TMP, KEEP_TMP,
# SERVER_CPUS, READY_TIMEOUT and BACKEND_PORT before using them.

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# Process bookkeeping: every long-running child is recorded and stopped on exit.
# ---------------------------------------------------------------------------
PIDS=()
TMP=""

stop_pid() {
    local pid=$1 kids i
    kill -0 "$pid" 2>/dev/null || return 0
    # Remember the children (nginx workers) in case the parent has to be SIGKILLed.
    kids=$(pgrep -P "$pid" 2>/dev/null || true)
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not stop on SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    for i in $kids; do
        kill -KILL "$i" 2>/dev/null || true
    done
}

cleanup() {
    local rc=$? pid i
    trap - EXIT INT TERM
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]}
        stop_pid "$pid"
    done
    if [[ -n $TMP && -d $TMP ]]; then
        if [[ $KEEP_TMP == 1 || $rc -ne 0 ]]; then
            log "temp dir kept: $TMP"
        else
            rm -rf "$TMP"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

# "10s" / "1m" / "2h" / "10" -> seconds (wrk's duration syntax).
valid_duration() { [[ $1 =~ ^[0-9]+[smh]?$ ]]; }
to_seconds() {
    local d=$1
    valid_duration "$d" || return 1
    case $d in
        *h) echo $(( ${d%h} * 3600 )) ;;
        *m) echo $(( ${d%m} * 60 )) ;;
        *s) echo $(( ${d%s} )) ;;
        *) echo $(( d )) ;;
    esac
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

render() {
    local tmpl=$1 out=$2 kv expr=()
    shift 2
    for kv in "$@"; do
        expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
    done
    sed "${expr[@]}" "$tmpl" >"$out"
    if grep -q '@[A-Z_]*@' "$out"; then
        die "unfilled placeholder in $out: $(grep -o '@[A-Z_]*@' "$out" | head -1)"
    fi
}

# wait_ready NAME URL PID LOGFILE : poll until URL answers 200; fail if PID exits.
wait_ready() {
    local name=$1 url=$2 pid=$3 logfile=$4 code="" deadline=$((SECONDS + READY_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited during startup; last lines of $logfile:"
            tail -n 30 "$logfile" >&2 || true
            die "$name failed to start"
        fi
        code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' -H 'Host: localhost' "$url" || true)
        if [[ $code == 200 ]]; then
            log "$name ready ($url)"
            return 0
        fi
        sleep 0.1
    done
    log "last lines of $logfile:"
    tail -n 30 "$logfile" >&2 || true
    die "$name did not answer 200 on $url within ${READY_TIMEOUT}s (last HTTP code: '${code:-none}')"
}

# start_nginx NAME TEMPLATE PORT [KEY=VALUE...] : sets NGINX_PID.
start_nginx() {
    local name=$1 tmpl=$2 port=$3 prefix
    shift 3
    prefix="$TMP/$name"
    mkdir -p "$prefix"
    render "$BENCH_DIR/$tmpl" "$prefix/nginx.conf" "PREFIX=$prefix" "PORT=$port" "$@"
    port_in_use "$port" && die "port 127.0.0.1:$port is already in use (another benchmark or server running?)"
    if ! nginx -t -q -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" 2>"$prefix/configtest.log"; then
        cat "$prefix/configtest.log" >&2
        die "nginx config test failed for $name ($prefix/nginx.conf)"
    fi
    taskset -c "$SERVER_CPUS" nginx -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" \
        >"$prefix/stdout.log" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_ready "$name" "http://127.0.0.1:$port/hello" "$NGINX_PID" "$prefix/error.log"
}

# wait_port NAME PORT PID LOGFILE : poll until 127.0.0.1:PORT takes connections; fail if PID exits.
wait_port() {
    local name=$1 port=$2 pid=$3 logfile=$4 deadline=$((SECONDS + READY_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited during startup; last lines of $logfile:"
            tail -n 30 "$logfile" >&2 || true
            die "$name failed to start"
        fi
        if port_in_use "$port"; then
            log "$name ready (127.0.0.1:$port)"
            return 0
        fi
        sleep 0.1
    done
    tail -n 30 "$logfile" >&2 || true
    die "$name did not listen on 127.0.0.1:$port within ${READY_TIMEOUT}s"
}

# start_apigw_bin NAME BIN PORT ADMIN_PORT [TEMPLATE [KEY=VALUE...]] : applies the gateway file
# (TEMPLATE in bench/, default gateway.yaml.tmpl, rendered with BACKEND_URL and the KEY=VALUE
# pairs) to a fresh data dir and serves it (access log off, unless APIGW_ACCESS_ARGS gives other
# serve options for it); sets APIGW_DATA (the data dir) and APIGW_PID. The file must have the
# API `GET /hello` on domain localhost (the readiness check).
start_apigw_bin() {
    local name=$1 bin=$2 port=$3 admin=$4 tmpl=${5:-gateway.yaml.tmpl}
    shift $(($# < 5 ? $# : 5))
    [[ -x $bin ]] || die "apigw binary '$bin' not found or not executable (build it with 'cargo build --release', set APIGW_BIN, or run with ONLY_NGINX=1)"
    port_in_use "$port" && die "port 127.0.0.1:$port is already in use"
    port_in_use "$admin" && die "port 127.0.0.1:$admin is already in use"
    render "$BENCH_DIR/$tmpl" "$TMP/$name.yaml" "BACKEND_URL=http://127.0.0.1:$BACKEND_PORT" "$@"
    local data
    data=$(mktemp -d "$TMP/$name-data.XXXXXX")
    if ! timeout 60 "$bin" apply --data-dir "$data" -f "$TMP/$name.yaml" >"$TMP/$name-apply.log" 2>&1; then
        cat "$TMP/$name-apply.log" >&2
        die "'$bin apply' failed"
    fi
    APIGW_WORKER_THREADS=1 taskset -c "$SERVER_CPUS" "$bin" serve --data-dir "$data" \
        --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
        --tls-listen off ${APIGW_ACCESS_ARGS:---access-log off} >"$TMP/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    APIGW_DATA=$data
    APIGW_PID=$pid
    wait_ready "$name" "http://127.0.0.1:$port/hello" "$pid" "$TMP/$name.log"
}
