// The management OpenAPI client: every console action is a CloudAPI 2016-07-14 RPC call to `/`,
// signed like the Tea SDK (V3 `ACS3-HMAC-SHA256`, docs/console.md). The AccessKey lives in
// sessionStorage only: it is gone when the tab closes.

import { utf8, hex, sha256, hmacSha256, randomHex } from './crypto.js';

const VERSION = '2016-07-14';
const KEY = 'apigw.accessKey';

export class MgmtError extends Error {
  constructor(code, message, requestId, status) {
    super(`${code}: ${message}`);
    this.code = code;
    this.detail = message;
    this.requestId = requestId;
    this.status = status;
  }
}

export function signIn(id, secret) {
  sessionStorage.setItem(KEY, JSON.stringify({ id, secret }));
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

export function credentials() {
  const raw = sessionStorage.getItem(KEY);
  return raw ? JSON.parse(raw) : null;
}

/** `pct` of the signature spec: RFC 3986 unreserved kept, everything else `%XX`. */
export function pct(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

export function form(params) {
  return Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${pct(k)}=${pct(String(v))}`)
    .join('&');
}

/**
 * A `POST path` signed with V3: the body (form or JSON) is covered by `x-acs-content-sha256`;
 * the query is empty. Returns the fetch Response.
 */
export async function signedPost(path, action, body, contentType) {
  const cred = credentials();
  if (!cred) throw new MgmtError('NotSignedIn', 'sign in with an AccessKey first', '', 0);
  const hashed = hex(await sha256(utf8(body)));
  const headers = {
    'content-type': contentType,
    host: location.host,
    'x-acs-action': action,
    'x-acs-content-sha256': hashed,
    'x-acs-date': new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    'x-acs-signature-nonce': randomHex(16),
    'x-acs-version': VERSION,
  };
  const names = Object.keys(headers).sort();
  const canonical = [
    'POST', path, '',
    ...names.map((n) => `${n}:${headers[n].trim()}`),
    '', names.join(';'), hashed,
  ].join('\n');
  const stringToSign = 'ACS3-HMAC-SHA256\n' + hex(await sha256(utf8(canonical)));
  const signature = hex(await hmacSha256(utf8(cred.secret), utf8(stringToSign)));
  headers.authorization =
    `ACS3-HMAC-SHA256 Credential=${cred.id},SignedHeaders=${names.join(';')},Signature=${signature}`;
  delete headers.host; // the browser sends it, and may not be told to
  return fetch(path, { method: 'POST', headers, body, credentials: 'omit' });
}

/** Calls one action; the JSON answer, or throws MgmtError with the management error code. */
export async function call(action, params = {}) {
  const resp = await signedPost('/', action, form(params), 'application/x-www-form-urlencoded');
  return answer(resp);
}

export async function answer(resp) {
  let doc;
  try {
    doc = await resp.json();
  } catch {
    throw new MgmtError('InvalidResponse', `HTTP ${resp.status}, not JSON`, '', resp.status);
  }
  if (!resp.ok || doc.Code) {
    throw new MgmtError(doc.Code || `HTTP${resp.status}`, doc.Message || '', doc.RequestId, resp.status);
  }
  return doc;
}

/** The items of a wrapped list member: `{Groups: {Group: [...]}}` → `[...]`. */
export function items(doc, outer, inner) {
  const o = doc && doc[outer];
  if (!o) return [];
  const list = inner ? o[inner] : o;
  return Array.isArray(list) ? list : [];
}
