#!/usr/bin/env python3
"""Call ONE CloudAPI 2016-07-14 management action through an OFFICIAL Alibaba Cloud Python SDK.

stdin (one JSON object):
  {"endpoint": "127.0.0.1:PORT",          host[:port], no scheme (it is the signed host header)
   "access_key_id": "...", "access_key_secret": "...",
   "client": "tea" | "tea-v1" | "legacy" | "legacy-post",       default "tea"
   "action": "CreateApiGroup",
   "params": {"GroupName": "x", "Tag.1.Key": "env", ...},        PascalCase wire names
   optional: "region": "cn-hangzhou" (legacy RegionId), "connect_timeout_s": 5,
             "read_timeout_s": 30, "strict": true}

  client  SDK / signing                                                    wire
  tea     alibabacloud-cloudapi20160714 Client, Config(protocol='HTTP')    POST, V3 ACS3-HMAC-SHA256
  tea-v1  same, Config(signature_algorithm='v2')                            POST, V1 HMAC-SHA1 (query)
  legacy  aliyunsdkcore AcsClient + aliyunsdkcloudapi <Action>Request       GET,  V1 HMAC-SHA1
  legacy-post  same + req.set_method('POST')                                POST, V1 (still query params)

  params: flat wire keys ("Tag.1.Key", "ResourceId.2") and nested values
  ("Tag": [{"Key": .., "Value": ..}]) are both accepted; flat keys are folded into nested lists
  (1-based numeric segments) before they reach the SDK.
    Tea:    models.<Action>Request().from_map(params), then Client.<snake_action>(request).
            With "strict" (default) a key the model does not know (it would be silently dropped
            by from_map) is a driver error (exit 2); "strict": false only warns on stderr.
    legacy: scalar -> req.set_<Key>(v) if the request class has it, else req.add_query_param;
            list   -> req.set_<Key>s(list) / req.set_<Key>(list) (e.g. Tag -> set_Tags), else it is
            flattened to Key.N[.Sub] and add_query_param'ed.
    Values are passed as given: JSON true/false arrive as Python bools, which BOTH SDKs put on the
    wire as "True"/"False" (str()); give "true" as a string if lower case is wanted. JSON-valued
    parameters (RequestConfig, ServiceConfig, RequestParameters, ...) must be JSON STRINGS.

stdout (one JSON object, exit 0) once the SDK was called:
  success  {"ok": true, "status": 200, "body": <parsed body>, ...}
           tea:    body = response.body.to_map() (only the members the SDK model knows),
                   "raw_body" = the JSON object as received, "unknown_fields" = paths present in
                   raw_body that the SDK model dropped (server members the SDK does not know —
                   a misspelt member shows up here), status = response.status_code.
           legacy: body = json.loads(raw bytes) (no model); status = the HTTP status observed on
                   the transport (do_action_with_exception itself only returns on 2xx).
  failure  {"ok": false, "status": <http status or null>, "code": "...", "message": "...",
            "request_id": "...", "exception": "<class name>", ...}
           tea ClientException (4xx) / ServerException (5xx) / ThrottlingException (4xx/5xx with
             x-acs-retry-after): code = e.code, message = the server's "Message" member (e.data),
             "sdk_message" = e.message ("code: 400, <Message> request id: <id>"), "data" = e.data
             (error body + statusCode), "retry_after" for throttling.
           tea UnretryableException (connection refused/timeout, non-JSON body): status null,
             code "SDK.UnretryableException", message = str(inner exception), "inner" = its class.
           tea ValidateException / RequiredArgumentException (model validation before sending):
             status null, code "SDK.ValidateException" / "SDK.RequiredArgument".
           legacy ServerException (any non-2xx): get_error_code()/get_error_msg()/get_http_status()/
             get_request_id(). NOTE the SDK rewrites 400 SignatureDoesNotMatch to
             InvalidAccessKeySecret when the text after the first ':' of Message equals its own
             string-to-sign; the code is reported as the SDK gives it.
           legacy ClientException (SDK side; connection refused -> "SDK.HttpError"): status null.
           Any other exception raised INSIDE the SDK call (e.g. the legacy SDK's IndexError on a
             SignatureDoesNotMatch Message without ':'): code "SDK.Crash", exception = class name.
           legacy 2xx whose body is not JSON: ok false, code "DRIVER.BodyNotJSON", "raw" = text.
exit 2 + message on stderr: driver failures only (bad stdin, unknown client/action, SDK not
  installed, parameter the Tea model does not know in strict mode, setter rejected the value).

Transport: connect timeout 5 s, read timeout 30 s (overridable); the legacy client is built with
auto_retry=False so one driver call = exactly one HTTP request (Tea does not retry by default).
HTTP(S)_PROXY/ALL_PROXY/NO_PROXY are removed from the environment first (both SDKs would send
even 127.0.0.1 traffic to a proxy). Runs with the venv from sdk/mgmt-setup.sh; if the SDKs are not
importable the script re-executes itself with ${APIGW_SDK_DIR:-<repo>/target/sdk}/mgmt/bin/python.
The legacy SDK's own logger output is silenced so stderr only carries driver messages.
"""
import importlib
import inspect
import json
import logging
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
              "NO_PROXY", "no_proxy")
for _v in PROXY_VARS:
    os.environ.pop(_v, None)

try:
    from alibabacloud_tea_openapi import models as open_api_models
    from alibabacloud_tea_openapi import exceptions as tea_exc
    from alibabacloud_cloudapi20160714.client import Client as TeaClient
    from alibabacloud_cloudapi20160714 import models as tea_models
    import darabonba.exceptions as dara_exc
    import Tea.exceptions as tea_core_exc
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.acs_exception import exceptions as acs_exc
except ImportError as _e:
    _venv_py = os.path.join(os.environ.get("APIGW_SDK_DIR") or os.path.join(HERE, "..", "target", "sdk"),
                            "mgmt", "bin", "python")
    if os.path.exists(_venv_py) and not os.environ.get("_APIGW_MGMT_CALL_REEXEC"):
        os.environ["_APIGW_MGMT_CALL_REEXEC"] = "1"
        os.execv(_venv_py, [_venv_py, os.path.abspath(__file__)] + sys.argv[1:])
    sys.stderr.write("mgmt_call: CloudAPI SDKs not importable (%s); run sdk/mgmt-setup.sh\n" % _e)
    sys.exit(2)

CLIENTS = ("tea", "tea-v1", "legacy", "legacy-post")


class DriverError(Exception):
    pass


def emit(doc):
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------------------------ params

def unflatten(params):
    """{"Tag.1.Key": "a", "Tag.1.Value": "b", "X": 1} -> {"Tag": [{"Key": "a", "Value": "b"}], "X": 1}.
    Numeric segments are 1-based list indexes; other dotted segments become dict keys."""
    if not isinstance(params, dict):
        raise DriverError("params must be a JSON object")
    root = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise DriverError("bad parameter name %r" % (key,))
        parts = key.split(".")
        node = root
        for i, part in enumerate(parts):
            k = int(part) if part.isdigit() else part
            last = i == len(parts) - 1
            if last:
                if k in node:
                    raise DriverError("parameter %r given twice (flat and nested?)" % key)
                node[k] = value
            else:
                nxt = node.setdefault(k, {})
                if not isinstance(nxt, dict):
                    raise DriverError("parameter %r conflicts with a scalar/nested value" % key)
                node = nxt

    def fold(x):
        if isinstance(x, dict):
            x = {k: fold(v) for k, v in x.items()}
            if x and all(isinstance(k, int) for k in x):
                return [x[k] for k in sorted(x)]
            if any(isinstance(k, int) for k in x):
                raise DriverError("mixed numeric and named segments under one prefix")
            return x
        if isinstance(x, list):
            return [fold(v) for v in x]
        return x

    return fold(root)


def flatten(prefix, value, out):
    """Inverse of unflatten (RPC style): lists -> prefix.N (1-based), dicts -> prefix.Key."""
    if isinstance(value, dict):
        for k, v in value.items():
            flatten("%s.%s" % (prefix, k), v, out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            flatten("%s.%d" % (prefix, i + 1), v, out)
    elif value is not None:
        out.append((prefix, value))
    return out


def missing_paths(given, kept, path=""):
    """Paths present (non-null) in `given` but absent from `kept`."""
    out = []
    if isinstance(given, dict):
        if not isinstance(kept, dict):
            return [path or "."] if given else []
        for k, v in given.items():
            if v is None:
                continue
            p = "%s.%s" % (path, k) if path else str(k)
            if k not in kept:
                out.append(p)
            else:
                out += missing_paths(v, kept[k], p)
    elif isinstance(given, list):
        if not isinstance(kept, list):
            return [path] if given else []
        for i, v in enumerate(given):
            p = "%s.%d" % (path, i + 1)
            if i >= len(kept):
                out.append(p)
            else:
                out += missing_paths(v, kept[i], p)
    return out


# ------------------------------------------------------------------------------ Tea

def tea_method_name(action):
    """Action -> Client method, found by comparing names without '_' case-insensitively
    (generated names are irregular: ImportOAS -> import_oas, DescribeImportOASTask ->
    describe_import_oastask)."""
    want = action.lower()
    for name in dir(TeaClient):
        if name.startswith("_") or name.endswith(("_async", "options")):
            continue
        if name.replace("_", "").lower() == want:
            return name
    return None


def call_tea(spec, action, params):
    method_name = tea_method_name(action)
    if not method_name:
        raise DriverError("action %r not found in alibabacloud_cloudapi20160714.Client" % action)
    cfg = open_api_models.Config(
        access_key_id=spec["access_key_id"],
        access_key_secret=spec["access_key_secret"],
        endpoint=spec["endpoint"],
        protocol="HTTP",
        connect_timeout=int(float(spec.get("connect_timeout_s", 5)) * 1000),
        read_timeout=int(float(spec.get("read_timeout_s", 30)) * 1000),
    )
    if spec["client"] == "tea-v1":
        cfg.signature_algorithm = "v2"   # 'v2' selects the RPC HMAC-SHA1 (V1) signer
    try:
        cli = TeaClient(cfg)
    except Exception as e:  # noqa: BLE001 - config rejected by the SDK
        raise DriverError("Tea Client(config) failed: %s: %s" % (type(e).__name__, e))
    method = getattr(cli, method_name)
    args = []
    if "request" in inspect.signature(method).parameters:
        model_cls = getattr(tea_models, action + "Request", None)
        if model_cls is None:
            raise DriverError("models.%sRequest not found" % action)
        try:
            request = model_cls().from_map(params)
        except Exception as e:  # noqa: BLE001
            raise DriverError("%sRequest.from_map failed: %s: %s" % (action, type(e).__name__, e))
        lost = missing_paths(params, request.to_map())
        if lost:
            msg = "parameters unknown to models.%sRequest (dropped by the SDK): %s" % (
                action, ", ".join(lost))
            if spec.get("strict", True):
                raise DriverError(msg + "  (set \"strict\": false to send anyway)")
            sys.stderr.write("mgmt_call: warning: %s\n" % msg)
        args.append(request)
    elif params:
        raise DriverError("action %s takes no request model but params were given" % action)

    # Observe (not alter) the generic call: keeps the raw JSON and the HTTP status.
    seen = {}
    real_call_api = cli.call_api

    def spy_call_api(*a, **kw):
        res = real_call_api(*a, **kw)
        seen["res"] = res
        return res

    cli.call_api = spy_call_api

    try:
        resp = method(*args)
    except tea_exc.AlibabaCloudException as e:
        data = e.data if isinstance(e.data, dict) else None
        msg = None
        if data is not None:
            msg = data.get("Message", data.get("message"))
        doc = {"ok": False, "status": e.status_code, "code": e.code,
               "message": msg if msg is not None else e.message,
               "request_id": e.request_id, "exception": type(e).__name__,
               "sdk_message": e.message, "data": data}
        if getattr(e, "retry_after", None) is not None:
            doc["retry_after"] = e.retry_after
        return doc
    except dara_exc.RequiredArgumentException as e:
        return {"ok": False, "status": None, "code": "SDK.RequiredArgument", "message": str(e),
                "request_id": None, "exception": type(e).__name__}
    except (dara_exc.ValidateException, tea_core_exc.ValidateException) as e:
        return {"ok": False, "status": None, "code": "SDK.ValidateException", "message": str(e),
                "request_id": None, "exception": type(e).__name__}
    except tea_core_exc.UnretryableException as e:
        inner = getattr(e, "inner_exception", None)
        text = getattr(inner, "message", None) if inner is not None else None
        return {"ok": False, "status": None, "code": "SDK.UnretryableException",
                "message": str(text or inner or e), "request_id": None,
                "exception": type(e).__name__, "inner": type(inner).__name__ if inner else None}
    except Exception as e:  # noqa: BLE001 - anything else thrown by the SDK
        return {"ok": False, "status": None, "code": "SDK.Crash", "message": str(e),
                "request_id": None, "exception": type(e).__name__}

    body_model = getattr(resp, "body", None)
    body = body_model.to_map() if hasattr(body_model, "to_map") else body_model
    raw = seen.get("res", {}).get("body") if isinstance(seen.get("res"), dict) else None
    doc = {"ok": True, "status": getattr(resp, "status_code", None), "body": body, "raw_body": raw}
    if isinstance(raw, (dict, list)):
        doc["unknown_fields"] = missing_paths(raw, body)
    return doc


# ------------------------------------------------------------------------------ legacy

def legacy_request(action):
    modname = "aliyunsdkcloudapi.request.v20160714.%sRequest" % action
    try:
        mod = importlib.import_module(modname)
    except ImportError:
        raise DriverError("action %r has no request class in aliyun-python-sdk-cloudapi (%s)"
                          % (action, modname))
    cls = getattr(mod, action + "Request", None)
    if cls is None:
        raise DriverError("%s lacks class %sRequest" % (modname, action))
    return cls()


def legacy_apply(req, params):
    used = []
    for key, value in params.items():
        if value is None:
            continue
        try:
            if isinstance(value, (list, dict)):
                setter = None
                for name in ("set_" + key + "s", "set_" + key):
                    if isinstance(value, list) and callable(getattr(req, name, None)):
                        setter = name
                        break
                if setter:
                    getattr(req, setter)(value)
                    used.append(setter)
                else:
                    for k, v in flatten(key, value, []):
                        req.add_query_param(k, v)
                    used.append("add_query_param(%s.*)" % key)
            elif callable(getattr(req, "set_" + key, None)):
                getattr(req, "set_" + key)(value)
                used.append("set_" + key)
            else:
                req.add_query_param(key, value)
                used.append("add_query_param(%s)" % key)
        except Exception as e:  # noqa: BLE001
            raise DriverError("legacy: setting %s failed: %s: %s" % (key, type(e).__name__, e))
    return used


def call_legacy(spec, action, params):
    req = legacy_request(action)
    req.set_endpoint(spec["endpoint"])        # bypass the endpoint resolver / location service
    req.set_protocol_type("http")
    if spec["client"] == "legacy-post":
        req.set_method("POST")
    legacy_apply(req, params)
    try:
        client = AcsClient(spec["access_key_id"], spec["access_key_secret"],
                           spec.get("region") or "cn-hangzhou", auto_retry=False,
                           connect_timeout=float(spec.get("connect_timeout_s", 5)),
                           timeout=float(spec.get("read_timeout_s", 30)))
    except Exception as e:  # noqa: BLE001
        raise DriverError("AcsClient(...) failed: %s: %s" % (type(e).__name__, e))

    # Observe the HTTP status of the (single) transport round trip.
    seen = {}
    real_single = client._handle_single_request

    def spy_single(*a, **kw):
        res = real_single(*a, **kw)
        seen["status"] = res[0]
        return res

    client._handle_single_request = spy_single

    try:
        raw = client.do_action_with_exception(req)
    except acs_exc.ServerException as e:
        return {"ok": False, "status": e.get_http_status(), "code": e.get_error_code(),
                "message": e.get_error_msg(), "request_id": e.get_request_id(),
                "exception": "ServerException"}
    except acs_exc.ClientException as e:
        return {"ok": False, "status": seen.get("status"), "code": e.get_error_code(),
                "message": e.get_error_msg(), "request_id": None, "exception": "ClientException"}
    except Exception as e:  # noqa: BLE001 - e.g. IndexError on a Message without ':'
        return {"ok": False, "status": seen.get("status"), "code": "SDK.Crash",
                "message": "%s: %s" % (type(e).__name__, e), "request_id": None,
                "exception": type(e).__name__}
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    try:
        body = json.loads(text)
    except ValueError:
        return {"ok": False, "status": seen.get("status"), "code": "DRIVER.BodyNotJSON",
                "message": "2xx response body is not JSON", "request_id": None, "raw": text}
    return {"ok": True, "status": seen.get("status", 200), "body": body}


# ------------------------------------------------------------------------------ main

def main():
    try:
        spec = json.load(sys.stdin)
    except ValueError as e:
        raise DriverError("stdin is not JSON: %s" % e)
    if not isinstance(spec, dict):
        raise DriverError("stdin must be one JSON object")
    for need in ("endpoint", "access_key_id", "access_key_secret", "action"):
        if not isinstance(spec.get(need), str) or not spec.get(need):
            raise DriverError("missing or non-string %r" % need)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", spec["endpoint"]):
        raise DriverError("endpoint must be host[:port] without a scheme")
    spec.setdefault("client", "tea")
    if spec["client"] not in CLIENTS:
        raise DriverError("client must be one of %s" % ", ".join(CLIENTS))
    if not re.match(r"^[A-Z][A-Za-z0-9]*$", spec["action"]):
        raise DriverError("bad action name %r" % spec["action"])
    params = unflatten(spec.get("params") or {})
    if spec["client"].startswith("tea"):
        doc = call_tea(spec, spec["action"], params)
    else:
        logging.getLogger("aliyunsdkcore").addHandler(logging.NullHandler())
        logging.getLogger("aliyunsdkcore").propagate = False
        doc = call_legacy(spec, spec["action"], params)
    emit(doc)


if __name__ == "__main__":
    try:
        main()
    except DriverError as e:
        sys.stderr.write("mgmt_call: %s\n" % e)
        sys.exit(2)
