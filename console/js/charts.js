// Per-API charts for the last hour or day from the monitoring actions (DescribeApiQpsData,
// DescribeApiErrorData, DescribeApiLatencyData, DescribeApiTrafficData: series of
// `{ItemTime, ItemValue}`; apigw's own DescribeApiCodeData: a series per status and per gateway
// error code; DescribeApiLatencyPercentiles: p50/p90/p99 per minute and over the window),
// drawn as inline SVG.

import { call, items } from './mgmt.js';
import { h, labelled, page, route, field, guarded, errorBox, go } from './ui.js';
import { STAGES } from './apis.js';
import { allApis } from './apps.js';

const SVG = 'http://www.w3.org/2000/svg';
const WINDOWS = { hour: 3600e3, day: 86400e3 };

// `series`: members `{MonitorItem: [...]}` of the answer; `codes`: a member
// `{CodeSeries: [{Code, Total, Items}]}`, a line per code; `window`: the legend shows the
// answer's `Window` value of each series (percentiles over the whole window).
const CHARTS = [
  { title: 'Calls', action: 'DescribeApiQpsData', series: ['CallSuccesses', 'CallFails'], total: true },
  { title: 'Errors (4xx client, 5xx server)', action: 'DescribeApiErrorData', series: ['ClientErrors', 'ServerErrors'], total: true },
  { id: 'StatusCodes', title: 'Calls by status code', action: 'DescribeApiCodeData', codes: 'StatusCodes' },
  { id: 'ErrorCodes', title: 'Errors by gateway error code (X-Ca-Error-Code)', action: 'DescribeApiCodeData', codes: 'ErrorCodes' },
  { title: 'Latency (ms, average per minute)', action: 'DescribeApiLatencyData', series: ['CallLatencys'] },
  { title: 'Latency percentiles (ms, per minute)', action: 'DescribeApiLatencyPercentiles', series: ['P50', 'P90', 'P99'], window: true },
  { title: 'Traffic (bytes)', action: 'DescribeApiTrafficData', series: ['CallUploads', 'CallDownloads'], total: true },
];

const stamp = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

route('charts', async ({ GroupId, ApiId, StageName = 'RELEASE', Window = 'hour' }) => {
  const apis = await guarded(() => allApis());
  if (!apis) return page('Charts');
  const api = apis.find((a) => a.ApiId === ApiId) || apis[0];
  const nav = (change) => go('charts', { GroupId: api && api.GroupId, ApiId: api && api.ApiId, StageName, Window, ...change });
  const apiSelect = h('select', { name: 'ApiId', onchange: (ev) => {
    const a = apis.find((x) => x.ApiId === ev.target.value);
    nav({ ApiId: a.ApiId, GroupId: a.GroupId });
  } }, apis.map((a) => h('option', { value: a.ApiId, selected: api && a.ApiId === api.ApiId }, `${a.GroupName} / ${a.ApiName}`)));
  const stage = field('Stage', 'StageName', StageName, { options: STAGES });
  stage.querySelector('select').addEventListener('change', (ev) => nav({ StageName: ev.target.value }));
  const windows = h('div', { class: 'toolbar' }, Object.keys(WINDOWS).map((w) =>
    h('button', { class: w === Window ? 'primary' : '', onclick: () => nav({ Window: w }) }, `Last ${w}`)),
  h('button', { onclick: () => nav({ t: Date.now() }) }, 'Refresh'));
  const box = h('div');
  page('Charts', h('div', { class: 'row' }, labelled('API', apiSelect), stage), windows, box);
  if (!api) return box.append(h('p', { class: 'muted' }, 'No API yet.'));
  const end = Date.now();
  const params = { GroupId: api.GroupId, ApiId: api.ApiId, StageName, StartTime: stamp(end - WINDOWS[Window]), EndTime: stamp(end) };
  // One call per action (the two code charts share theirs).
  const actions = [...new Set(CHARTS.map((c) => c.action))];
  const answers = await Promise.all(actions.map((a) => call(a, params).catch((e) => e)));
  const docs = Object.fromEntries(actions.map((a, i) => [a, answers[i]]));
  box.replaceChildren(...CHARTS.map((c) => chartBox(c, docs[c.action])));
});

const pointsOf = (list) => list.map((p) => ({ t: Date.parse(p.ItemTime), v: Number(p.ItemValue) || 0 }));

/** The series a chart draws from its action's answer, each with its legend text. */
function seriesOf(chart, doc) {
  if (chart.codes) {
    return items(doc, chart.codes, 'CodeSeries').map((c) => ({
      name: c.Code, points: pointsOf(items(c, 'Items', 'MonitorItem')), summary: `total ${c.Total}`,
    }));
  }
  return chart.series.map((name) => {
    const points = pointsOf(items(doc, name, 'MonitorItem'));
    const values = points.map((p) => p.v);
    let summary;
    if (chart.window) summary = `${(doc.Window || {})[name] || 0} ms over the window`;
    else if (chart.total) summary = `total ${values.reduce((a, b) => a + b, 0)}`;
    else summary = `max ${values.length ? Math.max(...values) : 0}`;
    return { name, points, summary };
  });
}

function chartBox(chart, doc) {
  const head = h('h2', {}, chart.title);
  const id = chart.id || chart.action;
  if (doc instanceof Error) return h('div', { class: 'chart', 'data-chart': id }, head, errorBox(doc));
  const series = seriesOf(chart, doc);
  const legend = h('div', { class: 'legend' }, series.map((s, i) =>
    h('span', { 'data-series': s.name }, h('i', { class: `swatch s${i % COLOURS.length}` }), `${s.name}: ${s.summary}`)));
  return h('div', { class: 'chart', 'data-chart': id }, head, legend, lineChart(series));
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...children);
  return el;
}

const COLOURS = ['#1f6feb', '#d92d20', '#079455', '#dc6803', '#7a5af8', '#0e9384', '#c11574', '#475467'];

/** One SVG: a polyline per series over a shared time axis; a note when there is no point. */
export function lineChart(series) {
  const W = 600, H = 180, L = 48, R = 8, T = 10, B = 22;
  const all = series.flatMap((s) => s.points);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', preserveAspectRatio: 'none' });
  root.append(svg('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }),
    svg('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }));
  if (!all.length) {
    root.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, 'No data in this window'));
    return root;
  }
  const t0 = Math.min(...all.map((p) => p.t)), t1 = Math.max(...all.map((p) => p.t));
  const top = Math.max(1, ...all.map((p) => p.v));
  const x = (t) => L + (t1 === t0 ? (W - L - R) / 2 : ((t - t0) / (t1 - t0)) * (W - L - R));
  const y = (v) => H - B - (v / top) * (H - B - T);
  root.append(
    svg('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, String(top)),
    svg('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, '0'),
    svg('text', { x: L, y: H - 6 }, new Date(t0).toLocaleTimeString()),
    svg('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, new Date(t1).toLocaleTimeString()));
  series.forEach((s, i) => {
    if (!s.points.length) return;
    const pts = s.points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
    root.append(svg('polyline', { points: pts, fill: 'none', stroke: COLOURS[i % COLOURS.length], 'stroke-width': 1.5 }));
  });
  return root;
}
