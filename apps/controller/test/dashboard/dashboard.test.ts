/**
 * The admin dashboard's server side against real PostgreSQL + Redis: pages and their guard, the
 * cookie session (log in, CSRF, log out), the cookie → admin API bridge, security headers, and the
 * dashboard's own admin routes. The browser side is tested in test/browser (real Chromium).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { CONTENT_SECURITY_POLICY } from '../../src/dashboard/security-headers.js';
import {
  adminToken,
  bearer,
  createUser,
  hasServices,
  heartbeat,
  issueTicket,
  onlineNode,
  registerDevice,
  startHarness,
  warnSkip,
  type Harness,
} from '../helpers.js';

warnSkip();

const ORIGIN = 'https://localhost:80';

function cookieOf(res: LightMyRequestResponse): string {
  const set = res.headers['set-cookie'];
  const line = (Array.isArray(set) ? set : [set ?? '']).find((c) => c.startsWith('__Host-corridor_admin='));
  if (!line) throw new Error(`no session cookie in ${JSON.stringify(res.headers)}`);
  return line.split(';')[0]!;
}

describe.skipIf(!hasServices)('admin dashboard: pages, session, bridge (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  let adminId: string;
  let cookie: string;
  let csrf: string;

  async function dashLogin(email: string, password: string, headers: Record<string, string> = {}) {
    return h.app.inject({
      method: 'POST',
      url: '/admin/session',
      headers: { origin: ORIGIN, 'sec-fetch-site': 'same-origin', ...headers },
      payload: { email, password },
    });
  }
  const withSession = (extra: Record<string, string> = {}) => ({
    cookie,
    'x-csrf-token': csrf,
    'sec-fetch-site': 'same-origin',
    ...extra,
  });
  async function auditActions(
    targetId: string,
  ): Promise<{ action: string; actorId: string | null; actorType: string }[]> {
    const res = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/audit?targetId=${targetId}`,
      headers: bearer(admin),
    });
    return res.json<{ items: { action: string; actorId: string | null; actorType: string }[] }>().items;
  }

  beforeAll(async () => {
    h = await startHarness();
    admin = await adminToken(h.app);
    adminId = h.app.jwt.decode<{ sub: string }>(admin)!.sub;
    const res = await dashLogin('admin@example.com', 'admin-password-1');
    expect(res.statusCode, res.body).toBe(200);
    cookie = cookieOf(res);
    csrf = res.json<{ csrfToken: string }>().csrfToken;
  });
  afterAll(async () => h?.close());

  it('sends a page without a session to the log-in page, and serves the log-in page itself', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/admin/users?q=x' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`/admin/login?next=${encodeURIComponent('/admin/users?q=x')}`);
    const login = await h.app.inject({ method: 'GET', url: '/admin/login' });
    expect(login.statusCode).toBe(200);
    expect(login.headers['content-type']).toMatch(/^text\/html/);
    expect(login.body).toMatch(/<script type="module" src="\/admin\/assets\/app-[A-Z0-9]{8}\.js"><\/script>/);
  });

  it('puts a strict CSP and hardening headers on every dashboard response', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/admin/login' });
    const csp = res.headers['content-security-policy'];
    expect(csp).toBe(CONTENT_SECURITY_POLICY);
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("require-trusted-types-for 'script'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['cache-control']).toBe('no-store');
    // Built pages carry no inline script or style for the CSP to block.
    expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(res.body).not.toMatch(/\sstyle=|<style/);
    for (const page of ['/admin', '/admin/nodes']) {
      const r = await h.app.inject({ method: 'GET', url: page, headers: { cookie } });
      expect(r.statusCode, page).toBe(200);
      expect(r.headers['content-security-policy'], page).toBe(CONTENT_SECURITY_POLICY);
    }
  });

  it('serves the built assets by exact hashed name only', async () => {
    const shell = await h.app.inject({ method: 'GET', url: '/admin/login' });
    const js = /\/admin\/assets\/(app-[A-Z0-9]{8}\.js)/.exec(shell.body)![1]!;
    const css = /\/admin\/assets\/(style-[A-Z0-9]{8}\.css)/.exec(shell.body)![1]!;
    const a = await h.app.inject({ method: 'GET', url: `/admin/assets/${js}` });
    expect(a.statusCode).toBe(200);
    expect(a.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(a.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(a.body.includes('/admin/session')).toBe(true);
    const c = await h.app.inject({ method: 'GET', url: `/admin/assets/${css}` });
    expect(c.headers['content-type']).toBe('text/css; charset=utf-8');
    expect((await h.app.inject({ method: 'GET', url: '/admin/assets/app-AAAAAAAA.js' })).statusCode).toBe(
      404,
    );
    for (const bad of ['..%2Fpackage.json', 'app.js', '%2e%2e%2fsrc%2fcli.ts'])
      expect((await h.app.inject({ method: 'GET', url: `/admin/assets/${bad}` })).statusCode, bad).toBe(400);
  });

  it('logs an admin in with an HttpOnly Secure SameSite=Strict host-only cookie and audits it', async () => {
    const res = await dashLogin('admin@example.com', 'admin-password-1');
    expect(res.statusCode).toBe(200);
    const set = String(res.headers['set-cookie']);
    expect(set).toMatch(
      /^__Host-corridor_admin=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; Secure; HttpOnly; SameSite=Strict$/,
    );
    const body = res.json<{ user: { id: string; email: string }; csrfToken: string; expiresAt: string }>();
    expect(body.user).toEqual({ id: adminId, email: 'admin@example.com' });
    expect(body.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Nothing secret in the body besides the CSRF token: no bearer or refresh token.
    expect(Object.keys(body).sort()).toEqual(['csrfToken', 'expiresAt', 'user']);
    expect((await auditActions(adminId)).map((e) => e.action)).toContain('dashboard.login');
  });

  it('refuses wrong passwords (audited as failed logins) and cross-site log-in posts', async () => {
    const bad = await dashLogin('admin@example.com', 'wrong-password-1');
    expect(bad.statusCode).toBe(401);
    expect(bad.headers['set-cookie']).toBeUndefined();
    const failed = await h.app.inject({
      method: 'GET',
      url: '/v1/admin/audit?action=auth.login_failed',
      headers: bearer(admin),
    });
    expect(failed.json<{ items: { details: { via?: string } }[] }>().items[0]?.details.via).toBe('dashboard');
    const cross = await dashLogin('admin@example.com', 'admin-password-1', {
      origin: 'https://evil.example',
    });
    expect(cross.statusCode).toBe(403);
    expect(cross.headers['set-cookie']).toBeUndefined();
    const site = await dashLogin('admin@example.com', 'admin-password-1', { 'sec-fetch-site': 'cross-site' });
    expect(site.statusCode).toBe(403);
  });

  it('writes the audit event of a failed log-in before it answers', async () => {
    const audit = h.app.repos.audit;
    const record = audit.record.bind(audit);
    // A slow audit write (a busy database) must delay the answer, not lose the event's ordering.
    audit.record = async (...a) => {
      await new Promise((r) => setTimeout(r, 300));
      return record(...a);
    };
    try {
      const email = `nobody-${Date.now()}@example.com`;
      const bad = await dashLogin(email, 'wrong-password-1');
      expect(bad.statusCode).toBe(401);
    } finally {
      audit.record = record;
    }
    const failed = await h.app.inject({
      method: 'GET',
      url: '/v1/admin/audit?action=auth.login_failed&limit=1',
      headers: bearer(admin),
    });
    expect(
      failed.json<{ items: { details: { reason?: string; via?: string } }[] }>().items[0]?.details,
    ).toEqual({
      reason: 'invalid',
      via: 'dashboard',
    });
  });

  it('gives non-admins 403 and no session at log-in, and 403 on every page and every admin route', async () => {
    const u = await createUser(h.app, admin);
    const res = await dashLogin(u.email, u.password);
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('CORRIDOR_ERR_FORBIDDEN');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect((await auditActions(u.userId)).map((e) => e.action)).toContain('dashboard.login_refused');

    for (const page of [
      '/admin',
      '/admin/users',
      '/admin/nodes/x',
      '/admin/sessions',
      '/admin/audit',
      '/admin/anything',
    ]) {
      const r = await h.app.inject({ method: 'GET', url: page, headers: bearer(u.accessToken) });
      expect(r.statusCode, page).toBe(403);
      expect(r.headers['content-type']).toMatch(/^text\/html/);
      expect(r.body).toContain('administrators only');
      expect(r.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    }

    // Every admin operation in the OpenAPI document, with its real method.
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json<{
      paths: Record<string, Record<string, unknown>>;
    }>();
    const ops = Object.entries(doc.paths)
      .filter(([p]) => p.startsWith('/v1/admin/'))
      .flatMap(([p, methods]) => Object.keys(methods).map((m) => [m.toUpperCase(), p] as const));
    expect(ops.length).toBeGreaterThan(15);
    for (const [method, p] of ops) {
      const url = p
        .replace('{userId}', u.userId)
        .replace('{deviceId}', u.userId)
        .replace('{ticketId}', u.userId)
        .replace('{nodeId}', 'node-1');
      const r = await h.app.inject({ method: method as 'GET', url, headers: bearer(u.accessToken) });
      expect(r.statusCode, `${method} ${url}`).toBe(403);
    }
  });

  it('lets the session cookie reach the admin API only with the session’s CSRF token', async () => {
    const u = await createUser(h.app, admin);
    const noToken = await h.app.inject({ method: 'GET', url: '/v1/admin/users', headers: { cookie } });
    expect(noToken.statusCode).toBe(403);
    // The page recognises this refusal by its start (web/src/api.ts CSRF_REFUSAL) and reloads.
    expect(noToken.json().message).toMatch(/^CSRF token missing or wrong/);
    const wrong = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${u.userId}/disable`,
      headers: { cookie, 'x-csrf-token': 'A'.repeat(43) },
    });
    expect(wrong.statusCode).toBe(403);
    expect(
      (
        await h.app.inject({ method: 'GET', url: `/v1/admin/users/${u.userId}`, headers: bearer(admin) })
      ).json().disabled,
    ).toBe(false);
    const crossSite = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${u.userId}/disable`,
      headers: withSession({ 'sec-fetch-site': 'cross-site' }),
    });
    expect(crossSite.statusCode).toBe(403);
    const foreign = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${u.userId}/disable`,
      headers: withSession({ origin: 'https://evil.example' }),
    });
    expect(foreign.statusCode).toBe(403);

    const ok = await h.app.inject({ method: 'GET', url: '/v1/admin/users?limit=5', headers: withSession() });
    expect(ok.statusCode).toBe(200);
    // The cookie authenticates the admin API only: a user route still wants its own bearer token.
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/devices', headers: withSession() })).statusCode,
    ).toBe(401);
  });

  it('runs admin actions through the ordinary admin routes: validated, effective and audited as the admin', async () => {
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const bad = await h.app.inject({
      method: 'POST',
      url: '/v1/admin/users/not-a-uuid/disable',
      headers: withSession(),
    });
    expect(bad.statusCode).toBe(400);
    const res = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${u.userId}/disable?reason=${encodeURIComponent('<b>abuse</b>')}`,
      headers: withSession({ origin: ORIGIN }),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().disabled).toBe(true);
    const revoke = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/devices/${dev.id}/revoke`,
      headers: withSession(),
    });
    expect(revoke.statusCode).toBe(200);
    const events = await auditActions(u.userId);
    const disable = events.find((e) => e.action === 'user.disable');
    expect(disable).toMatchObject({ actorType: 'admin', actorId: adminId });
    const devEvents = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/audit?targetId=${dev.id}`,
      headers: bearer(admin),
    });
    expect(devEvents.json<{ items: { action: string; actorId: string }[] }>().items[0]).toMatchObject({
      action: 'device.revoke',
      actorId: adminId,
    });
  });

  it('ends a session at log-out (CSRF needed) and whenever its admin is demoted or disabled', async () => {
    const login = await dashLogin('admin@example.com', 'admin-password-1');
    const c = cookieOf(login);
    const t = login.json<{ csrfToken: string }>().csrfToken;
    expect(
      (await h.app.inject({ method: 'GET', url: '/admin/session', headers: { cookie: c } })).json().csrfToken,
    ).toBe(t);
    const noCsrf = await h.app.inject({ method: 'DELETE', url: '/admin/session', headers: { cookie: c } });
    expect(noCsrf.statusCode).toBe(403);
    const out = await h.app.inject({
      method: 'DELETE',
      url: '/admin/session',
      headers: { cookie: c, 'x-csrf-token': t },
    });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^__Host-corridor_admin=; Path=\/; Max-Age=0/);
    expect(
      (await h.app.inject({ method: 'GET', url: '/admin/session', headers: { cookie: c } })).statusCode,
    ).toBe(401);
    const after = await h.app.inject({
      method: 'GET',
      url: '/v1/admin/users',
      headers: { cookie: c, 'x-csrf-token': t },
    });
    expect(after.statusCode).toBe(401);
    expect((await h.app.inject({ method: 'GET', url: '/admin', headers: { cookie: c } })).statusCode).toBe(
      303,
    );

    // A second admin logs in to the dashboard, then loses the role / the account.
    for (const change of ['demote', 'disable'] as const) {
      const other = await createUser(h.app, admin);
      await h.app.db.pool.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [other.userId]);
      const l = await dashLogin(other.email, other.password);
      expect(l.statusCode).toBe(200);
      const oc = cookieOf(l);
      const ot = l.json<{ csrfToken: string }>().csrfToken;
      const api = () =>
        h.app.inject({ method: 'GET', url: '/v1/admin/nodes', headers: { cookie: oc, 'x-csrf-token': ot } });
      expect((await api()).statusCode).toBe(200);
      if (change === 'demote')
        await h.app.db.pool.query(`UPDATE users SET role = 'user' WHERE id = $1`, [other.userId]);
      else await h.app.db.pool.query(`UPDATE users SET disabled_at = now() WHERE id = $1`, [other.userId]);
      const page = await h.app.inject({ method: 'GET', url: '/admin/users', headers: { cookie: oc } });
      expect(page.statusCode, change).toBe(403);
      expect(page.body).toContain('administrators only');
      // The page guard also ended the session.
      expect((await api()).statusCode, change).toBe(401);
      expect(
        (await h.app.inject({ method: 'GET', url: '/admin/session', headers: { cookie: oc } })).statusCode,
      ).toBe(401);
    }
  });

  it('ends a disabled admin’s sessions for good: enabling the account again brings none back', async () => {
    const other = await createUser(h.app, admin);
    await h.app.db.pool.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [other.userId]);
    // Two sessions: one in use through the API, one idle in another browser.
    const used = await dashLogin(other.email, other.password);
    const idle = await dashLogin(other.email, other.password);
    const api = (l: LightMyRequestResponse) =>
      h.app.inject({
        method: 'GET',
        url: '/v1/admin/nodes',
        headers: { cookie: cookieOf(l), 'x-csrf-token': l.json<{ csrfToken: string }>().csrfToken },
      });
    expect((await api(used)).statusCode).toBe(200);
    const off = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${other.userId}/disable`,
      headers: bearer(admin),
    });
    expect(off.statusCode).toBe(200);
    // Refused at once (403 from the role check, or 401 when the notice has already ended it).
    expect([401, 403]).toContain((await api(used)).statusCode);
    const on = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${other.userId}/enable`,
      headers: bearer(admin),
    });
    expect(on.statusCode).toBe(200);
    // The disable reached every replica as a revocation notice: both sessions are over.
    await expect.poll(async () => (await api(used)).statusCode).toBe(401);
    expect((await api(idle)).statusCode).toBe(401);
    const page = await h.app.inject({ method: 'GET', url: '/admin', headers: { cookie: cookieOf(idle) } });
    expect(page.statusCode).toBe(303);
    // A fresh log-in after the enable works.
    const again = await dashLogin(other.email, other.password);
    expect(again.statusCode).toBe(200);
    expect((await api(again)).statusCode).toBe(200);
  });

  it('ends a demoted admin’s sessions at their first API call: promoting again brings none back', async () => {
    const other = await createUser(h.app, admin);
    await h.app.db.pool.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [other.userId]);
    const l = await dashLogin(other.email, other.password);
    const headers = { cookie: cookieOf(l), 'x-csrf-token': l.json<{ csrfToken: string }>().csrfToken };
    const api = () => h.app.inject({ method: 'GET', url: '/v1/admin/users', headers });
    expect((await api()).statusCode).toBe(200);
    await h.app.db.pool.query(`UPDATE users SET role = 'user' WHERE id = $1`, [other.userId]);
    expect((await api()).statusCode).toBe(403);
    await h.app.db.pool.query(`UPDATE users SET role = 'admin' WHERE id = $1`, [other.userId]);
    expect((await api()).statusCode).toBe(401);
  });

  it('marks every admin API answer, with the cookie or a bearer token, as not to be stored by any cache', async () => {
    const u = await createUser(h.app, admin);
    for (const [method, url, headers] of [
      ['GET', '/v1/admin/users?limit=5', withSession()],
      ['GET', `/v1/admin/users/${u.userId}`, withSession()],
      ['GET', '/v1/admin/overview', withSession()],
      ['GET', '/v1/admin/user-emails?ids=' + u.userId, bearer(admin)],
      ['GET', '/v1/admin/users?limit=5', bearer(admin)],
      ['GET', '/v1/admin/users', { cookie }],
      ['GET', '/v1/admin/users/nope', bearer(admin)],
    ] as const) {
      const r = await h.app.inject({ method, url, headers });
      expect(r.headers['cache-control'], `${url} ${r.statusCode}`).toBe('no-store');
    }
  });

  it('ignores malformed cookies and forged session ids', async () => {
    for (const c of [
      '__Host-corridor_admin=',
      '__Host-corridor_admin=short',
      `__Host-corridor_admin=${'a'.repeat(43)}`,
      'x=1; y',
    ]) {
      const r = await h.app.inject({ method: 'GET', url: '/admin', headers: { cookie: c } });
      expect(r.statusCode, c).toBe(303);
      const api = await h.app.inject({
        method: 'GET',
        url: '/v1/admin/users',
        headers: { cookie: c, 'x-csrf-token': 'A'.repeat(43) },
      });
      expect(api.statusCode, c).toBe(401);
    }
  });

  it('documents its API routes with operationId and summary, and hides the pages', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json<{
      paths: Record<string, Record<string, { operationId?: string; summary?: string }>>;
    }>();
    const ops = {
      'get /v1/admin/overview': 'adminOverview',
      'get /v1/admin/traffic': 'adminTraffic',
      'get /v1/admin/user-emails': 'adminUserEmails',
      'post /admin/session': 'dashboardLogin',
      'get /admin/session': 'dashboardSession',
      'delete /admin/session': 'dashboardLogout',
    };
    for (const [key, id] of Object.entries(ops)) {
      const [m, p] = key.split(' ') as [string, string];
      expect(doc.paths[p]?.[m]?.operationId, key).toBe(id);
      expect(doc.paths[p]?.[m]?.summary, key).toBeTruthy();
    }
    expect(
      Object.keys(doc.paths).filter(
        (p) => p === '/admin' || p.startsWith('/admin/assets') || p === '/admin/*',
      ),
    ).toEqual([]);
  });

  it('answers the overview with node states by region, live sessions, users active today and failed logins', async () => {
    const before = (
      await h.app.inject({ method: 'GET', url: '/v1/admin/overview', headers: bearer(admin) })
    ).json<{
      failedLogins24h: number;
    }>();
    const region = `r-${Date.now().toString(36)}`;
    const online = await onlineNode(h.app, admin, { region });
    const off = await onlineNode(h.app, admin, { region });
    await h.app.store.del(`node:live:${off.id}`);
    await h.app.inject({ method: 'POST', url: `/v1/admin/nodes/${off.id}/disable`, headers: bearer(admin) });
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const t = await issueTicket(h.app, u.accessToken, online.id, dev.id);
    await heartbeat(h.app, online.auth, {
      sessions: [
        {
          ticketId: t.ticketId,
          deviceId: dev.id,
          userId: u.userId,
          rxBytes: 1000,
          txBytes: 5000,
          connectedAt: new Date().toISOString(),
        },
      ],
    });
    await h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: u.email, password: 'nope-nope-nope' },
    });

    const res = await h.app.inject({ method: 'GET', url: '/v1/admin/overview', headers: withSession() });
    expect(res.statusCode).toBe(200);
    const o = res.json<{
      nodes: { byRegion: { region: string; online: number; offline: number; disabled: number }[] };
      sessions: { active: number };
      users: { total: number; activeToday: number };
      failedLogins24h: number;
    }>();
    expect(o.nodes.byRegion.find((r) => r.region === region)).toEqual({
      region,
      online: 1,
      offline: 0,
      notEnrolled: 0,
      disabled: 1,
    });
    expect(o.sessions.active).toBeGreaterThanOrEqual(1);
    expect(o.users.activeToday).toBeGreaterThanOrEqual(1);
    expect(o.users.total).toBeGreaterThanOrEqual(2);
    expect(o.failedLogins24h).toBe(before.failedLogins24h + 1);
  });

  it('counts as active only the sessions of nodes that are online; those of silent nodes are counted apart', async () => {
    type O = { sessions: { active: number; onOfflineNodes: number } };
    const overview = async () =>
      (await h.app.inject({ method: 'GET', url: '/v1/admin/overview', headers: bearer(admin) })).json<O>();
    const n = await onlineNode(h.app, admin);
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const t = await issueTicket(h.app, u.accessToken, n.id, dev.id);
    const before = await overview();
    await heartbeat(h.app, n.auth, {
      sessions: [
        {
          ticketId: t.ticketId,
          deviceId: dev.id,
          userId: u.userId,
          rxBytes: 10,
          txBytes: 10,
          connectedAt: new Date().toISOString(),
        },
      ],
    });
    const live = await overview();
    expect(live.sessions.active).toBe(before.sessions.active + 1);
    expect(live.sessions.onOfflineNodes).toBe(before.sessions.onOfflineNodes);
    // The node stops heartbeating (crashed, unplugged): its session was never reported ended.
    await h.app.store.del(`node:live:${n.id}`);
    const silent = await overview();
    expect(silent.sessions.active).toBe(before.sessions.active);
    expect(silent.sessions.onOfflineNodes).toBe(before.sessions.onOfflineNodes + 1);
  });

  it('counts a node waiting for its first enrollment as not enrolled, not as offline', async () => {
    type Counts = { online: number; offline: number; notEnrolled: number; disabled: number };
    const region = `r-${Date.now().toString(36)}-new`;
    const made = await h.app.inject({
      method: 'POST',
      url: '/v1/admin/nodes',
      headers: bearer(admin),
      payload: {
        id: `new-${Date.now().toString(36)}`,
        region,
        country: 'NL',
        city: 'Amsterdam',
        endpoint: { host: '203.0.113.7', udpPort: 51820, tcpPort: 443 },
      },
    });
    expect(made.statusCode).toBe(201);
    const o = (
      await h.app.inject({ method: 'GET', url: '/v1/admin/overview', headers: bearer(admin) })
    ).json<{
      nodes: Counts & { total: number; byRegion: (Counts & { region: string })[] };
    }>();
    expect(o.nodes.byRegion.find((r) => r.region === region)).toEqual({
      region,
      online: 0,
      offline: 0,
      notEnrolled: 1,
      disabled: 0,
    });
    const { total, online, offline, notEnrolled, disabled } = o.nodes;
    expect(online + offline + notEnrolled + disabled).toBe(total);
  });

  it('resolves user ids to e-mails for labels, and validates the id list', async () => {
    const u = await createUser(h.app, admin);
    const missing = '00000000-0000-4000-8000-000000000000';
    const res = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/user-emails?ids=${u.userId},${missing},${u.userId.toUpperCase()}`,
      headers: withSession(),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ items: [{ id: u.userId, email: u.email }] });
    for (const bad of ['', 'x', `${u.userId};drop`, Array(201).fill(u.userId).join(',')]) {
      const r = await h.app.inject({
        method: 'GET',
        url: `/v1/admin/user-emails?ids=${encodeURIComponent(bad)}`,
        headers: bearer(admin),
      });
      expect(r.statusCode, bad.slice(0, 20)).toBe(400);
    }
  });

  it('serves the all-nodes traffic series from a short memo and one node’s series fresh', async () => {
    const get = async (url: string) => {
      const r = await h.app.inject({ method: 'GET', url, headers: bearer(admin) });
      expect(r.statusCode).toBe(200);
      return r.json<{ total: { rxBytes: number[]; txBytes: number[] } }>();
    };
    const first = await get('/v1/admin/traffic?range=24h&top=3');
    const n = await onlineNode(h.app, admin);
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const t = await issueTicket(h.app, u.accessToken, n.id, dev.id);
    await heartbeat(h.app, n.auth, {
      sessions: [
        {
          ticketId: t.ticketId,
          deviceId: dev.id,
          userId: u.userId,
          rxBytes: 7000,
          txBytes: 9000,
          connectedAt: new Date().toISOString(),
        },
      ],
    });
    expect(await get('/v1/admin/traffic?range=24h&top=3')).toEqual(first);
    const own = await get(`/v1/admin/traffic?range=24h&nodeId=${n.id}`);
    expect(own.total.rxBytes.reduce((a, b) => a + b, 0)).toBe(7000);
    expect(own.total.txBytes.reduce((a, b) => a + b, 0)).toBe(9000);
  });

  it('answers a burst of overview and node traffic requests with one computation each, never a query per request', async () => {
    const n = await onlineNode(h.app, admin);
    const stats = h.app.dashboardStats;
    const calls = { overview: 0, traffic: 0 };
    const overview = stats.overview.bind(stats);
    const traffic = stats.traffic.bind(stats);
    stats.overview = (...a) => (calls.overview++, overview(...a));
    stats.traffic = (...a) => (calls.traffic++, traffic(...a));
    try {
      const burst = (url: string) =>
        Promise.all(
          Array.from({ length: 30 }, () => h.app.inject({ method: 'GET', url, headers: bearer(admin) })),
        );
      const o = await burst('/v1/admin/overview');
      expect(new Set(o.map((r) => r.statusCode))).toEqual(new Set([200]));
      expect(calls.overview).toBe(1);
      const t = await burst(`/v1/admin/traffic?range=24h&nodeId=${n.id}`);
      expect(new Set(t.map((r) => r.statusCode))).toEqual(new Set([200]));
      expect(calls.traffic).toBe(1);
      // Nothing is kept once answered: the next request computes afresh.
      await h.app.inject({ method: 'GET', url: '/v1/admin/overview', headers: bearer(admin) });
      expect(calls.overview).toBe(2);
    } finally {
      stats.overview = overview;
      stats.traffic = traffic;
    }
  });

  it('validates traffic queries', async () => {
    for (const q of ['', 'range=1h', 'range=24h&nodeId=Bad_Id', 'range=7d&top=21', 'range=24h&x=1']) {
      const r = await h.app.inject({ method: 'GET', url: `/v1/admin/traffic?${q}`, headers: bearer(admin) });
      expect(r.statusCode, q).toBe(400);
      expect(r.json().code).toBe('CORRIDOR_ERR_VALIDATION');
    }
    const ok = await h.app.inject({
      method: 'GET',
      url: '/v1/admin/traffic?range=24h',
      headers: bearer(admin),
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json<{ buckets: string[] }>().buckets).toHaveLength(24);
  });
});
