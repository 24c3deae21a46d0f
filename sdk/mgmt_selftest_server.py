#!/usr/bin/env python3
"""Stand-in CloudAPI 2016-07-14 management server (stdlib http.server) for sdk/mgmt_selftest.py.

Verifies V1 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256) signatures with sdk/mgmt_reference.py, known
AccessKey testid/testsecret (more via keys=), then answers:
  CreateApiGroup     {"RequestId", "GroupId": <32 hex>, "SubDomain", "GroupName"}  (group kept in memory)
  DescribeApiGroups  {"ApiGroupAttributes": {"ApiGroupAttribute": [...]}, "TotalCount", "PageNumber": 1,
                      "PageSize": 10, "RequestId"}   (GroupName / GroupId filter honoured)
  CreateApi          {"RequestId", "ApiId": <32 hex>}
  anything else      {"RequestId"}
Errors (JSON body {"RequestId","HostId","Code","Message"}, management-errors.md §1):
  400 SignatureDoesNotMatch  "Specified signature is not matched with our calculation. server string
                             to sign is:<STS>"  (exactly one ':' before the string-to-sign, §3.2/§6)
  400 InvalidAccessKeyId.NotFound, IncompleteSignature, MissingSignature..., SignatureNonceUsed,
      InvalidTimeStamp.Expired, InvalidVersion, SignatureDoesNotMatch (content hash)
  Forced errors for driver tests: a business parameter value "__error__:<status>:<Code>" answers
  <status> with that Code; "__error__:400:SignatureDoesNotMatch:nocolon" sends a Message without ':'.
Every request is appended to server.log (a list of dicts: method, path, query (decoded pairs),
raw_query, headers (name, value as received), body, content_type, scheme, action, params, verdict).

Standalone: python3 mgmt_selftest_server.py PORT [requests.jsonl]   (log also written as JSON lines)
"""
import hashlib
import json
import os
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mgmt_reference as ref  # noqa: E402

VERSION = "2016-07-14"
V1_PROTOCOL_KEYS = {"Action", "Version", "Format", "AccessKeyId", "Signature", "SignatureMethod",
                    "SignatureVersion", "SignatureNonce", "SignatureType", "Timestamp", "RegionId"}
WINDOW_S = 15 * 60


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _parse_time(s):
    try:
        return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except (TypeError, ValueError):
        raise ApiError(400, "InvalidTimeStamp.Format", "timestamp is not ISO-8601 UTC")


class State:
    def __init__(self, keys):
        self.keys = dict(keys)
        self.nonces = {}
        self.groups = []
        self.lock = threading.Lock()

    def check_nonce(self, ak, nonce, ts):
        if abs(time.time() - ts) > WINDOW_S:
            raise ApiError(400, "InvalidTimeStamp.Expired", "timestamp outside the 15-minute window")
        with self.lock:
            now = time.time()
            for k in [k for k, t in self.nonces.items() if now - t > 2 * WINDOW_S]:
                del self.nonces[k]
            if (ak, nonce) in self.nonces:
                raise ApiError(400, "SignatureNonceUsed", "nonce already used")
            self.nonces[(ak, nonce)] = now

    def secret(self, ak):
        if ak not in self.keys:
            raise ApiError(400, "InvalidAccessKeyId.NotFound", "unknown AccessKeyId")
        return self.keys[ak]


def _mismatch(sts):
    return ApiError(400, "SignatureDoesNotMatch",
                    "Specified signature is not matched with our calculation. "
                    "server string to sign is:" + sts)


def authenticate(state, method, path, raw_query, headers, body, entry):
    """Returns (action, params). Raises ApiError."""
    query = ref.form_decode(raw_query)
    ct = ref._header(headers, "content-type") or ""
    form = ref.form_decode(body) if ct.lower().startswith("application/x-www-form-urlencoded") else []
    auth = ref._header(headers, "authorization") or ""
    if auth.startswith("ACS3-"):
        entry["scheme"] = "v3"
        try:
            alg, ak, signed, sig = ref.parse_acs3_authorization(auth)
        except ValueError as e:
            raise ApiError(400, "IncompleteSignature", "Authorization header is malformed: %s" % e)
        if alg != ref.V3_ALGORITHM:
            raise ApiError(400, "UnsupportedSignatureMethod", "unsupported algorithm " + alg)
        for h in ("x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce",
                  "x-acs-content-sha256", "host"):
            if ref._header(headers, h) is None or h not in signed:
                raise ApiError(400, "IncompleteSignature", "header %s missing or not signed" % h)
        secret = state.secret(ak)
        cr = ref.v3_canonical_request(method, path, query, headers, signed, body)
        sts = ref.v3_string_to_sign(cr)
        entry["string_to_sign"] = sts
        if hashlib.sha256(body).hexdigest() != ref._header(headers, "x-acs-content-sha256"):
            raise _mismatch(sts)
        if ref.v3_sign(sts, secret) != sig:
            raise _mismatch(sts)
        state.check_nonce(ak, ref._header(headers, "x-acs-signature-nonce"),
                          _parse_time(ref._header(headers, "x-acs-date")))
        action = ref._header(headers, "x-acs-action")
        version = ref._header(headers, "x-acs-version")
        params = dict(query)
        params.update(form)
    else:
        entry["scheme"] = "v1"
        p = ref.v1_params(query, form)
        provided = dict(query + form).get("Signature")
        for need, val in (("AccessKeyId", p.get("AccessKeyId")), ("Signature", provided),
                          ("SignatureNonce", p.get("SignatureNonce")),
                          ("Timestamp", p.get("Timestamp"))):
            if not val:
                raise ApiError(400, "Missing" + need, "%s must be provided" % need)
        if p.get("SignatureMethod") != "HMAC-SHA1" or p.get("SignatureVersion") != "1.0":
            raise ApiError(400, "InvalidSignatureMethod", "only HMAC-SHA1 / 1.0 supported")
        secret = state.secret(p["AccessKeyId"])
        sts = ref.v1_string_to_sign(method, p)
        entry["string_to_sign"] = sts
        if ref.v1_sign(sts, secret) != provided:
            raise _mismatch(sts)
        state.check_nonce(p["AccessKeyId"], p["SignatureNonce"], _parse_time(p["Timestamp"]))
        action, version = p.get("Action"), p.get("Version")
        params = {k: v for k, v in p.items() if k not in V1_PROTOCOL_KEYS}
    if version != VERSION:
        raise ApiError(400, "InvalidVersion", "version must be " + VERSION)
    if not action:
        raise ApiError(400, "MissingAction", "Action must be provided")
    return action, params


def dispatch(state, action, params, request_id):
    for v in params.values():
        if isinstance(v, str) and v.startswith("__error__:"):
            parts = v.split(":")
            status, code = int(parts[1]), parts[2]
            msg = "forced error" if (len(parts) > 3 and parts[3] == "nocolon") else "forced error: " + v
            raise ApiError(status, code, msg)
    doc = {"RequestId": request_id}
    if action == "CreateApiGroup":
        if not params.get("GroupName"):
            raise ApiError(400, "MissingGroupName", "GroupName must be provided")
        with state.lock:
            if any(g["GroupName"] == params["GroupName"] for g in state.groups):
                raise ApiError(400, "RepeatedGroupName", "group name already used")
            gid = uuid.uuid4().hex
            tags = []
            n = 1
            while "Tag.%d.Key" % n in params:
                tags.append({"Key": params["Tag.%d.Key" % n], "Value": params.get("Tag.%d.Value" % n, "")})
                n += 1
            g = {"GroupId": gid, "GroupName": params["GroupName"],
                 "SubDomain": gid + "-cn-hangzhou.alicloudapi.com",
                 "Description": params.get("Description", ""), "RegionId": "cn-hangzhou",
                 "CreatedTime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "ModifiedTime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "TrafficLimit": 500, "BillingStatus": "NORMAL", "IllegalStatus": "NORMAL",
                 "InstanceId": "api-shared-vpc-001", "InstanceType": "VPC_SHARED",
                 "HttpsPolicy": "HTTPS2_TLS1_0", "Tags": {"TagInfo": tags}}
            state.groups.append(g)
        doc.update({"GroupId": gid, "SubDomain": g["SubDomain"], "GroupName": g["GroupName"]})
    elif action == "DescribeApiGroups":
        with state.lock:
            groups = [g for g in state.groups
                      if (not params.get("GroupName") or params["GroupName"] in g["GroupName"])
                      and (not params.get("GroupId") or params["GroupId"] == g["GroupId"])]
        doc.update({"ApiGroupAttributes": {"ApiGroupAttribute": groups[:10]},
                    "TotalCount": len(groups), "PageNumber": 1, "PageSize": 10})
    elif action == "CreateApi":
        doc["ApiId"] = uuid.uuid4().hex
    return doc


def make_handler(state, log, log_file=None):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _body(self):
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _handle(self):
            body = self._body()
            path, _, raw_query = self.path.partition("?")
            headers = list(self.headers.items())
            request_id = str(uuid.uuid4()).upper()
            entry = {"method": self.command, "path": path, "raw_query": raw_query,
                     "query": ref.form_decode(raw_query), "headers": headers,
                     "body": body.decode("utf-8", "replace"),
                     "content_type": self.headers.get("Content-Type")}
            try:
                action, params = authenticate(state, self.command, path or "/", raw_query,
                                              headers, body, entry)
                entry["action"], entry["params"] = action, params
                status, doc = 200, dispatch(state, action, params, request_id)
                entry["verdict"] = "ok"
            except ApiError as e:
                status = e.status
                doc = {"RequestId": request_id, "HostId": "127.0.0.1", "Code": e.code,
                       "Message": e.message}
                entry["verdict"] = e.code
            except Exception as e:  # noqa: BLE001 - never drop the connection without JSON
                status = 500
                doc = {"RequestId": request_id, "HostId": "127.0.0.1", "Code": "InternalError",
                       "Message": "unexpected server error: %s" % e}
                entry["verdict"] = "InternalError"
            entry["status"] = status
            with state.lock:
                log.append(entry)
                if log_file:
                    with open(log_file, "a") as f:
                        f.write(json.dumps(entry) + "\n")
            out = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, *args):
            pass

    return H


def start(port=0, keys=(("testid", "testsecret"),), log_file=None):
    """Start in a daemon thread; returns the server (server.server_port, server.log, server.state)."""
    state = State(keys)
    log = []
    srv = ThreadingHTTPServer(("127.0.0.1", port), make_handler(state, log, log_file))
    srv.daemon_threads = True
    srv.log, srv.state = log, state
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.stderr.write("usage: mgmt_selftest_server.py PORT [requests.jsonl]\n")
        sys.exit(2)
    s = start(int(sys.argv[1]), log_file=sys.argv[2] if len(sys.argv) > 2 else None)
    print("listening on 127.0.0.1:%d" % s.server_port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
