/** Sessions: live and ended, filtered by user, node and time; bytes up/down, duration, end reason. */
import { admin, ApiError, type AdminUser, type Page, type VpnSession } from '../api.js';
import { badge, h, link, replace, table } from '../dom.js';
import { bytes, duration, fromLocalInput, instant, shortId, toLocalInput } from '../format.js';
import {
  emailOf,
  errorText,
  rememberEmail,
  resolveEmails,
  latestOnly,
  type View,
  type ViewContext,
} from '../ui.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A user filter typed as an e-mail becomes that user's id (exact match), so the API can use it. */
async function userIdFor(text: string): Promise<string | null> {
  if (!text) return null;
  if (UUID.test(text)) return text;
  const page = await admin<Page<AdminUser>>('GET', '/users', { q: text.toLowerCase(), limit: 50 });
  const u = page.items.find((x) => x.email === text.toLowerCase());
  if (!u) throw new Error(`no user with the e-mail ${text}`);
  rememberEmail(u.id, u.email);
  return u.id;
}

export async function sessionsView(ctx: ViewContext): Promise<View> {
  const q = ctx.query;
  const state = h(
    'select',
    { name: 'state' },
    h('option', { value: 'live' }, 'live'),
    h('option', { value: 'ended' }, 'ended'),
    h('option', { value: 'all' }, 'all'),
  );
  state.value = q.get('state') ?? (q.get('userId') || q.get('nodeId') ? 'all' : 'live');
  if (!['live', 'ended', 'all'].includes(state.value)) state.value = 'live';
  q.set('state', state.value);
  const userId = q.get('userId') ?? '';
  if (userId) await resolveEmails([userId]);
  const user = h('input', {
    name: 'user',
    value: userId ? emailOf(userId) : '',
    placeholder: 'e-mail or user id',
    maxlength: 254,
    autocomplete: 'off',
  });
  const node = h('input', {
    name: 'nodeId',
    value: q.get('nodeId') ?? '',
    placeholder: 'node id',
    pattern: '[a-z0-9][a-z0-9-]{0,31}',
    maxlength: 32,
  });
  const from = h('input', { type: 'datetime-local', name: 'from', value: toLocalInput(q.get('from')) });
  const to = h('input', { type: 'datetime-local', name: 'to', value: toLocalInput(q.get('to')) });
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const results = h('div', { 'data-testid': 'sessions-table' });
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Load more');
  let rows: VpnSession[] = [];
  let cursor: string | null = null;

  const filters = () => ({
    active: q.get('state') === 'all' ? undefined : q.get('state') === 'live',
    userId: q.get('userId') || undefined,
    nodeId: q.get('nodeId') || undefined,
    from: q.get('from') || undefined,
    to: q.get('to') || undefined,
    limit: 50,
  });

  function render(): void {
    const now = Date.now();
    replace(
      results,
      table(
        'Sessions',
        [
          { label: 'User', cell: (s: VpnSession) => link(`/admin/users/${s.userId}`, emailOf(s.userId)) },
          { label: 'Node', cell: (s) => link(`/admin/nodes/${s.nodeId}`, s.nodeId) },
          { label: 'Device', cell: (s) => shortId(s.deviceId) },
          { label: 'Started', cell: (s) => instant(s.startedAt) },
          {
            label: 'Duration',
            cell: (s) =>
              duration((s.endedAt ? new Date(s.endedAt).getTime() : now) - new Date(s.startedAt).getTime()),
            numeric: true,
          },
          { label: 'Up', cell: (s) => bytes(s.rxBytes), numeric: true },
          { label: 'Down', cell: (s) => bytes(s.txBytes), numeric: true },
          {
            label: 'State',
            cell: (s) => (s.active ? badge('live', 'ok') : badge(`ended ${instant(s.endedAt)}`, 'muted')),
          },
          { label: 'End reason', cell: (s) => (s.active ? '—' : (s.endReason ?? 'not reported')) },
        ],
        rows,
        q.get('state') === 'live' ? 'No live sessions.' : 'No sessions match.',
      ),
    );
    more.hidden = cursor === null;
  }
  const loads = latestOnly();
  async function load(reset: boolean): Promise<void> {
    const ticket = loads.begin();
    const page = await admin<Page<VpnSession>>('GET', '/sessions', {
      ...filters(),
      cursor: reset ? undefined : cursor,
    });
    await resolveEmails(page.items.map((s) => s.userId));
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
          formError.textContent = '';
          userIdFor(user.value.trim())
            .then((id) => {
              const p = new URLSearchParams();
              p.set('state', state.value);
              if (id) p.set('userId', id);
              if (node.value.trim()) p.set('nodeId', node.value.trim());
              const f = fromLocalInput(from.value);
              const t = fromLocalInput(to.value);
              if (f) p.set('from', f);
              if (t) p.set('to', t);
              for (const k of ['state', 'userId', 'nodeId', 'from', 'to']) q.delete(k);
              for (const [k, val] of p) q.set(k, val);
              ctx.setQuery(q);
              return load(true);
            })
            .catch((e: unknown) => (formError.textContent = errorText(e)));
        },
      },
    },
    h('label', { class: 'field' }, h('span', null, 'State'), state),
    h('label', { class: 'field' }, h('span', null, 'User'), user),
    h('label', { class: 'field' }, h('span', null, 'Node'), node),
    h('label', { class: 'field' }, h('span', null, 'Started from'), from),
    h('label', { class: 'field' }, h('span', null, 'Started before'), to),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Filter'),
    formError,
  );
  try {
    await load(true);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 400)) throw e;
    replace(results, h('p', { class: 'form-error' }, `The filter is not valid: ${e.message}`));
  }
  return {
    title: 'Sessions',
    el: h('div', { class: 'view' }, h('h1', { tabindex: -1 }, 'Sessions'), form, results, more),
    get refreshMs() {
      return q.get('state') === 'live' ? 3_000 : 15_000;
    },
    refresh: async () => {
      if (rows.length <= 50) await load(true);
    },
  };
}
