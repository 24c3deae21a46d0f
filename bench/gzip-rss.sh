#!/usr/bin/env bash
# Memory of one large response compressed by the gateway: a SIZE_MB file (default 1024) served
# by nginx, fetched through apigw (release) with Accept-Encoding: gzip; prints the gateway's
# RSS before, its peak during the transfer (sampled every 50 ms), and the bytes received.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$BENCH_DIR")
cd "$REPO_ROOT"
SIZE_MB=${SIZE_MB:-1024}
APIGW_BIN=${APIGW_BIN:-target/release/apigw}
SERVER_CPUS=${SERVER_CPUS:-0}
READY_TIMEOUT=${READY_TIMEOUT:-30}
KEEP_TMP=${KEEP_TMP:-0}
BACKEND_PORT=18081
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

TMP=$(mktemp -d /tmp/apigw-gzip.XXXXXX)
chmod 755 "$TMP"
mkdir -p "$TMP/files"
# Text, not zeros: compresses like a real JSON or CSV export would (about 4:1).
python3 - "$TMP/files/big.txt" "$SIZE_MB" <<'PY'
import random, sys
random.seed(1)
words = [f"{w}{i}" for i, w in enumerate("alpha beta gamma delta epsilon zeta eta theta".split() * 64)]
line = " ".join(random.choice(words) for _ in range(100)) + "\n"
block = (line * ((1 << 20) // len(line) + 1))[: 1 << 20].encode()
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2])):
        f.write(block)
PY
chmod 644 "$TMP/files/big.txt"
cat >"$TMP/nginx.conf.tmpl" <<CONF
worker_processes 1;
daemon off;
pid @PREFIX@/nginx.pid;
error_log @PREFIX@/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path @PREFIX@/cb; proxy_temp_path @PREFIX@/pt; fastcgi_temp_path @PREFIX@/ft;
    uwsgi_temp_path @PREFIX@/ut; scgi_temp_path @PREFIX@/st;
    server {
        listen 127.0.0.1:@PORT@;
        location /hello { return 200 "hello from backend\n"; }
        location /big { default_type text/plain; alias $TMP/files/big.txt; }
    }
}
CONF
cp "$TMP/nginx.conf.tmpl" "$BENCH_DIR/.gzip-nginx.conf.tmpl"
trap 'rm -f "$BENCH_DIR/.gzip-nginx.conf.tmpl"; cleanup' EXIT
start_nginx backend .gzip-nginx.conf.tmpl "$BACKEND_PORT"
cat >"$TMP/gw.yaml" <<YAML
Groups:
  - GroupName: bench
    Domains: [{DomainName: localhost}]
    Apis:
      - ApiName: hello_proxy
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: /hello}
        ServiceConfig: {ServiceAddress: "http://127.0.0.1:$BACKEND_PORT", ServicePath: /hello, ServiceTimeout: 10000}
        DeployTo: [RELEASE]
      - ApiName: big_export
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: /big}
        ServiceConfig: {ServiceAddress: "http://127.0.0.1:$BACKEND_PORT", ServicePath: /big, ServiceTimeout: 30000}
        DeployTo: [RELEASE]
YAML
data="$TMP/data"
"$APIGW_BIN" apply --data-dir "$data" -f "$TMP/gw.yaml" >/dev/null
"$APIGW_BIN" serve --data-dir "$data" --listen 127.0.0.1:18080 --admin-listen 127.0.0.1:18090 \
    --tls-listen off --access-log off >"$TMP/apigw.log" 2>&1 &
pid=$!
PIDS+=("$pid")
wait_ready apigw "http://127.0.0.1:18080/hello" "$pid" "$TMP/apigw.log"
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
before=$(rss)
peak=$before
curl -s -H 'Host: localhost' -H 'Accept-Encoding: gzip' -o "$TMP/out.gz" \
    -w '%{http_code} %{size_download} %{time_starttransfer} %{time_total}\n' \
    http://127.0.0.1:18080/big >"$TMP/curl.txt" &
cpid=$!
while kill -0 "$cpid" 2>/dev/null; do
    now=$(rss)
    ((now > peak)) && peak=$now
    sleep 0.05
done
wait "$cpid"
read -r code size ttfb total <"$TMP/curl.txt"
plain=$(gzip -dc "$TMP/out.gz" | wc -c)
echo "response: HTTP $code, $size bytes gzip ($plain bytes after gunzip; file $((SIZE_MB * 1048576))), first byte ${ttfb}s, total ${total}s"
echo "gateway RSS: before $((before / 1024)) MiB, peak $((peak / 1024)) MiB, growth $(((peak - before) / 1024)) MiB"
