/**
 * The node agent's API (contract in @corridor/protocol/control agent.ts): long-poll revocations
 * across replicas and with the in-process store, online authorisation for each reason, and session
 * ends reported in heartbeats.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type App } from '../../../src/app.js';
import {
  adminToken,
  bearer,
  createTestDatabase,
  createUser,
  devicePublicKey,
  hasServices,
  heartbeat,
  issueTicket,
  makeConfig,
  onlineNode,
  REDIS_URL_TEST,
  registerDevice,
  tempDir,
  warnSkip,
  type TestDatabase,
} from '../../helpers.js';

warnSkip();

type Feed = { cursor: string; reset: boolean; tickets: string[]; devices: string[]; users: string[] };

async function poll(app: App, auth: Record<string, string>, query: string) {
  const started = Date.now();
  const res = await app.inject({ method: 'GET', url: `/v1/agent/revocations${query}`, headers: auth });
  return { res, ms: Date.now() - started, body: res.statusCode === 200 ? res.json<Feed>() : undefined };
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 10));
}

describe.skipIf(!hasServices)('node agent API (two replicas on PostgreSQL + Redis)', () => {
  let db: TestDatabase;
  let a: App;
  let b: App;
  let admin: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    db = await createTestDatabase();
    const [tmpA, tmpB] = await Promise.all([tempDir(), tempDir()]);
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: REDIS_URL_TEST,
      REDIS_KEY_PREFIX: `corridor-test:${randomBytes(4).toString('hex')}:`,
      CORRIDOR_ADMIN_EMAIL: 'admin@example.com',
      CORRIDOR_ADMIN_PASSWORD: 'admin-password-1',
      REVOCATION_WAITERS_MAX: '6',
      AUTHORIZE_CACHE_S: '45',
    };
    a = await build(makeConfig({ ...env, CORRIDOR_DATA_DIR: tmpA.dir }));
    b = await build(makeConfig({ ...env, CORRIDOR_DATA_DIR: tmpB.dir }));
    admin = await adminToken(a);
    cleanup = async () => {
      await Promise.all([a?.close(), b?.close()]);
      await db.drop();
      await Promise.all([tmpA.remove(), tmpB.remove()]);
    };
  });
  afterAll(async () => cleanup?.());

  async function setup() {
    const node = await onlineNode(a, admin);
    const u = await createUser(a, admin);
    const dev = await registerDevice(a, u.accessToken);
    const t = await issueTicket(a, u.accessToken, node.id, dev.id);
    const cursor = (await poll(a, node.auth, '')).body!.cursor;
    return { node, u, dev, ticketId: t.ticketId, cursor };
  }

  describe('long poll: GET /v1/agent/revocations?since=&wait=', () => {
    it('answers at once when the delta is not empty, and at the deadline with an empty delta and the same cursor', async () => {
      const { node, ticketId, cursor } = await setup();
      const idle = await poll(b, node.auth, `?since=${cursor}&wait=1`);
      expect(idle.res.statusCode).toBe(200);
      expect(idle.body).toMatchObject({ reset: false, tickets: [], devices: [], users: [], cursor });
      expect(idle.ms).toBeGreaterThanOrEqual(900);
      await a.inject({ method: 'POST', url: `/v1/admin/tickets/${ticketId}/revoke`, headers: bearer(admin) });
      const ready = await poll(b, node.auth, `?since=${cursor}&wait=30`);
      expect(ready.body!.tickets).toEqual([ticketId]);
      expect(ready.ms).toBeLessThan(1_000);
    });

    it('wakes a waiter on replica B within a second of a revocation made on replica A', async () => {
      const { node, u, ticketId, cursor } = await setup();
      for (const [kind, revoke] of [
        [
          'ticket',
          () =>
            a.inject({ method: 'POST', url: `/v1/admin/tickets/${ticketId}/revoke`, headers: bearer(admin) }),
        ],
        [
          'user',
          () =>
            a.inject({ method: 'POST', url: `/v1/admin/users/${u.userId}/disable`, headers: bearer(admin) }),
        ],
      ] as const) {
        const since = (await poll(b, node.auth, '')).body!.cursor;
        const waiting = poll(b, node.auth, `?since=${since}&wait=30`);
        await until(() => b.revocationPoll.size > 0, 2_000);
        expect(b.revocationPoll.size, kind).toBe(1);
        const t0 = Date.now();
        expect((await revoke()).statusCode).toBe(200);
        const res = await waiting;
        expect(Date.now() - t0, kind).toBeLessThan(1_000);
        expect(res.body!.reset).toBe(false);
        expect(kind === 'ticket' ? res.body!.tickets : res.body!.users).toEqual([
          kind === 'ticket' ? ticketId : u.userId,
        ]);
      }
      expect(cursor).toMatch(/^\d+\.\d+$/);
      expect(b.revocationPoll.size).toBe(0);
    });

    it('bounds waiters per replica (503 + Retry-After) and per node (429)', async () => {
      const { cursor } = await setup();
      const nodes = await Promise.all([0, 1].map(() => onlineNode(a, admin)));
      const held = [...Array.from({ length: 4 }, () => poll(b, nodes[0]!.auth, `?since=${cursor}&wait=3`))];
      await until(() => b.revocationPoll.size === 4, 2_000);
      const fifth = await poll(b, nodes[0]!.auth, `?since=${cursor}&wait=3`);
      expect(fifth.res.statusCode).toBe(429);
      expect(fifth.res.json().code).toBe('CORRIDOR_ERR_RATE_LIMITED');
      held.push(...[0, 1].map(() => poll(b, nodes[1]!.auth, `?since=${cursor}&wait=3`)));
      await until(() => b.revocationPoll.size === 6, 2_000);
      const full = await poll(b, nodes[1]!.auth, `?since=${cursor}&wait=3`);
      expect(full.res.statusCode).toBe(503);
      expect(full.res.headers['retry-after']).toBe('5');
      // Without wait nothing is held, so nothing is refused.
      expect((await poll(b, nodes[1]!.auth, `?since=${cursor}`)).res.statusCode).toBe(200);
      for (const r of await Promise.all(held)) expect(r.res.statusCode).toBe(200);
      expect(b.revocationPoll.size).toBe(0);
    });

    it('frees the waiter of a client that disconnects', async () => {
      const { node, cursor } = await setup();
      await b.listen({ host: '127.0.0.1', port: 0 });
      const port = (b.server.address() as { port: number }).port;
      const req = https.request({
        host: '127.0.0.1',
        port,
        path: `/v1/agent/revocations?since=${cursor}&wait=30`,
        headers: node.auth,
        ca: b.tls.cert,
        servername: 'localhost',
      });
      req.on('error', () => {});
      req.end();
      await until(() => b.revocationPoll.size === 1, 3_000);
      expect(b.revocationPoll.size).toBe(1);
      req.destroy();
      await until(() => b.revocationPoll.size === 0, 2_000);
      expect(b.revocationPoll.size).toBe(0);
    });
  });

  describe('POST /v1/agent/authorize', () => {
    const ask = (app: App, auth: Record<string, string>, body: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/v1/agent/authorize', headers: auth, payload: body });

    it('answers each reason', async () => {
      const { node, u, dev, ticketId } = await setup();
      const other = await onlineNode(a, admin);
      const req = { ticketId, userId: u.userId, deviceId: dev.id, clientPublicKey: dev.publicKey };
      const reason = async (body: Record<string, string>, auth = node.auth) => {
        const res = await ask(b, auth, body);
        expect(res.statusCode, res.body).toBe(200);
        return res.json<{ allow: boolean; reason: string; cacheSeconds: number }>();
      };
      expect(await reason(req)).toEqual({ allow: true, reason: 'ok', cacheSeconds: 45 });
      expect((await reason({ ...req, ticketId: randomUUID() })).reason).toBe('ticketUnknown');
      expect((await reason(req, other.auth)).reason).toBe('wrongNode');
      expect((await reason({ ...req, userId: randomUUID() })).reason).toBe('ticketUnknown');
      expect((await reason({ ...req, clientPublicKey: devicePublicKey() })).reason).toBe('wrongClientKey');

      await a.db.pool.query("UPDATE tickets SET expires_at = now() - interval '1 second' WHERE id = $1", [
        ticketId,
      ]);
      expect(await reason(req)).toMatchObject({ allow: false, reason: 'ticketExpired' });
      await a.db.pool.query("UPDATE tickets SET expires_at = now() + interval '1 hour' WHERE id = $1", [
        ticketId,
      ]);

      await a.inject({ method: 'POST', url: `/v1/admin/tickets/${ticketId}/revoke`, headers: bearer(admin) });
      expect((await reason(req)).reason).toBe('ticketRevoked');

      const t2 = await issueTicket(a, u.accessToken, node.id, dev.id);
      const req2 = { ...req, ticketId: t2.ticketId };
      expect((await reason(req2)).reason).toBe('ok');
      await a.inject({ method: 'POST', url: `/v1/admin/users/${u.userId}/disable`, headers: bearer(admin) });
      expect((await reason(req2)).reason).toBe('userDisabled');
      await a.inject({ method: 'POST', url: `/v1/admin/users/${u.userId}/enable`, headers: bearer(admin) });
      // Re-enabled: tickets from before the disable stay revoked.
      expect((await reason(req2)).reason).toBe('ticketRevoked');

      const u3 = await createUser(a, admin);
      const dev3 = await registerDevice(a, u3.accessToken);
      const t3 = await issueTicket(a, u3.accessToken, node.id, dev3.id);
      const req3 = {
        ticketId: t3.ticketId,
        userId: u3.userId,
        deviceId: dev3.id,
        clientPublicKey: dev3.publicKey,
      };
      await a.inject({ method: 'POST', url: `/v1/admin/devices/${dev3.id}/revoke`, headers: bearer(admin) });
      expect((await reason(req3)).reason).toBe('deviceRevoked');
      // The owner removed the device: still refused.
      const dev4 = await registerDevice(a, u3.accessToken, 'second');
      const t4 = await issueTicket(a, u3.accessToken, node.id, dev4.id);
      await a.inject({ method: 'DELETE', url: `/v1/devices/${dev4.id}`, headers: bearer(u3.accessToken) });
      expect(
        (
          await reason({
            ticketId: t4.ticketId,
            userId: u3.userId,
            deviceId: dev4.id,
            clientPublicKey: dev4.publicKey,
          })
        ).reason,
      ).toBe('deviceRevoked');
    });

    it('requires a node credential and a valid body', async () => {
      const { u, dev, ticketId } = await setup();
      const body = { ticketId, userId: u.userId, deviceId: dev.id, clientPublicKey: dev.publicKey };
      expect((await ask(b, bearer(u.accessToken), body)).statusCode).toBe(401);
      const n = await onlineNode(a, admin);
      expect((await ask(b, n.auth, { ...body, clientPublicKey: 'x25519pub:nope' })).statusCode).toBe(400);
      expect((await ask(b, n.auth, { ...body, extra: '1' })).statusCode).toBe(400);
    });
  });

  describe('heartbeat `ended`', () => {
    it('ends sessions with their reason and final counters, counting usage once', async () => {
      const { node, u, dev, ticketId } = await setup();
      const connectedAt = new Date(Date.now() - 120_000).toISOString();
      const live = { ticketId, deviceId: dev.id, userId: u.userId, rxBytes: 100, txBytes: 200, connectedAt };
      await heartbeat(a, node.auth, { sessions: [live] });
      const endedAt = new Date(Date.now() - 5_000).toISOString();
      const end = { ...live, rxBytes: 150, txBytes: 260, endedAt, reason: 'clientClosed' };
      const send = (ended: unknown[], sessions: unknown[] = []) =>
        a.inject({
          method: 'POST',
          url: '/v1/agent/heartbeat',
          headers: node.auth,
          payload: { protocolVersion: 1, agentVersion: '0.2.0', load: 0, activeSessions: 0, sessions, ended },
        });
      expect((await send([end])).statusCode).toBe(200);
      // Reported again (a retried heartbeat): nothing changes, usage is not counted twice.
      expect((await send([end])).statusCode).toBe(200);
      const list = await a.inject({
        method: 'GET',
        url: `/v1/admin/sessions?userId=${u.userId}`,
        headers: bearer(admin),
      });
      expect(list.json().items).toEqual([
        expect.objectContaining({
          ticketId,
          active: false,
          endedAt: new Date(Date.parse(endedAt)).toISOString(),
          endReason: 'clientClosed',
          rxBytes: 150,
          txBytes: 260,
        }),
      ]);
      const usage = await a.inject({
        method: 'GET',
        url: `/v1/admin/usage?groupBy=user&userId=${u.userId}`,
        headers: bearer(admin),
      });
      expect(usage.json().items).toEqual([{ key: u.userId, rxBytes: 150, txBytes: 260 }]);

      // A short session never reported live is recorded from its end report alone; an end reported
      // for another node's ticket is ignored; an unknown reason is a 400.
      const t2 = await issueTicket(a, u.accessToken, node.id, dev.id);
      const short = { ...end, ticketId: t2.ticketId, rxBytes: 7, txBytes: 9, reason: 'idleTimeout' };
      const other = await onlineNode(a, admin);
      expect(
        (
          await a.inject({
            method: 'POST',
            url: '/v1/agent/heartbeat',
            headers: other.auth,
            payload: {
              protocolVersion: 1,
              agentVersion: '0.2.0',
              load: 0,
              activeSessions: 0,
              sessions: [],
              ended: [short],
            },
          })
        ).statusCode,
      ).toBe(200);
      expect((await send([short])).statusCode).toBe(200);
      expect((await send([{ ...short, reason: 'meteorStrike' }])).statusCode).toBe(400);
      const again = await a.inject({
        method: 'GET',
        url: `/v1/admin/sessions?userId=${u.userId}`,
        headers: bearer(admin),
      });
      const byTicket = Object.fromEntries(
        again
          .json<{ items: { ticketId: string; endReason: string; nodeId: string }[] }>()
          .items.map((s) => [s.ticketId, s]),
      );
      expect(byTicket[t2.ticketId]).toMatchObject({ endReason: 'idleTimeout', nodeId: node.id });
      expect(Object.keys(byTicket)).toHaveLength(2);
    });

    it('keeps ending vanished sessions without a reason', async () => {
      const { node, u, dev, ticketId } = await setup();
      const s = {
        ticketId,
        deviceId: dev.id,
        userId: u.userId,
        rxBytes: 1,
        txBytes: 1,
        connectedAt: new Date().toISOString(),
      };
      await heartbeat(a, node.auth, { sessions: [s] });
      await heartbeat(a, node.auth, { sessions: [] });
      const list = await a.inject({
        method: 'GET',
        url: `/v1/admin/sessions?userId=${u.userId}`,
        headers: bearer(admin),
      });
      expect(list.json().items[0]).toMatchObject({ active: false, endReason: null });
      expect(list.json().items[0].endedAt).not.toBeNull();
    });
  });
});

describe.skipIf(!hasServices)('revocation long poll with the in-process store', () => {
  let app: App;
  let db: TestDatabase;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    db = await createTestDatabase();
    tmp = await tempDir();
    app = await build(
      makeConfig({
        DATABASE_URL: db.url,
        CORRIDOR_DATA_DIR: tmp.dir,
        CORRIDOR_ADMIN_EMAIL: 'admin@example.com',
        CORRIDOR_ADMIN_PASSWORD: 'admin-password-1',
      }),
    );
  });
  afterAll(async () => {
    await db?.drop();
    await tmp?.remove();
  });

  it('wakes on a local revocation, and shutdown answers held polls at once', async () => {
    expect(app.store.kind).toBe('memory');
    const admin = await adminToken(app);
    const node = await onlineNode(app, admin);
    const u = await createUser(app, admin);
    const dev = await registerDevice(app, u.accessToken);
    const { ticketId } = await issueTicket(app, u.accessToken, node.id, dev.id);
    const cursor = (await poll(app, node.auth, '')).body!.cursor;
    const waiting = poll(app, node.auth, `?since=${cursor}&wait=30`);
    await until(() => app.revocationPoll.size === 1, 2_000);
    await app.inject({ method: 'POST', url: `/v1/admin/tickets/${ticketId}/revoke`, headers: bearer(admin) });
    const woke = await waiting;
    expect(woke.body!.tickets).toEqual([ticketId]);
    expect(woke.ms).toBeLessThan(1_000);

    const held = poll(app, node.auth, `?since=${woke.body!.cursor}&wait=60`);
    await until(() => app.revocationPoll.size === 1, 2_000);
    const t0 = Date.now();
    await app.close();
    const res = await held;
    expect(res.res.statusCode).toBe(200);
    expect(res.body).toMatchObject({ reset: false, tickets: [] });
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});
