/** Nodes: state, region, version, load, sessions, last heartbeat; create (token shown once); one node's traffic. */
import {
  admin,
  ApiError,
  type AdminNode,
  type EnrollmentToken,
  type Page,
  type Traffic,
  type VpnSession,
} from '../api.js';
import { TrafficChart } from '../chart.js';
import { badge, h, link, replace, table } from '../dom.js';
import { ago, bytes, duration, instant, shortId } from '../format.js';
import {
  confirmDialog,
  emailOf,
  errorText,
  latestOnly,
  resolveEmails,
  section,
  type View,
  type ViewContext,
} from '../ui.js';

export function nodeState(n: AdminNode): HTMLElement {
  if (n.disabled) return badge('disabled', 'muted');
  if (!n.enrolled) return badge('not enrolled', 'warn');
  return n.online ? badge('online', 'ok') : badge('offline', 'bad');
}

/**
 * The one-time enrollment token: shown in a read-only field with a copy button until the admin
 * dismisses it; then it is dropped from the page (the controller keeps only its hash).
 */
function tokenPanel(t: EnrollmentToken, onDone: () => void): HTMLElement {
  const field = h('input', {
    type: 'text',
    readonly: true,
    value: t.enrollmentToken,
    'aria-label': 'Enrollment token',
    class: 'token',
    'data-testid': 'enrollment-token',
  });
  const copied = h('span', { role: 'status', class: 'hint' });
  const panel = h(
    'div',
    { class: 'token-panel', role: 'region', 'aria-label': 'Enrollment token' },
    h('h3', null, `Enrollment token for ${t.nodeId}`),
    h(
      'p',
      null,
      'Shown once: hand it to the node agent now. It works for one enrollment and expires ',
      instant(t.expiresAt),
      '.',
    ),
    field,
    h(
      'div',
      { class: 'actions' },
      h(
        'button',
        {
          type: 'button',
          class: 'btn',
          on: {
            click: () => {
              field.select();
              navigator.clipboard?.writeText(t.enrollmentToken).then(
                () => (copied.textContent = 'Copied.'),
                () => (copied.textContent = 'Select the field and copy it with the keyboard.'),
              );
            },
          },
        },
        'Copy',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'btn btn-primary',
          on: {
            click: () => {
              field.value = '';
              panel.remove();
              onDone();
            },
          },
        },
        'Done, hide it',
      ),
      copied,
    ),
  );
  queueMicrotask(() => field.focus());
  return panel;
}

export async function nodesView(ctx: ViewContext): Promise<View> {
  const region = ctx.query.get('region') ?? '';
  const results = h('div');
  const tokenHost = h('div');
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Load more');
  let rows: AdminNode[] = [];
  let cursor: string | null = null;

  const input = (name: string, label: string, attrs: Record<string, string | number | boolean>) =>
    h('label', { class: 'field' }, h('span', null, label), h('input', { name, required: true, ...attrs }));
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const form = h(
    'form',
    { class: 'create-node' },
    input('id', 'Node id', {
      pattern: '[a-z0-9][a-z0-9-]{0,31}',
      maxlength: 32,
      placeholder: 'fra-1',
      autocomplete: 'off',
    }),
    input('region', 'Region', { pattern: '[a-z0-9-]{1,32}', maxlength: 32, placeholder: 'eu-central' }),
    input('country', 'Country (ISO)', { pattern: '[A-Z]{2}', maxlength: 2, placeholder: 'DE' }),
    input('city', 'City', { maxlength: 64, placeholder: 'Frankfurt' }),
    input('host', 'Public host or IP', { maxlength: 253, placeholder: '203.0.113.10' }),
    input('udpPort', 'UDP port', { type: 'number', min: 1, max: 65535, value: 51820 }),
    input('tcpPort', 'TCP port', { type: 'number', min: 1, max: 65535, value: 443 }),
    formError,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create node')),
  );
  const createBox = h('details', { class: 'card create' }, h('summary', null, 'Create a node'), form);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    formError.textContent = '';
    const v = (n: string) => (form.elements.namedItem(n) as HTMLInputElement).value.trim();
    admin<EnrollmentToken>('POST', '/nodes', undefined, {
      id: v('id'),
      region: v('region'),
      country: v('country'),
      city: v('city'),
      endpoint: { host: v('host'), udpPort: Number(v('udpPort')), tcpPort: Number(v('tcpPort')) },
    }).then(
      (t) => {
        form.reset();
        createBox.open = false;
        replace(
          tokenHost,
          tokenPanel(t, () => replace(tokenHost)),
        );
        ctx.notify(`Node ${t.nodeId} created.`);
        void load(true);
      },
      (e: unknown) => {
        formError.textContent =
          e instanceof ApiError && e.status === 409 ? 'A node with this id exists.' : errorText(e);
      },
    );
  });

  function render(): void {
    replace(
      results,
      table(
        'Nodes',
        [
          { label: 'Node', cell: (n: AdminNode) => link(`/admin/nodes/${n.id}`, n.id) },
          { label: 'State', cell: nodeState },
          { label: 'Region', cell: (n) => `${n.region} (${n.city}, ${n.country})` },
          { label: 'Version', cell: (n) => n.agentVersion ?? '—' },
          { label: 'Load', cell: (n) => (n.online ? `${Math.round(n.load * 100)} %` : '—'), numeric: true },
          { label: 'Sessions', cell: (n) => (n.online ? String(n.activeSessions) : '—'), numeric: true },
          { label: 'Last heartbeat', cell: (n) => ago(n.lastSeenAt) },
        ],
        rows,
        region ? `No nodes in ${region}.` : 'No nodes yet.',
      ),
    );
    more.hidden = cursor === null;
  }
  const loads = latestOnly();
  async function load(reset: boolean): Promise<void> {
    const ticket = loads.begin();
    const page = await admin<Page<AdminNode>>('GET', '/nodes', {
      region: region || undefined,
      limit: 50,
      cursor: reset ? undefined : cursor,
    });
    if (!loads.current(ticket)) return;
    rows = reset ? page.items : [...rows, ...page.items];
    cursor = page.nextCursor;
    render();
  }
  more.addEventListener(
    'click',
    () => void load(false).catch((e: unknown) => ctx.notify(errorText(e), 'error')),
  );
  await load(true);
  const el = h(
    'div',
    { class: 'view' },
    h('h1', { tabindex: -1 }, region ? `Nodes in ${region}` : 'Nodes'),
    region ? h('p', null, link('/admin/nodes', 'All regions')) : null,
    tokenHost,
    createBox,
    results,
    more,
  );
  return {
    title: 'Nodes',
    el,
    refreshMs: 10_000,
    refresh: async () => {
      if (rows.length <= 50) await load(true);
    },
  };
}

export async function nodeView(ctx: ViewContext): Promise<View> {
  const nodeId = ctx.params.nodeId!;
  const facts = h('div');
  const actions = h('div', { class: 'actions' });
  const tokenHost = h('div');
  const live = h('div');
  const day = new TrafficChart(`${nodeId}, per hour`);
  const week = new TrafficChart(`${nodeId}, per day`);
  let node: AdminNode;

  async function act(kind: 'disable' | 'enable' | 'token'): Promise<void> {
    const texts = {
      disable: [
        'Disable node',
        'Users can no longer get tickets for it; its agent credential stops working.',
      ],
      enable: ['Enable node', 'Users can get tickets for it again.'],
      token: [
        'New enrollment token',
        'Earlier unused tokens stop working. The agent must enroll again with the new one.',
      ],
    } as const;
    const [label, message] = texts[kind];
    const { confirmed } = await confirmDialog({ title: `${label} ${nodeId}?`, message, confirmLabel: label });
    if (!confirmed) return;
    try {
      if (kind === 'token') {
        const t = await admin<EnrollmentToken>('POST', `/nodes/${nodeId}/enrollment-token`);
        replace(
          tokenHost,
          tokenPanel(t, () => replace(tokenHost)),
        );
      } else {
        node = await admin<AdminNode>('POST', `/nodes/${nodeId}/${kind}`);
        ctx.notify(`${nodeId} is ${kind}d.`);
      }
      await refresh();
    } catch (e) {
      ctx.notify(errorText(e), 'error');
    }
  }

  async function refresh(): Promise<void> {
    const [n, sessions, t24, t7] = await Promise.all([
      admin<AdminNode>('GET', `/nodes/${nodeId}`),
      admin<Page<VpnSession>>('GET', '/sessions', { nodeId, active: true, limit: 50 }),
      admin<Traffic>('GET', '/traffic', { range: '24h', nodeId }),
      admin<Traffic>('GET', '/traffic', { range: '7d', nodeId }),
    ]);
    node = n;
    await resolveEmails(sessions.items.map((s) => s.userId));
    replace(
      facts,
      h(
        'dl',
        { class: 'facts' },
        h('dt', null, 'State'),
        h('dd', { 'data-testid': 'node-state' }, nodeState(n)),
        h('dt', null, 'Region'),
        h('dd', null, `${n.region} — ${n.city}, ${n.country}`),
        h('dt', null, 'Endpoint'),
        h(
          'dd',
          null,
          h('code', null, `${n.endpoint.host} udp/${n.endpoint.udpPort} tcp/${n.endpoint.tcpPort}`),
        ),
        h('dt', null, 'Agent version'),
        h('dd', null, n.agentVersion ?? '—'),
        h('dt', null, 'Load'),
        h('dd', null, n.online ? `${Math.round(n.load * 100)} %` : '—'),
        h('dt', null, 'Live sessions'),
        h('dd', null, n.online ? String(n.activeSessions) : '—'),
        h('dt', null, 'Last heartbeat'),
        h('dd', null, ago(n.lastSeenAt)),
        h('dt', null, 'Enrolled'),
        h('dd', null, n.enrolledAt ? instant(n.enrolledAt) : 'not yet'),
      ),
    );
    replace(
      actions,
      n.disabled
        ? h(
            'button',
            { type: 'button', class: 'btn', on: { click: () => void act('enable') } },
            'Enable node',
          )
        : h(
            'button',
            { type: 'button', class: 'btn btn-danger', on: { click: () => void act('disable') } },
            'Disable node',
          ),
      h(
        'button',
        { type: 'button', class: 'btn', on: { click: () => void act('token') } },
        'New enrollment token',
      ),
      link(`/admin/sessions?nodeId=${nodeId}`, 'All sessions'),
    );
    const now = Date.now();
    replace(
      live,
      table(
        'Live sessions on this node',
        [
          { label: 'User', cell: (s: VpnSession) => link(`/admin/users/${s.userId}`, emailOf(s.userId)) },
          { label: 'Device', cell: (s) => shortId(s.deviceId) },
          { label: 'Duration', cell: (s) => duration(now - new Date(s.startedAt).getTime()), numeric: true },
          { label: 'Up', cell: (s) => bytes(s.rxBytes), numeric: true },
          { label: 'Down', cell: (s) => bytes(s.txBytes), numeric: true },
        ],
        sessions.items,
        'No live sessions.',
      ),
    );
    day.update(t24);
    week.update(t7);
  }

  try {
    await refresh();
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      return {
        title: 'Node not found',
        el: h(
          'div',
          { class: 'view' },
          h('h1', { tabindex: -1 }, 'Node not found'),
          link('/admin/nodes', 'Back to nodes'),
        ),
      };
    }
    throw e;
  }
  const el = h(
    'div',
    { class: 'view' },
    h('p', { class: 'crumbs' }, link('/admin/nodes', 'Nodes'), ' / ', nodeId),
    h('h1', { tabindex: -1 }, nodeId),
    tokenHost,
    h('div', { class: 'grid-2' }, section('Node', facts, actions), section('Live sessions', live)),
    h('div', { class: 'grid-2' }, section('Traffic, 24 hours', day.el), section('Traffic, 7 days', week.el)),
  );
  return {
    title: node!.id,
    el,
    refresh,
    refreshMs: 10_000,
    dispose() {
      day.destroy();
      week.destroy();
    },
  };
}
