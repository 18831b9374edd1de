/** Audit log: who did what to what, when and from where; filtered by action, actor, target and time. */
import { admin, ApiError, type AuditEvent, type Page } from '../api.js';
import { h, link, replace, table } from '../dom.js';
import { fromLocalInput, instant, toLocalInput } from '../format.js';
import { emailOf, errorText, resolveEmails, latestOnly, type View, type ViewContext } from '../ui.js';

const ACTIONS = [
  'auth.login',
  'auth.login_failed',
  'auth.logout',
  'auth.refresh_reuse',
  'dashboard.login',
  'dashboard.login_refused',
  'dashboard.logout',
  'user.create',
  'user.disable',
  'user.enable',
  'device.register',
  'device.rename',
  'device.remove',
  'device.revoke',
  'node.create',
  'node.enroll',
  'node.enrollment_token',
  'node.disable',
  'node.enable',
  'ticket.revoke',
  'signing_key.rotate',
];

const isUser = (type: string | null) => type === 'user' || type === 'admin';

function who(e: AuditEvent): Node | string {
  if (e.actorId === null) return e.actorType;
  if (isUser(e.actorType))
    return h('span', null, `${e.actorType} `, link(`/admin/users/${e.actorId}`, emailOf(e.actorId)));
  if (e.actorType === 'node') return h('span', null, 'node ', link(`/admin/nodes/${e.actorId}`, e.actorId));
  return `${e.actorType} ${e.actorId}`;
}

function what(e: AuditEvent): Node | string {
  if (e.targetId === null) return e.targetType ?? '—';
  if (e.targetType === 'user')
    return h('span', null, 'user ', link(`/admin/users/${e.targetId}`, emailOf(e.targetId)));
  if (e.targetType === 'node')
    return h('span', null, 'node ', link(`/admin/nodes/${e.targetId}`, e.targetId));
  return `${e.targetType ?? ''} ${e.targetId}`;
}

function details(e: AuditEvent): Node | string {
  if (!e.details) return '—';
  const entries = Object.entries(e.details);
  if (entries.length === 0) return '—';
  return h(
    'span',
    { class: 'details' },
    entries.map(([k, v]) => h('span', null, h('b', null, `${k}: `), String(v), ' ')),
  );
}

export async function auditView(ctx: ViewContext): Promise<View> {
  const q = ctx.query;
  const action = h('input', {
    name: 'action',
    list: 'audit-actions',
    value: q.get('action') ?? '',
    pattern: '[a-z0-9._-]+',
    maxlength: 64,
    autocomplete: 'off',
  });
  const actor = h('input', {
    name: 'actorId',
    value: q.get('actorId') ?? '',
    placeholder: 'user id or node id',
    maxlength: 64,
  });
  const target = h('input', {
    name: 'targetId',
    value: q.get('targetId') ?? '',
    placeholder: 'user, node or device id',
    maxlength: 64,
  });
  const from = h('input', { type: 'datetime-local', name: 'from', value: toLocalInput(q.get('from')) });
  const to = h('input', { type: 'datetime-local', name: 'to', value: toLocalInput(q.get('to')) });
  const results = h('div', { 'data-testid': 'audit-table' });
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Load more');
  let rows: AuditEvent[] = [];
  let cursor: string | null = null;

  function render(): void {
    replace(
      results,
      table(
        'Audit events',
        [
          { label: 'When', cell: (e: AuditEvent) => instant(e.createdAt) },
          { label: 'Who', cell: who },
          { label: 'Did', cell: (e) => h('code', null, e.action) },
          { label: 'To', cell: what },
          { label: 'From', cell: (e) => e.ip ?? '—' },
          { label: 'Details', cell: details },
        ],
        rows,
        'No events match.',
      ),
    );
    more.hidden = cursor === null;
  }
  const loads = latestOnly();
  async function load(reset: boolean): Promise<void> {
    const ticket = loads.begin();
    const page = await admin<Page<AuditEvent>>('GET', '/audit', {
      action: q.get('action') || undefined,
      actorId: q.get('actorId') || undefined,
      targetId: q.get('targetId') || undefined,
      from: q.get('from') || undefined,
      to: q.get('to') || undefined,
      limit: 50,
      cursor: reset ? undefined : cursor,
    });
    await resolveEmails(
      page.items.flatMap((e) => [
        isUser(e.actorType) ? e.actorId : null,
        e.targetType === 'user' ? e.targetId : null,
      ]),
    );
    if (!loads.current(ticket)) return;
    rows = reset ? page.items : [...rows, ...page.items];
    cursor = page.nextCursor;
    render();
  }
  more.addEventListener(
    'click',
    () => void load(false).catch((e: unknown) => ctx.notify(errorText(e), 'error')),
  );

  const form = h(
    'form',
    {
      class: 'filters',
      on: {
        submit: (ev) => {
          ev.preventDefault();
          const p = new URLSearchParams();
          for (const [k, input] of [
            ['action', action],
            ['actorId', actor],
            ['targetId', target],
          ] as const)
            if (input.value.trim()) p.set(k, input.value.trim());
          const f = fromLocalInput(from.value);
          const t = fromLocalInput(to.value);
          if (f) p.set('from', f);
          if (t) p.set('to', t);
          for (const k of ['action', 'actorId', 'targetId', 'from', 'to']) q.delete(k);
          for (const [k, val] of p) q.set(k, val);
          ctx.setQuery(q);
          void load(true).catch((e: unknown) => ctx.notify(errorText(e), 'error'));
        },
      },
    },
    h('label', { class: 'field' }, h('span', null, 'Action'), action),
    h(
      'datalist',
      { id: 'audit-actions' },
      ACTIONS.map((a) => h('option', { value: a })),
    ),
    h('label', { class: 'field' }, h('span', null, 'Actor'), actor),
    h('label', { class: 'field' }, h('span', null, 'Target'), target),
    h('label', { class: 'field' }, h('span', null, 'From'), from),
    h('label', { class: 'field' }, h('span', null, 'Before'), to),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Filter'),
  );
  try {
    await load(true);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 400)) throw e;
    replace(results, h('p', { class: 'form-error' }, `The filter is not valid: ${e.message}`));
  }
  return {
    title: 'Audit log',
    el: h('div', { class: 'view' }, h('h1', { tabindex: -1 }, 'Audit log'), form, results, more),
    refreshMs: 15_000,
    refresh: async () => {
      if (rows.length <= 50) await load(true);
    },
  };
}
