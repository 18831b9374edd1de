/**
 * Review points on revocation, each reproduced against real PostgreSQL + Redis:
 *  4. an owner cannot undo an admin's device revocation by deleting the device and registering the
 *     same key again;
 *  5. disabling a user is atomic, and disabling again repairs a missing revocation;
 *  6. snapshots keep a ticket revocation until that ticket's own expiry, whatever TICKET_TTL_S says;
 *  and the feed stays bounded (pruned, nodes reset), and a disabled user's access tokens stop
 *  working at once on every replica.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type App } from '../../src/app.js';
import { PRUNE_GRACE_MS } from '../../src/repositories/revocations.js';
import {
  adminToken,
  bearer,
  createUser,
  devicePublicKey,
  hasServices,
  issueTicket,
  makeConfig,
  onlineNode,
  REDIS_URL_TEST,
  registerDevice,
  startHarness,
  tempDir,
  warnSkip,
  type Harness,
} from '../helpers.js';

warnSkip();

describe.skipIf(!hasServices)('revocation review points (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness();
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  const feed = async (app: App, auth: Record<string, string>, since?: string) => {
    const res = await app.inject({
      method: 'GET',
      url: `/v1/agent/revocations${since ? `?since=${since}` : ''}`,
      headers: auth,
    });
    expect(res.statusCode).toBe(200);
    return res.json<{
      cursor: string;
      reset: boolean;
      tickets: string[];
      devices: string[];
      users: string[];
    }>();
  };

  it('4: refuses to register the key of an admin-revoked device again, even after the owner deleted it', async () => {
    const u = await createUser(h.app, admin);
    const publicKey = devicePublicKey();
    const reg = await h.app.inject({
      method: 'POST',
      url: '/v1/devices',
      headers: bearer(u.accessToken),
      payload: { name: 'stolen-laptop', publicKey },
    });
    expect(reg.statusCode).toBe(201);
    const deviceId = reg.json<{ id: string }>().id;
    const rev = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/devices/${deviceId}/revoke?reason=lost`,
      headers: bearer(admin),
    });
    expect(rev.statusCode).toBe(200);
    const del = await h.app.inject({
      method: 'DELETE',
      url: `/v1/devices/${deviceId}`,
      headers: bearer(u.accessToken),
    });
    expect(del.statusCode).toBe(204);
    for (const token of [u.accessToken, (await createUser(h.app, admin)).accessToken]) {
      const again = await h.app.inject({
        method: 'POST',
        url: '/v1/devices',
        headers: bearer(token),
        payload: { name: 'same-key', publicKey },
      });
      expect(again.statusCode).toBe(403);
      expect(again.json().code).toBe('CORRIDOR_ERR_DEVICE_REVOKED');
    }
    // A fresh key is fine.
    await registerDevice(h.app, u.accessToken, 'new-laptop');
  });

  it('5: disables a user atomically — a failed revocation leaves the user enabled, and a retry completes', async () => {
    const node = await onlineNode(h.app, admin);
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    await issueTicket(h.app, u.accessToken, node.id, dev.id);
    const pool = h.app.db.pool;
    // Fault injection in the real database: the revocation insert fails.
    await pool.query(`CREATE OR REPLACE FUNCTION corridor_test_fail() RETURNS trigger AS $$
      BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql`);
    await pool.query(`CREATE TRIGGER corridor_test_fail BEFORE INSERT ON revocations
      FOR EACH ROW EXECUTE FUNCTION corridor_test_fail()`);
    try {
      const failed = await h.app.inject({
        method: 'POST',
        url: `/v1/admin/users/${u.userId}/disable`,
        headers: bearer(admin),
      });
      expect(failed.statusCode).toBe(500);
      const row = await pool.query('SELECT disabled_at FROM users WHERE id = $1', [u.userId]);
      expect(row.rows[0].disabled_at, 'the flag must not commit without its revocation').toBeNull();
      const live = await pool.query(
        'SELECT count(*)::int AS n FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL',
        [u.userId],
      );
      expect(live.rows[0].n).toBeGreaterThan(0);
    } finally {
      await pool.query('DROP TRIGGER corridor_test_fail ON revocations');
      await pool.query('DROP FUNCTION corridor_test_fail()');
    }
    const cursor = (await feed(h.app, node.auth)).cursor;
    const ok = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${u.userId}/disable`,
      headers: bearer(admin),
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().disabled).toBe(true);
    expect((await feed(h.app, node.auth, cursor)).users).toEqual([u.userId]);
  });

  it('5: disabling an already disabled user repairs a missing revocation and refresh tokens', async () => {
    const node = await onlineNode(h.app, admin);
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    await issueTicket(h.app, u.accessToken, node.id, dev.id);
    // The state an interrupted, non-atomic disable used to leave: flag set, nothing else.
    await h.app.db.pool.query('UPDATE users SET disabled_at = now() WHERE id = $1', [u.userId]);
    const cursor = (await feed(h.app, node.auth)).cursor;
    const res = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${u.userId}/disable`,
      headers: bearer(admin),
    });
    expect(res.statusCode).toBe(200);
    expect((await feed(h.app, node.auth, cursor)).users).toEqual([u.userId]);
    const live = await h.app.db.pool.query(
      'SELECT count(*)::int AS n FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL',
      [u.userId],
    );
    expect(live.rows[0].n).toBe(0);
    const audit = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/audit?action=user.disable&targetId=${u.userId}`,
      headers: bearer(admin),
    });
    expect(audit.json().items[0].details).toMatchObject({ repaired: true });
    // A third disable changes nothing and records nothing.
    await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${u.userId}/disable`,
      headers: bearer(admin),
    });
    const rows = await h.app.db.pool.query(
      "SELECT count(*)::int AS n FROM revocations WHERE kind = 'user' AND subject_id = $1",
      [u.userId],
    );
    expect(rows.rows[0].n).toBe(1);
  });

  it('6: snapshots keep a revoked ticket until its own expiry, even after TICKET_TTL_S is lowered', async () => {
    const node = await onlineNode(h.app, admin);
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const { ticketId } = await issueTicket(h.app, u.accessToken, node.id, dev.id); // 12 h ticket
    const rev = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/tickets/${ticketId}/revoke`,
      headers: bearer(admin),
    });
    expect(rev.statusCode).toBe(200);
    // Two hours pass; the operator lowers TICKET_TTL_S to one minute and restarts.
    await h.app.db.pool.query(
      "UPDATE revocations SET created_at = now() - interval '2 hours' WHERE subject_id = $1",
      [ticketId],
    );
    const tmp = await tempDir();
    const restarted = await build(
      makeConfig({
        DATABASE_URL: h.db.url,
        REDIS_URL: REDIS_URL_TEST,
        CORRIDOR_DATA_DIR: tmp.dir,
        TICKET_TTL_S: '60',
      }),
    );
    try {
      expect((await feed(restarted, node.auth)).tickets).toContain(ticketId);
      // Once the ticket itself has expired, the revocation leaves snapshots, and pruning deletes it.
      await h.app.db.pool.query("UPDATE tickets SET expires_at = now() - interval '1 second' WHERE id = $1", [
        ticketId,
      ]);
      expect((await feed(restarted, node.auth)).tickets).not.toContain(ticketId);
    } finally {
      await restarted.close();
      await tmp.remove();
    }
  });

  it('keeps the feed bounded: pruning deletes revocations that cover no live ticket and nodes reset', async () => {
    const node = await onlineNode(h.app, admin);
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const old = await issueTicket(h.app, u.accessToken, node.id, dev.id);
    const live = await issueTicket(h.app, u.accessToken, node.id, dev.id);
    for (const t of [old.ticketId, live.ticketId]) {
      expect(
        (await h.app.inject({ method: 'POST', url: `/v1/admin/tickets/${t}/revoke`, headers: bearer(admin) }))
          .statusCode,
      ).toBe(200);
    }
    const before = await feed(h.app, node.auth);
    expect(before.tickets).toEqual(expect.arrayContaining([old.ticketId, live.ticketId]));
    await h.app.db.pool.query("UPDATE tickets SET expires_at = now() - interval '1 minute' WHERE id = $1", [
      old.ticketId,
    ]);
    const kept = async () =>
      (
        await h.app.db.pool.query(
          'SELECT subject_id FROM revocations WHERE subject_id = ANY($1) ORDER BY id',
          [[old.ticketId, live.ticketId]],
        )
      ).rows.map((r) => r.subject_id);
    // Within the grace period nothing of these goes; after it, only the expired ticket's revocation.
    await h.app.repos.revocations.prune(new Date());
    expect(await kept()).toEqual([old.ticketId, live.ticketId]);
    const deleted = await h.app.repos.revocations.prune(new Date(Date.now() + PRUNE_GRACE_MS + 60_000));
    expect(deleted).toBeGreaterThanOrEqual(1);
    expect(await kept()).toEqual([live.ticketId]);
    // A node holding the old cursor is told to replace its set: the pruned id is gone from it.
    const after = await feed(h.app, node.auth, before.cursor);
    expect(after.reset).toBe(true);
    expect(after.tickets).toContain(live.ticketId);
    expect(after.tickets).not.toContain(old.ticketId);
  });
});

describe.skipIf(!hasServices)('disabled users across replicas (PostgreSQL + Redis)', () => {
  let h: Harness;
  let b: App;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    const prefix = `corridor-test:${randomBytes(4).toString('hex')}:`;
    h = await startHarness({ REDIS_KEY_PREFIX: prefix });
    tmp = await tempDir();
    b = await build(
      makeConfig({
        DATABASE_URL: h.db.url,
        REDIS_URL: REDIS_URL_TEST,
        REDIS_KEY_PREFIX: prefix,
        CORRIDOR_DATA_DIR: tmp.dir,
      }),
    );
  });
  afterAll(async () => {
    await b?.close();
    await h?.close();
    await tmp?.remove();
  });

  it("stops a disabled user's access token at once on this replica and within a second on the other", async () => {
    const admin = await adminToken(h.app);
    const u = await createUser(h.app, admin);
    const get = (app: App) =>
      app.inject({ method: 'GET', url: '/v1/devices', headers: bearer(u.accessToken) });
    expect((await get(h.app)).statusCode).toBe(200);
    expect((await get(b)).statusCode).toBe(200);
    const dis = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${u.userId}/disable`,
      headers: bearer(admin),
    });
    expect(dis.statusCode).toBe(200);
    const here = await get(h.app);
    expect(here.statusCode).toBe(403);
    expect(here.json().code).toBe('CORRIDOR_ERR_ACCOUNT_DISABLED');
    const started = Date.now();
    let there = await get(b);
    while (there.statusCode === 200 && Date.now() - started < 1_000) {
      await new Promise((r) => setTimeout(r, 10));
      there = await get(b);
    }
    expect(there.statusCode).toBe(403);
    // Re-enabled: the same token works again everywhere.
    await h.app.inject({ method: 'POST', url: `/v1/admin/users/${u.userId}/enable`, headers: bearer(admin) });
    expect((await get(h.app)).statusCode).toBe(200);
    const t0 = Date.now();
    while ((await get(b)).statusCode !== 200 && Date.now() - t0 < 1_000)
      await new Promise((r) => setTimeout(r, 10));
    expect((await get(b)).statusCode).toBe(200);
  });
});
