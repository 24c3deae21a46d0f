#!/usr/bin/env python3
"""End-to-end check of mgmt_call.py (official CloudAPI management SDKs) against
mgmt_selftest_server.py (no apigw involved), plus mgmt_reference.py --self-test.
Needs sdk/mgmt-setup.sh to have run. Prints one line per case, the wire facts observed per client
mode, and 'N passed, N failed'; exit 1 on any failure.
"""
import json
import os
import re
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mgmt_selftest_server  # noqa: E402

ENV = {k: v for k, v in os.environ.items()
       if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
AK, SK = "testid", "testsecret"
MODES = {  # client -> (wire method, signature scheme)
    "tea": ("POST", "v3"), "tea-v1": ("POST", "v1"), "legacy": ("GET", "v1"), "legacy-post": ("POST", "v1")}
HEX32 = re.compile(r"^[0-9a-f]{32}$")
DESC = "my group & \u00e9/~*+"
REQUEST_CONFIG = json.dumps({"RequestProtocol": "HTTP,HTTPS", "RequestHttpMethod": "GET",
                             "RequestPath": "/users/[userId]", "RequestMode": "MAPPING",
                             "BodyFormat": "FORM", "PostBodyDescription": ""})
SERVICE_CONFIG = json.dumps({"ServiceProtocol": "HTTP", "ServiceAddress": "http://127.0.0.1:9000",
                             "ServicePath": "/u/[userId]", "ServiceHttpMethod": "GET",
                             "ServiceTimeout": 10000, "ContentTypeCatagory": "CLIENT", "Mock": "FALSE"})
REQUEST_PARAMETERS = json.dumps([{"ApiParameterName": "userId", "Location": "PATH",
                                  "ParameterType": "String", "Required": "REQUIRED"}])
SERVICE_PARAMETERS = json.dumps([{"ServiceParameterName": "userId", "Location": "PATH",
                                  "ParameterType": "STRING", "ParameterCatalog": "REQUEST"}])
SERVICE_PARAMETERS_MAP = json.dumps([{"ServiceParameterName": "userId", "RequestParameterName": "userId"}])


def call(port, client, action, params, secret=SK, endpoint=None, extra=None):
    spec = {"endpoint": endpoint or "127.0.0.1:%d" % port, "access_key_id": AK,
            "access_key_secret": secret, "client": client, "action": action, "params": params}
    spec.update(extra or {})
    p = subprocess.run([sys.executable, os.path.join(HERE, "mgmt_call.py")], input=json.dumps(spec),
                       capture_output=True, text=True, env=ENV, timeout=120)
    out = None
    if p.returncode == 0:
        out = json.loads(p.stdout)
    return p.returncode, out, p.stderr.strip()


def wire_ok(entry, client):
    method, scheme = MODES[client]
    if entry is None:
        return False, "server saw no request"
    if entry["method"] != method or entry.get("scheme") != scheme:
        return False, "wire %s/%s, expected %s/%s" % (entry["method"], entry.get("scheme"), method, scheme)
    return True, "%s %s" % (method, scheme)


def main():
    srv = mgmt_selftest_server.start(0)
    port = srv.server_port
    log = srv.log
    results = []
    facts = {}

    def record(name, ok, why):
        results.append(ok)
        print("%s  %-58s %s" % ("PASS" if ok else "FAIL", name, why))

    # 0. the reference implementation against the spec vectors
    p = subprocess.run([sys.executable, os.path.join(HERE, "mgmt_reference.py"), "--self-test"],
                       capture_output=True, text=True, timeout=60)
    record("mgmt_reference.py --self-test", p.returncode == 0,
           (p.stdout.strip().splitlines() or ["no output"])[-1])

    for client in MODES:
        tag = client.replace("-", "_")
        # 1. CreateApiGroup with flat Tag.1.Key / Tag.1.Value
        n0 = len(log)
        rc, out, err = call(port, client, "CreateApiGroup",
                            {"GroupName": "grp_" + tag, "Description": DESC,
                             "Tag.1.Key": "env", "Tag.1.Value": "dev"})
        entry = log[-1] if len(log) > n0 else None
        group_id = None
        try:
            ok, why = wire_ok(entry, client)
            body = out["body"]
            group_id = body.get("GroupId")
            ok = ok and out["ok"] and out["status"] == 200 and bool(HEX32.match(group_id or "")) \
                and body.get("GroupName") == "grp_" + tag and bool(body.get("SubDomain")) \
                and bool(body.get("RequestId")) \
                and entry["params"].get("Tag.1.Key") == "env" and entry["params"].get("Tag.1.Value") == "dev" \
                and entry["params"].get("Description") == DESC
            why += " GroupId=%s" % group_id
        except Exception as e:  # noqa: BLE001
            ok, why = False, "rc=%s out=%s err=%s (%r)" % (rc, out, err[-300:], e)
        record("%-11s CreateApiGroup (Tag.1.Key/Value)" % client, ok, why)
        if entry is not None:
            facts[client] = entry

        # 2. CreateApiGroup with a nested Tag list
        n0 = len(log)
        rc, out, err = call(port, client, "CreateApiGroup",
                            {"GroupName": "grp2_" + tag,
                             "Tag": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]})
        entry = log[-1] if len(log) > n0 else None
        try:
            ok, why = wire_ok(entry, client)
            ok = ok and out["ok"] and [entry["params"].get(k) for k in
                                       ("Tag.1.Key", "Tag.1.Value", "Tag.2.Key", "Tag.2.Value")] == ["a", "1", "b", "2"]
        except Exception as e:  # noqa: BLE001
            ok, why = False, "rc=%s out=%s err=%s (%r)" % (rc, out, err[-300:], e)
        record("%-11s CreateApiGroup (nested Tag list)" % client, ok, why)

        # 3. DescribeApiGroups: wrapper structure as parsed by the SDK
        rc, out, err = call(port, client, "DescribeApiGroups",
                            {"GroupName": "grp_" + tag, "PageNumber": 1, "PageSize": 10})
        try:
            body = out["body"]
            groups = body["ApiGroupAttributes"]["ApiGroupAttribute"]
            ok = out["ok"] and out["status"] == 200 and body["TotalCount"] == 1 \
                and body["PageNumber"] == 1 and body["PageSize"] == 10 and bool(body.get("RequestId")) \
                and len(groups) == 1 and groups[0]["GroupId"] == group_id \
                and groups[0]["Tags"]["TagInfo"] == [{"Key": "env", "Value": "dev"}] \
                and out.get("unknown_fields", []) == []
            why = "TotalCount=%s groups=%d" % (body.get("TotalCount"), len(groups))
        except Exception as e:  # noqa: BLE001
            ok, why = False, "rc=%s out=%s err=%s (%r)" % (rc, out, err[-300:], e)
        record("%-11s DescribeApiGroups (wrapper lists)" % client, ok, why)

        # 4. CreateApi with JSON-string configs and a boolean
        n0 = len(log)
        rc, out, err = call(port, client, "CreateApi", {
            "GroupId": group_id or "abcdef0123456789abcdef0123456789", "ApiName": "get_user",
            "Visibility": "PRIVATE", "AuthType": "APP", "Description": "a b&c=d/\u00e9~*",
            "RequestConfig": REQUEST_CONFIG, "ServiceConfig": SERVICE_CONFIG,
            "RequestParameters": REQUEST_PARAMETERS, "ServiceParameters": SERVICE_PARAMETERS,
            "ServiceParametersMap": SERVICE_PARAMETERS_MAP, "ResultType": "JSON",
            "ResultSample": '{"id":1}', "ForceNonceCheck": True})
        entry = log[-1] if len(log) > n0 else None
        try:
            ok, why = wire_ok(entry, client)
            prm = entry["params"]
            in_body = "RequestParameters=" in entry["body"]
            ok = ok and out["ok"] and bool(HEX32.match(out["body"].get("ApiId") or "")) \
                and json.loads(prm["RequestConfig"]) == json.loads(REQUEST_CONFIG) \
                and json.loads(prm["ServiceConfig"]) == json.loads(SERVICE_CONFIG) \
                and json.loads(prm["RequestParameters"]) == json.loads(REQUEST_PARAMETERS) \
                and json.loads(prm["ServiceParametersMap"]) == json.loads(SERVICE_PARAMETERS_MAP) \
                and prm["ResultSample"] == '{"id":1}' and prm["ForceNonceCheck"] == "True" \
                and in_body == client.startswith("tea")
            why += " RequestParameters in %s, ForceNonceCheck=%s" % ("body" if in_body else "query",
                                                                     prm.get("ForceNonceCheck"))
        except Exception as e:  # noqa: BLE001
            ok, why = False, "rc=%s out=%s err=%s (%r)" % (rc, out, err[-300:], e)
        record("%-11s CreateApi (JSON strings, bool)" % client, ok, why)

        # 5. wrong secret
        want = "SignatureDoesNotMatch" if client.startswith("tea") else "InvalidAccessKeySecret"
        rc, out, err = call(port, client, "CreateApiGroup", {"GroupName": "never_" + tag}, secret="wrong")
        try:
            ok = (not out["ok"]) and out["status"] == 400 and out["code"] == want and bool(out["request_id"])
            if client.startswith("tea"):
                ok = ok and ":" in out["message"] and out["message"].split(":", 1)[1].startswith(
                    "ACS3-HMAC-SHA256\n" if client == "tea" else "POST&%2F&")
            why = "%s %s (%s)" % (out["status"], out["code"], out.get("exception"))
        except Exception as e:  # noqa: BLE001
            ok, why = False, "rc=%s out=%s err=%s (%r)" % (rc, out, err[-300:], e)
        record("%-11s wrong secret -> %s" % (client, want), ok, why)

        # 6. server errors surface with code / status / request id
        rc, out, err = call(port, client, "DescribeApiGroups",
                            {"GroupId": "__error__:400:NotFoundApiGroup"})
        rc2, out2, err2 = call(port, client, "DescribeApiGroups",
                               {"GroupId": "__error__:503:ServiceUnavailable"})
        try:
            ok = out["status"] == 400 and out["code"] == "NotFoundApiGroup" and bool(out["request_id"]) \
                and out2["status"] == 503 and out2["code"] == "ServiceUnavailable"
            why = "400 -> %s, 503 -> %s" % (out["exception"], out2["exception"])
        except Exception as e:  # noqa: BLE001
            ok, why = False, "out=%s out2=%s err=%s (%r)" % (out, out2, (err + err2)[-300:], e)
        record("%-11s error 400/503 surfacing" % client, ok, why)

        # 7. connection refused
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
        s.close()
        rc, out, err = call(port, client, "DescribeApiGroups", {}, endpoint="127.0.0.1:%d" % dead)
        want = "SDK.UnretryableException" if client.startswith("tea") else "SDK.HttpError"
        ok = rc == 0 and out is not None and out["ok"] is False and out["code"] == want \
            and out["status"] is None
        record("%-11s connection refused -> %s" % (client, want), ok,
               "rc=%s code=%s" % (rc, out and out.get("code")))

    # driver-level checks
    rc, out, err = call(port, "legacy", "CreateApiGroup",
                        {"GroupName": "x", "Description": "__error__:400:SignatureDoesNotMatch:nocolon"})
    record("legacy      SignatureDoesNotMatch w/o ':' -> SDK.Crash", rc == 0 and out["code"] == "SDK.Crash"
           and out["exception"] == "IndexError", "code=%s exc=%s" % (out and out.get("code"), out and out.get("exception")))
    rc, out, err = call(port, "tea", "CreateApiGroup", {"GroupName": "x", "NoSuchParam": "1"})
    record("tea         unknown model parameter -> exit 2", rc == 2 and "NoSuchParam" in err, "rc=%s" % rc)
    n0 = len(log)
    rc, out, err = call(port, "tea", "CreateApiGroup", {"GroupName": "grp_lax", "NoSuchParam": "1"},
                        extra={"strict": False})
    record("tea         unknown parameter, strict=false -> dropped", rc == 0 and out["ok"]
           and "NoSuchParam" not in log[-1]["params"], "rc=%s" % rc)
    rc, out, err = call(port, "legacy", "CreateApiGroup", {"GroupName": "grp_lx", "NoSuchParam": "1"})
    record("legacy      unknown parameter -> add_query_param", rc == 0 and out["ok"]
           and log[-1]["params"].get("NoSuchParam") == "1", "rc=%s" % rc)
    rc, out, err = call(port, "legacy", "NoSuchAction", {})
    record("legacy      unknown action -> exit 2", rc == 2, "rc=%s" % rc)
    rc, out, err = call(port, "bogus", "CreateApiGroup", {})
    record("driver      unknown client -> exit 2", rc == 2, "rc=%s" % rc)

    print("\nwire facts observed (CreateApiGroup):")
    for client, e in facts.items():
        hdr = [n for n, _ in e["headers"]]
        print("  %-11s %s %s | query: %s | body: %r | headers: %s" % (
            client, e["method"], e["scheme"], ",".join(k for k, _ in e["query"]), e["body"][:60],
            ",".join(hdr)))
    srv.shutdown()
    passed = sum(1 for r in results if r)
    failed = len(results) - passed
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
