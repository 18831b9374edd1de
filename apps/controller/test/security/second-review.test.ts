/**
 * Second review of the hardened controller, each point reproduced against the running controller
 * on real PostgreSQL + Redis (and the embedded mode) before it was fixed:
 *  - a revocation snapshot taken while a ticket insert races a disable / device revoke / device
 *    removal dropped the revocation for good (a trigger in the test's own database holds the
 *    insert inside its real, millisecond-wide window);
 *  - feed answers bigger than the agent API's REVOCATION_LIST_MAX_ITEMS (nodes refused them and
 *    stayed stuck), and one account flooding the feed by registering and removing devices;
 *  - one node's overlapping heartbeats holding every pool connection; requests waiting forever for
 *    a connection or behind a blocked statement; overload answered 500;
 *  - retention deleting a session its node still reports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Value } from 'typebox/value';
import { REVOCATION_LIST_MAX_ITEMS, RevocationListSchema } from '@corridor/protocol/control';
import { build, type App } from '../../src/app.js';
import {
  adminToken,
  bearer,
  createUser,
  devicePublicKey,
  hasServices,
  login,
  makeConfig,
  onlineNode,
  registerDevice,
  startHarness,
  tempDir,
  warnSkip,
  type Harness,
} from '../helpers.js';

warnSkip();

type Feed = { cursor: string; reset: boolean; tickets: string[]; devices: string[]; users: string[] };

async function feed(app: App, auth: Record<string, string>, since?: string): Promise<Feed> {
  const res = await app.inject({
    method: 'GET',
    url: `/v1/agent/revocations${since ? `?since=${since}` : ''}`,
    headers: auth,
  });
  expect(res.statusCode).toBe(200);
  return res.json<Feed>();
}

/** A trigger that holds every ticket insert (after its statement read users and devices) until released. */
async function holdTicketInserts(h: Harness): Promise<{ release(): Promise<void>; drop(): Promise<void> }> {
  const holder = new pg.Client({ connectionString: h.db.url });
  await holder.connect();
  await h.app.db.pool.query(`CREATE OR REPLACE FUNCTION corridor_test_hold() RETURNS trigger AS $$
    BEGIN PERFORM pg_advisory_lock_shared(7007); PERFORM pg_advisory_unlock_shared(7007); RETURN NEW; END
    $$ LANGUAGE plpgsql`);
  await h.app.db.pool.query(`CREATE TRIGGER corridor_test_hold BEFORE INSERT ON tickets
    FOR EACH ROW EXECUTE FUNCTION corridor_test_hold()`);
  await holder.query('SELECT pg_advisory_lock(7007)');
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await holder.query('SELECT pg_advisory_unlock(7007)');
  };
  return {
    release,
    async drop() {
      await release();
      await holder.end();
      await h.app.db.pool.query('DROP TRIGGER IF EXISTS corridor_test_hold ON tickets');
      await h.app.db.pool.query('DROP FUNCTION IF EXISTS corridor_test_hold()');
    },
  };
}

/** Waits until a backend is blocked on the hold trigger's advisory lock. */
async function waitForHeldInsert(h: Harness): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await h.app.db.pool.query(
      "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = 7007",
    );
    if (r.rows[0].n > 0) return;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error('the ticket insert never reached the hold trigger');
}

describe.skipIf(!hasServices)('revocation snapshots racing ticket issuance (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness();
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  for (const how of ['user disabled', 'device revoked', 'device removed by its owner'] as const) {
    it(`a snapshot taken while a ticket races "${how}" keeps the revocation that covers that ticket`, async () => {
      const node = await onlineNode(h.app, admin);
      const u = await createUser(h.app, admin);
      const dev = await registerDevice(h.app, u.accessToken);
      const hold = await holdTicketInserts(h);
      try {
        // 1. The ticket request passes every check and its insert statement has read the user and
        //    device as they were (enabled, not revoked).
        const ticket = h.app.inject({
          method: 'POST',
          url: `/v1/nodes/${node.id}/tickets`,
          headers: bearer(u.accessToken),
          payload: { deviceId: dev.id },
        });
        await waitForHeldInsert(h);
        // 2. The revocation commits.
        const revoke =
          how === 'user disabled'
            ? await h.app.inject({
                method: 'POST',
                url: `/v1/admin/users/${u.userId}/disable`,
                headers: bearer(admin),
              })
            : how === 'device revoked'
              ? await h.app.inject({
                  method: 'POST',
                  url: `/v1/admin/devices/${dev.id}/revoke`,
                  headers: bearer(admin),
                })
              : await h.app.inject({
                  method: 'DELETE',
                  url: `/v1/devices/${dev.id}`,
                  headers: bearer(u.accessToken),
                });
        expect(revoke.statusCode).toBeLessThan(300);
        // 3. A node (re)starts and takes a snapshot.
        const snap = await feed(h.app, node.auth);
        // 4. The ticket commits and is handed out.
        await hold.release();
        const res = await ticket;
        if (res.statusCode !== 200) return; // refused after all: nothing to cover
        // 5. The node's cached set must refuse that ticket: from the snapshot, or from the delta after it.
        const delta = await feed(h.app, node.auth, snap.cursor);
        const cached = {
          users: new Set([...snap.users, ...delta.users]),
          devices: new Set([...snap.devices, ...delta.devices]),
          tickets: new Set([...snap.tickets, ...delta.tickets]),
        };
        const t = res.json<{ ticketId: string }>();
        const covered =
          cached.users.has(u.userId) || cached.devices.has(dev.id) || cached.tickets.has(t.ticketId);
        expect(covered, `ticket ${t.ticketId} issued across "${how}" is admitted by a node that synced`).toBe(
          true,
        );
      } finally {
        await hold.drop();
      }
    });
  }
});

describe.skipIf(!hasServices)('the revocation feed stays within its contract (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness();
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  // Any user can record device revocations at HTTP speed (register a device, remove it: about
  // 90 a second from one account on this 2-core machine, see the report). Seeded here with SQL for
  // speed: more than one answer may carry.
  const seed = (n: number) =>
    h.app.db.pool.query(
      `INSERT INTO revocations (kind, subject_id, reason)
       SELECT 'device', gen_random_uuid(), 'device removed by its owner' FROM generate_series(1, $1)`,
      [n],
    );

  it('pages snapshots and deltas so no answer breaks the schema a node checks, and paging reaches every id', async () => {
    const node = await onlineNode(h.app, admin);
    const start = await feed(h.app, node.auth);
    const total = REVOCATION_LIST_MAX_ITEMS + 1_234;
    await seed(total);
    const all = new Set<string>();
    // A node that restarts (snapshot) and one that was behind (delta from its old cursor).
    for (const since of [undefined, start.cursor]) {
      all.clear();
      let cursor = since;
      let answers = 0;
      for (;;) {
        const res = await feed(h.app, node.auth, cursor);
        answers++;
        expect(Value.Check(RevocationListSchema, res), 'the answer must pass the agent API schema').toBe(
          true,
        );
        if (res.reset) all.clear();
        for (const id of res.devices) all.add(id);
        if (res.cursor === cursor) break;
        cursor = res.cursor;
        expect(answers).toBeLessThan(10);
      }
      expect(all.size).toBeGreaterThanOrEqual(total);
      expect(answers).toBeGreaterThan(2);
    }
  }, 120_000);
});

describe.skipIf(!hasServices)('one account cannot flood the revocation feed (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness({ DEVICE_REGISTRATIONS_PER_USER: '6', DEVICE_REGISTRATION_WINDOW_S: '600' });
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  it('limits device registrations per user (each removal records a revocation every node downloads)', async () => {
    const u = await createUser(h.app, admin);
    const churn = async () => {
      const reg = await h.app.inject({
        method: 'POST',
        url: '/v1/devices',
        headers: bearer(u.accessToken),
        payload: { name: 'churn', publicKey: devicePublicKey() },
      });
      if (reg.statusCode !== 201) return reg;
      const del = await h.app.inject({
        method: 'DELETE',
        url: `/v1/devices/${reg.json<{ id: string }>().id}`,
        headers: bearer(u.accessToken),
      });
      expect(del.statusCode).toBe(204);
      return reg;
    };
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await churn()).statusCode);
    expect(codes).toEqual(Array(6).fill(201));
    const burst = await Promise.all(Array.from({ length: 10 }, churn));
    expect(burst.map((r) => r.statusCode)).toEqual(Array(10).fill(429));
    expect(burst[0]!.json().code).toBe('CORRIDOR_ERR_RATE_LIMITED');
    const retry = Number(burst[0]!.headers['retry-after']);
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(600);
    const rows = await h.app.db.pool.query(
      "SELECT count(*)::int AS n FROM revocations WHERE kind = 'device' AND created_by_id = $1",
      [u.userId],
    );
    expect(rows.rows[0].n).toBe(6);
    // Another user is not affected.
    const v = await createUser(h.app, admin);
    await registerDevice(h.app, v.accessToken);
  });
});

describe.skipIf(!hasServices)('one node cannot hold the database pool (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness({ DATABASE_POOL_SIZE: '3' });
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  it('answers a heartbeat that overlaps one of the same node still being applied with 429, holding no connection', async () => {
    const node = await onlineNode(h.app, admin);
    // A heartbeat of this node being applied (a big one takes seconds): its lock is held.
    const holder = new pg.Client({ connectionString: h.db.url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query("SELECT pg_advisory_xact_lock(hashtextextended('heartbeat:' || $1, 0))", [node.id]);
    try {
      const body = { protocolVersion: 1, agentVersion: '0.1.0', load: 0.1, activeSessions: 0, sessions: [] };
      // The node (or whoever holds its credential) sends more heartbeats than the pool has connections.
      const overlapping = Array.from({ length: 6 }, () =>
        h.app.inject({ method: 'POST', url: '/v1/agent/heartbeat', headers: node.auth, payload: body }),
      );
      // Until every connection of the pool is in a heartbeat, or every heartbeat got its answer.
      const settled = Promise.allSettled(overlapping);
      let done = false;
      void settled.then(() => (done = true));
      for (let i = 0; i < 200 && !done; i++) {
        const waiting = await holder.query(
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
        );
        if (waiting.rows[0].n >= 3) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      // Everyone else still gets a database connection.
      const ready = await Promise.race([
        h.app.inject({ method: 'GET', url: '/readyz' }),
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000)),
      ]);
      expect(ready === 'hung' ? 'hung' : ready.statusCode, 'readiness while heartbeats pile up').toBe(200);
      await holder.query('COMMIT');
      const codes = (await Promise.all(overlapping)).map((r) => r.statusCode);
      expect(
        codes.every((c) => c === 429 || c === 200),
        codes.join(','),
      ).toBe(true);
      const refused = (await Promise.all(overlapping)).find((r) => r.statusCode === 429);
      expect(refused, 'overlapping heartbeats are refused, not queued').toBeDefined();
      expect(refused!.json().code).toBe('CORRIDOR_ERR_RATE_LIMITED');
      expect(Number(refused!.headers['retry-after'])).toBeGreaterThan(0);
      // Once the running one is done, the next heartbeat goes through.
      const next = await h.app.inject({
        method: 'POST',
        url: '/v1/agent/heartbeat',
        headers: node.auth,
        payload: body,
      });
      expect(next.statusCode).toBe(200);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end();
    }
  });
});

describe.skipIf(!hasServices)('a saturated database answers 503, not 500 (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness({ DATABASE_POOL_SIZE: '1', DATABASE_POOL_TIMEOUT_S: '3' });
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  it('answers requests that get no database connection in time with 503 + Retry-After', async () => {
    const u = await createUser(h.app, admin);
    const v = await createUser(h.app, admin);
    // Something holds the only pool connection for a while: here a device registration waiting for
    // a row lock another client holds (under load: many slow requests).
    const holder = new pg.Client({ connectionString: h.db.url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [u.userId]);
    try {
      const slow = h.app.inject({
        method: 'POST',
        url: '/v1/devices',
        headers: bearer(u.accessToken),
        payload: { name: 'slow', publicKey: devicePublicKey() },
      });
      await new Promise((r) => setTimeout(r, 300));
      const [tx, plain] = await Promise.all([
        // A transaction that cannot start in time (Prisma's P2028).
        h.app.inject({
          method: 'POST',
          url: '/v1/devices',
          headers: bearer(v.accessToken),
          payload: { name: 'other', publicKey: devicePublicKey() },
        }),
        // A plain query waiting for a connection.
        h.app.inject({ method: 'GET', url: '/v1/devices', headers: bearer(v.accessToken) }),
      ]);
      for (const [name, res] of [
        ['transaction', tx],
        ['query', plain],
      ] as const) {
        expect(res.statusCode, `${name}: ${res.body}`).toBe(503);
        expect(res.json().code).toBe('CORRIDOR_ERR_SERVICE_UNAVAILABLE');
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      }
      await holder.query('COMMIT');
      expect([201, 503]).toContain((await slow).statusCode);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end();
    }
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/devices', headers: bearer(v.accessToken) })).statusCode,
    ).toBe(200);
  }, 60_000);
});

describe.skipIf(!hasServices)('no statement holds a connection forever (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness({ DATABASE_POOL_SIZE: '1', DATABASE_STATEMENT_TIMEOUT_S: '2' });
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  it('ends a statement blocked past DATABASE_STATEMENT_TIMEOUT_S with 503, freeing its connection', async () => {
    const u = await createUser(h.app, admin);
    const holder = new pg.Client({ connectionString: h.db.url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [u.userId]);
    try {
      const blocked = await Promise.race([
        h.app.inject({
          method: 'POST',
          url: '/v1/devices',
          headers: bearer(u.accessToken),
          payload: { name: 'blocked', publicKey: devicePublicKey() },
        }),
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000)),
      ]);
      expect(blocked === 'hung' ? 'hung' : blocked.statusCode).toBe(503);
      // The lock is still held, yet the only connection serves others again.
      const list = await h.app.inject({
        method: 'GET',
        url: '/v1/devices',
        headers: bearer(u.accessToken),
      });
      expect(list.statusCode).toBe(200);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end();
    }
  }, 60_000);
});

describe('the embedded database under a burst (PGlite + in-process store)', () => {
  it('answers transactions that cannot start in time with 503 + Retry-After, never 500, and recovers', async () => {
    const tmp = await tempDir();
    const app = await build(
      makeConfig({
        CORRIDOR_DATA_DIR: tmp.dir,
        CORRIDOR_ADMIN_EMAIL: 'admin@example.com',
        CORRIDOR_ADMIN_PASSWORD: 'admin-password-1',
        DATABASE_POOL_TIMEOUT_S: '1',
      }),
    );
    try {
      const me = await login(app, 'admin@example.com', 'admin-password-1');
      // Logout opens a transaction per request (any holder of a refresh token, even a revoked one,
      // can send them); the embedded database has one connection.
      const res = await Promise.all(
        Array.from({ length: 1500 }, () =>
          app.inject({ method: 'POST', url: '/v1/auth/logout', payload: { refreshToken: me.refreshToken } }),
        ),
      );
      const codes = new Map<number, number>();
      for (const r of res) codes.set(r.statusCode, (codes.get(r.statusCode) ?? 0) + 1);
      expect(
        [...codes.keys()].every((c) => c === 204 || c === 503),
        JSON.stringify([...codes]),
      ).toBe(true);
      const busy = res.find((r) => r.statusCode === 503);
      if (busy) {
        expect(busy.json().code).toBe('CORRIDOR_ERR_SERVICE_UNAVAILABLE');
        expect(Number(busy.headers['retry-after'])).toBeGreaterThan(0);
      }
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      await login(app, 'admin@example.com', 'admin-password-1');
    } finally {
      await app.close();
      await tmp.remove();
    }
  }, 120_000);
});

describe.skipIf(!hasServices)('retention keeps what is still reported (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness({ SESSION_RETENTION_S: '3600', TICKET_TTL_S: '86400' });
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  it('never deletes a session its node may still report, so usage is not counted twice', async () => {
    const node = await onlineNode(h.app, admin);
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const t = await h.app.inject({
      method: 'POST',
      url: `/v1/nodes/${node.id}/tickets`,
      headers: bearer(u.accessToken),
      payload: { deviceId: dev.id },
    });
    const ticketId = t.json<{ ticketId: string }>().ticketId;
    const connectedAt = new Date(Date.now() - 3 * 3_600_000).toISOString();
    const session = (rx: number) => ({
      ticketId,
      deviceId: dev.id,
      userId: u.userId,
      rxBytes: rx,
      txBytes: 0,
      connectedAt,
    });
    const beat = (rx: number) =>
      h.app.inject({
        method: 'POST',
        url: '/v1/agent/heartbeat',
        headers: node.auth,
        payload: {
          protocolVersion: 1,
          agentVersion: '0.1.0',
          load: 0.1,
          activeSessions: 1,
          sessions: [session(rx)],
        },
      });
    expect((await beat(1_000)).statusCode).toBe(200);
    // The node loses the controller for two hours (it keeps serving: tickets are checked offline),
    // longer than SESSION_RETENTION_S; the session is still live on the node.
    await h.app.db.pool.query(
      "UPDATE sessions SET last_seen_at = now() - interval '2 hours' WHERE ticket_id = $1",
      [ticketId],
    );
    await h.app.retention.runOnce();
    expect((await beat(1_500)).statusCode).toBe(200);
    const usage = await h.app.db.pool.query(
      'SELECT sum(rx_bytes)::int AS rx FROM usage WHERE user_id = $1 AND node_id = $2',
      [u.userId, node.id],
    );
    expect(usage.rows[0].rx, 'usage is the session counter, counted once').toBe(1_500);
    // Ended sessions, and sessions whose ticket is gone (reports for it are ignored), do go.
    await beat(1_500);
    await h.app.db.pool.query(
      `UPDATE sessions SET ended_at = now() - interval '2 hours', last_seen_at = now() - interval '2 hours'
       WHERE ticket_id = $1`,
      [ticketId],
    );
    await h.app.retention.runOnce();
    const left = await h.app.db.pool.query('SELECT count(*)::int AS n FROM sessions WHERE ticket_id = $1', [
      ticketId,
    ]);
    expect(left.rows[0].n).toBe(0);
  });
});
