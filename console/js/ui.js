// DOM helpers shared by the pages: elements, errors, forms, a paged list, the router.

import { call, MgmtError } from './mgmt.js';

/** `h('button', {class: 'x', onclick: f}, 'text', child)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export const main = () => document.getElementById('main');

/** Replaces the page content. */
export function page(title, ...content) {
  document.title = `${title} · apigw console`;
  main().replaceChildren(h('h1', {}, title), ...content);
}

/** An error box: the management error code, its message and the request id. */
export function errorBox(e) {
  if (e instanceof MgmtError) {
    return h('div', { class: 'error', role: 'alert' },
      h('strong', { class: 'code' }, e.code), ' ', e.detail,
      e.requestId ? h('div', { class: 'muted' }, `RequestId ${e.requestId}`) : null);
  }
  return h('div', { class: 'error', role: 'alert' }, String(e && e.message ? e.message : e));
}

/** Runs `f`; on failure shows the error in `where` (default: the top of the page). */
export async function guarded(f, where) {
  const slot = where || document.getElementById('flash');
  if (where) slot.replaceChildren();
  else slot.querySelectorAll('.error').forEach((e) => e.remove());
  try {
    return await f();
  } catch (e) {
    slot.replaceChildren(errorBox(e));
    return undefined;
  }
}

/** A note at the top of the page; it outlives the next page change (a save, then a reload). */
export function flash(text) {
  const slot = document.getElementById('flash');
  slot.dataset.keep = '1';
  slot.replaceChildren(h('div', { class: 'ok', role: 'status' }, text));
}

/** A labelled input; `opts.options` makes a select, `opts.rows` a textarea. */
export function field(label, name, value = '', opts = {}) {
  let input;
  if (opts.options) {
    input = h('select', { name }, opts.options.map((o) => h('option', { value: o, selected: o === value }, o)));
  } else if (opts.rows) {
    input = h('textarea', { name, rows: opts.rows, spellcheck: 'false' });
    input.value = value;
  } else {
    input = h('input', { name, value, type: opts.type || 'text', placeholder: opts.placeholder });
  }
  return labelled(label, input, opts.wide);
}

let ids = 0;

/** A control with its label above it (`<label for>`: the label text is its accessible name). */
export function labelled(text, control, wide = false) {
  if (!control.id) control.id = `field-${++ids}`;
  return h('div', { class: wide ? 'field wide' : 'field' }, h('label', { for: control.id }, text), control);
}

/** The values of a form's named inputs. */
export function values(root) {
  const out = {};
  for (const el of root.querySelectorAll('[name]')) out[el.name] = el.value;
  return out;
}

export function link(href, text) {
  return h('a', { href }, text);
}

export function q(params) {
  return new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();
}

export function table(columns, rows) {
  return h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c.title)))),
    h('tbody', {}, rows.length
      ? rows.map((r) => h('tr', {}, columns.map((c) => h('td', {}, c.cell ? c.cell(r) : r[c.key] ?? ''))))
      : h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, 'Nothing here yet.'))));
}

/**
 * A searchable, paged list of one Describe* action:
 * `{action, params, outer, inner, columns, search: 'ApiName', pageSize}`.
 */
export function pagedList(spec) {
  const box = h('div', { class: 'list' });
  const state = { page: 1, term: '' };
  const searchInput = spec.search
    ? h('input', { type: 'search', placeholder: `Search ${spec.search}`, 'aria-label': `Search ${spec.search}` })
    : null;
  const form = h('form', { class: 'toolbar', onsubmit: (ev) => { ev.preventDefault(); state.term = searchInput.value; state.page = 1; load(); } },
    searchInput, searchInput ? h('button', {}, 'Search') : null, spec.tools || null);
  const body = h('div');
  box.append(form, body);
  async function load() {
    const params = { ...spec.params, PageNumber: state.page, PageSize: spec.pageSize || 10 };
    if (spec.search && state.term) params[spec.search] = state.term;
    await guarded(async () => {
      const doc = await call(spec.action, params);
      const rows = (spec.rows ? spec.rows(doc) : null) || itemsOf(doc, spec.outer, spec.inner);
      const total = doc.TotalCount ?? rows.length;
      const pages = Math.max(1, Math.ceil(total / (spec.pageSize || 10)));
      body.replaceChildren(
        table(spec.columns, rows),
        h('div', { class: 'pager' },
          h('button', { disabled: state.page <= 1, onclick: () => { state.page--; load(); } }, '‹ Prev'),
          h('span', {}, `Page ${state.page} of ${pages} · ${total} in all`),
          h('button', { disabled: state.page >= pages, onclick: () => { state.page++; load(); } }, 'Next ›')));
    }, body);
  }
  load();
  box.reload = load;
  return box;
}

function itemsOf(doc, outer, inner) {
  const o = doc[outer];
  if (!o) return [];
  const list = inner ? o[inner] : o;
  return Array.isArray(list) ? list : [];
}

/** Hash routes: `#/name?k=v`. */
const routes = {};
export function route(name, render) {
  routes[name] = render;
}

export function current() {
  const [path, query] = location.hash.replace(/^#\/?/, '').split('?');
  return { name: path || 'groups', params: Object.fromEntries(new URLSearchParams(query || '')) };
}

export async function render() {
  const { name, params } = current();
  const slot = document.getElementById('flash');
  if (slot.dataset.keep) delete slot.dataset.keep;
  else slot.replaceChildren();
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.getAttribute('href') === `#/${name}`);
  }
  const f = routes[name];
  if (!f) return page('Not found', h('p', {}, `No page "${name}".`));
  await f(params);
}

export function go(name, params = {}) {
  const query = q(params);
  location.hash = `#/${name}${query ? '?' + query : ''}`;
}

export function pretty(v) {
  return JSON.stringify(v, null, 2);
}
