#!/usr/bin/env python3
"""Deploy-to-live timing through the official Tea SDK (alibabacloud-cloudapi20160714).

For DEPLOYS rounds: ModifyApi (a mock API's body becomes "v<i>"; not timed), then DeployApi
(timed until the SDK call returns), then one GET on the data plane, which must already answer
"v<i>" (read your writes; a stale answer is counted and the GET repeated until live).
Prints one JSON line: {"deploys", "stale", "return_ms": {p50, p90, max}, "live_ms": {...}}.

Usage: deploy_live.py ADMIN_ADDR DATA_ADDR HOST GROUP_ID KEY_ID KEY_SECRET [DEPLOYS]
"""
import json
import sys
import time
import urllib.request

from alibabacloud_cloudapi20160714 import models
from alibabacloud_cloudapi20160714.client import Client
from alibabacloud_tea_openapi import models as open_api_models


def main():
    admin, data, host, group, key_id, key_secret = sys.argv[1:7]
    deploys = int(sys.argv[7]) if len(sys.argv) > 7 else 100
    client = Client(open_api_models.Config(
        access_key_id=key_id, access_key_secret=key_secret, endpoint=admin, protocol="HTTP"))
    rc = json.dumps({"RequestHttpMethod": "GET", "RequestPath": "/probe"})

    def service(body):
        return json.dumps({"Mock": "TRUE", "MockResult": body})

    api_id = client.create_api(models.CreateApiRequest(
        group_id=group, api_name="probe", visibility="PRIVATE", auth_type="ANONYMOUS",
        request_config=rc, service_config=service("v0"))).body.api_id

    def answer():
        req = urllib.request.Request("http://%s/probe" % data, headers={"Host": host})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            return e.headers.get("X-Ca-Error-Code", str(e.code))

    returned, live, stale = [], [], 0
    for i in range(1, deploys + 1):
        body = "v%d" % i
        client.modify_api(models.ModifyApiRequest(
            group_id=group, api_id=api_id, api_name="probe", auth_type="ANONYMOUS",
            request_config=rc, service_config=service(body)))
        start = time.perf_counter()
        client.deploy_api(models.DeployApiRequest(api_id=api_id, stage_name="RELEASE", description="bench"))
        returned.append((time.perf_counter() - start) * 1000)
        if answer() != body:
            stale += 1
            while answer() != body:
                time.sleep(0.001)
        live.append((time.perf_counter() - start) * 1000)

    def stats(xs):
        xs = sorted(xs)
        return {"p50": round(xs[len(xs) // 2], 1), "p90": round(xs[int(len(xs) * 0.9)], 1),
                "max": round(xs[-1], 1)}

    print(json.dumps({"deploys": deploys, "stale": stale, "return_ms": stats(returned),
                      "live_ms": stats(live)}))


if __name__ == "__main__":
    main()
