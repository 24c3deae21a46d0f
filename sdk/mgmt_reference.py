#!/usr/bin/env python3
"""Independent stdlib implementation of the CloudAPI 2016-07-14 MANAGEMENT API signatures
(written from spec management-signature.md only, no SDK code):

  V1  classic RPC HMAC-SHA1 (legacy aliyun-python-sdk-core; Tea SDK with signature_algorithm='v2')
      params       = decoded query  U  decoded form body (body wins), minus "Signature"
      canonical    = "&".join(pct(k) + "=" + pct(v) for k, v sorted by decoded key)
      StringToSign = METHOD + "&" + pct("/") + "&" + pct(canonical)
      Signature    = base64(HMAC-SHA1(secret + "&", StringToSign))
  V3  ACS3-HMAC-SHA256 (Tea SDK default)
      CanonicalRequest = METHOD \\n path \\n canonicalQuery \\n canonicalHeaders \\n
                         signedHeaders \\n hex(sha256(body))      (canonicalQuery: query only)
      StringToSign     = "ACS3-HMAC-SHA256\\n" + hex(sha256(CanonicalRequest))
      Signature        = hex(HMAC-SHA256(secret, StringToSign))
  pct(s): UTF-8 bytes, keep A-Z a-z 0-9 - _ . ~, everything else %XX (upper-case hex).
  Incoming query/body text is always form-DECODED first ('+' = space), then re-encoded with pct.

CLI
  mgmt_reference.py --self-test    checks every vector of management-signature.md (§3.4 V1-A/B,
                                   §4.4 V3-A/B incl. canonical requests, Appendix A captures);
                                   prints one line per check, exit 1 on any mismatch.
  mgmt_reference.py                stdin: {"scheme": "v1"|"v3", "method": "POST", "path": "/",
                                           "query": "<raw query string, no '?'>",
                                           "headers": [[name, value], ...],
                                           "body": "<raw body text>", "secret": "..."}
                                   stdout: {"string_to_sign": "...", "signature": "...",
                                            "canonical_request": "..." (v3 only)}
     v1: the body is form-decoded when no content-type header is given or it starts with
         application/x-www-form-urlencoded (else ignored). "path" is not used (always %2F).
     v3: signed headers = "signed_headers" (list or ';'-string) if given, else the SignedHeaders
         of an ACS3 Authorization header in "headers", else every given header except
         authorization (lower-cased, sorted).
Library: pct, form_decode, v1_string_to_sign, v1_sign, v3_canonical_request,
         v3_string_to_sign, v3_sign, parse_acs3_authorization, compute (the stdin mode).
"""
import base64
import hashlib
import hmac
import json
import sys
from urllib.parse import parse_qsl

V3_ALGORITHM = "ACS3-HMAC-SHA256"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def pct(s):
    """Percent-encode per spec §2 (RFC 3986 unreserved kept, per-byte upper-case %XX)."""
    if not isinstance(s, str):
        s = str(s)
    return "".join(chr(b) if b in _UNRESERVED else "%%%02X" % b for b in s.encode("utf-8"))


def form_decode(raw):
    """Decode a raw query string / form body: '+' = space, %XX = byte, UTF-8. Keeps order,
    blank values and repeated keys. A piece without '=' is a key with an empty value."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not raw:
        return []
    return parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="replace")


# ---------------------------------------------------------------------------------------- V1

def v1_params(query_pairs, body_pairs=()):
    """Merge decoded query and form pairs (body wins on clash), drop 'Signature'."""
    merged = {}
    for k, v in list(query_pairs) + list(body_pairs):
        merged[k] = v
    merged.pop("Signature", None)
    return merged


def v1_canonical(params):
    items = sorted(params.items(), key=lambda kv: kv[0].encode("utf-8"))
    return "&".join(pct(k) + "=" + pct(v) for k, v in items)


def v1_string_to_sign(method, params):
    """params: dict of DECODED parameters (Signature is ignored if present)."""
    p = dict(params)
    p.pop("Signature", None)
    return method.upper() + "&" + pct("/") + "&" + pct(v1_canonical(p))


def v1_sign(string_to_sign, secret):
    mac = hmac.new((secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


# ---------------------------------------------------------------------------------------- V3

def parse_acs3_authorization(value):
    """'ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=a;b,Signature=hex' ->
    (algorithm, access_key_id, [signed headers], signature). Raises ValueError if malformed."""
    if not value:
        raise ValueError("empty Authorization")
    alg, sep, rest = value.strip().partition(" ")
    if not sep or not alg.startswith("ACS3-"):
        raise ValueError("not an ACS3 Authorization header")
    fields = {}
    for part in rest.split(","):
        k, eq, v = part.strip().partition("=")
        if not eq:
            raise ValueError("malformed Authorization component %r" % part)
        fields[k.strip()] = v.strip()
    for need in ("Credential", "SignedHeaders", "Signature"):
        if need not in fields:
            raise ValueError("Authorization lacks " + need)
    signed = [h for h in fields["SignedHeaders"].split(";") if h]
    return alg, fields["Credential"], signed, fields["Signature"]


def v3_canonical_query(query_pairs):
    enc = sorted((pct(k), pct(v)) for k, v in query_pairs)
    return "&".join(k + "=" + v for k, v in enc)


def v3_canonical_headers(headers, signed_headers):
    """headers: list of (name, value); signed_headers: list of lower-case names."""
    out = []
    for h in signed_headers:
        vals = sorted(v.strip() for n, v in headers if n.lower() == h)
        out.append(h + ":" + ",".join(vals) + "\n")
    return "".join(out)


def v3_canonical_request(method, path, query_pairs, headers, signed_headers, body):
    if isinstance(body, str):
        body = body.encode("utf-8")
    signed = [h.lower() for h in signed_headers]
    return (method.upper() + "\n" + (path or "/") + "\n" + v3_canonical_query(query_pairs) + "\n"
            + v3_canonical_headers(headers, signed) + "\n"
            + ";".join(signed) + "\n"
            + hashlib.sha256(body or b"").hexdigest())


def v3_string_to_sign(canonical_request):
    return V3_ALGORITHM + "\n" + hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()


def v3_sign(string_to_sign, secret):
    return hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"),
                    hashlib.sha256).hexdigest()


# ------------------------------------------------------------------------------ stdin mode

def _header(headers, name):
    for n, v in headers:
        if n.lower() == name:
            return v
    return None


def compute(spec):
    scheme = (spec.get("scheme") or "").lower()
    method = spec.get("method") or "GET"
    path = spec.get("path") or "/"
    query = spec.get("query") or ""
    if query.startswith("?"):
        query = query[1:]
    headers = [(str(n), str(v)) for n, v in (spec.get("headers") or [])]
    body = spec.get("body") or ""
    secret = spec.get("secret")
    if secret is None:
        raise ValueError("secret missing")
    if scheme == "v1":
        ct = _header(headers, "content-type")
        body_pairs = form_decode(body) if (ct is None or ct.lower().startswith(
            "application/x-www-form-urlencoded")) else []
        sts = v1_string_to_sign(method, v1_params(form_decode(query), body_pairs))
        return {"string_to_sign": sts, "signature": v1_sign(sts, secret)}
    if scheme == "v3":
        signed = spec.get("signed_headers")
        if isinstance(signed, str):
            signed = [h for h in signed.split(";") if h]
        if not signed:
            auth = _header(headers, "authorization")
            if auth and auth.strip().startswith("ACS3-"):
                signed = parse_acs3_authorization(auth)[2]
            else:
                signed = sorted({n.lower() for n, _ in headers if n.lower() != "authorization"})
        cr = v3_canonical_request(method, path, form_decode(query), headers, signed, body)
        sts = v3_string_to_sign(cr)
        return {"string_to_sign": sts, "signature": v3_sign(sts, secret), "canonical_request": cr}
    raise ValueError("scheme must be v1 or v3")


# ------------------------------------------------------------------------------ self-test

SECRET = "testsecret"

V1_A_PARAMS = {
    "Action": "CreateApiGroup", "Format": "json", "Version": "2016-07-14",
    "Timestamp": "2024-05-01T12:00:00Z", "SignatureNonce": "3f7c1d2e9a8b4c5d6e7f8091a2b3c4d5",
    "GroupName": "demo_group", "Description": "my group", "SignatureMethod": "HMAC-SHA1",
    "SignatureVersion": "1.0", "AccessKeyId": "testid",
}
V1_A_STS = ("POST&%2F&AccessKeyId%3Dtestid%26Action%3DCreateApiGroup%26Description%3Dmy%2520group"
            "%26Format%3Djson%26GroupName%3Ddemo_group%26SignatureMethod%3DHMAC-SHA1"
            "%26SignatureNonce%3D3f7c1d2e9a8b4c5d6e7f8091a2b3c4d5%26SignatureVersion%3D1.0"
            "%26Timestamp%3D2024-05-01T12%253A00%253A00Z%26Version%3D2016-07-14")
V1_A_SIG = "jLKEEoumrbAPekEGX+4ifGmU2P4="

V1_B_PARAMS = {
    "Action": "CreateApi", "Format": "JSON", "Version": "2016-07-14", "RegionId": "cn-hangzhou",
    "Timestamp": "2024-05-01T12:00:00Z", "SignatureMethod": "HMAC-SHA1", "SignatureType": "",
    "SignatureVersion": "1.0", "SignatureNonce": "b6a1c7e0-1f2d-4c3b-9a8e-7d6c5b4a3f21",
    "AccessKeyId": "testid", "GroupId": "abcdef0123456789abcdef0123456789",
    "ApiName": "get_user", "Visibility": "PRIVATE", "Description": "a b&c=d/\u00e9~*",
    "RequestConfig": '{"RequestProtocol":"HTTP","RequestHttpMethod":"GET",'
                     '"RequestPath":"/users/[userId]","RequestMode":"MAPPING"}',
}
V1_B_STS = ("GET&%2F&AccessKeyId%3Dtestid%26Action%3DCreateApi%26ApiName%3Dget_user"
            "%26Description%3Da%2520b%2526c%253Dd%252F%25C3%25A9~%252A%26Format%3DJSON"
            "%26GroupId%3Dabcdef0123456789abcdef0123456789%26RegionId%3Dcn-hangzhou"
            "%26RequestConfig%3D%257B%2522RequestProtocol%2522%253A%2522HTTP%2522%252C"
            "%2522RequestHttpMethod%2522%253A%2522GET%2522%252C%2522RequestPath%2522%253A"
            "%2522%252Fusers%252F%255BuserId%255D%2522%252C%2522RequestMode%2522%253A"
            "%2522MAPPING%2522%257D%26SignatureMethod%3DHMAC-SHA1"
            "%26SignatureNonce%3Db6a1c7e0-1f2d-4c3b-9a8e-7d6c5b4a3f21%26SignatureType%3D"
            "%26SignatureVersion%3D1.0%26Timestamp%3D2024-05-01T12%253A00%253A00Z"
            "%26Version%3D2016-07-14%26Visibility%3DPRIVATE")
V1_B_SIG = "5SHFMv+l1cLBgpAs9FWSsytindg="

V3_A_QUERY = "Description=my%20group&GroupName=demo_group"
V3_A_HEADERS = [
    ("host", "apigateway.cn-hangzhou.aliyuncs.com"),
    ("x-acs-action", "CreateApiGroup"),
    ("x-acs-version", "2016-07-14"),
    ("x-acs-date", "2024-05-01T12:00:00Z"),
    ("x-acs-signature-nonce", "3f7c1d2e9a8b4c5d6e7f8091a2b3c4d5"),
    ("x-acs-content-sha256", EMPTY_SHA256),
]
V3_A_SIGNED = ["host", "x-acs-action", "x-acs-content-sha256", "x-acs-date",
               "x-acs-signature-nonce", "x-acs-version"]
V3_A_CR = ("POST\n/\nDescription=my%20group&GroupName=demo_group\n"
           "host:apigateway.cn-hangzhou.aliyuncs.com\n"
           "x-acs-action:CreateApiGroup\n"
           "x-acs-content-sha256:" + EMPTY_SHA256 + "\n"
           "x-acs-date:2024-05-01T12:00:00Z\n"
           "x-acs-signature-nonce:3f7c1d2e9a8b4c5d6e7f8091a2b3c4d5\n"
           "x-acs-version:2016-07-14\n\n"
           "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n"
           + EMPTY_SHA256)
V3_A_STS = V3_ALGORITHM + "\n1bb80ef8eec701600396be6cd0951b5a716214b756fcdaac8fbe6fd30944bdb5"
V3_A_SIG = "2b7a823618848c8f124e51c99748d632655b61314d3a8f5d72d7ebfc338b078d"

V3_B_QUERY_PAIRS = [
    ("GroupId", "abcdef0123456789abcdef0123456789"), ("ApiName", "get_user"),
    ("Visibility", "PRIVATE"), ("AuthType", "APP"), ("Description", "a b&c=d/\u00e9~*"),
    ("RequestConfig", '{"RequestProtocol":"HTTP","RequestHttpMethod":"GET",'
                      '"RequestPath":"/users/[userId]","RequestMode":"MAPPING"}'),
    ("ServiceConfig", '{"ServiceProtocol":"HTTP","ServiceAddress":"http://127.0.0.1:9000",'
                      '"ServicePath":"/u/[userId]","ServiceHttpMethod":"GET","ServiceTimeout":10000}'),
]
V3_B_BODY = ("RequestParameters=%5B%7B%22ApiParameterName%22%3A%22userId%22%2C%22Location%22%3A"
             "%22PATH%22%2C%22ParameterType%22%3A%22String%22%2C%22Required%22%3A%22REQUIRED%22"
             "%7D%5D&ResultSample=%7B%22id%22%3A1%7D")
V3_B_HEADERS = [
    ("content-type", "application/x-www-form-urlencoded"),
    ("host", "apigateway.cn-hangzhou.aliyuncs.com"),
    ("x-acs-action", "CreateApi"),
    ("x-acs-version", "2016-07-14"),
    ("x-acs-date", "2024-05-01T12:00:00Z"),
    ("x-acs-signature-nonce", "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"),
    ("x-acs-content-sha256", "67aab4d3f0c0a8b748bc36e525d74c6664764ada944c167a707f04228ada93c8"),
]
V3_B_SIGNED = ["content-type", "host", "x-acs-action", "x-acs-content-sha256", "x-acs-date",
               "x-acs-signature-nonce", "x-acs-version"]
V3_B_CR = (
    "POST\n/\n"
    "ApiName=get_user&AuthType=APP&Description=a%20b%26c%3Dd%2F%C3%A9~%2A"
    "&GroupId=abcdef0123456789abcdef0123456789&RequestConfig=%7B%22RequestProtocol%22%3A%22HTTP"
    "%22%2C%22RequestHttpMethod%22%3A%22GET%22%2C%22RequestPath%22%3A%22%2Fusers%2F%5BuserId%5D"
    "%22%2C%22RequestMode%22%3A%22MAPPING%22%7D&ServiceConfig=%7B%22ServiceProtocol%22%3A%22HTTP"
    "%22%2C%22ServiceAddress%22%3A%22http%3A%2F%2F127.0.0.1%3A9000%22%2C%22ServicePath%22%3A%22"
    "%2Fu%2F%5BuserId%5D%22%2C%22ServiceHttpMethod%22%3A%22GET%22%2C%22ServiceTimeout%22%3A"
    "10000%7D&Visibility=PRIVATE\n"
    "content-type:application/x-www-form-urlencoded\n"
    "host:apigateway.cn-hangzhou.aliyuncs.com\n"
    "x-acs-action:CreateApi\n"
    "x-acs-content-sha256:67aab4d3f0c0a8b748bc36e525d74c6664764ada944c167a707f04228ada93c8\n"
    "x-acs-date:2024-05-01T12:00:00Z\n"
    "x-acs-signature-nonce:9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b\n"
    "x-acs-version:2016-07-14\n\n"
    "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;"
    "x-acs-version\n"
    "67aab4d3f0c0a8b748bc36e525d74c6664764ada944c167a707f04228ada93c8")
V3_B_STS = V3_ALGORITHM + "\n889337046b4211892e1667f4a796a84ec913de1c79c61b5042ff7a57f424952d"
V3_B_SIG = "bb9fe522a27d86c336a81b31d7a255b3fc227df06de3be1387dddbfc7fe628c0"

# Appendix A raw captures, verbatim (request line, headers, blank line, body).
CAPTURES = {}  # filled below


def _parse_capture(text):
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    method, target, _ = lines[0].split(" ", 2)
    path, _, query = target.partition("?")
    headers = []
    for line in lines[1:]:
        n, _, v = line.partition(":")
        headers.append((n.strip(), v.strip()))
    return method, path, query, headers, body


def _check_capture(name, text):
    """Verify one captured request exactly like a server would. Returns list of (ok, msg)."""
    method, path, query, headers, body = _parse_capture(text)
    res = []
    auth = _header(headers, "authorization")
    if auth and auth.startswith("ACS3-"):
        alg, ak, signed, sig = parse_acs3_authorization(auth)
        res.append((alg == V3_ALGORITHM and ak == "testid", "%s: algorithm/credential" % name))
        res.append((hashlib.sha256(body.encode("utf-8")).hexdigest()
                    == _header(headers, "x-acs-content-sha256"), "%s: x-acs-content-sha256" % name))
        cr = v3_canonical_request(method, path, form_decode(query), headers, signed, body)
        got = v3_sign(v3_string_to_sign(cr), SECRET)
        res.append((got == sig, "%s: V3 signature %s (expected %s)" % (name, got, sig)))
    else:
        q = form_decode(query)
        ct = _header(headers, "content-type") or ""
        b = form_decode(body) if ct.startswith("application/x-www-form-urlencoded") else []
        provided = dict(q).get("Signature")
        got = v1_sign(v1_string_to_sign(method, v1_params(q, b)), SECRET)
        res.append((got == provided, "%s: V1 signature %s (expected %s)" % (name, got, provided)))
    return res


def self_test():
    checks = []

    def chk(ok, msg):
        checks.append((bool(ok), msg))

    # §2 encoding examples
    chk(pct("a b&c=d/\u00e9~*") == "a%20b%26c%3Dd%2F%C3%A9~%2A", "pct: spec §2 example")
    chk(dict(form_decode("Description=a+b%26c%3Dd%2F%C3%A9~%2A"))["Description"]
        == "a b&c=d/\u00e9~*", "form_decode: '+' is space")

    # §3.4
    for name, params, sts, sig, method in (("V1-A", V1_A_PARAMS, V1_A_STS, V1_A_SIG, "POST"),
                                           ("V1-B", V1_B_PARAMS, V1_B_STS, V1_B_SIG, "GET")):
        got_sts = v1_string_to_sign(method, params)
        chk(got_sts == sts, "%s: string to sign" % name)
        chk(v1_sign(got_sts, SECRET) == sig, "%s: signature %s" % (name, v1_sign(got_sts, SECRET)))
    # V1 via the stdin mode: wire encodings of the legacy SDK (GET, %20) and Tea ('+')
    wire = "&".join(pct(k) + "=" + pct(v) for k, v in V1_B_PARAMS.items()) + "&Signature=" + pct(V1_B_SIG)
    out = compute({"scheme": "v1", "method": "GET", "query": wire, "secret": SECRET})
    chk(out["signature"] == V1_B_SIG and out["string_to_sign"] == V1_B_STS, "V1-B: stdin mode")
    wire_a = "&".join(k + "=" + v.replace(" ", "+").replace(":", "%3A") for k, v in V1_A_PARAMS.items())
    out = compute({"scheme": "v1", "method": "POST", "query": wire_a, "secret": SECRET})
    chk(out["signature"] == V1_A_SIG, "V1-A: stdin mode ('+' spaces)")
    # the same parameters split between query and form body must give the same signature
    qa = "Action=CreateApiGroup&Format=json&Version=2016-07-14&Timestamp=2024-05-01T12%3A00%3A00Z" \
         "&SignatureNonce=3f7c1d2e9a8b4c5d6e7f8091a2b3c4d5&SignatureMethod=HMAC-SHA1" \
         "&SignatureVersion=1.0&AccessKeyId=testid"
    out = compute({"scheme": "v1", "method": "POST", "query": qa,
                   "headers": [["Content-Type", "application/x-www-form-urlencoded"]],
                   "body": "GroupName=demo_group&Description=my+group", "secret": SECRET})
    chk(out["signature"] == V1_A_SIG, "V1-A: params split query/body")

    # §4.4
    cr = v3_canonical_request("POST", "/", form_decode(V3_A_QUERY), V3_A_HEADERS, V3_A_SIGNED, "")
    chk(cr == V3_A_CR, "V3-A: canonical request")
    chk(v3_string_to_sign(cr) == V3_A_STS, "V3-A: string to sign")
    chk(v3_sign(v3_string_to_sign(cr), SECRET) == V3_A_SIG, "V3-A: signature")
    auth = ("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=" + ";".join(V3_A_SIGNED)
            + ",Signature=" + V3_A_SIG)
    out = compute({"scheme": "v3", "method": "POST", "path": "/", "query": V3_A_QUERY,
                   "headers": [list(h) for h in V3_A_HEADERS] + [["Authorization", auth]],
                   "body": "", "secret": SECRET})
    chk(out["signature"] == V3_A_SIG and out["string_to_sign"] == V3_A_STS, "V3-A: stdin mode")

    chk(hashlib.sha256(V3_B_BODY.encode()).hexdigest() == dict(V3_B_HEADERS)["x-acs-content-sha256"],
        "V3-B: body hash")
    cr = v3_canonical_request("POST", "/", V3_B_QUERY_PAIRS, V3_B_HEADERS, V3_B_SIGNED, V3_B_BODY)
    chk(cr == V3_B_CR, "V3-B: canonical request")
    chk(v3_string_to_sign(cr) == V3_B_STS, "V3-B: string to sign")
    chk(v3_sign(v3_string_to_sign(cr), SECRET) == V3_B_SIG, "V3-B: signature")
    # Node-style wire query (%20, literal '*') must canonicalise identically
    nodeq = "&".join(k + "=" + pct(v).replace("%2A", "*") for k, v in V3_B_QUERY_PAIRS)
    out = compute({"scheme": "v3", "method": "POST", "query": nodeq,
                   "headers": [list(h) for h in V3_B_HEADERS], "signed_headers": V3_B_SIGNED,
                   "body": V3_B_BODY, "secret": SECRET})
    chk(out["signature"] == V3_B_SIG, "V3-B: stdin mode (node-style query)")

    # Appendix A
    for name, text in CAPTURES.items():
        if name.startswith("node-"):
            # abridged in the spec: only the payload hash can be checked
            method, path, query, headers, body = _parse_capture(text)
            chk(hashlib.sha256(body.encode()).hexdigest() == _header(headers, "x-acs-content-sha256"),
                "%s: x-acs-content-sha256 (capture abridged; signature not checkable)" % name)
            continue
        for ok, msg in _check_capture(name, text):
            chk(ok, msg)
    # negative: a wrong secret must not verify
    cr = v3_canonical_request("POST", "/", form_decode(V3_A_QUERY), V3_A_HEADERS, V3_A_SIGNED, "")
    chk(v3_sign(v3_string_to_sign(cr), "wrong") != V3_A_SIG, "negative: wrong secret (V3)")
    chk(v1_sign(V1_A_STS, "wrong") != V1_A_SIG, "negative: wrong secret (V1)")

    failed = 0
    for ok, msg in checks:
        print(("ok    " if ok else "FAIL  ") + msg)
        failed += 0 if ok else 1
    print("%d passed, %d failed" % (len(checks) - failed, failed))
    return 1 if failed else 0


# Generated verbatim from management-signature.md Appendix A (the Node capture is abridged there).
CAPTURES['appendixA-tea-v3-CreateApiGroup'] = (
    'POST /?Description=my+group&GroupName=demo_group&Tag.1.Key=env&Tag.1.Value=dev HTTP/1.1\n'
    'Accept-Encoding: identity\n'
    'host: 127.0.0.1:18080\n'
    'x-acs-version: 2016-07-14\n'
    'x-acs-action: CreateApiGroup\n'
    'user-agent: AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2\n'
    'x-acs-date: 2026-11-23T06:43:17Z\n'
    'x-acs-signature-nonce: afc372711682c4f878efd79f2fd3720b\n'
    'accept: application/json\n'
    'x-acs-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n'
    'x-acs-credentials-provider: static_ak\n'
    'Authorization: ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;host;user-agent;x'
    '-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-n'
    'once;x-acs-version,Signature=2d30fddb34631fe34d2ec198e17b9b8ab17646704e14d4b5a917f1a597d'
    'aead1\n'
    'Content-Length: 0\n'
    '\n'
)

CAPTURES['appendixA-tea-v3-CreateApi'] = (
    'POST /?ApiName=get_user&AuthType=APP&Description=a+b%26c%3Dd%2F%C3%A9~%2A&GroupId=abcdef'
    '0123456789abcdef0123456789&RequestConfig=%7B%22RequestProtocol%22%3A+%22HTTP%2CHTTPS%22%'
    '2C+%22RequestHttpMethod%22%3A+%22GET%22%2C+%22RequestPath%22%3A+%22%2Fusers%2F%5BuserId%'
    '5D%22%2C+%22RequestMode%22%3A+%22MAPPING%22%2C+%22BodyFormat%22%3A+%22FORM%22%2C+%22Post'
    'BodyDescription%22%3A+%22%22%7D&ResultType=JSON&ServiceConfig=%7B%22ServiceProtocol%22%3'
    'A+%22HTTP%22%2C+%22ServiceAddress%22%3A+%22http%3A%2F%2F127.0.0.1%3A9000%22%2C+%22Servic'
    'ePath%22%3A+%22%2Fu%2F%5BuserId%5D%22%2C+%22ServiceHttpMethod%22%3A+%22GET%22%2C+%22Serv'
    'iceTimeout%22%3A+10000%2C+%22ContentTypeCatagory%22%3A+%22CLIENT%22%2C+%22Mock%22%3A+%22'
    'FALSE%22%7D&Visibility=PRIVATE HTTP/1.1\n'
    'Accept-Encoding: identity\n'
    'host: 127.0.0.1:18080\n'
    'x-acs-version: 2016-07-14\n'
    'x-acs-action: CreateApi\n'
    'user-agent: AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2\n'
    'x-acs-date: 2026-11-23T06:43:17Z\n'
    'x-acs-signature-nonce: a6128c992859a94c275f31b394f07d9a\n'
    'accept: application/json\n'
    'content-type: application/x-www-form-urlencoded\n'
    'x-acs-content-sha256: 150335a7519209c2e58855185dc1d0c3040af97d387c340e6dce677e5bbd20da\n'
    'x-acs-credentials-provider: static_ak\n'
    'Authorization: ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;content-type;host'
    ';user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-ac'
    's-signature-nonce;x-acs-version,Signature=38e6117e6efb9d5b2cde056a277277d54101814a81bdfb'
    'a23801271439f8eaa2\n'
    'Content-Length: 507\n'
    '\n'
    'RequestParameters=%5B%7B%22ApiParameterName%22%3A+%22userId%22%2C+%22Location%22%3A+%22P'
    'ATH%22%2C+%22ParameterType%22%3A+%22String%22%2C+%22Required%22%3A+%22REQUIRED%22%7D%5D&'
    'ResultSample=%7B%22id%22%3A1%7D&ServiceParameters=%5B%7B%22ServiceParameterName%22%3A+%2'
    '2userId%22%2C+%22Location%22%3A+%22PATH%22%2C+%22Type%22%3A+%22String%22%2C+%22Parameter'
    'Catalog%22%3A+%22REQUEST%22%7D%5D&ServiceParametersMap=%5B%7B%22ServiceParameterName%22%'
    '3A+%22userId%22%2C+%22RequestParameterName%22%3A+%22userId%22%7D%5D'
)

CAPTURES['appendixA-tea-v1-CreateApiGroup'] = (
    'POST /?Action=CreateApiGroup&Format=json&Version=2016-07-14&Timestamp=2026-11-23T06%3A35'
    '%3A07Z&SignatureNonce=1b7e677c2d3d7a3448298d5b121cc8da&Description=my+group&GroupName=de'
    'mo_group&Tag.1.Key=env&Tag.1.Value=dev&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&Ac'
    'cessKeyId=testid&Signature=SBNNQsptK4G6Q8WdNSyCC4uwrq0%3D HTTP/1.1\n'
    'Accept-Encoding: identity\n'
    'host: 127.0.0.1:18080\n'
    'x-acs-version: 2016-07-14\n'
    'x-acs-action: CreateApiGroup\n'
    'user-agent: AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2\n'
    'x-acs-credentials-provider: static_ak\n'
    'Content-Length: 0\n'
    '\n'
)

CAPTURES['appendixA-legacy-v1-CreateApiGroup'] = (
    'GET /?GroupName=demo_group&Description=my%20group&Version=2016-07-14&Action=CreateApiGro'
    'up&Format=JSON&RegionId=cn-hangzhou&Timestamp=2026-11-23T06%3A35%3A18Z&SignatureMethod=H'
    'MAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=13e12f97afda528baa438a6e3477'
    'f204&AccessKeyId=testid&Signature=Gf1nuz2y04UoJLPiylPiEcK4cGk%3D HTTP/1.1\n'
    'Host: 127.0.0.1:18080\n'
    'User-Agent: AlibabaCloud (Linux 6.18.44-fc-v669;x86_64) Python/3.11.7 Core/2.16.1 python'
    '-requests/2.18.3\n'
    'Accept-Encoding: identity\n'
    'Accept: */*\n'
    'Connection: keep-alive\n'
    'x-acs-action: CreateApiGroup\n'
    'x-acs-version: 2016-07-14\n'
    'x-sdk-invoke-type: normal\n'
    'x-sdk-client: python/2.0.0\n'
    '\n'
)

CAPTURES['node-v3-CreateApi'] = (
    'POST /?ApiName=get_user&Description=a%20b%26c%3Dd%2F%C3%A9~*&ForceNonceCheck=true&GroupI'
    'd=g1&RequestConfig=...&ServiceConfig=...&Visibility=PRIVATE HTTP/1.1\n'
    'host: 127.0.0.1:18080\n'
    'x-acs-version: 2016-07-14\n'
    'x-acs-action: CreateApi\n'
    'user-agent: AlibabaCloud (linux; x64) Node.js/v20.20.2 Core/1.0.1 TeaDSL/2\n'
    'x-acs-date: 2026-11-23T06:38:22Z\n'
    'x-acs-signature-nonce: ee8ffe4e1a0b228207206c8bc42cda96f0251ab22420b476bf0a98cfb98cde53\n'
    'accept: application/json\n'
    'content-type: application/x-www-form-urlencoded\n'
    'x-acs-content-sha256: 16348f1cdf4dca150b65096b963b4b2e866daac813aff2f3a2b01ba6a9af1fec\n'
    'x-acs-credentials-provider: static_ak\n'
    'Authorization: ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=content-type;host;x-acs-'
    'action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;'
    'x-acs-version,Signature=edf3e2fa...\n'
    'Connection: keep-alive\n'
    'Transfer-Encoding: chunked\n'
    '\n'
    'RequestParameters=%5B%5D'
)


def main():
    if "--self-test" in sys.argv[1:]:
        sys.exit(self_test())
    try:
        spec = json.load(sys.stdin)
        out = compute(spec)
    except (ValueError, TypeError, AttributeError) as e:
        sys.stderr.write("mgmt_reference: %s\n" % e)
        sys.exit(2)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
