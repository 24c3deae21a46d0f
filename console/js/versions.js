// Version history of one API in one stage (DescribeHistoryApis), a side-by-side diff of any two
// versions (DescribeApiHistory), and rollback (SwitchApi).

import { call } from './mgmt.js';
import { h, page, route, pagedList, guarded, flash, field, link, q, go, pretty } from './ui.js';
import { STAGES } from './apis.js';

route('versions', ({ GroupId, ApiId, StageName = 'RELEASE' }) => {
  const picked = { A: null, B: null };
  const diffBox = h('div', { class: 'diffbox' });
  const stage = field('Stage', 'StageName', StageName, { options: STAGES });
  stage.querySelector('select').addEventListener('change', (ev) => go('versions', { GroupId, ApiId, StageName: ev.target.value }));
  const pick = (slot, v) => h('input', { type: 'radio', name: `pick${slot}`, 'aria-label': `${slot} ${v.HistoryVersion}`,
    onchange: () => { picked[slot] = v.HistoryVersion; } });
  const list = pagedList({
    action: 'DescribeHistoryApis', params: { GroupId, ApiId, StageName }, outer: 'ApiHisItems', inner: 'ApiHisItem',
    columns: [
      { title: 'A', cell: (v) => pick('A', v) },
      { title: 'B', cell: (v) => pick('B', v) },
      { title: 'Version', key: 'HistoryVersion' },
      { title: 'Status', cell: (v) => h('span', { class: v.Status === 'ONLINE' ? 'badge good' : 'badge' }, v.Status) },
      { title: 'Deployed', key: 'DeployedTime' },
      { title: 'Note', key: 'Description' },
      { title: '', cell: (v) => v.Status === 'ONLINE' ? '' : h('button', { class: 'rollback', onclick: () => rollback(v) }, 'Roll back to this') },
    ],
  });
  async function rollback(v) {
    const ok = await guarded(() => call('SwitchApi', { GroupId, ApiId, StageName, HistoryVersion: v.HistoryVersion,
      Description: `rolled back from the console to ${v.HistoryVersion}` }));
    if (ok) { flash(`${StageName} now serves version ${v.HistoryVersion}.`); list.reload(); }
  }
  async function compare() {
    if (!picked.A || !picked.B) return diffBox.replaceChildren(h('p', { class: 'muted' }, 'Pick a version in column A and one in column B.'));
    const [a, b] = await guarded(() => Promise.all([picked.A, picked.B].map((HistoryVersion) =>
      call('DescribeApiHistory', { GroupId, ApiId, StageName, HistoryVersion })))) || [];
    if (!a) return;
    diffBox.replaceChildren(h('h2', {}, `${picked.A} ↔ ${picked.B}`), sideBySide(lines(a), lines(b)));
  }
  page('Versions', h('p', {}, `ApiId ${ApiId} · `, link(`#/api?${q({ GroupId, ApiId })}`, 'back to the API')),
    stage, list, h('button', { class: 'primary', onclick: compare }, 'Compare A and B'), diffBox);
});

function lines(doc) {
  const { RequestId, ...rest } = doc;
  return pretty(sortKeys(rest)).split('\n');
}

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  return v;
}

/** Rows `[left, right, kind]` of a line diff (longest common subsequence). */
export function diffRows(a, b) {
  const n = a.length, m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const rows = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) rows.push([a[i++], b[j++], 'same']);
    else if (j < m && (i >= n || lcs[i][j + 1] >= lcs[i + 1][j])) rows.push([null, b[j++], 'add']);
    else rows.push([a[i++], null, 'del']);
  }
  return pairChanges(rows);
}

/** A run of removed and added lines between unchanged ones: shown side by side, row by row. */
function pairChanges(rows) {
  const out = [];
  for (let k = 0; k < rows.length;) {
    if (rows[k][2] === 'same') { out.push(rows[k++]); continue; }
    const dels = [], adds = [];
    for (; k < rows.length && rows[k][2] !== 'same'; k++) {
      if (rows[k][2] === 'del') dels.push(rows[k][0]);
      else adds.push(rows[k][1]);
    }
    for (let n = 0; n < Math.max(dels.length, adds.length); n++) {
      out.push([dels[n] ?? null, adds[n] ?? null, 'change']);
    }
  }
  return out;
}

/** Two columns; changed lines coloured, the missing side greyed. */
export function sideBySide(a, b) {
  const left = h('div', { class: 'diff left' });
  const right = h('div', { class: 'diff right' });
  for (const [l, r, kind] of diffRows(a, b)) {
    left.append(h('div', { class: l === null ? 'gap' : kind === 'same' ? '' : 'del' }, l ?? ''));
    right.append(h('div', { class: r === null ? 'gap' : kind === 'same' ? '' : 'add' }, r ?? ''));
  }
  return h('div', { class: 'cols' }, left, right);
}
