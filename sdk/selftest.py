#!/usr/bin/env python3
"""End-to-end check of py_call.py / node_call.js against selftest_server.py (no apigw involved).
Needs sdk/setup.sh to have run. Prints one line per case and 'N passed, N failed'; exit 1 on failure.
"""
import base64, json, os, subprocess, sys, threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import selftest_server  # noqa: E402

ENV = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
KEY = dict(app_key="203753385", app_secret="Sec-8f2b1c7e4a")
BIN = base64.b64encode(b"\x00\x01binary-payload\xff").decode()
ZS = "%E5%BC%A0%E4%B8%89"  # 张三

# (name, driver, request, expected status, expected variant: "primary" / "F2" / None = must NOT verify,
#  extra check on the server's echo or None)
CASES = [
    ("py  GET query", "py", dict(method="GET", path="/v1/users/42?b=2&a=1&empty="), 200, "primary", None),
    ("py  GET Chinese query (Q4: SDK signs encoded text)", "py",
     dict(method="GET", path="/v1/users?name=" + ZS), 200, None, None),
    ("py  POST form + query", "py",
     dict(method="POST", path="/v1/forms?z=9", form={"name": "张三", "b": "two words", "a": ""}), 200, "primary",
     lambda e: e["body"] == "name=%E5%BC%A0%E4%B8%89&b=two+words&a=&z=9"),  # Q5: z leaks into the body
    ("py  POST octet-stream + Content-MD5", "py",
     dict(method="POST", path="/v1/upload?mode=fast&v=1", body_base64=BIN), 200, "primary",
     lambda e: e["md5_ok"] is True),
    ("py  POST JSON (Q2 workaround, no MD5)", "py",
     dict(method="POST", path="/v1/items", json={"id": 7, "name": "x"}), 200, "primary",
     lambda e: e["body"] == '{"id":7,"name":"x"}' and e["md5_ok"] is None),
    ("py  PUT stage + extra header unsigned", "py",
     dict(method="PUT", path="/v1/items/7", stage="TEST", headers={"X-Trace": "t1"}, json=[1]), 200, "primary",
     lambda e: ["X-Ca-Stage", "TEST"] in e["headers"] and ["X-Trace", "t1"] in e["headers"]),
    ("py  DELETE non-2xx passthrough", "py", dict(method="DELETE", path="/status/404/v1/items/7"), 404,
     "primary", None),
    ("node GET query incl. Chinese", "node",
     dict(method="GET", path="/v1/users/42?name=%s&q=a+b&empty=" % ZS), 200, "primary",
     lambda e: e["string_to_sign"].endswith("?empty&name=张三&q=a b")),
    ("node GET repeated key (needs F2)", "node",
     dict(method="GET", path="/v1/items?tag=b&tag=a&city=%E6%9D%AD%E5%B7%9E"), 200, "F2", None),
    ("node POST form", "node",
     dict(method="POST", path="/v1/forms?z=9", form={"b": "two words", "a": "", "name": "张三"}), 200, "primary",
     lambda e: e["body"] == "b=two%20words&a=&name=%E5%BC%A0%E4%B8%89"),
    ("node POST JSON + Content-MD5 + signHeaders", "node",
     dict(method="POST", path="/v1/items?city=%E6%9D%AD%E5%B7%9E", stage="PRE", json={"id": 7, "name": "x"},
          headers={"X-Custom": "hello"}, sign_headers={"X-Custom": "hello"}), 200, "primary",
     lambda e: e["md5_ok"] is True and "\nx-custom:hello\n" in e["string_to_sign"]),
    ("node POST octet-stream + Content-MD5", "node",
     dict(method="POST", path="/v1/upload", body_base64=BIN), 200, "primary", lambda e: e["md5_ok"] is True),
    ("node PUT JSON (no MD5)", "node", dict(method="PUT", path="/v1/items/7", json={"a": 1}), 200, "primary",
     lambda e: e["md5_ok"] is None),
    ("node DELETE non-2xx passthrough", "node", dict(method="DELETE", path="/status/403/v1/items/7"), 403,
     "primary", None),
]


def run(driver, port, req):
    spec = dict(req, **KEY)
    spec["url"] = "http://127.0.0.1:%d%s" % (port, spec.pop("path"))
    cmd = [sys.executable, os.path.join(HERE, "py_call.py")] if driver == "py" else \
        ["node", os.path.join(HERE, "node_call.js")]
    p = subprocess.run(cmd, input=json.dumps(spec), capture_output=True, text=True, env=ENV, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("driver rc=%d: %s" % (p.returncode, p.stderr.strip()))
    return json.loads(p.stdout)


def main():
    srv = selftest_server.serve(0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    passed = failed = 0
    for name, driver, req, status, variant, check in CASES:
        try:
            out = run(driver, port, req)
            echo = json.loads(out["body"])
            ok = (out["status"] == status and echo["variant"] == variant and "x-ca-request-id" in out["headers"]
                  and (check is None or check(echo)))
            why = "status=%s variant=%s" % (out["status"], echo["variant"])
        except Exception as e:  # noqa: BLE001
            ok, why, echo = False, repr(e), None
        passed += ok
        failed += not ok
        print("%s  %-48s %s" % ("PASS" if ok else "FAIL", name, why))
        if not ok and echo:
            print("      server string_to_sign: %r" % echo["string_to_sign"])
    srv.shutdown()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
