#!/usr/bin/env node
// Send ONE request signed by the official Node SDK `aliyun-api-gateway@1.1.6`
// (new Client(key, secret, stage).get/.post/.put/.delete), installed by sdk/setup.sh into
// ${APIGW_SDK_DIR:-<repo>/target/sdk}/node.
//
// stdin : {"url": "http://127.0.0.1:PORT/path?query", "method": "GET|POST|PUT|DELETE",
//          "app_key", "app_secret", "stage" (opt, SDK default RELEASE), "headers" {..} (opt),
//          "sign_headers" {..} (opt), "form" {..} (opt), "json" <any> (opt),
//          "body_base64" "..." (opt), "content_type" "..." (opt), "timeout_ms" (opt, SDK default 3000)}
// stdout: {"status": int, "headers": {lower-case name: value}, "body": "text"}
// Exit 0 whenever an HTTP response arrived (any status); 2 on a driver/SDK failure.
//
// The SDK signs and sends; the driver only observes. SDK quirks (1.1.6) and workarounds:
//  N1 Non-2xx: the SDK throws Error{code, data:{headers}} without reading the body, and on 2xx it
//     returns only the body (JSON.parse'd when Content-Type is application/json), never status or
//     headers. WORKAROUND: httpx.request / httpx.read (the same module instance the SDK uses) are
//     wrapped to remember the response object and the text the SDK read; on a throw the driver
//     reads the body itself. The request itself is untouched.
//  N2 Repeated query key: url.parse(..., true) gives an array and the signer prints `k=v1,v2`
//     (spec fallback F2); the wire query is sent unchanged. Not worked around.
//  N3 Header names are lower-cased and signed as `x-ca-key:...`; every x-ca-* header plus every
//     key of sign_headers (merged into the sent headers too) is signed, even accept/content-type
//     (spec F4). X-Ca-Stage is always sent and signed (constructor arg). x-ca-timestamp is a number.
//  N4 Content-MD5 is sent for every POST whose Content-Type is not form (JSON, octet-stream ...),
//     never for PUT. POST/PUT default Content-Type is application/json; GET/DELETE send none.
//  N5 POST with no data: the SDK crashes (crypto MD5 of `undefined`). WORKAROUND: the driver
//     passes data '' when no form/json/body_base64 is given. With the default JSON Content-Type
//     the SDK JSON.stringify()s it, so the wire body is `""` (2 bytes, Content-MD5 of that);
//     with a non-JSON content_type the body is empty and Content-MD5 is MD5("") =
//     1B2M2Y8AsgTpgAmY7PhCfg== (spec 5.3 says a gateway rejects Content-MD5 with an empty body).
//  N6 With a JSON Content-Type the SDK JSON.stringify()s the data, so raw bytes (body_base64)
//     cannot be sent as JSON: the driver refuses that combination (use "json").
//  N7 Form bodies are serialised with querystring.stringify (space -> %20); query values are
//     signed percent-decoded. Host header is host:port from the URL (Node http), keep-alive agent
//     (the driver exits explicitly).
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

function fail(msg) {
  process.stderr.write(`node_call: ${msg}\n`);
  process.exit(2);
}

const sdkDir = process.env.APIGW_SDK_DIR || path.join(__dirname, '..', 'target', 'sdk');
const nodeDir = path.join(sdkDir, 'node');
let sdk, httpx;
try {
  const req = createRequire(path.join(nodeDir, 'package.json'));
  const sdkMain = req.resolve('aliyun-api-gateway');
  sdk = req(sdkMain);
  // resolve httpx exactly as the SDK's lib/client.js does, so we patch the same module object
  httpx = createRequire(path.join(path.dirname(sdkMain), 'lib', 'client.js'))('httpx');
} catch (e) {
  fail(`aliyun-api-gateway not installed under ${nodeDir} (run sdk/setup.sh): ${e.message}`);
}

let spec;
try {
  spec = JSON.parse(fs.readFileSync(0, 'utf8'));
} catch (e) {
  fail(`bad JSON on stdin: ${e.message}`);
}

// N1: observe the response without changing the request.
let lastResponse = null;
let lastText = null;
const origRequest = httpx.request;
const origRead = httpx.read;
httpx.request = async function (...args) {
  const res = await origRequest.apply(this, args);
  lastResponse = res;
  return res;
};
httpx.read = async function (...args) {
  const text = await origRead.apply(this, args);
  lastText = Buffer.isBuffer(text) ? text.toString('utf8') : text;
  return text;
};

function emit() {
  const headers = {};
  for (const [k, v] of Object.entries(lastResponse.headers)) {
    headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  const out = JSON.stringify({ status: lastResponse.statusCode, headers, body: lastText == null ? '' : lastText });
  process.stdout.write(out + '\n', () => process.exit(0));
}

async function main() {
  const method = (spec.method || 'GET').toUpperCase();
  const client = new sdk.Client(spec.app_key, spec.app_secret, spec.stage || undefined);
  const headers = Object.assign({}, spec.headers || {});
  const opts = { headers, signHeaders: spec.sign_headers || {} };
  if (spec.timeout_ms != null) opts.timeout = spec.timeout_ms;
  const hasCt = Object.keys(headers).some((k) => k.toLowerCase() === 'content-type');
  const setCt = (ct) => { if (!hasCt && ct) headers['content-type'] = ct; };

  if (spec.form != null) {
    opts.data = spec.form;
    setCt(spec.content_type || sdk.CONTENT_TYPE_FORM);
  } else if (Object.prototype.hasOwnProperty.call(spec, 'json')) {
    opts.data = spec.json;
    setCt(spec.content_type || 'application/json');
  } else if (spec.body_base64 != null) {
    const ct = spec.content_type || 'application/octet-stream';
    if (ct.toLowerCase().startsWith('application/json')) fail('N6: body_base64 with a JSON content type is not sendable by the SDK');
    opts.data = Buffer.from(spec.body_base64, 'base64');
    setCt(ct);
  } else {
    setCt(spec.content_type);
    if (method === 'POST') opts.data = ''; // N5
  }

  let fn;
  switch (method) {
    case 'GET': fn = client.get; break;
    case 'POST': fn = client.post; break;
    case 'PUT': fn = client.put; break;
    case 'DELETE': fn = client.delete; break;
    default: fail(`unsupported method ${method}`);
  }
  if ((method === 'GET' || method === 'DELETE') && opts.data != null) {
    fail(`${method} with a body: the SDK would move it into the query string`);
  }

  try {
    await fn.call(client, spec.url, opts);
  } catch (e) {
    if (!lastResponse) fail(`request failed: ${e.stack || e}`);
    if (lastText == null) {
      try {
        lastText = await origRead(lastResponse, 'utf8');
      } catch (e2) {
        fail(`reading error body failed: ${e2.message}`);
      }
    }
  }
  if (!lastResponse) fail('no response captured');
  emit();
}

main().catch((e) => fail(e.stack || String(e)));
