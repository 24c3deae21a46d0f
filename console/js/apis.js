// APIs: list, search and page (per group or all); create and edit one API with its request,
// parameters, backend and auth; deploy and abolish per stage.

import { call, items } from './mgmt.js';
import { h, page, route, pagedList, field, values, guarded, flash, link, q, go } from './ui.js';

export const STAGES = ['RELEASE', 'PRE', 'TEST'];

route('apis', ({ GroupId }) => {
  const list = pagedList({
    action: 'DescribeApis', params: { GroupId }, outer: 'ApiSummarys', inner: 'ApiSummary', search: 'ApiName',
    tools: GroupId ? h('a', { href: `#/api?${q({ GroupId })}`, class: 'button' }, h('button', { type: 'button', class: 'primary' }, 'New API')) : null,
    columns: [
      { title: 'Name', cell: (a) => link(`#/api?${q({ GroupId: a.GroupId, ApiId: a.ApiId })}`, a.ApiName) },
      { title: 'Method', key: 'ApiMethod' },
      { title: 'Path', key: 'ApiPath' },
      { title: 'Group', key: 'GroupName' },
      { title: 'Deployed', cell: deployedBadges },
      { title: '', cell: (a) => [link(`#/versions?${q({ GroupId: a.GroupId, ApiId: a.ApiId })}`, 'Versions'), ' ',
        link(`#/debug?${q({ GroupId: a.GroupId, ApiId: a.ApiId })}`, 'Debug'), ' ',
        link(`#/charts?${q({ GroupId: a.GroupId, ApiId: a.ApiId })}`, 'Charts')] },
    ],
  });
  page(GroupId ? 'APIs of the group' : 'APIs', GroupId ? null : h('p', { class: 'muted' }, 'Open a group to create an API in it.'), list);
});

function deployedBadges(a) {
  return items(a, 'DeployedInfos', 'DeployedInfo')
    .filter((d) => d.DeployedStatus === 'DEPLOYED')
    .map((d) => h('span', { class: 'badge good' }, `${d.StageName} ${d.EffectiveVersion || ''}`));
}

const PARAM_LOCATIONS = ['QUERY', 'HEAD', 'PATH', 'BODY'];
const PARAM_TYPES = ['String', 'Int', 'Long', 'Float', 'Double', 'Boolean'];

function paramRow(p = {}) {
  const row = h('tr', {},
    h('td', {}, h('input', { name: 'ApiParameterName', value: p.ApiParameterName || '', 'aria-label': 'parameter name' })),
    h('td', {}, select('Location', PARAM_LOCATIONS, p.Location)),
    h('td', {}, select('ParameterType', PARAM_TYPES, p.ParameterType)),
    h('td', {}, select('Required', ['OPTIONAL', 'REQUIRED'], p.Required)),
    h('td', {}, h('input', { name: 'DefaultValue', value: p.DefaultValue || '' })),
    h('td', {}, h('input', { name: 'ServiceParameterName', value: p.ServiceParameterName || '', placeholder: 'same name' })),
    h('td', {}, h('button', { type: 'button', onclick: () => row.remove() }, 'Remove')));
  return row;
}

function select(name, options, value) {
  return h('select', { name }, options.map((o) => h('option', { value: o, selected: o === value }, o)));
}

/** The parameter rows of a described API, each with the backend name it maps to. */
function describedParams(api) {
  const map = Object.fromEntries(items(api, 'ServiceParametersMap', 'ServiceParameterMap')
    .map((m) => [m.RequestParameterName, m.ServiceParameterName]));
  return items(api, 'RequestParameters', 'RequestParameter')
    .map((p) => ({ ...p, ServiceParameterName: map[p.ApiParameterName] || '' }));
}

/** The CreateApi/ModifyApi parameters the editor's inputs describe. */
function definition(form, rows) {
  const v = values(form.querySelector('.basics'));
  const params = [...rows.querySelectorAll('tr')].map((tr) => values(tr)).filter((p) => p.ApiParameterName);
  const mapping = v.RequestMode === 'MAPPING';
  const mock = v.Mock === 'TRUE';
  const service = mock
    ? { Mock: 'TRUE', MockResult: v.MockResult, MockStatusCode: Number(v.MockStatusCode || 200), ServiceTimeout: Number(v.ServiceTimeout) }
    : { Mock: 'FALSE', ServiceProtocol: 'HTTP', ServiceAddress: v.ServiceAddress, ServicePath: v.ServicePath,
      ServiceHttpMethod: v.ServiceHttpMethod, ServiceTimeout: Number(v.ServiceTimeout) };
  const out = {
    ApiName: v.ApiName, Description: v.Description, Visibility: v.Visibility, AuthType: v.AuthType,
    ResultType: v.ResultType, ResultSample: v.ResultSample || (mock ? v.MockResult : '{}'),
    RequestConfig: JSON.stringify({ RequestProtocol: v.RequestProtocol, RequestHttpMethod: v.RequestHttpMethod,
      RequestPath: v.RequestPath, RequestMode: v.RequestMode, BodyFormat: v.BodyFormat }),
    ServiceConfig: JSON.stringify(service),
    RequestParameters: JSON.stringify(params.map((p) => ({ ApiParameterName: p.ApiParameterName, Location: p.Location,
      ParameterType: p.ParameterType, Required: p.Required, DefaultValue: p.DefaultValue || undefined }))),
  };
  if (mapping) {
    const backend = (p) => p.ServiceParameterName || p.ApiParameterName;
    out.ServiceParameters = JSON.stringify(params.map((p) => ({ ServiceParameterName: backend(p), Location: p.Location,
      ParameterType: p.ParameterType.toUpperCase(), ParameterCatalog: 'REQUEST' })));
    out.ServiceParametersMap = JSON.stringify(params.map((p) => ({ ServiceParameterName: backend(p), RequestParameterName: p.ApiParameterName })));
  }
  return out;
}

route('api', async ({ GroupId, ApiId }) => {
  const api = ApiId ? await guarded(() => call('DescribeApi', { GroupId, ApiId })) : {};
  if (!api) return page('API');
  const rc = api.RequestConfig || {};
  const sc = api.ServiceConfig || {};
  const mock = (sc.Mock || 'FALSE') === 'TRUE';
  const basics = h('div', { class: 'basics' },
    h('fieldset', {}, h('legend', {}, 'API'),
      field('Name', 'ApiName', api.ApiName || ''),
      field('Description', 'Description', api.Description || ''),
      field('Visibility', 'Visibility', api.Visibility || 'PRIVATE', { options: ['PRIVATE', 'PUBLIC'] }),
      field('Auth', 'AuthType', api.AuthType || 'APP', { options: ['APP', 'ANONYMOUS'] })),
    h('fieldset', {}, h('legend', {}, 'Request'),
      field('Protocol', 'RequestProtocol', rc.RequestProtocol || 'HTTP,HTTPS', { options: ['HTTP,HTTPS', 'HTTP', 'HTTPS'] }),
      field('Method', 'RequestHttpMethod', rc.RequestHttpMethod || 'GET', { options: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'ANY'] }),
      field('Path', 'RequestPath', rc.RequestPath || '/', { placeholder: '/users/[id]' }),
      field('Mode', 'RequestMode', rc.RequestMode || 'MAPPING', { options: ['MAPPING', 'PASSTHROUGH'] }),
      field('Body format', 'BodyFormat', rc.BodyFormat || 'FORM', { options: ['FORM', 'STREAM'] })),
    h('fieldset', {}, h('legend', {}, 'Backend'),
      field('Mock', 'Mock', mock ? 'TRUE' : 'FALSE', { options: ['FALSE', 'TRUE'] }),
      field('Address', 'ServiceAddress', sc.ServiceAddress || '', { placeholder: 'http://10.0.0.1:8080' }),
      field('Backend path', 'ServicePath', sc.ServicePath || '/', {}),
      field('Backend method', 'ServiceHttpMethod', sc.ServiceHttpMethod || 'GET', { options: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'] }),
      field('Timeout (ms)', 'ServiceTimeout', String(sc.ServiceTimeout || 10000)),
      field('Mock answer', 'MockResult', sc.MockResult || '', {}),
      field('Mock status', 'MockStatusCode', String(sc.MockStatusCode || 200)),
      field('Result type', 'ResultType', api.ResultType || 'JSON', { options: ['JSON', 'TEXT', 'BINARY', 'XML', 'HTML'] }),
      field('Result sample', 'ResultSample', api.ResultSample || '')));
  const rows = h('tbody', {}, describedParams(api).map(paramRow));
  const params = h('fieldset', {}, h('legend', {}, 'Parameters'),
    h('table', { class: 'params' },
      h('thead', {}, h('tr', {}, ['Name', 'Location', 'Type', 'Required', 'Default', 'Backend name', ''].map((t) => h('th', {}, t)))),
      rows),
    h('button', { type: 'button', onclick: () => rows.append(paramRow()) }, 'Add parameter'));
  const form = h('form', { onsubmit: save }, basics, params,
    h('button', { class: 'primary' }, ApiId ? 'Save changes' : 'Create API'));
  async function save(ev) {
    ev.preventDefault();
    const def = definition(form, rows);
    if (ApiId) {
      if (await guarded(() => call('ModifyApi', { GroupId, ApiId, ...def }))) { flash('Saved (a draft: deploy to make it live).'); go('api', { GroupId, ApiId, t: Date.now() }); }
    } else {
      const doc = await guarded(() => call('CreateApi', { GroupId, ...def }));
      if (doc) { flash(`API ${def.ApiName} created.`); go('api', { GroupId, ApiId: doc.ApiId }); }
    }
  }
  page(ApiId ? `API ${api.ApiName}` : 'New API',
    ApiId ? h('p', {}, `ApiId ${ApiId} · group ${api.GroupName} · `,
      link(`#/versions?${q({ GroupId, ApiId })}`, 'Versions'), ' · ',
      link(`#/debug?${q({ GroupId, ApiId })}`, 'Debug'), ' · ',
      link(`#/charts?${q({ GroupId, ApiId })}`, 'Charts')) : null,
    ApiId ? deployPanel(api) : null,
    form);
});

function deployPanel(api) {
  const { GroupId, ApiId } = api;
  const status = Object.fromEntries(items(api, 'DeployedInfos', 'DeployedInfo').map((d) => [d.StageName, d]));
  const note = h('input', { name: 'Description', placeholder: 'deployment note', value: 'deployed from the console', 'aria-label': 'deployment note' });
  const rows = STAGES.map((stage) => {
    const d = status[stage];
    const live = d && d.DeployedStatus === 'DEPLOYED';
    return h('tr', {},
      h('td', {}, stage),
      h('td', {}, live ? h('span', { class: 'badge good' }, `deployed ${d.EffectiveVersion || ''}`) : h('span', { class: 'badge' }, 'not deployed')),
      h('td', {},
        h('button', { class: 'primary', 'data-stage': stage, onclick: async () => {
          if (await guarded(() => call('DeployApi', { GroupId, ApiId, StageName: stage, Description: note.value || 'console' }))) {
            flash(`Deployed to ${stage}.`); go('api', { GroupId, ApiId, t: Date.now() });
          }
        } }, `Deploy to ${stage}`), ' ',
        h('button', { class: 'danger', disabled: !live, onclick: async () => {
          if (await guarded(() => call('AbolishApi', { GroupId, ApiId, StageName: stage }))) {
            flash(`Abolished from ${stage}.`); go('api', { GroupId, ApiId, t: Date.now() });
          }
        } }, 'Abolish')));
  });
  return h('fieldset', { class: 'deploy' }, h('legend', {}, 'Stages'), note,
    h('table', {}, h('tbody', {}, rows)));
}
