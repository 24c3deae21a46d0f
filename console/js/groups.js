// Groups: list, search, page, create; one group with its domains and their certificates.

import { call, items } from './mgmt.js';
import { h, page, route, pagedList, field, values, guarded, flash, link, q, table, go } from './ui.js';

route('groups', () => {
  const create = h('form', { class: 'row', onsubmit: async (ev) => {
    ev.preventDefault();
    const v = values(create);
    const doc = await guarded(() => call('CreateApiGroup', { GroupName: v.GroupName, Description: v.Description }));
    if (doc) { flash(`Group ${v.GroupName} created (${doc.GroupId}).`); list.reload(); }
  } }, field('New group name', 'GroupName'), field('Description', 'Description'), h('button', { class: 'primary' }, 'Create group'));
  const list = pagedList({
    action: 'DescribeApiGroups', outer: 'ApiGroupAttributes', inner: 'ApiGroupAttribute', search: 'GroupName',
    columns: [
      { title: 'Name', cell: (g) => link(`#/group?${q({ GroupId: g.GroupId })}`, g.GroupName) },
      { title: 'GroupId', key: 'GroupId' },
      { title: 'Sub-domain', key: 'SubDomain' },
      { title: 'Base path', key: 'BasePath' },
      { title: 'Modified', key: 'ModifiedTime' },
      { title: '', cell: (g) => link(`#/apis?${q({ GroupId: g.GroupId })}`, 'APIs') },
    ],
  });
  page('API groups', create, list);
});

/** Certificate status of a domain item: none, valid until…, expired. */
export function certificateStatus(d) {
  if (!d.CertificateId && !d.CertificateName) return h('span', { class: 'badge' }, 'no certificate');
  const end = Number(d.CertificateValidEnd);
  if (end && end < Date.now()) return h('span', { class: 'badge bad' }, `${d.CertificateName}: expired`);
  const until = end ? ` until ${new Date(end).toISOString().slice(0, 10)}` : '';
  return h('span', { class: 'badge good' }, `${d.CertificateName}: valid${until}`);
}

route('group', async ({ GroupId }) => {
  const g = await guarded(() => call('DescribeApiGroup', { GroupId }));
  if (!g) return page('Group');
  const domains = items(g, 'CustomDomains', 'DomainItem');
  const bind = h('form', { class: 'row', onsubmit: async (ev) => {
    ev.preventDefault();
    const v = values(bind);
    if (await guarded(() => call('SetDomain', { GroupId, DomainName: v.DomainName }))) go('group', { GroupId, t: Date.now() });
  } }, field('Domain name', 'DomainName', '', { placeholder: 'api.example.com' }), h('button', { class: 'primary' }, 'Bind domain'));
  const cert = h('form', { onsubmit: async (ev) => {
    ev.preventDefault();
    const v = values(cert);
    if (await guarded(() => call('SetDomainCertificate', { GroupId, ...v }))) go('group', { GroupId, t: Date.now() });
  } },
  field('Domain', 'DomainName', domains[0] ? domains[0].DomainName : '', { options: domains.map((d) => d.DomainName) }),
  field('Certificate name', 'CertificateName'),
  field('Certificate chain (PEM)', 'CertificateBody', '', { rows: 4, wide: true }),
  field('Private key (PEM)', 'CertificatePrivateKey', '', { rows: 4, wide: true }),
  h('button', { class: 'primary', disabled: !domains.length }, 'Set certificate'));
  page(`Group ${g.GroupName}`,
    h('p', {}, `GroupId ${g.GroupId} · sub-domain `, h('code', {}, g.SubDomain), g.BasePath ? ` · base path ${g.BasePath}` : '',
      ' · ', link(`#/apis?${q({ GroupId })}`, 'APIs of this group')),
    h('h2', {}, 'Domains'),
    table([
      { title: 'Domain', key: 'DomainName' },
      { title: 'Binding', key: 'DomainBindingStatus' },
      { title: 'Certificate', cell: certificateStatus },
      { title: '', cell: (d) => h('button', { class: 'danger', onclick: async () => {
        if (await guarded(() => call('DeleteDomain', { GroupId, DomainName: d.DomainName }))) go('group', { GroupId, t: Date.now() });
      } }, 'Unbind') },
    ], domains),
    bind,
    h('h2', {}, 'Certificate'),
    cert);
});
