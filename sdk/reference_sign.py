#!/usr/bin/env python3
"""Independent reference for the CloudAPI APP digest signature, written from
/work/shared/spec/signature.md section 3 only (no SDK code). Stdlib only.

stdin : {"method", "path" (raw, as on the wire), "query" (raw, optional),
         "headers": [[name, value], ...] as sent (incl. X-Ca-Signature-Headers),
         "form": raw form body string (optional), "secret",
         "algorithm": "HmacSHA256"|"HmacSHA1" (optional: X-Ca-Signature-Method or HmacSHA256),
         "variants": ["F1","F2","F3","F4"] (optional, spec section 4 fallbacks; default none)}
stdout: {"string_to_sign": "...", "signature": "..."}
`--self-test` checks the spec section 8 vectors V1-V8 and exits 1 on any mismatch.
"""
import base64, hashlib, hmac, json, re, sys
from urllib.parse import unquote_plus

FIXED = ("accept", "content-md5", "content-type", "date")


def _hdr(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def _params(raw, charset, join_repeats):
    """Ordered {key: value}; first value wins, or comma-join of all values (F2)."""
    out = {}
    for piece in (raw or "").split("&"):
        k, _, v = piece.partition("=")
        k, v = unquote_plus(k, charset, "replace"), unquote_plus(v, charset, "replace")
        if not k:
            continue
        if k not in out:
            out[k] = v
        elif join_repeats:
            out[k] += "," + v
    return out


def _decode_path(path):  # F3: decode %XX except %2F / %5C, no '+' handling, must be UTF-8
    parts = re.split(r"(%2[Ff]|%5[Cc])", path)
    raw = b"".join(p.encode() if i % 2 else
                   re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), p.encode())
                   for i, p in enumerate(parts))
    return raw.decode("utf-8")  # raises UnicodeDecodeError -> variant not applicable


def string_to_sign(method, path, query, headers, form=None, variants=()):
    v = set(variants)
    lines = [method.upper()] + [_hdr(headers, n) or "" for n in ("Accept", "Content-MD5", "Content-Type", "Date")]
    sts = "\n".join(lines) + "\n"
    names, seen = [], set()
    for n in (_hdr(headers, "X-Ca-Signature-Headers") or "").split(","):
        n = n.strip(" \t")
        if not n or n in seen or n.lower() in ("x-ca-signature", "x-ca-signature-headers"):
            continue
        if n.lower() in FIXED and "F4" not in v:
            continue
        seen.add(n)
        names.append(n)
    for n in sorted(names, key=lambda s: s.encode("utf-16-be")):
        sts += "%s:%s\n" % (n, _hdr(headers, n) or "")
    ctype = _hdr(headers, "Content-Type") or ""
    params = _params(query, "utf-8", "F2" in v)
    if form is not None and ctype.lower().startswith("application/x-www-form-urlencoded"):
        m = re.search(r"charset=([^;\s]+)", ctype, re.I)
        fparams = _params(form, m.group(1).strip('"') if m else "utf-8", "F2" in v)
        for k, val in fparams.items():
            if "F1" not in v or k not in params:
                params[k] = val
    sts += _decode_path(path) if "F3" in v else path
    if params:
        keys = sorted(params, key=lambda s: s.encode("utf-16-be"))
        sts += "?" + "&".join(k if params[k] == "" else "%s=%s" % (k, params[k]) for k in keys)
    return sts


def sign(sts, secret, algorithm="HmacSHA256"):
    # An unknown algorithm name (a test of the server's refusal) still gets a signature.
    dig = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}.get(algorithm, hashlib.sha256)
    return base64.b64encode(hmac.new(secret.encode(), sts.encode(), dig).digest()).decode()


def compute(req):
    hs = [tuple(h) for h in req.get("headers", [])]
    alg = req.get("algorithm") or _hdr(hs, "X-Ca-Signature-Method") or "HmacSHA256"
    sts = string_to_sign(req["method"], req["path"], req.get("query"), hs, req.get("form"),
                         req.get("variants", ()))
    return {"string_to_sign": sts, "signature": sign(sts, req["secret"], alg)}


# ---- spec section 8 vectors -------------------------------------------------------------
SEC, TS, DATE = "Sec-8f2b1c7e4a", "1700000000123", "Tue, 14 Nov 2023 22:13:20 GMT"
JAVA_SH = "x-ca-nonce,x-ca-timestamp,x-ca-key,x-ca-signature-method,x-ca-stage"


def _java(nonce, alg, stage):
    return [["accept", "application/json; charset=utf-8"],
            ["content-type", "application/x-www-form-urlencoded; charset=utf-8"], ["date", DATE],
            ["x-ca-key", "203753385"], ["x-ca-nonce", nonce], ["x-ca-signature-method", alg],
            ["x-ca-stage", stage], ["x-ca-timestamp", TS], ["x-ca-signature-headers", JAVA_SH]]


def _node(ct, md5, nonce, extra=(), sh="x-ca-key,x-ca-nonce,x-ca-stage,x-ca-timestamp"):
    return ([["accept", "application/json"], ["content-type", ct]] + ([["content-md5", md5]] if md5 else [])
            + [["x-ca-key", "203753385"], ["x-ca-nonce", nonce], ["x-ca-stage", "PRE"],
               ["x-ca-timestamp", TS]] + list(extra) + [["x-ca-signature-headers", sh]])


def _py(ct, md5=None):
    return ([["X-Ca-Timestamp", TS], ["X-Ca-Key", "203753385"],
             ["X-Ca-Nonce", "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b"], ["Content-Type", ct],
             ["Accept", "application/json"]] + ([["Content-MD5", md5]] if md5 else [])
            + [["X-Ca-Signature-Headers", "X-Ca-Key,X-Ca-Nonce,X-Ca-Timestamp"]])


V3_STS = ("POST\napplication/json\njK9dHWC9219hAdcyp+dSVQ==\napplication/json\n\nx-ca-key:203753385\n"
          "x-ca-nonce:5b7d1f0e-3c2a-4d9b-8e6f-0a1b2c3d4e5f\nx-ca-stage:PRE\nx-ca-timestamp:1700000000123\n"
          "x-custom:hello\n/v1/items?city=杭州&tag=b")
V3 = dict(method="POST", path="/v1/items", query="tag=b&tag=a&city=%E6%9D%AD%E5%B7%9E",
          headers=_node("application/json", "jK9dHWC9219hAdcyp+dSVQ==", "5b7d1f0e-3c2a-4d9b-8e6f-0a1b2c3d4e5f",
                        [["x-custom", "hello"]], "x-ca-key,x-ca-nonce,x-ca-stage,x-ca-timestamp,x-custom"))
V6 = dict(method="POST", path="/v1/forms", query="k=fromquery&z=9", form="k=frombody&a=&b=two+words",
          headers=_py("application/x-www-form-urlencoded"))
V8 = dict(method="GET", path="/files/%E6%96%87%E4%BB%B6/a%2Fb",
          headers=[["Accept", "application/json"], ["X-Ca-Key", "203753385"], ["X-Ca-Timestamp", TS],
                   ["X-Ca-Signature-Headers", "X-Ca-Key,X-Ca-Timestamp"]])
VECTORS = [  # (name, request, expected string_to_sign or None, expected signature)
    ("V1", dict(method="GET", path="/v1/users/42", query="q=a+b&name=%E5%BC%A0%E4%B8%89&empty=",
                headers=_java("c9f15cbf-f4ac-4a6c-b54d-f51abf4b5b44", "HmacSHA256", "RELEASE")),
     "GET\napplication/json; charset=utf-8\n\napplication/x-www-form-urlencoded; charset=utf-8\n" + DATE +
     "\nx-ca-key:203753385\nx-ca-nonce:c9f15cbf-f4ac-4a6c-b54d-f51abf4b5b44\nx-ca-signature-method:HmacSHA256\n"
     "x-ca-stage:RELEASE\nx-ca-timestamp:1700000000123\n/v1/users/42?empty&name=张三&q=a b",
     "s9nW04P04/UTPNOht0bRT8LkIesKCqLg+hZA+Q5nVr8="),
    ("V2", dict(method="POST", path="/v1/orders", query="b=2", form="a=1&c=x%3Dy%26z",
                headers=_java("0b0e4f5a-2d7e-4f0e-9b3a-6a1f2c3d4e5f", "HmacSHA1", "TEST")),
     "POST\napplication/json; charset=utf-8\n\napplication/x-www-form-urlencoded; charset=utf-8\n" + DATE +
     "\nx-ca-key:203753385\nx-ca-nonce:0b0e4f5a-2d7e-4f0e-9b3a-6a1f2c3d4e5f\nx-ca-signature-method:HmacSHA1\n"
     "x-ca-stage:TEST\nx-ca-timestamp:1700000000123\n/v1/orders?a=1&b=2&c=x=y&z",
     "ZQCv8orHSavWY2iU+aIlvpknZx0="),
    ("V3", V3, V3_STS, "z/5aKqpFM41lQnzWyj1RoiLSv5yA6WVxvb2Nv8jqLck="),
    ("V3/F2", dict(V3, variants=["F2"]), V3_STS.replace("tag=b", "tag=b,a"),
     "pAhtI3xzIXPTQL8yH0sm9CqHrm9OJQ30CurU1Bl267A="),
    ("V4", dict(method="POST", path="/v1/forms", query="z=9", form="b=two%20words&a=",
                headers=_node("application/x-www-form-urlencoded; charset=UTF-8", None,
                              "7e8f9a0b-1c2d-4e3f-8a9b-0c1d2e3f4a5b")),
     "POST\napplication/json\n\napplication/x-www-form-urlencoded; charset=UTF-8\n\nx-ca-key:203753385\n"
     "x-ca-nonce:7e8f9a0b-1c2d-4e3f-8a9b-0c1d2e3f4a5b\nx-ca-stage:PRE\nx-ca-timestamp:1700000000123\n"
     "/v1/forms?a&b=two words&z=9", "6xy04Z1D5ii5f/2PdqoBEWjqvZjZ2Y5ew1HuTj0ZgKY="),
    ("V5", dict(method="POST", path="/v1/upload", query="mode=fast&v=1",
                headers=_py("application/octet-stream", "wOqvVjPnhpLBKDFYouJoUA==")),
     "POST\napplication/json\nwOqvVjPnhpLBKDFYouJoUA==\napplication/octet-stream\n\nX-Ca-Key:203753385\n"
     "X-Ca-Nonce:1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b\nX-Ca-Timestamp:1700000000123\n/v1/upload?mode=fast&v=1",
     "iIJMEQq8fOCbwWAksiCYWKcM6zNfsykBpLaWN2S7U8Q="),
    ("V6", V6, "POST\napplication/json\n\napplication/x-www-form-urlencoded\n\nX-Ca-Key:203753385\n"
     "X-Ca-Nonce:1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b\nX-Ca-Timestamp:1700000000123\n"
     "/v1/forms?a&b=two words&k=frombody&z=9", "l53QopZ43sn3SiTCtT87VxQWx/gSJDZwKVom3npjOH8="),
    ("V7", dict(method="GET", path="/v1/list", query="page=2&size=10",
                headers=[["accept", "application/json"], ["content-type", "application/json"], ["date", DATE],
                         ["x-ca-key", "203753385"], ["x-ca-nonce", "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"],
                         ["x-ca-signature-method", "HmacSHA256"], ["x-ca-stage", "RELEASE"],
                         ["x-ca-timestamp", TS], ["x-ca-signature-headers",
                                                  "x-ca-key,x-ca-nonce,x-ca-signature-method,x-ca-stage,x-ca-timestamp"]]),
     "GET\napplication/json\n\napplication/json\n" + DATE + "\nx-ca-key:203753385\n"
     "x-ca-nonce:9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d\nx-ca-signature-method:HmacSHA256\nx-ca-stage:RELEASE\n"
     "x-ca-timestamp:1700000000123\n/v1/list?page=2&size=10", "pxQX4DNxCP9OCAPEaf6DuelLB7wJnWHvNYOdMcY0wf4="),
    ("V8", V8, None, "5MLF9dTXc1UF/EmpVMPMlMpPhuOSy7YJPe2NORUae2A="),
    ("V8/F3", dict(V8, variants=["F3"]), None, "AXnYlmk6z7AgWozggaOBgibeluyeCqYv/YJXyDXRCL4="),
]


def self_test():
    bad = 0
    for name, req, want_sts, want_sig in VECTORS:
        got = compute(dict(req, secret=SEC))
        ok = got["signature"] == want_sig and (want_sts is None or got["string_to_sign"] == want_sts)
        bad += not ok
        print("%-6s %s %s" % (name, "ok  " if ok else "FAIL", got["signature"]))
        if not ok:
            print("   got  %r\n   want %r / %s" % (got["string_to_sign"], want_sts, want_sig))
    # V6 with F1 must differ (query wins) — sanity that the variant switch does something
    f1 = compute(dict(V6, secret=SEC, variants=["F1"]))["string_to_sign"]
    ok = f1.endswith("k=fromquery&z=9")
    bad += not ok
    print("V6/F1  %s query wins" % ("ok  " if ok else "FAIL"))
    print("%d passed, %d failed" % (len(VECTORS) + 1 - bad, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    if "--self-test" in sys.argv[1:]:
        sys.exit(self_test())
    json.dump(compute(json.load(sys.stdin)), sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
