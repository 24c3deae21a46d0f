#!/usr/bin/env bash
# Prints a declarative file of GROUP_COUNT x APIS_PER_GROUP anonymous APIs, each deployed to
# RELEASE (used by apply-10k.sh and deploy-live.sh).
set -euo pipefail
GROUP_COUNT="${GROUP_COUNT:-100}"
APIS_PER_GROUP="${APIS_PER_GROUP:-100}"
echo "Groups:"
for ((g = 0; g < GROUP_COUNT; g++)); do
  echo "  - GroupName: group_$g"
  echo "    Domains: [{DomainName: g$g.bench.example.com}]"
  echo "    Apis:"
  for ((a = 0; a < APIS_PER_GROUP; a++)); do
    echo "      - ApiName: api_$a"
    echo "        AuthType: ANONYMOUS"
    echo "        RequestConfig: {RequestHttpMethod: GET, RequestPath: \"/res$a/[id]\"}"
    echo "        ServiceConfig: {ServiceAddress: \"http://127.0.0.1:9000\", ServicePath: \"/backend/res$a/[id]\", ServiceTimeout: 3000}"
    echo "        DeployTo: [RELEASE]"
  done
done
