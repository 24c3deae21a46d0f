#!/usr/bin/env python3
"""Send ONE request signed by the official Python SDK `aliyun-api-gateway-sign==1.0.4`
(module com.aliyun.api.gateway.sdk, = aliyun/api-gateway-demo-sign-python demo-sign3).

stdin : {"url": "http://127.0.0.1:PORT/path?query", "method": "GET|POST|PUT|DELETE",
         "app_key", "app_secret", "stage" (opt), "headers" {..} (opt), "form" {..} (opt),
         "json" <any> (opt), "body_base64" "..." (opt), "content_type" "..." (opt),
         "timeout_s" (opt, default 30)}
stdout: {"status": int, "headers": {lower-case name: value}, "body": "text"}
Exit 0 whenever an HTTP response arrived (any status); 2 on a driver/SDK failure (stderr says why).

The request is signed AND sent by the package itself: DefaultClient.execute(Request) as in the
upstream ClientDemo.py. Run with the venv from sdk/setup.sh; if the package is not importable
this script re-executes itself with ${APIGW_SDK_DIR:-<repo>/target/sdk}/py/bin/python.

SDK quirks (1.0.4) and what this driver does about them:
 Q1 execute() never passes a port to its http Response (always connects to :80, or :443 for
    https). WORKAROUND: the `Response` name inside the client module is replaced by a shim that
    builds the package's own Response with port=<URL port>. Everything else is the SDK's code.
 Q2 JSON (str) bodies crash the signer (`str.keys()`), bytes bodies crash unless POST +
    exactly 'application/octet-stream'. WORKAROUND: for such bodies the Request given to
    execute() carries body=None (the signer then signs no parameters, which is what the
    spec requires for non-form bodies) and the shim puts the real bytes on the wire.
    Content-MD5 is therefore only sent for POST + 'application/octet-stream' (SDK rule).
 Q3 Only X-Ca-Key / X-Ca-Nonce / X-Ca-Timestamp are signed (header names as written,
    'X-Ca-Key:...'); every user header except Accept is DROPPED by build_headers. The SDK
    cannot send X-Ca-Stage at all. WORKAROUND (test convenience): extra "headers" and "stage"
    (as X-Ca-Stage) are added to the wire request by the shim, UNSIGNED (not listed in
    X-Ca-Signature-Headers). Do not pass Content-MD5/Date/Content-Type there: they are
    fixed signature lines and would break the signature (use "content_type").
 Q4 Query values are signed exactly as typed in the URL (no percent-decoding): a
    percent-encoded (e.g. Chinese) or '+' query value does NOT verify against a spec-correct
    server on GET. A raw non-ASCII URL cannot be sent at all (http.client is ASCII-only).
    A query piece without '=' (`?a`) crashes the signer (IndexError); `a=x=y` signs `a=x`.
    Repeated key: first value signed. Not worked around (real SDK behaviour).
 Q5 For form posts the signer MUTATES the form dict: query parameters absent from the form
    are inserted into it, so they are also sent in the form body (raw, re-urlencoded).
    Not worked around (real SDK behaviour).
 Q6 The form body is only urlencoded when Content-Type is exactly
    'application/x-www-form-urlencoded'; with a charset suffix the SDK would hand a dict to
    http.client. WORKAROUND: the shim urlencodes a dict body in that case (same urlencode call).
 Q7 Response body is decoded as UTF-8 by the SDK; transport errors are print()ed to stdout and
    (None, None, None) returned. The driver captures that print and exits 2.
 Q8 Content-Type is always sent ('application/json' when unset, even on GET); Accept defaults
    to 'application/json'.
"""
import base64
import contextlib
import io
import json
import os
import sys
from urllib.parse import urlencode, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    from com.aliyun.api.gateway.sdk import client as sdk_client
    from com.aliyun.api.gateway.sdk.common import constant
    from com.aliyun.api.gateway.sdk.http import request as sdk_request
    from com.aliyun.api.gateway.sdk.http.response import Response as SdkResponse
except ImportError:
    venv_py = os.path.join(os.environ.get("APIGW_SDK_DIR") or os.path.join(HERE, "..", "target", "sdk"),
                           "py", "bin", "python")
    if os.path.exists(venv_py) and not os.environ.get("_APIGW_PY_CALL_REEXEC"):
        os.environ["_APIGW_PY_CALL_REEXEC"] = "1"
        os.execv(venv_py, [venv_py, os.path.abspath(__file__)] + sys.argv[1:])
    sys.stderr.write("py_call: aliyun-api-gateway-sign not importable; run sdk/setup.sh\n")
    sys.exit(2)


def fail(msg):
    sys.stderr.write("py_call: %s\n" % msg)
    sys.exit(2)


def main():
    try:
        spec = json.load(sys.stdin)
    except ValueError as e:
        fail("bad JSON on stdin: %s" % e)
    method = spec.get("method", "GET").upper()
    u = urlsplit(spec["url"])
    protocol = constant.HTTPS if u.scheme == "https" else constant.HTTP
    port = u.port or (443 if protocol == constant.HTTPS else 80)
    path_query = (u.path or "/") + ("?" + u.query if u.query else "")
    extra = dict(spec.get("headers") or {})
    if spec.get("stage"):
        extra.setdefault("X-Ca-Stage", spec["stage"])

    content_type = spec.get("content_type")
    wire_body = None
    if spec.get("form") is not None:
        wire_body = {k: "" if v is None else str(v) for k, v in spec["form"].items()}
        content_type = content_type or constant.CONTENT_TYPE_FORM
    elif "json" in spec:
        wire_body = json.dumps(spec["json"], ensure_ascii=False, separators=(",", ":")).encode()
        content_type = content_type or constant.CONTENT_TYPE_JSON
    elif spec.get("body_base64") is not None:
        wire_body = base64.b64decode(spec["body_base64"])
        content_type = content_type or constant.CONTENT_TYPE_STREAM
    if wire_body is None or isinstance(wire_body, dict):
        sign_body = wire_body
    elif method == constant.POST and content_type == constant.CONTENT_TYPE_STREAM:
        sign_body = wire_body  # the only raw-body case the SDK handles (and sends Content-MD5 for)
    else:
        sign_body = None  # Q2

    def response_shim(**kw):  # Q1, Q2, Q3, Q6 — see module docstring
        kw["port"] = port
        headers = dict(kw.get("headers") or {})
        have = {k.lower() for k in headers}
        for k, v in extra.items():
            if k.lower() not in have:
                headers[k] = str(v)
        kw["headers"] = headers
        body = kw.get("content")
        if sign_body is None and wire_body is not None:
            body = wire_body
        if isinstance(body, dict) and kw.get("content_type") != constant.CONTENT_TYPE_FORM:
            body = urlencode(body)
        kw["content"] = body
        return SdkResponse(**kw)

    sdk_client.Response = response_shim

    cli = sdk_client.DefaultClient(app_key=spec["app_key"], app_secret=spec["app_secret"],
                                   time_out=spec.get("timeout_s", 30))
    req = sdk_request.Request(host="%s://%s" % (protocol, u.netloc), protocol=protocol,
                              headers=dict(extra), url=path_query, method=method,
                              time_out=spec.get("timeout_s", 30))
    if content_type:
        req.set_content_type(content_type)
    req.set_body(sign_body)

    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            status, headers, body = cli.execute(req)
    except Exception as e:  # SDK crash (e.g. Q4 IndexError)
        fail("SDK raised %s: %s" % (type(e).__name__, e))
    if status is None:
        fail("SDK transport failure: %s" % printed.getvalue().strip())
    out_headers = {}
    for k, v in headers or []:
        k = k.lower()
        out_headers[k] = out_headers[k] + ", " + v if k in out_headers else v
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    json.dump({"status": status, "headers": out_headers, "body": body}, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
