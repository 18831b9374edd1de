/**
 * The dashboard page: one script for every /admin path. It asks the controller for the session
 * (its CSRF token), draws the shell (navigation, live-update status, notices) and the view of the
 * current path, keeps live views fresh without reloading (each view re-reads its data in place on
 * its own interval, paused while the tab is hidden), and routes links inside /admin without a
 * reload. The server has already refused non-admins before this script runs; it re-checks on
 * every API call.
 */
import { ApiError, loginUrl, session, setCsrfToken, type SessionInfo } from './api.js';
import { append, h, replace } from './dom.js';
import { clock } from './format.js';
import type { View, ViewContext } from './ui.js';
import { errorText } from './ui.js';
import { auditView } from './views/audit.js';
import { loginView } from './views/login.js';
import { nodesView, nodeView } from './views/nodes.js';
import { overviewView } from './views/overview.js';
import { sessionsView } from './views/sessions.js';
import { usersView, userView } from './views/users.js';

type Factory = (ctx: ViewContext) => Promise<View>;

const ROUTES: { pattern: RegExp; keys: string[]; view: Factory; nav: string }[] = [
  { pattern: /^\/admin\/?$/, keys: [], view: overviewView, nav: '/admin' },
  { pattern: /^\/admin\/users\/?$/, keys: [], view: usersView, nav: '/admin/users' },
  { pattern: /^\/admin\/users\/([0-9a-f-]{36})$/i, keys: ['userId'], view: userView, nav: '/admin/users' },
  { pattern: /^\/admin\/nodes\/?$/, keys: [], view: nodesView, nav: '/admin/nodes' },
  { pattern: /^\/admin\/nodes\/([a-z0-9-]{1,32})$/, keys: ['nodeId'], view: nodeView, nav: '/admin/nodes' },
  { pattern: /^\/admin\/sessions\/?$/, keys: [], view: sessionsView, nav: '/admin/sessions' },
  { pattern: /^\/admin\/audit\/?$/, keys: [], view: auditView, nav: '/admin/audit' },
];

const NAV = [
  ['/admin', 'Overview'],
  ['/admin/users', 'Users'],
  ['/admin/nodes', 'Nodes'],
  ['/admin/sessions', 'Sessions'],
  ['/admin/audit', 'Audit log'],
] as const;

/** After an action whose effect arrives shortly (nodes ending sessions), refresh every second for a while. */
const HURRY_MS = 30_000;
const HURRY_INTERVAL_MS = 1_000;

class Shell {
  private readonly main = h('main', { id: 'main', tabindex: -1 });
  private readonly navLinks = NAV.map(([href, label]) => h('a', { href, 'data-nav': true }, label));
  private readonly status = h('span', { class: 'live-status', 'data-testid': 'live-status' }, 'Loading…');
  private readonly notices = h('div', { class: 'notices', role: 'status', 'aria-live': 'polite' });
  private view: View | undefined;
  private timer: number | undefined;
  private generation = 0;
  private hurryUntil = 0;

  constructor(private readonly me: SessionInfo) {
    const logout = h('button', { type: 'button', class: 'btn btn-small' }, 'Log out');
    logout.addEventListener('click', () => {
      session.logout().finally(() => location.assign('/admin/login'));
    });
    append(
      document.getElementById('app')!,
      h(
        'header',
        { class: 'top' },
        h('a', { class: 'brand', href: '/admin', 'data-nav': true }, 'Corridor admin'),
        h(
          'nav',
          { 'aria-label': 'Dashboard' },
          h(
            'ul',
            null,
            this.navLinks.map((a) => h('li', null, a)),
          ),
        ),
        h('div', { class: 'me' }, h('span', { class: 'me-email' }, me.user.email), logout),
      ),
      this.notices,
      this.main,
      h('footer', { class: 'bottom' }, this.status),
    );
    document.addEventListener('click', (ev) => this.onClick(ev));
    window.addEventListener('popstate', () => void this.render());
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) this.schedule(0);
    });
  }

  private onClick(ev: MouseEvent): void {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey)
      return;
    const a = (ev.target as Element | null)?.closest?.('a[data-nav]');
    if (!(a instanceof HTMLAnchorElement)) return;
    const url = new URL(a.href);
    if (url.origin !== location.origin || !url.pathname.startsWith('/admin')) return;
    ev.preventDefault();
    this.navigate(url.pathname + url.search);
  }

  navigate(path: string, opts: { replace?: boolean } = {}): void {
    if (opts.replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
    void this.render();
  }

  notify(message: string, kind: 'ok' | 'error' = 'ok'): void {
    const n = h('p', { class: `notice notice-${kind}` }, message);
    this.notices.appendChild(n);
    window.setTimeout(() => n.remove(), kind === 'error' ? 10_000 : 5_000);
  }

  async render(): Promise<void> {
    const gen = ++this.generation;
    window.clearTimeout(this.timer);
    this.view?.dispose?.();
    this.view = undefined;
    const path = location.pathname;
    const route = ROUTES.find((r) => r.pattern.test(path));
    for (const a of this.navLinks) {
      const here = route?.nav === new URL(a.href).pathname;
      if (here) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    replace(this.main, h('p', { class: 'hint' }, 'Loading…'));
    if (!route) {
      this.show(gen, {
        title: 'Not found',
        el: h('div', { class: 'view' }, h('h1', { tabindex: -1 }, 'Page not found')),
      });
      return;
    }
    const m = route.pattern.exec(path)!;
    const params = Object.fromEntries(route.keys.map((k, i) => [k, m[i + 1]!]));
    const ctx: ViewContext = {
      params,
      query: new URLSearchParams(location.search),
      me: this.me,
      navigate: (p, o) => this.navigate(p, o),
      setQuery: (q) => {
        const qs = q.toString();
        history.replaceState(null, '', qs ? `${location.pathname}?${qs}` : location.pathname);
      },
      notify: (msg, kind) => this.notify(msg, kind),
      hurry: () => {
        this.hurryUntil = Date.now() + HURRY_MS;
        this.schedule(HURRY_INTERVAL_MS);
      },
    };
    try {
      const view = await route.view(ctx);
      if (gen !== this.generation) {
        view.dispose?.();
        return;
      }
      this.show(gen, view);
    } catch (e) {
      if (gen !== this.generation) return;
      this.show(gen, {
        title: 'Error',
        el: h(
          'div',
          { class: 'view' },
          h('h1', { tabindex: -1 }, 'Could not load this page'),
          h('p', { class: 'form-error' }, errorText(e)),
        ),
      });
    }
  }

  private show(gen: number, view: View): void {
    this.view = view;
    document.title = `${view.title} · Corridor admin`;
    replace(this.main, view.el);
    view.el.querySelector<HTMLElement>('h1')?.focus({ preventScroll: true });
    this.stamp();
    if (view.refresh) this.schedule(this.interval());
    else this.status.textContent = '';
    void gen;
  }

  private interval(): number {
    const base = this.view?.refreshMs ?? 10_000;
    return Date.now() < this.hurryUntil ? Math.min(base, HURRY_INTERVAL_MS) : base;
  }

  private stamp(): void {
    this.status.textContent = this.view?.refresh ? `Live · updated ${clock(new Date())}` : '';
  }

  /** One refresh at a time: the next is scheduled when the current one has finished. */
  private schedule(ms: number): void {
    window.clearTimeout(this.timer);
    const view = this.view;
    if (!view?.refresh) return;
    const gen = this.generation;
    this.timer = window.setTimeout(() => {
      if (document.hidden || gen !== this.generation) return;
      view.refresh!().then(
        () => {
          if (gen !== this.generation) return;
          this.stamp();
          this.schedule(this.interval());
        },
        (e: unknown) => {
          if (gen !== this.generation) return;
          this.status.textContent = `Live updates paused: ${errorText(e)} (retrying)`;
          this.schedule(Math.max(this.interval(), 5_000));
        },
      );
    }, ms);
  }
}

async function boot(): Promise<void> {
  const app = document.getElementById('app')!;
  if (location.pathname === '/admin/login') {
    replace(app, loginView(new URLSearchParams(location.search)));
    return;
  }
  let me: SessionInfo;
  try {
    me = await session.get();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      location.assign(loginUrl());
      return;
    }
    replace(
      app,
      h(
        'main',
        { id: 'main', class: 'login' },
        h('div', { class: 'card' }, h('h1', null, 'Cannot open the dashboard'), h('p', null, errorText(e))),
      ),
    );
    return;
  }
  setCsrfToken(me.csrfToken);
  replace(app);
  await new Shell(me).render();
}

void boot();
