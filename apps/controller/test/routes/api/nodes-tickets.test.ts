import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTicketSigningKeys, parseX25519PublicKey, verifyTicket } from '@corridor/protocol';
import {
  adminToken,
  bearer,
  createUser,
  hasServices,
  heartbeat,
  onlineNode,
  registerDevice,
  startHarness,
  warnSkip,
  type Harness,
} from '../../helpers.js';
import { TicketsRepository } from '../../../src/repositories/tickets.js';

warnSkip();

describe.skipIf(!hasServices)('GET /v1/nodes and POST /v1/nodes/:id/tickets (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness({ TICKET_TTL_S: '3600' });
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  it('lists nodes with online state and load, filters by region and picks the least-loaded', async () => {
    const u = await createUser(h.app, admin);
    const a = await onlineNode(h.app, admin, { region: 'ap-south', load: 0.7 });
    const b = await onlineNode(h.app, admin, { region: 'ap-south', load: 0.2 });
    await onlineNode(h.app, admin, { region: 'us-east', load: 0.0 });
    // An enrolled-but-never-heartbeating node shows as offline.
    const create = await h.app.inject({
      method: 'POST',
      url: '/v1/admin/nodes',
      headers: bearer(admin),
      payload: {
        id: 'ap-off-1',
        region: 'ap-south',
        country: 'IN',
        city: 'Mumbai',
        endpoint: { host: 'vpn.example.com', udpPort: 51820, tcpPort: 443 },
      },
    });
    expect(create.statusCode).toBe(201);

    const res = await h.app.inject({
      method: 'GET',
      url: '/v1/nodes?region=ap-south',
      headers: bearer(u.accessToken),
    });
    expect(res.statusCode).toBe(200);
    const nodes = res.json().nodes as {
      id: string;
      online: boolean;
      load: number;
      publicKey: string | null;
    }[];
    expect(nodes.map((n) => n.id).sort()).toEqual([a.id, b.id, 'ap-off-1'].sort());
    expect(nodes.find((n) => n.id === 'ap-off-1')).toMatchObject({ online: false, publicKey: null });
    expect(nodes.find((n) => n.id === a.id)).toMatchObject({
      online: true,
      load: 0.7,
      publicKey: a.publicKey,
    });

    const auto = await h.app.inject({
      method: 'GET',
      url: '/v1/nodes?region=ap-south&auto=true',
      headers: bearer(u.accessToken),
    });
    expect(auto.json().nodes.map((n: { id: string }) => n.id)).toEqual([b.id]);

    const none = await h.app.inject({
      method: 'GET',
      url: '/v1/nodes?region=nowhere&auto=true',
      headers: bearer(u.accessToken),
    });
    expect(none.statusCode).toBe(503);
    expect(none.json().code).toBe('CORRIDOR_ERR_NODE_OFFLINE');

    for (const q of ['region=Bad_Region', 'auto=yes', 'foo=1']) {
      const bad = await h.app.inject({
        method: 'GET',
        url: `/v1/nodes?${q}`,
        headers: bearer(u.accessToken),
      });
      expect(bad.statusCode, q).toBe(400);
    }
    expect((await h.app.inject({ method: 'GET', url: '/v1/nodes' })).statusCode).toBe(401);
  });

  it('issues a ticket that verifies offline against the published signing key', async () => {
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const node = await onlineNode(h.app, admin);
    const res = await h.app.inject({
      method: 'POST',
      url: `/v1/nodes/${node.id}/tickets`,
      headers: bearer(u.accessToken),
      payload: { deviceId: dev.id },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.node).toEqual({
      id: node.id,
      endpoint: { host: '203.0.113.5', udpPort: 51820, tcpPort: 443 },
      publicKey: node.publicKey,
    });
    expect(body.protocolVersion).toBe(1);

    const keysRes = await h.app.inject({ method: 'GET', url: '/v1/agent/signing-keys', headers: node.auth });
    const parsedKeys = parseTicketSigningKeys(keysRes.json().keys);
    if (!parsedKeys.ok) throw new Error(parsedKeys.error);
    const keys = parsedKeys.value;
    const clientKey = parseX25519PublicKey(dev.publicKey);
    if (!clientKey.ok) throw new Error('bad key');
    const v = verifyTicket(Buffer.from(body.ticket, 'base64url'), {
      keys,
      nodeId: node.id,
      clientPublicKey: clientKey.value,
      nowMs: Date.now(),
    });
    expect(v.ok).toBe(true);
    if (v.ok) {
      expect(v.claims).toMatchObject({
        ticketId: body.ticketId,
        userId: u.userId,
        deviceId: dev.id,
        nodeId: node.id,
      });
      expect(v.claims.expiresAt - v.claims.issuedAt).toBe(3600);
      expect(new Date(body.expiresAt).getTime()).toBe(v.claims.expiresAt * 1000);
    }
    // Wrong node id: the ticket is bound to its node.
    const wrong = verifyTicket(Buffer.from(body.ticket, 'base64url'), {
      keys,
      nodeId: 'other-node',
      clientPublicKey: clientKey.value,
      nowMs: Date.now(),
    });
    expect(wrong.ok).toBe(false);

    const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(new RegExp(`corridor_tickets_issued_total\\{node="${node.id}"\\} 1`));
    const devices = await h.app.inject({ method: 'GET', url: '/v1/devices', headers: bearer(u.accessToken) });
    expect(devices.json().devices[0].lastSeenAt).not.toBeNull();
  });

  it('refuses tickets for unknown, unenrolled and offline nodes', async () => {
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const unknown = await h.app.inject({
      method: 'POST',
      url: '/v1/nodes/no-such-node/tickets',
      headers: bearer(u.accessToken),
      payload: { deviceId: dev.id },
    });
    expect(unknown.statusCode).toBe(404);
    await h.app.inject({
      method: 'POST',
      url: '/v1/admin/nodes',
      headers: bearer(admin),
      payload: {
        id: 'fresh-1',
        region: 'eu-west',
        country: 'FR',
        city: 'Paris',
        endpoint: { host: '198.51.100.1', udpPort: 51820, tcpPort: 443 },
      },
    });
    const unenrolled = await h.app.inject({
      method: 'POST',
      url: '/v1/nodes/fresh-1/tickets',
      headers: bearer(u.accessToken),
      payload: { deviceId: dev.id },
    });
    expect(unenrolled.statusCode).toBe(409);
    expect(unenrolled.json().code).toBe('CORRIDOR_ERR_NODE_NOT_ENROLLED');
    const node = await onlineNode(h.app, admin);
    await h.app.store.del(`node:live:${node.id}`);
    const offline = await h.app.inject({
      method: 'POST',
      url: `/v1/nodes/${node.id}/tickets`,
      headers: bearer(u.accessToken),
      payload: { deviceId: dev.id },
    });
    expect(offline.statusCode).toBe(503);
    expect(offline.json().code).toBe('CORRIDOR_ERR_NODE_OFFLINE');
    await heartbeat(h.app, node.auth);
  });

  it('refuses other users’ devices, revoked devices and disabled users', async () => {
    const node = await onlineNode(h.app, admin);
    const a = await createUser(h.app, admin);
    const b = await createUser(h.app, admin);
    const devA = await registerDevice(h.app, a.accessToken);
    const foreign = await h.app.inject({
      method: 'POST',
      url: `/v1/nodes/${node.id}/tickets`,
      headers: bearer(b.accessToken),
      payload: { deviceId: devA.id },
    });
    expect(foreign.statusCode).toBe(404);

    const rev = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/devices/${devA.id}/revoke?reason=lost`,
      headers: bearer(admin),
    });
    expect(rev.statusCode).toBe(200);
    const revoked = await h.app.inject({
      method: 'POST',
      url: `/v1/nodes/${node.id}/tickets`,
      headers: bearer(a.accessToken),
      payload: { deviceId: devA.id },
    });
    expect(revoked.statusCode).toBe(403);
    expect(revoked.json().code).toBe('CORRIDOR_ERR_FORBIDDEN');

    const devB = await registerDevice(h.app, b.accessToken);
    const dis = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/users/${b.userId}/disable`,
      headers: bearer(admin),
    });
    expect(dis.statusCode).toBe(200);
    const disabled = await h.app.inject({
      method: 'POST',
      url: `/v1/nodes/${node.id}/tickets`,
      headers: bearer(b.accessToken),
      payload: { deviceId: devB.id },
    });
    expect(disabled.statusCode).toBe(403);
    expect(disabled.json().code).toBe('CORRIDOR_ERR_ACCOUNT_DISABLED');
  });

  it('validates ticket requests with 400', async () => {
    const u = await createUser(h.app, admin);
    for (const [url, payload] of [
      ['/v1/nodes/Bad_Id/tickets', { deviceId: '00000000-0000-4000-8000-000000000000' }],
      ['/v1/nodes/ok-node/tickets', { deviceId: 'nope' }],
      ['/v1/nodes/ok-node/tickets', {}],
      ['/v1/nodes/ok-node/tickets', { deviceId: '00000000-0000-4000-8000-000000000000', x: 1 }],
    ] as const) {
      const res = await h.app.inject({ method: 'POST', url, headers: bearer(u.accessToken), payload });
      expect(res.statusCode, url + JSON.stringify(payload)).toBe(400);
    }
  });

  it('issues concurrent tickets in grouped inserts, refusing only the bad requests of a batch', async () => {
    const node = await onlineNode(h.app, admin);
    const a = await createUser(h.app, admin);
    const b = await createUser(h.app, admin);
    const devA = await registerDevice(h.app, a.accessToken);
    const devB = await registerDevice(h.app, b.accessToken);
    const reqs = [];
    for (let i = 0; i < 40; i++) {
      const own = i % 4 !== 3;
      reqs.push(
        h.app.inject({
          method: 'POST',
          url: `/v1/nodes/${node.id}/tickets`,
          headers: bearer(a.accessToken),
          payload: { deviceId: own ? devA.id : devB.id },
        }),
      );
    }
    const res = await Promise.all(reqs);
    expect(res.map((r) => r.statusCode)).toEqual(
      Array.from({ length: 40 }, (_, i) => (i % 4 !== 3 ? 200 : 404)),
    );
    const ids = new Set(res.filter((r) => r.statusCode === 200).map((r) => r.json().ticketId));
    expect(ids.size).toBe(30);
    const rows = await h.app.db.pool.query('SELECT count(*)::int AS n FROM tickets WHERE user_id = $1', [
      a.userId,
    ]);
    expect(rows.rows[0].n).toBe(30);
  });

  it('fails only the bad row of a failed group insert, and hands out only recorded tickets', async () => {
    const node = await onlineNode(h.app, admin);
    const a = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, a.accessToken);
    const errors: number[] = [];
    const repo = new TicketsRepository(h.app.db.pool, (_e, size) => errors.push(size));
    const row = (over: Partial<Parameters<TicketsRepository['insertChecked']>[0]> = {}) => ({
      ticketId: randomUUID(),
      userId: a.userId,
      deviceId: dev.id,
      nodeId: node.id,
      keyId: 1,
      issuedAt: new Date(),
      expiresAt: new Date(Date.now() + 60_000),
      ...over,
    });
    const good = [row(), row(), row()];
    const dup = row({ ticketId: good[0]!.ticketId });
    // Same event-loop turn: one group. The duplicate id fails the group statement.
    const settled = await Promise.allSettled([...good, dup].map((r) => repo.insertChecked(r)));
    expect(errors).toEqual([4]);
    const ok = settled.filter((s) => s.status === 'fulfilled');
    const failed = settled.filter((s) => s.status === 'rejected');
    expect(ok.length).toBe(3);
    expect(failed.length).toBe(1);
    expect(ok.every((s) => s.value !== null)).toBe(true);
    const ids = good.map((g) => g.ticketId);
    const rows = await h.app.db.pool.query(
      'SELECT count(*)::int AS n FROM tickets WHERE id = ANY($1::uuid[])',
      [ids],
    );
    expect(rows.rows[0].n).toBe(3);

    // When the database refuses the whole group, every request of it fails (none gets a ticket).
    const down = { query: () => Promise.reject(new Error('connection lost')) } as unknown as pg.Pool;
    const broken = new TicketsRepository(down);
    const all = await Promise.allSettled([row(), row(), row()].map((r) => broken.insertChecked(r)));
    expect(all.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
  });
});
