/** Overview: node states by region, live sessions, users, failed logins, traffic charts. */
import { admin, type Overview, type Traffic } from '../api.js';
import { TrafficChart } from '../chart.js';
import { h, link, replace, table } from '../dom.js';
import { count } from '../format.js';
import { section, type View, type ViewContext } from '../ui.js';

function stat(label: string, value: HTMLElement, detail: HTMLElement): HTMLElement {
  return h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, label), value, detail);
}

export async function overviewView(_ctx: ViewContext): Promise<View> {
  const values = {
    nodes: h('div', { class: 'stat-value', 'data-testid': 'nodes-online' }),
    nodesDetail: h('div', { class: 'stat-detail' }),
    sessions: h('div', { class: 'stat-value', 'data-testid': 'sessions-active' }),
    sessionsDetail: h('span', { 'data-testid': 'sessions-unconfirmed' }),
    users: h('div', { class: 'stat-value' }),
    usersDetail: h('div', { class: 'stat-detail' }),
    failed: h('div', { class: 'stat-value' }),
  };
  const regions = h('div');
  const day = new TrafficChart('All nodes and the 5 busiest, per hour');
  const week = new TrafficChart('All nodes and the 5 busiest, per day');
  const el = h(
    'div',
    { class: 'view' },
    h('h1', { tabindex: -1 }, 'Overview'),
    h(
      'div',
      { class: 'stats' },
      stat('Nodes online', values.nodes, values.nodesDetail),
      stat(
        'Active sessions',
        values.sessions,
        h(
          'div',
          { class: 'stat-detail' },
          values.sessionsDetail,
          link('/admin/sessions?state=live', 'See live sessions'),
        ),
      ),
      stat('Users active today (UTC)', values.users, values.usersDetail),
      stat(
        'Failed logins, 24 h',
        values.failed,
        h(
          'div',
          { class: 'stat-detail' },
          link('/admin/audit?action=auth.login_failed', 'See them in the audit log'),
        ),
      ),
    ),
    h('div', { class: 'grid-2' }, section('Traffic, 24 hours', day.el), section('Traffic, 7 days', week.el)),
    section('Nodes by region', regions),
  );

  async function refresh(): Promise<void> {
    const [o, t24, t7] = await Promise.all([
      admin<Overview>('GET', '/overview'),
      admin<Traffic>('GET', '/traffic', { range: '24h', top: 5 }),
      admin<Traffic>('GET', '/traffic', { range: '7d', top: 5 }),
    ]);
    values.nodes.textContent = `${count(o.nodes.online)} / ${count(o.nodes.total - o.nodes.disabled)}`;
    values.nodesDetail.textContent =
      `${count(o.nodes.offline)} offline, ` +
      (o.nodes.notEnrolled ? `${count(o.nodes.notEnrolled)} not enrolled yet, ` : '') +
      `${count(o.nodes.disabled)} disabled`;
    values.sessions.textContent = count(o.sessions.active);
    values.sessionsDetail.textContent = o.sessions.onOfflineNodes
      ? `on online nodes; ${count(o.sessions.onOfflineNodes)} more left open by offline nodes. `
      : '';
    values.users.textContent = count(o.users.activeToday);
    values.usersDetail.textContent = `of ${count(o.users.total)} accounts`;
    values.failed.textContent = count(o.failedLogins24h);
    replace(
      regions,
      table(
        'Nodes by region',
        [
          {
            label: 'Region',
            cell: (r: Overview['nodes']['byRegion'][number]) =>
              link(`/admin/nodes?region=${encodeURIComponent(r.region)}`, r.region),
          },
          { label: 'Online', cell: (r) => count(r.online), numeric: true },
          { label: 'Offline', cell: (r) => count(r.offline), numeric: true },
          { label: 'Not enrolled', cell: (r) => count(r.notEnrolled), numeric: true },
          { label: 'Disabled', cell: (r) => count(r.disabled), numeric: true },
        ],
        o.nodes.byRegion,
        'No nodes yet. Create one under Nodes.',
      ),
    );
    day.update(t24);
    week.update(t7);
  }
  await refresh();
  return {
    title: 'Overview',
    el,
    refresh,
    refreshMs: 10_000,
    dispose() {
      day.destroy();
      week.destroy();
    },
  };
}
