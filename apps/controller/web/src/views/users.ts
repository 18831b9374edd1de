/** Users: search and filter; one user's status, usage this month, live sessions and devices, with actions. */
import {
  admin,
  ApiError,
  type AdminDevice,
  type AdminUser,
  type Page,
  type UsageList,
  type VpnSession,
} from '../api.js';
import { badge, h, link, replace, table } from '../dom.js';
import { ago, bytes, duration, instant, shortId } from '../format.js';
import {
  confirmDialog,
  errorText,
  rememberEmail,
  section,
  latestOnly,
  type View,
  type ViewContext,
} from '../ui.js';

function statusBadge(u: AdminUser): HTMLElement {
  return u.disabled ? badge('disabled', 'bad') : badge('active', 'ok');
}

export async function usersView(ctx: ViewContext): Promise<View> {
  const q = ctx.query;
  const search = h('input', {
    type: 'search',
    name: 'q',
    value: q.get('q') ?? '',
    maxlength: 254,
    placeholder: 'part of an e-mail',
    autocomplete: 'off',
  });
  const status = h(
    'select',
    { name: 'status' },
    h('option', { value: '' }, 'any'),
    h('option', { value: 'active' }, 'active'),
    h('option', { value: 'disabled' }, 'disabled'),
  );
  status.value = q.get('status') ?? '';
  const role = h(
    'select',
    { name: 'role' },
    h('option', { value: '' }, 'any'),
    h('option', { value: 'user' }, 'user'),
    h('option', { value: 'admin' }, 'admin'),
  );
  role.value = q.get('role') ?? '';
  const results = h('div', { 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Load more');
  let rows: AdminUser[] = [];
  let cursor: string | null = null;

  const params = () => ({
    q: search.value.trim() || undefined,
    disabled: status.value === '' ? undefined : status.value === 'disabled',
    role: role.value || undefined,
    limit: 50,
  });
  function render(): void {
    replace(
      results,
      table(
        'Users',
        [
          { label: 'E-mail', cell: (u: AdminUser) => link(`/admin/users/${u.id}`, u.email) },
          { label: 'Role', cell: (u) => u.role },
          { label: 'Status', cell: statusBadge },
          { label: 'Created', cell: (u) => instant(u.createdAt) },
          { label: 'Last login', cell: (u) => ago(u.lastLoginAt) },
        ],
        rows,
        'No users match.',
      ),
    );
    more.hidden = cursor === null;
  }
  const loads = latestOnly();
  async function load(reset: boolean): Promise<void> {
    const ticket = loads.begin();
    const page = await admin<Page<AdminUser>>('GET', '/users', {
      ...params(),
      cursor: reset ? undefined : cursor,
    });
    if (!loads.current(ticket)) return;
    rows = reset ? page.items : [...rows, ...page.items];
    cursor = page.nextCursor;
    for (const u of page.items) rememberEmail(u.id, u.email);
    render();
  }
  let debounce: number | undefined;
  const apply = () => {
    ctx.setQuery(
      new URLSearchParams(
        Object.entries({ q: search.value.trim(), status: status.value, role: role.value }).filter(
          ([, v]) => v,
        ),
      ),
    );
    void load(true).catch((e: unknown) => ctx.notify(errorText(e), 'error'));
  };
  search.addEventListener('input', () => {
    window.clearTimeout(debounce);
    debounce = window.setTimeout(apply, 350);
  });
  more.addEventListener(
    'click',
    () => void load(false).catch((e: unknown) => ctx.notify(errorText(e), 'error')),
  );

  const el = h(
    'div',
    { class: 'view' },
    h('h1', { tabindex: -1 }, 'Users'),
    h(
      'form',
      {
        class: 'filters',
        role: 'search',
        on: {
          submit: (ev) => {
            ev.preventDefault();
            apply();
          },
          change: (ev) => {
            if (ev.target !== search) apply();
          },
        },
      },
      h('label', { class: 'field' }, h('span', null, 'E-mail contains'), search),
      h('label', { class: 'field' }, h('span', null, 'Status'), status),
      h('label', { class: 'field' }, h('span', null, 'Role'), role),
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Search'),
    ),
    results,
    more,
  );
  await load(true);
  return {
    title: 'Users',
    el,
    refreshMs: 15_000,
    // Only the first page refreshes by itself, so "Load more" results do not jump away.
    refresh: async () => {
      if (rows.length <= 50) await load(true);
    },
    dispose: () => window.clearTimeout(debounce),
  };
}

export async function userView(ctx: ViewContext): Promise<View> {
  const userId = ctx.params.userId!;
  const header = h('div', { class: 'user-head' });
  const actions = h('div', { class: 'actions' });
  const notice = h('div', { role: 'status', class: 'notice', hidden: true });
  const usage = h('div');
  const live = h('div', { 'data-testid': 'user-live-sessions' });
  const devices = h('div', { 'data-testid': 'user-devices' });
  const title = h('h1', { tabindex: -1 }, 'User');
  let user: AdminUser;

  const monthStart = () => {
    const d = new Date();
    return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}-01`;
  };

  async function setDisabled(disable: boolean): Promise<void> {
    const { confirmed, reason } = await confirmDialog({
      title: disable ? `Disable ${user.email}?` : `Enable ${user.email}?`,
      message: disable
        ? 'They are logged out everywhere, get no new tickets, and their nodes end their live sessions within seconds.'
        : 'They can log in again and get new tickets. Tickets from before the disable stay revoked.',
      confirmLabel: disable ? 'Disable user' : 'Enable user',
      askReason: disable,
    });
    if (!confirmed) return;
    try {
      user = await admin<AdminUser>(
        'POST',
        `/users/${userId}/${disable ? 'disable' : 'enable'}`,
        reason ? { reason } : undefined,
      );
      ctx.notify(disable ? `${user.email} is disabled.` : `${user.email} is enabled.`);
      if (disable) {
        notice.hidden = false;
        notice.textContent = 'Disabled: its nodes are ending the live sessions; this list follows them live.';
        ctx.hurry();
      } else notice.hidden = true;
      await refresh();
    } catch (e) {
      ctx.notify(errorText(e), 'error');
    }
  }

  async function revokeDevice(d: AdminDevice): Promise<void> {
    const { confirmed, reason } = await confirmDialog({
      title: `Revoke device “${d.name}”?`,
      message:
        'The device gets no new tickets and its live sessions end within seconds. This cannot be undone.',
      confirmLabel: 'Revoke device',
      askReason: true,
    });
    if (!confirmed) return;
    try {
      await admin('POST', `/devices/${d.id}/revoke`, reason ? { reason } : undefined);
      ctx.notify(`Device “${d.name}” is revoked.`);
      ctx.hurry();
      await refresh();
    } catch (e) {
      ctx.notify(errorText(e), 'error');
    }
  }

  function renderHeader(): void {
    title.textContent = user.email;
    replace(
      header,
      h(
        'dl',
        { class: 'facts' },
        h('dt', null, 'Status'),
        h(
          'dd',
          { 'data-testid': 'user-status' },
          user.disabled ? badge(`disabled ${ago(user.disabledAt)}`, 'bad') : badge('active', 'ok'),
        ),
        h('dt', null, 'Role'),
        h('dd', null, user.role),
        h('dt', null, 'Created'),
        h('dd', null, instant(user.createdAt)),
        h('dt', null, 'Last login'),
        h('dd', null, ago(user.lastLoginAt)),
        h('dt', null, 'Bandwidth limit'),
        h('dd', null, user.bandwidthBytesPerSec ? `${bytes(user.bandwidthBytesPerSec)}/s` : 'none'),
        h('dt', null, 'Data quota'),
        h('dd', null, user.dataQuotaBytes ? bytes(user.dataQuotaBytes) : 'none'),
      ),
    );
    replace(
      actions,
      user.id === ctx.me.user.id
        ? h('p', { class: 'hint' }, 'This is you: admins cannot disable themselves.')
        : h(
            'button',
            {
              type: 'button',
              class: user.disabled ? 'btn' : 'btn btn-danger',
              on: { click: () => void setDisabled(!user.disabled) },
            },
            user.disabled ? 'Enable user' : 'Disable user',
          ),
      link(`/admin/sessions?userId=${userId}`, 'All sessions'),
      link(`/admin/audit?targetId=${userId}`, 'Audit events'),
    );
  }

  async function refresh(): Promise<void> {
    const [u, sessions, devs, use] = await Promise.all([
      admin<AdminUser>('GET', `/users/${userId}`),
      admin<Page<VpnSession>>('GET', '/sessions', { userId, active: true, limit: 50 }),
      admin<{ devices: AdminDevice[] }>('GET', `/users/${userId}/devices`),
      admin<UsageList>('GET', `/users/${userId}/usage`, { from: monthStart(), limit: 31 }),
    ]);
    user = u;
    rememberEmail(u.id, u.email);
    renderHeader();
    const rx = use.items.reduce((a, i) => a + i.rxBytes, 0);
    const tx = use.items.reduce((a, i) => a + i.txBytes, 0);
    replace(
      usage,
      h(
        'dl',
        { class: 'facts' },
        h('dt', null, 'Up (from the user)'),
        h('dd', null, bytes(rx)),
        h('dt', null, 'Down (to the user)'),
        h('dd', null, bytes(tx)),
        h('dt', null, 'Total'),
        h('dd', null, bytes(rx + tx), user.dataQuotaBytes ? ` of ${bytes(user.dataQuotaBytes)} quota` : ''),
      ),
    );
    const now = Date.now();
    const names = new Map(devs.devices.map((d) => [d.id, d.name]));
    replace(
      live,
      table(
        'Live sessions',
        [
          { label: 'Node', cell: (s: VpnSession) => link(`/admin/nodes/${s.nodeId}`, s.nodeId) },
          { label: 'Device', cell: (s) => names.get(s.deviceId) ?? shortId(s.deviceId) },
          { label: 'Started', cell: (s) => instant(s.startedAt) },
          { label: 'Duration', cell: (s) => duration(now - new Date(s.startedAt).getTime()), numeric: true },
          { label: 'Up', cell: (s) => bytes(s.rxBytes), numeric: true },
          { label: 'Down', cell: (s) => bytes(s.txBytes), numeric: true },
        ],
        sessions.items,
        'No live sessions.',
      ),
    );
    if (sessions.items.length === 0 && user.disabled) notice.hidden = true;
    replace(
      devices,
      table(
        'Devices',
        [
          { label: 'Name', cell: (d: AdminDevice) => d.name },
          { label: 'Key', cell: (d) => h('code', null, `${d.publicKey.slice(10, 22)}…`) },
          { label: 'Registered', cell: (d) => instant(d.createdAt) },
          { label: 'Last ticket', cell: (d) => ago(d.lastSeenAt) },
          { label: 'Status', cell: (d) => (d.revokedAt ? badge('revoked', 'bad') : badge('active', 'ok')) },
          {
            label: 'Action',
            cell: (d) =>
              d.revokedAt
                ? '—'
                : h(
                    'button',
                    {
                      type: 'button',
                      class: 'btn btn-small btn-danger',
                      on: { click: () => void revokeDevice(d) },
                    },
                    `Revoke ${d.name}`,
                  ),
          },
        ],
        devs.devices,
        'No devices.',
      ),
    );
  }

  try {
    await refresh();
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      return {
        title: 'User not found',
        el: h(
          'div',
          { class: 'view' },
          h('h1', { tabindex: -1 }, 'User not found'),
          link('/admin/users', 'Back to users'),
        ),
      };
    }
    throw e;
  }
  const el = h(
    'div',
    { class: 'view' },
    h('p', { class: 'crumbs' }, link('/admin/users', 'Users'), ' / ', 'user'),
    title,
    notice,
    h(
      'div',
      { class: 'grid-2' },
      section('Account', header, actions),
      section('Usage this month (UTC)', usage),
    ),
    section('Live sessions', live),
    section('Devices', devices),
  );
  return { title: user!.email, el, refresh, refreshMs: 5_000 };
}
