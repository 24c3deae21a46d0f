// Apps: list, search, page, create; one app with its key and secret and its grants.

import { call, items } from './mgmt.js';
import { h, labelled, page, route, pagedList, field, values, guarded, flash, link, q, go, table } from './ui.js';
import { STAGES } from './apis.js';

route('apps', () => {
  const create = h('form', { class: 'row', onsubmit: async (ev) => {
    ev.preventDefault();
    const v = values(create);
    const doc = await guarded(() => call('CreateApp', { AppName: v.AppName, Description: v.Description }));
    if (doc) { flash(`App ${v.AppName} created (${doc.AppId}).`); list.reload(); }
  } }, field('New app name', 'AppName'), field('Description', 'Description'), h('button', { class: 'primary' }, 'Create app'));
  const list = pagedList({
    action: 'DescribeAppAttributes', outer: 'Apps', inner: 'AppAttribute', search: 'AppName',
    columns: [
      { title: 'Name', cell: (a) => link(`#/app?${q({ AppId: a.AppId })}`, a.AppName) },
      { title: 'AppId', key: 'AppId' },
      { title: 'Description', key: 'Description' },
      { title: 'Modified', key: 'ModifiedTime' },
    ],
  });
  page('Apps', create, list);
});

/** Every API of the account (up to 100 per group page), for pickers. */
export async function allApis() {
  const out = [];
  for (let n = 1; n <= 20; n++) {
    const doc = await call('DescribeApis', { PageNumber: n, PageSize: 100 });
    const page = items(doc, 'ApiSummarys', 'ApiSummary');
    out.push(...page);
    if (out.length >= (doc.TotalCount || 0) || !page.length) break;
  }
  return out;
}

route('app', async ({ AppId }) => {
  const [sec, grants, apis] = await guarded(() => Promise.all([
    call('DescribeAppSecurity', { AppId }),
    call('DescribeAuthorizedApis', { AppId, PageSize: 100 }),
    allApis(),
  ])) || [];
  if (!sec) return page('App');
  const secret = h('code', {}, '••••••••');
  const grant = h('form', { class: 'row', onsubmit: async (ev) => {
    ev.preventDefault();
    const v = values(grant);
    if (await guarded(() => call('SetApisAuthorities', { AppId, ApiIds: v.ApiId, StageName: v.StageName, Description: 'granted from the console' }))) {
      flash('Granted.'); go('app', { AppId, t: Date.now() });
    }
  } },
  labelled('API', h('select', { name: 'ApiId' },
    apis.map((a) => h('option', { value: a.ApiId }, `${a.GroupName} / ${a.ApiName} (${a.ApiMethod} ${a.ApiPath})`)))),
  field('Stage', 'StageName', 'RELEASE', { options: STAGES }),
  h('button', { class: 'primary' }, 'Grant'));
  page('App', h('p', {}, `AppId ${AppId}`),
    h('h2', {}, 'Credentials'),
    table([{ title: 'AppKey', key: 'AppKey' }, { title: 'AppSecret', cell: () => [secret, ' ',
      h('button', { onclick: () => { secret.textContent = sec.AppSecret; } }, 'Show')] }, { title: 'AppCode', key: 'AppCode' }], [sec]),
    h('h2', {}, 'Grants'),
    table([
      { title: 'API', key: 'ApiName' }, { title: 'Group', key: 'GroupName' }, { title: 'Stage', key: 'StageName' },
      { title: 'Valid until', cell: (g) => g.AuthVaildTime || 'no end' },
      { title: '', cell: (g) => h('button', { class: 'danger', onclick: async () => {
        if (await guarded(() => call('RemoveApisAuthorities', { AppId, ApiIds: g.ApiId, StageName: g.StageName }))) go('app', { AppId, t: Date.now() });
      } }, 'Revoke') },
    ], items(grants, 'AuthorizedApis', 'AuthorizedApi')),
    grant);
});
