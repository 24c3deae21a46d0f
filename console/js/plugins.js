// Plugins and the older policies (traffic control, IP control, backend signatures): lists.

import { h, page, route, pagedList } from './ui.js';

route('plugins', () => {
  page('Plugins & policies',
    h('h2', {}, 'Plugins'),
    pagedList({
      action: 'DescribePlugins', outer: 'Plugins', inner: 'PluginAttribute', search: 'PluginName',
      columns: [
        { title: 'Name', key: 'PluginName' }, { title: 'Type', key: 'PluginType' },
        { title: 'PluginId', key: 'PluginId' }, { title: 'Description', key: 'Description' },
        { title: 'Modified', key: 'ModifiedTime' },
      ],
    }),
    h('h2', {}, 'Traffic control'),
    pagedList({
      action: 'DescribeTrafficControls', outer: 'TrafficControls', inner: 'TrafficControl', search: 'TrafficControlName',
      columns: [
        { title: 'Name', key: 'TrafficControlName' }, { title: 'Unit', key: 'TrafficControlUnit' },
        { title: 'API limit', key: 'ApiDefault' }, { title: 'App limit', key: 'AppDefault' },
        { title: 'User limit', key: 'UserDefault' }, { title: 'Id', key: 'TrafficControlId' },
      ],
    }),
    h('h2', {}, 'IP control'),
    pagedList({
      action: 'DescribeIpControls', outer: 'IpControlInfos', inner: 'IpControlInfo', search: 'IpControlName',
      columns: [
        { title: 'Name', key: 'IpControlName' }, { title: 'Type', key: 'IpControlType' },
        { title: 'Id', key: 'IpControlId' }, { title: 'Description', key: 'Description' },
      ],
    }),
    h('h2', {}, 'Backend signatures'),
    pagedList({
      action: 'DescribeSignatures', outer: 'SignatureInfos', inner: 'SignatureInfo', search: 'SignatureName',
      columns: [
        { title: 'Name', key: 'SignatureName' }, { title: 'Key', key: 'SignatureKey' },
        { title: 'Id', key: 'SignatureId' }, { title: 'Modified', key: 'ModifiedTime' },
      ],
    }));
});
