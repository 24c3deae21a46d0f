#!/usr/bin/env python3
"""Tiny stand-in gateway (stdlib http.server) that checks SDK signatures with reference_sign.py.

Answers every request 200 (or NNN for a path starting /status/NNN/) with header X-Ca-Request-Id
and a JSON body {"ok", "variant", "string_to_sign", "signature", "md5_ok", "method", "path",
"query", "headers", "body"}. "variant" is "primary" or the spec fallback (F1..F4) that matched.
Usage: python3 sdk/selftest_server.py [PORT] [SECRET]   (prints "PORT <n>" once listening)
"""
import base64, hashlib, hmac, json, os, sys, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_sign import compute  # noqa: E402

SECRET = "Sec-8f2b1c7e4a"


class Handler(BaseHTTPRequestHandler):
    def handle_one(self):
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        hs = [[k, v] for k, v in self.headers.items()]
        req = dict(method=self.command, path=path, query=query or None, headers=hs,
                   form=body.decode("latin-1"), secret=SECRET)
        got = self.headers.get("X-Ca-Signature", "")
        res, variant = compute(req), None
        for v in ([], ["F1"], ["F2"], ["F3"], ["F4"]):
            try:
                sig = compute(dict(req, variants=v))["signature"]
            except UnicodeDecodeError:
                continue
            if hmac.compare_digest(sig, got):
                variant = "+".join(v) or "primary"
                break
        md5 = self.headers.get("Content-MD5")
        out = dict(ok=variant is not None, variant=variant, string_to_sign=res["string_to_sign"],
                   signature=res["signature"], method=self.command, path=path, query=query, headers=hs,
                   md5_ok=None if md5 is None else md5 == base64.b64encode(hashlib.md5(body).digest()).decode(),
                   body=body.decode("utf-8", "replace"))
        data = json.dumps(out, ensure_ascii=False).encode()
        status = int(path.split("/")[2]) if path.startswith("/status/") else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("X-Ca-Request-Id", str(uuid.uuid4()).upper())
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = handle_one

    def log_message(self, *a):
        pass


def serve(port=0, secret=None):
    global SECRET
    SECRET = secret or SECRET
    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


if __name__ == "__main__":
    srv = serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0, sys.argv[2] if len(sys.argv) > 2 else None)
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()
