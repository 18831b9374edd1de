/**
 * Two controller instances (replicas) on one PostgreSQL database and one Redis: a revocation made
 * on A reaches B's pub/sub subscriber and B's agent revocation feed; signing key rotation on A
 * invalidates B's key cache; node liveness written through A is visible on B.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { build, type App } from '../src/app.js';
import type { RevocationNotice } from '../src/services/revocations.js';
import {
  adminToken,
  bearer,
  createTestDatabase,
  createUser,
  hasServices,
  makeConfig,
  onlineNode,
  registerDevice,
  REDIS_URL_TEST,
  tempDir,
  warnSkip,
  type TestDatabase,
} from './helpers.js';

warnSkip();

describe.skipIf(!hasServices)('two replicas sharing PostgreSQL and Redis', () => {
  let db: TestDatabase;
  let a: App;
  let b: App;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    db = await createTestDatabase();
    const tmpA = await tempDir();
    const tmpB = await tempDir();
    const prefix = `corridor-test:${randomBytes(4).toString('hex')}:`;
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: REDIS_URL_TEST,
      REDIS_KEY_PREFIX: prefix,
      CORRIDOR_ADMIN_EMAIL: 'admin@example.com',
      CORRIDOR_ADMIN_PASSWORD: 'admin-password-1',
    };
    // Started together: the migration runner's advisory lock and the key-creation lock must cope.
    [a, b] = await Promise.all([
      build(makeConfig({ ...env, CORRIDOR_DATA_DIR: tmpA.dir })),
      build(makeConfig({ ...env, CORRIDOR_DATA_DIR: tmpB.dir })),
    ]);
    cleanup = async () => {
      await Promise.all([a?.close(), b?.close()]);
      await db.drop();
      await tmpA.remove();
      await tmpB.remove();
    };
  });
  afterAll(async () => cleanup?.());

  it('boots both replicas with one admin and one signing key', async () => {
    const users = await a.db.pool.query("SELECT count(*)::int AS n FROM users WHERE role = 'admin'");
    expect(users.rows[0].n).toBe(1);
    expect(a.signingKeys.published().keys.map((k) => k.keyId)).toEqual(
      b.signingKeys.published().keys.map((k) => k.keyId),
    );
  });

  it('fans a revocation made on A out to B (subscriber and agent feed)', async () => {
    const adminA = await adminToken(a);
    const node = await onlineNode(a, adminA);
    const u = await createUser(a, adminA);
    const dev = await registerDevice(a, u.accessToken);

    const feed0 = await b.inject({ method: 'GET', url: '/v1/agent/revocations', headers: node.auth });
    const cursor = feed0.json().cursor as string;

    const received = new Promise<RevocationNotice>((resolve) => {
      const off = b.revocations.onRevoked((n) => {
        if (n.subjectId === dev.id) {
          off();
          resolve(n);
        }
      });
    });
    const rev = await a.inject({
      method: 'POST',
      url: `/v1/admin/devices/${dev.id}/revoke`,
      headers: bearer(adminA),
    });
    expect(rev.statusCode).toBe(200);
    const notice = await received;
    expect(notice).toMatchObject({ kind: 'device', subjectId: dev.id, id: rev.json().revocationId });

    const feed1 = await b.inject({
      method: 'GET',
      url: `/v1/agent/revocations?since=${cursor}`,
      headers: node.auth,
    });
    expect(feed1.json()).toMatchObject({ reset: false, devices: [dev.id] });
    const metrics = await b.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/corridor_revocations_received_total\{kind="device"\} [1-9]/);

    // B refuses tickets for the revoked device too (shared database).
    const t = await b.inject({
      method: 'POST',
      url: `/v1/nodes/${node.id}/tickets`,
      headers: bearer(u.accessToken),
      payload: { deviceId: dev.id },
    });
    expect(t.statusCode).toBe(403);
  });

  it('shares node liveness and login lockout through Redis', async () => {
    const adminA = await adminToken(a);
    const node = await onlineNode(a, adminA, { load: 0.33 });
    const u = await createUser(a, adminA);
    const list = await b.inject({ method: 'GET', url: '/v1/nodes', headers: bearer(u.accessToken) });
    expect(list.json().nodes.find((n: { id: string }) => n.id === node.id)).toMatchObject({
      online: true,
      load: 0.33,
    });

    for (let i = 0; i < 5; i++)
      await a.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email: u.email, password: 'wrong-password' },
      });
    const onB = await b.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: u.email, password: u.password },
    });
    expect(onB.statusCode).toBe(429);
  });

  it('invalidates B’s signing key cache when A rotates', async () => {
    const adminA = await adminToken(a);
    const before = (await b.signingKeys.current()).keyId;
    const rot = await a.inject({
      method: 'POST',
      url: '/v1/admin/signing-keys/rotate',
      headers: bearer(adminA),
    });
    const newId = rot.json().keyId as number;
    expect(newId).not.toBe(before);
    await expect.poll(async () => (await b.signingKeys.current()).keyId, { timeout: 5_000 }).toBe(newId);
  });
});
