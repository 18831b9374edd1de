import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminToken,
  bearer,
  createUser,
  devicePublicKey,
  hasServices,
  login,
  onlineNode,
  registerDevice,
  startHarness,
  warnSkip,
  type Harness,
} from '../../helpers.js';

warnSkip();

describe.skipIf(!hasServices)('admin routes (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  let adminId: string;
  beforeAll(async () => {
    h = await startHarness();
    admin = await adminToken(h.app);
    adminId = h.app.jwt.decode<{ sub: string }>(admin)!.sub;
  });
  afterAll(async () => h?.close());

  it('is admin-only: 401 without a token, 403 for users', async () => {
    const u = await createUser(h.app, admin);
    for (const url of [
      '/v1/admin/users',
      '/v1/admin/nodes',
      '/v1/admin/sessions',
      '/v1/admin/usage',
      '/v1/admin/audit',
      '/v1/admin/signing-keys',
    ]) {
      expect((await h.app.inject({ method: 'GET', url })).statusCode, url).toBe(401);
      const res = await h.app.inject({ method: 'GET', url, headers: bearer(u.accessToken) });
      expect(res.statusCode, url).toBe(403);
      expect(res.json().code).toBe('CORRIDOR_ERR_FORBIDDEN');
    }
  });

  it('creates users (409 on duplicates) and searches, filters and paginates them', async () => {
    const tag = `srch${Date.now()}`;
    const emails = [];
    for (let i = 0; i < 5; i++)
      emails.push((await createUser(h.app, admin, `${tag}-${i}@example.com`)).email);
    const dup = await h.app.inject({
      method: 'POST',
      url: '/v1/admin/users',
      headers: bearer(admin),
      payload: { email: emails[0], password: 'another-password' },
    });
    expect(dup.statusCode).toBe(409);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/admin/users?q=${tag}&limit=2&order=asc${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await h.app.inject({ method: 'GET', url, headers: bearer(admin) });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.items.length).toBeLessThanOrEqual(2);
      seen.push(...body.items.map((u: { email: string }) => u.email));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(emails);

    const desc = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/users?q=${tag}&order=desc`,
      headers: bearer(admin),
    });
    expect(desc.json().items.map((u: { email: string }) => u.email)).toEqual([...emails].reverse());
    const admins = await h.app.inject({
      method: 'GET',
      url: '/v1/admin/users?role=admin',
      headers: bearer(admin),
    });
    expect(admins.json().items.map((u: { email: string }) => u.email)).toEqual(['admin@example.com']);

    for (const q of [
      'limit=0',
      'limit=1000',
      'role=root',
      'cursor=!!',
      'order=up',
      'disabled=maybe',
      'unknown=1',
    ]) {
      expect(
        (await h.app.inject({ method: 'GET', url: `/v1/admin/users?${q}`, headers: bearer(admin) }))
          .statusCode,
        q,
      ).toBe(400);
    }
    const badCursor = await h.app.inject({
      method: 'GET',
      url: '/v1/admin/users?cursor=abc',
      headers: bearer(admin),
    });
    expect(badCursor.statusCode).toBe(400);
  });

  it('disables and enables users; a disabled user cannot log in or refresh', async () => {
    const u = await createUser(h.app, admin);
    const dis = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${u.userId}/disable`,
      headers: bearer(admin),
    });
    expect(dis.json()).toMatchObject({ id: u.userId, disabled: true });
    const login = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: u.email, password: u.password },
    });
    // Like a wrong password: a distinct answer would confirm the password (no oracle).
    expect(login.statusCode).toBe(401);
    expect(login.json().code).toBe('CORRIDOR_ERR_INVALID_CREDENTIALS');
    const refresh = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken: u.refreshToken },
    });
    expect(refresh.statusCode).toBe(401);
    const filtered = await h.app.inject({
      method: 'GET',
      url: '/v1/admin/users?disabled=true',
      headers: bearer(admin),
    });
    expect(filtered.json().items.map((x: { id: string }) => x.id)).toContain(u.userId);

    const en = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${u.userId}/enable`,
      headers: bearer(admin),
    });
    expect(en.json()).toMatchObject({ disabled: false, disabledAt: null });
    expect(
      (
        await h.app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          payload: { email: u.email, password: u.password },
        })
      ).statusCode,
    ).toBe(200);

    const self = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${adminId}/disable`,
      headers: bearer(admin),
    });
    expect(self.statusCode).toBe(409);
    const missing = await h.app.inject({
      method: 'POST',
      url: '/v1/admin/users/00000000-0000-4000-8000-000000000000/disable',
      headers: bearer(admin),
    });
    expect(missing.statusCode).toBe(404);
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/admin/users/not-a-uuid', headers: bearer(admin) }))
        .statusCode,
    ).toBe(400);
    expect(
      (
        await h.app.inject({
          method: 'GET',
          url: '/v1/admin/users/00000000-0000-4000-8000-000000000000',
          headers: bearer(admin),
        })
      ).statusCode,
    ).toBe(404);
  });

  it('lists a user’s devices and revokes devices and tickets (404 for unknown ids)', async () => {
    const u = await createUser(h.app, admin);
    const d = await registerDevice(h.app, u.accessToken);
    const devices = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/users/${u.userId}/devices`,
      headers: bearer(admin),
    });
    expect(devices.json().devices).toEqual([
      expect.objectContaining({ id: d.id, userId: u.userId, revokedAt: null }),
    ]);
    const rev = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/devices/${d.id}/revoke`,
      headers: bearer(admin),
    });
    expect(rev.json()).toMatchObject({ kind: 'device', subjectId: d.id });
    const after = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/users/${u.userId}/devices`,
      headers: bearer(admin),
    });
    expect(after.json().devices[0].revokedAt).not.toBeNull();
    const zero = '00000000-0000-4000-8000-000000000000';
    expect(
      (
        await h.app.inject({
          method: 'POST',
          url: `/v1/admin/devices/${zero}/revoke`,
          headers: bearer(admin),
        })
      ).statusCode,
    ).toBe(404);
    expect(
      (
        await h.app.inject({
          method: 'POST',
          url: `/v1/admin/tickets/${zero}/revoke`,
          headers: bearer(admin),
        })
      ).statusCode,
    ).toBe(404);
    expect(
      (await h.app.inject({ method: 'GET', url: `/v1/admin/users/${zero}/devices`, headers: bearer(admin) }))
        .statusCode,
    ).toBe(404);
    expect(
      (await h.app.inject({ method: 'GET', url: `/v1/admin/users/${zero}/usage`, headers: bearer(admin) }))
        .statusCode,
    ).toBe(404);
  });

  it('creates nodes (409 on duplicate id, 400 on bad input) and lists them with state', async () => {
    const payload = {
      id: 'us-nyc-1',
      region: 'us-east',
      country: 'US',
      city: 'New York',
      endpoint: { host: '2001:db8::1', udpPort: 51820, tcpPort: 443 },
    };
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/admin/nodes',
      headers: bearer(admin),
      payload,
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().enrollmentToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(
      (await h.app.inject({ method: 'POST', url: '/v1/admin/nodes', headers: bearer(admin), payload }))
        .statusCode,
    ).toBe(409);
    for (const bad of [
      { ...payload, id: 'US_NYC' },
      { ...payload, id: 'x'.repeat(33) },
      { ...payload, country: 'usa' },
      { ...payload, endpoint: { host: 'bad host!', udpPort: 1, tcpPort: 1 } },
      { ...payload, endpoint: { ...payload.endpoint, udpPort: 70000 } },
    ]) {
      const r = await h.app.inject({
        method: 'POST',
        url: '/v1/admin/nodes',
        headers: bearer(admin),
        payload: bad,
      });
      expect(r.statusCode, JSON.stringify(bad)).toBe(400);
    }
    const online = await onlineNode(h.app, admin, { region: 'us-east', load: 0.4 });
    const list = await h.app.inject({
      method: 'GET',
      url: '/v1/admin/nodes?region=us-east&order=asc',
      headers: bearer(admin),
    });
    const items = list.json().items as { id: string; enrolled: boolean; online: boolean; load: number }[];
    expect(items.map((n) => n.id)).toEqual(['us-nyc-1', online.id]);
    expect(items[0]).toMatchObject({ enrolled: false, online: false });
    expect(items[1]).toMatchObject({ enrolled: true, online: true, load: 0.4 });
    const unenrolled = await h.app.inject({
      method: 'GET',
      url: '/v1/admin/nodes?enrolled=false&region=us-east',
      headers: bearer(admin),
    });
    expect(unenrolled.json().items.map((n: { id: string }) => n.id)).toEqual(['us-nyc-1']);
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/admin/nodes/nope-1', headers: bearer(admin) }))
        .statusCode,
    ).toBe(404);
    expect(
      (
        await h.app.inject({
          method: 'POST',
          url: '/v1/admin/nodes/nope-1/enrollment-token',
          headers: bearer(admin),
        })
      ).statusCode,
    ).toBe(404);
    expect(
      (await h.app.inject({ method: 'POST', url: '/v1/admin/nodes/nope-1/disable', headers: bearer(admin) }))
        .statusCode,
    ).toBe(404);
  });

  it('records an audit trail with actor and IP, filterable and paginated', async () => {
    const u = await createUser(h.app, admin);
    await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${u.userId}/disable?reason=test`,
      headers: bearer(admin),
      remoteAddress: '192.0.2.44',
    });
    const res = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/audit?action=user.disable&targetId=${u.userId}`,
      headers: bearer(admin),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().items).toEqual([
      expect.objectContaining({
        actorType: 'admin',
        actorId: adminId,
        action: 'user.disable',
        targetType: 'user',
        targetId: u.userId,
        ip: '192.0.2.44',
        details: { reason: 'test' },
      }),
    ]);
    const page1 = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/audit?limit=2`,
      headers: bearer(admin),
    });
    expect(page1.json().items).toHaveLength(2);
    const page2 = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/audit?limit=2&cursor=${page1.json().nextCursor}`,
      headers: bearer(admin),
    });
    expect(page2.json().items[0].id).not.toBe(page1.json().items[0].id);
    const logins = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/audit?action=auth.login&actorId=${u.userId}`,
      headers: bearer(admin),
    });
    expect(logins.json().items.length).toBe(1);
    const bad = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/audit?from=yesterday`,
      headers: bearer(admin),
    });
    expect(bad.statusCode).toBe(400);
  });

  it('validates usage and session queries', async () => {
    for (const url of [
      '/v1/admin/usage?groupBy=hour',
      '/v1/admin/usage?from=2024-13-01',
      '/v1/admin/sessions?active=perhaps',
      '/v1/admin/sessions?userId=x',
      // Leap seconds pass the date-time format but are no instant a Date can hold.
      '/v1/admin/sessions?from=2026-12-31T23:59:60Z',
      '/v1/admin/audit?to=2026-12-31T23:59:60Z',
    ]) {
      expect((await h.app.inject({ method: 'GET', url, headers: bearer(admin) })).statusCode, url).toBe(400);
    }
    const ok = await h.app.inject({
      method: 'GET',
      url: '/v1/admin/usage?groupBy=day&from=2024-01-01&to=2099-01-01&page=1',
      headers: bearer(admin),
    });
    expect(ok.json()).toMatchObject({ groupBy: 'day', page: 1 });
  });

  it('answers forged or out-of-range cursors with 400, never 500', async () => {
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const now = new Date().toISOString();
    const uuid = '00000000-0000-4000-8000-000000000000';
    const bad = [
      enc({ t: now, id: 'Not an id!' }),
      enc({ t: now, id: '-1.5' }),
      enc({ t: now, id: 'x'.repeat(100) }),
      enc({ t: '-200000-01-01T00:00:00.000Z', id: '1' }),
      enc({ t: '2026-01-01', id: '1' }),
      enc({ t: now }),
      enc([now, '1']),
      'bm90IGpzb24',
    ];
    const byPath: Record<string, string[]> = {
      users: [...bad, enc({ t: now, id: '12345' })],
      sessions: [...bad, enc({ t: now, id: '12345' })],
      audit: [...bad, enc({ t: now, id: uuid }), enc({ t: now, id: '99999999999999999999999' })],
      nodes: [...bad, enc({ t: now, id: uuid.toUpperCase() })],
    };
    for (const [path, cursors] of Object.entries(byPath)) {
      for (const cursor of cursors) {
        const url = `/v1/admin/${path}?cursor=${cursor}`;
        const res = await h.app.inject({ method: 'GET', url, headers: bearer(admin) });
        expect(res.statusCode, `${url} ${res.body}`).toBe(400);
        expect(res.json().code).toBe('CORRIDOR_ERR_VALIDATION');
      }
    }
  });

  it('cuts off a disabled admin and a disabled user before their access tokens expire', async () => {
    const second = await h.app.inject({
      method: 'POST',
      url: '/v1/admin/users',
      headers: bearer(admin),
      payload: { email: 'second-admin@example.com', password: 'second-admin-pw', role: 'admin' },
    });
    expect(second.statusCode).toBe(201);
    const token = (await login(h.app, 'second-admin@example.com', 'second-admin-pw')).accessToken;
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/admin/signing-keys', headers: bearer(token) }))
        .statusCode,
    ).toBe(200);
    await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${second.json().id}/disable`,
      headers: bearer(admin),
    });
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/admin/signing-keys', headers: bearer(token) }))
        .statusCode,
    ).toBe(403);

    const u = await createUser(h.app, admin);
    await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${u.userId}/disable`,
      headers: bearer(admin),
    });
    const reg = await h.app.inject({
      method: 'POST',
      url: '/v1/devices',
      headers: bearer(u.accessToken),
      payload: { name: 'x', publicKey: devicePublicKey() },
    });
    expect(reg.statusCode).toBe(403);
    expect(reg.json().code).toBe('CORRIDOR_ERR_ACCOUNT_DISABLED');
  });
});
