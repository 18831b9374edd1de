import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminToken,
  bearer,
  createUser,
  devicePublicKey,
  hasServices,
  registerDevice,
  startHarness,
  warnSkip,
  type Harness,
} from '../../helpers.js';

warnSkip();

describe.skipIf(!hasServices)('device routes (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness({ DEVICE_LIMIT: '2' });
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  it('registers, lists, gets, renames and removes devices', async () => {
    const u = await createUser(h.app, admin);
    const publicKey = devicePublicKey();
    const created = await h.app.inject({
      method: 'POST',
      url: '/v1/devices',
      headers: bearer(u.accessToken),
      payload: { name: 'laptop', publicKey },
    });
    expect(created.statusCode).toBe(201);
    const d = created.json();
    expect(d).toMatchObject({ name: 'laptop', publicKey, lastSeenAt: null });
    expect(d.id).toMatch(/^[0-9a-f-]{36}$/);

    const list = await h.app.inject({ method: 'GET', url: '/v1/devices', headers: bearer(u.accessToken) });
    expect(list.json().devices.map((x: { id: string }) => x.id)).toEqual([d.id]);

    const got = await h.app.inject({
      method: 'GET',
      url: `/v1/devices/${d.id}`,
      headers: bearer(u.accessToken),
    });
    expect(got.statusCode).toBe(200);

    const renamed = await h.app.inject({
      method: 'PATCH',
      url: `/v1/devices/${d.id}`,
      headers: bearer(u.accessToken),
      payload: { name: 'work laptop' },
    });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json().name).toBe('work laptop');

    const del = await h.app.inject({
      method: 'DELETE',
      url: `/v1/devices/${d.id}`,
      headers: bearer(u.accessToken),
    });
    expect(del.statusCode).toBe(204);
    const gone = await h.app.inject({
      method: 'GET',
      url: `/v1/devices/${d.id}`,
      headers: bearer(u.accessToken),
    });
    expect(gone.statusCode).toBe(404);
    expect(gone.json().code).toBe('CORRIDOR_ERR_NOT_FOUND');
  });

  it('enforces the per-user device limit with 409 DEVICE_LIMIT', async () => {
    const u = await createUser(h.app, admin);
    await registerDevice(h.app, u.accessToken, 'a');
    await registerDevice(h.app, u.accessToken, 'b');
    const third = await h.app.inject({
      method: 'POST',
      url: '/v1/devices',
      headers: bearer(u.accessToken),
      payload: { name: 'c', publicKey: devicePublicKey() },
    });
    expect(third.statusCode).toBe(409);
    expect(third.json().code).toBe('CORRIDOR_ERR_DEVICE_LIMIT');
  });

  it('refuses a public key that is already registered with 409 DEVICE_KEY_IN_USE', async () => {
    const a = await createUser(h.app, admin);
    const b = await createUser(h.app, admin);
    const d = await registerDevice(h.app, a.accessToken);
    const dup = await h.app.inject({
      method: 'POST',
      url: '/v1/devices',
      headers: bearer(b.accessToken),
      payload: { name: 'x', publicKey: d.publicKey },
    });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('CORRIDOR_ERR_DEVICE_KEY_IN_USE');
  });

  it('isolates users: another user’s device is 404', async () => {
    const a = await createUser(h.app, admin);
    const b = await createUser(h.app, admin);
    const d = await registerDevice(h.app, a.accessToken);
    for (const req of [
      { method: 'GET' as const, url: `/v1/devices/${d.id}` },
      { method: 'PATCH' as const, url: `/v1/devices/${d.id}`, payload: { name: 'mine now' } },
      { method: 'DELETE' as const, url: `/v1/devices/${d.id}` },
    ]) {
      const res = await h.app.inject({ ...req, headers: bearer(b.accessToken) });
      expect(res.statusCode).toBe(404);
    }
  });

  it('validates bodies and params with 400', async () => {
    const u = await createUser(h.app, admin);
    const cases = [
      { method: 'POST' as const, url: '/v1/devices', payload: { name: 'x', publicKey: 'x25519pub:short' } },
      { method: 'POST' as const, url: '/v1/devices', payload: { name: '', publicKey: devicePublicKey() } },
      {
        method: 'POST' as const,
        url: '/v1/devices',
        payload: { name: 'x'.repeat(65), publicKey: devicePublicKey() },
      },
      {
        method: 'POST' as const,
        url: '/v1/devices',
        payload: { name: 'x', publicKey: devicePublicKey().replace('x25519pub', 'ed25519pub') },
      },
      { method: 'GET' as const, url: '/v1/devices/not-a-uuid' },
      {
        method: 'PATCH' as const,
        url: '/v1/devices/00000000-0000-4000-8000-000000000000',
        payload: { name: 'x', extra: 1 },
      },
    ];
    for (const c of cases) {
      const res = await h.app.inject({ ...c, headers: bearer(u.accessToken) });
      expect(res.statusCode, JSON.stringify(c)).toBe(400);
      expect(res.json().code).toBe('CORRIDOR_ERR_VALIDATION');
    }
    const missing = await h.app.inject({
      method: 'PATCH',
      url: '/v1/devices/00000000-0000-4000-8000-000000000000',
      headers: bearer(u.accessToken),
      payload: { name: 'x' },
    });
    expect(missing.statusCode).toBe(404);
    const del = await h.app.inject({
      method: 'DELETE',
      url: '/v1/devices/00000000-0000-4000-8000-000000000000',
      headers: bearer(u.accessToken),
    });
    expect(del.statusCode).toBe(404);
  });

  it('keeps the device when its revocation fails, so the removal can be retried', async () => {
    const u = await createUser(h.app, admin);
    const device = await registerDevice(h.app, u.accessToken);
    const revoke = h.app.revocations.revoke;
    h.app.revocations.revoke = async () => {
      throw new Error('store unavailable');
    };
    try {
      const del = await h.app.inject({
        method: 'DELETE',
        url: `/v1/devices/${device.id}`,
        headers: bearer(u.accessToken),
      });
      expect(del.statusCode).toBe(500);
    } finally {
      h.app.revocations.revoke = revoke;
    }
    const still = await h.app.inject({
      method: 'GET',
      url: `/v1/devices/${device.id}`,
      headers: bearer(u.accessToken),
    });
    expect(still.statusCode).toBe(200);
    const retry = await h.app.inject({
      method: 'DELETE',
      url: `/v1/devices/${device.id}`,
      headers: bearer(u.accessToken),
    });
    expect(retry.statusCode).toBe(204);
  });

  it('requires authentication', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/devices',
      payload: { name: 'x', publicKey: devicePublicKey() },
    });
    expect(res.statusCode).toBe(401);
  });
});
