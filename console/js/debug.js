// Online debugging: pick an API, a stage and an app; fill path, query, headers and body; the
// page signs the request like the SDKs (APP signature, HmacSHA256) and sends it through this
// node's data plane by the admin relay (POST /console/relay, itself a signed management call).
// It shows the answer, its X-Ca-* headers, the debug info, and on a signature mismatch the
// client's StringToSign beside the gateway's.

import { call, items, signedPost, answer } from './mgmt.js';
import { utf8, base64, hmacSha256 } from './crypto.js';
import { h, labelled, page, route, field, values, guarded, errorBox, table, pretty } from './ui.js';
import { sideBySide } from './versions.js';
import { STAGES } from './apis.js';
import { allApis } from './apps.js';

const SIGNED = ['X-Ca-Key', 'X-Ca-Nonce', 'X-Ca-Signature-Method', 'X-Ca-Stage', 'X-Ca-Timestamp'];
const MISMATCH = 'Invalid Signature, Server StringToSign:`';

function uuid() {
  return crypto.randomUUID ? crypto.randomUUID()
    : ([1e7] + -1e3 + -4e3 + -8e3 + -1e11).replace(/[018]/g, (c) => (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16));
}

/** `k=v` lines (or `Name: value` with sep ':') → pairs. */
function pairs(text, sep) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    const i = l.indexOf(sep);
    return i < 0 ? [l, ''] : [l.slice(0, i).trim(), l.slice(i + 1).trim()];
  });
}

/**
 * The APP StringToSign (docs: signature.md §3): method, Accept, Content-MD5, Content-Type,
 * Date, the signed X-Ca-* headers sorted, then path and the query ∪ form parameters sorted
 * (first value of a key, form wins, `k` alone for an empty value).
 */
export function stringToSign(method, path, query, headers, form) {
  const get = (n) => (headers.find(([k]) => k.toLowerCase() === n.toLowerCase()) || [, ''])[1];
  const params = new Map();
  for (const [k, v] of query) if (k && !params.has(k)) params.set(k, v);
  const formFirst = new Map();
  for (const [k, v] of form) if (k && !formFirst.has(k)) formFirst.set(k, v);
  for (const [k, v] of formFirst) params.set(k, v);
  const keys = [...params.keys()].sort();
  const tail = keys.map((k) => (params.get(k) === '' ? k : `${k}=${params.get(k)}`)).join('&');
  const lines = [method, get('Accept'), get('Content-MD5'), get('Content-Type'), get('Date')].join('\n') + '\n';
  const signed = [...SIGNED].sort().map((n) => `${n}:${get(n)}\n`).join('');
  return lines + signed + path + (tail ? `?${tail}` : '');
}

route('debug', async ({ GroupId, ApiId }) => {
  const [apis, appsDoc] = await guarded(() => Promise.all([allApis(), call('DescribeAppAttributes', { PageSize: 100 })])) || [];
  if (!apis) return page('Debug');
  const apps = items(appsDoc, 'Apps', 'AppAttribute');
  const result = h('div', { class: 'result' });
  const form = h('form', { onsubmit: send });
  const apiSelect = h('select', { name: 'ApiId', onchange: () => pickApi() },
    apis.map((a) => h('option', { value: a.ApiId, selected: a.ApiId === ApiId }, `${a.GroupName} / ${a.ApiName}`)));
  const appSelect = h('select', { name: 'AppId', onchange: () => pickApp() },
    h('option', { value: '' }, '(none: unsigned)'), apps.map((a) => h('option', { value: a.AppId }, a.AppName)));
  const hostSelect = h('select', { name: 'Host' });
  const slots = {
    method: field('Method', 'Method', 'GET', { options: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'] }),
    path: field('Path', 'Path', '/'),
    key: field('AppKey', 'AppKey'),
    secret: field('AppSecret', 'AppSecret', '', { type: 'password' }),
  };
  form.append(
    h('fieldset', {}, h('legend', {}, 'Target'),
      labelled('API', apiSelect),
      field('Stage', 'StageName', 'RELEASE', { options: STAGES }),
      labelled('Host', hostSelect),
      labelled('App', appSelect), slots.key, slots.secret),
    h('fieldset', {}, h('legend', {}, 'Request'),
      slots.method, slots.path,
      field('Query (k=v per line)', 'Query', '', { rows: 3, wide: true }),
      field('Headers (Name: value per line)', 'Headers', '', { rows: 3, wide: true }),
      field('Content-Type', 'ContentType', '', { options: ['', 'application/x-www-form-urlencoded; charset=utf-8', 'application/json; charset=utf-8', 'text/plain; charset=utf-8'] }),
      field('Body', 'Body', '', { rows: 4, wide: true })),
    h('button', { class: 'primary' }, 'Send'));
  const set = (slot, v) => { slot.querySelector('input,select').value = v; };

  async function pickApi() {
    const a = apis.find((x) => x.ApiId === apiSelect.value);
    if (!a) return;
    set(slots.method, a.ApiMethod === 'ANY' ? 'GET' : a.ApiMethod);
    set(slots.path, a.ApiPath);
    const g = await guarded(() => call('DescribeApiGroup', { GroupId: a.GroupId }));
    if (!g) return;
    const hosts = [g.SubDomain, ...items(g, 'CustomDomains', 'DomainItem').map((d) => d.DomainName)].filter(Boolean);
    hostSelect.replaceChildren(...hosts.map((x) => h('option', { value: x }, x)));
  }
  async function pickApp() {
    if (!appSelect.value) { set(slots.key, ''); set(slots.secret, ''); return; }
    const s = await guarded(() => call('DescribeAppSecurity', { AppId: appSelect.value }));
    if (s) { set(slots.key, s.AppKey); set(slots.secret, s.AppSecret); }
  }

  async function send(ev) {
    ev.preventDefault();
    const v = values(form);
    const query = pairs(v.Query, '=');
    const qs = query.map(([k, x]) => `${encodeURIComponent(k)}=${encodeURIComponent(x)}`).join('&');
    const headers = [['Host', v.Host], ['Accept', 'application/json'], ['X-Ca-Stage', v.StageName], ['X-Ca-Request-Mode', 'debug'],
      ...pairs(v.Headers, ':')];
    if (v.ContentType) headers.push(['Content-Type', v.ContentType]);
    let sts = null;
    if (v.AppKey) {
      headers.push(['X-Ca-Key', v.AppKey], ['X-Ca-Nonce', uuid()], ['X-Ca-Timestamp', String(Date.now())],
        ['X-Ca-Signature-Method', 'HmacSHA256'], ['X-Ca-Signature-Headers', SIGNED.join(',')]);
      const form = v.ContentType.startsWith('application/x-www-form-urlencoded') ? [...new URLSearchParams(v.Body)] : [];
      sts = stringToSign(v.Method, v.Path, query, headers, form);
      headers.push(['X-Ca-Signature', base64(await hmacSha256(utf8(v.AppSecret), utf8(sts)))]);
    }
    const relayed = { Method: v.Method, Path: v.Path + (qs ? `?${qs}` : ''), Headers: headers, Body: v.Body };
    result.replaceChildren(h('p', { class: 'muted' }, 'Sending…'));
    try {
      const r = await answer(await signedPost('/console/relay', 'ConsoleRelay', JSON.stringify(relayed), 'application/json'));
      result.replaceChildren(...show(r, sts));
    } catch (e) {
      result.replaceChildren(errorBox(e));
    }
  }
  page('Online debugging', form, result);
  await pickApi();
});

function show(r, clientSts) {
  const header = (n) => (r.Headers.find(([k]) => k.toLowerCase() === n) || [, null])[1];
  const caHeaders = r.Headers.filter(([k]) => k.toLowerCase().startsWith('x-ca-'));
  const out = [
    h('h2', {}, h('span', { class: r.Status < 400 ? 'badge good status' : 'badge bad status' }, `HTTP ${r.Status}`), ` in ${r.Millis} ms`),
    table([{ title: 'Header', cell: (x) => x[0] }, { title: 'Value', cell: (x) => x[1] }], caHeaders),
  ];
  const info = header('x-ca-debug-info');
  if (info) {
    let text = info;
    try { text = pretty(JSON.parse(info)); } catch { /* shown as sent */ }
    out.push(h('h2', {}, 'Debug info'), h('pre', { class: 'debug-info' }, text));
  }
  const message = header('x-ca-error-message') || '';
  if (message.startsWith(MISMATCH) && clientSts !== null) {
    const server = message.slice(MISMATCH.length).replace(/`$/, '').replaceAll('#', '\n');
    const same = server === clientSts;
    out.push(h('h2', {}, 'Signature mismatch'),
      h('p', { class: 'sts-verdict' }, same
        ? 'The StringToSigns are the same: the AppSecret is wrong.'
        : 'The StringToSigns differ on the highlighted lines.'),
      h('div', { class: 'cols' }, h('strong', {}, 'Client StringToSign'), h('strong', {}, 'Gateway StringToSign')),
      h('div', { class: 'sts' }, sideBySide(clientSts.split('\n'), server.split('\n'))));
  }
  out.push(h('h2', {}, 'Body'), h('pre', { class: 'body' }, r.Body));
  return out;
}
