import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminToken,
  bearer,
  createUser,
  devicePublicKey,
  hasServices,
  heartbeat,
  issueTicket,
  onlineNode,
  registerDevice,
  startHarness,
  warnSkip,
  type Harness,
} from '../../helpers.js';
import { REVOCATION_INSERT_LOCK } from '../../../src/repositories/revocations.js';

warnSkip();

describe.skipIf(!hasServices)('node agent routes (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness();
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  async function createNode(id: string) {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/admin/nodes',
      headers: bearer(admin),
      payload: {
        id,
        region: 'eu-central',
        country: 'DE',
        city: 'Berlin',
        endpoint: { host: 'node.example.net', udpPort: 51820, tcpPort: 8443 },
      },
    });
    expect(res.statusCode).toBe(201);
    return res.json<{ nodeId: string; enrollmentToken: string; expiresAt: string }>();
  }

  it('enrolls once with the one-time token and returns a credential and the signing keys', async () => {
    const { enrollmentToken } = await createNode('de-ber-1');
    const publicKey = devicePublicKey();
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/agent/enroll',
      payload: { enrollmentToken, publicKey, agentVersion: '1.2.3' },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.nodeId).toBe('de-ber-1');
    expect(body.nodeCredential).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.signingKeys.length).toBeGreaterThanOrEqual(1);
    expect(body.signingKeys[0].publicKey).toMatch(/^ed25519pub:/);

    const again = await h.app.inject({
      method: 'POST',
      url: '/v1/agent/enroll',
      payload: { enrollmentToken, publicKey, agentVersion: '1.2.3' },
    });
    expect(again.statusCode).toBe(401);
    expect(again.json().code).toBe('CORRIDOR_ERR_ENROLLMENT_TOKEN_INVALID');

    // The credential authenticates; the token hash, not the token, is stored.
    const hb = await heartbeat(h.app, { authorization: `Node de-ber-1:${body.nodeCredential}` });
    expect(hb.revocationsCursor).toMatch(/^\d+\.\d+$/);
    const rows = await h.app.db.pool.query('SELECT token_hash FROM node_enrollment_tokens');
    expect(rows.rows.map((r) => r.token_hash)).not.toContain(enrollmentToken);

    const node = await h.app.inject({
      method: 'GET',
      url: '/v1/admin/nodes/de-ber-1',
      headers: bearer(admin),
    });
    expect(node.json()).toMatchObject({ enrolled: true, online: true, agentVersion: '0.1.0', publicKey });
  });

  it('lets exactly one of several concurrent enrollments with the same token win', async () => {
    const { nodeId, enrollmentToken } = await createNode('de-ber-9');
    const res = await Promise.all(
      Array.from({ length: 6 }, () =>
        h.app.inject({
          method: 'POST',
          url: '/v1/agent/enroll',
          payload: { enrollmentToken, publicKey: devicePublicKey(), agentVersion: '1.0.0' },
        }),
      ),
    );
    const codes = res.map((r) => r.statusCode).sort();
    expect(codes).toEqual([200, 401, 401, 401, 401, 401]);
    const winner = res.find((r) => r.statusCode === 200)!.json<{ nodeCredential: string }>();
    const creds = await h.app.db.pool.query(
      'SELECT count(*)::int AS n FROM node_credentials WHERE node_id = $1 AND revoked_at IS NULL',
      [nodeId],
    );
    expect(creds.rows[0].n).toBe(1);
    const ok = await h.app.inject({
      method: 'GET',
      url: '/v1/agent/signing-keys',
      headers: { authorization: `Node ${nodeId}:${winner.nodeCredential}` },
    });
    expect(ok.statusCode).toBe(200);
  });

  it('refuses a key that belongs to another node without burning the token', async () => {
    const taken = await onlineNode(h.app, admin);
    const { enrollmentToken } = await createNode('de-ber-8');
    const clash = await h.app.inject({
      method: 'POST',
      url: '/v1/agent/enroll',
      payload: { enrollmentToken, publicKey: taken.publicKey, agentVersion: '1.0.0' },
    });
    expect(clash.statusCode).toBe(409);
    const retry = await h.app.inject({
      method: 'POST',
      url: '/v1/agent/enroll',
      payload: { enrollmentToken, publicKey: devicePublicKey(), agentVersion: '1.0.0' },
    });
    expect(retry.statusCode).toBe(200);
  });

  it('never lets two nodes enroll the same static key, even concurrently (unique index)', async () => {
    for (let round = 0; round < 8; round++) {
      const publicKey = devicePublicKey();
      const tokens = await Promise.all(
        [0, 1, 2].map(async (i) => (await createNode(`dup-${round}-${i}`)).enrollmentToken),
      );
      const res = await Promise.all(
        tokens.map((enrollmentToken) =>
          h.app.inject({
            method: 'POST',
            url: '/v1/agent/enroll',
            payload: { enrollmentToken, publicKey, agentVersion: '1.0.0' },
          }),
        ),
      );
      expect(res.map((r) => r.statusCode).sort(), `round ${round}`).toEqual([200, 409, 409]);
      const holders = await h.app.db.pool.query(
        'SELECT count(*)::int AS n FROM nodes WHERE static_public_key = $1',
        [publicKey],
      );
      expect(holders.rows[0].n).toBe(1);
    }
  });

  it('re-enrollment with a fresh token revokes the old credential', async () => {
    const n = await onlineNode(h.app, admin);
    const tok = await h.app.inject({
      method: 'POST',
      url: `/v1/admin/nodes/${n.id}/enrollment-token`,
      headers: bearer(admin),
    });
    expect(tok.statusCode).toBe(201);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/agent/enroll',
      payload: {
        enrollmentToken: tok.json().enrollmentToken,
        publicKey: devicePublicKey(),
        agentVersion: '0.2.0',
      },
    });
    expect(res.statusCode).toBe(200);
    const old = await h.app.inject({ method: 'GET', url: '/v1/agent/signing-keys', headers: n.auth });
    expect(old.statusCode).toBe(401);
    const fresh = await h.app.inject({
      method: 'GET',
      url: '/v1/agent/signing-keys',
      headers: { authorization: `Node ${n.id}:${res.json().nodeCredential}` },
    });
    expect(fresh.statusCode).toBe(200);
  });

  it('rejects bad enrollment requests', async () => {
    const { enrollmentToken } = await createNode('de-ber-2');
    const bad = [
      { enrollmentToken: 'short', publicKey: devicePublicKey(), agentVersion: '1' },
      { enrollmentToken, publicKey: 'nope', agentVersion: '1' },
      { enrollmentToken, publicKey: devicePublicKey() },
      { enrollmentToken, publicKey: devicePublicKey(), agentVersion: 'has spaces' },
    ];
    for (const payload of bad) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/agent/enroll', payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    const unknown = await h.app.inject({
      method: 'POST',
      url: '/v1/agent/enroll',
      payload: { enrollmentToken: 'x'.repeat(43), publicKey: devicePublicKey(), agentVersion: '1' },
    });
    expect(unknown.statusCode).toBe(401);
  });

  it('authenticates agents with `Node <id>:<credential>` only', async () => {
    const n = await onlineNode(h.app, admin);
    const other = await onlineNode(h.app, admin);
    for (const authorization of [
      undefined,
      'Bearer x',
      `Node ${n.id}:${'A'.repeat(43)}`,
      `Node ${other.id}:${n.credential}`,
      `Node ${n.id}`,
      `Node BAD:${n.credential}`,
    ]) {
      const res = await h.app.inject({
        method: 'GET',
        url: '/v1/agent/revocations',
        headers: authorization ? { authorization } : {},
      });
      expect(res.statusCode, String(authorization)).toBe(401);
      expect(res.json().code).toBe('CORRIDOR_ERR_UNAUTHORIZED');
    }
    // A user JWT is not a node credential.
    const u = await createUser(h.app, admin);
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/agent/signing-keys', headers: bearer(u.accessToken) }))
        .statusCode,
    ).toBe(401);
    // A disabled node cannot authenticate.
    await h.app.inject({ method: 'POST', url: `/v1/admin/nodes/${n.id}/disable`, headers: bearer(admin) });
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/agent/signing-keys', headers: n.auth })).statusCode,
    ).toBe(401);
    await h.app.inject({ method: 'POST', url: `/v1/admin/nodes/${n.id}/enable`, headers: bearer(admin) });
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/agent/signing-keys', headers: n.auth })).statusCode,
    ).toBe(200);
  });

  it('records sessions and usage deltas from heartbeats and ends sessions no longer reported', async () => {
    const n = await onlineNode(h.app, admin);
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const { ticketId } = await issueTicket(h.app, u.accessToken, n.id, dev.id);
    const connectedAt = new Date(Date.now() - 60_000).toISOString();
    const s = (rx: number, tx: number) => ({
      ticketId,
      deviceId: dev.id,
      userId: u.userId,
      rxBytes: rx,
      txBytes: tx,
      connectedAt,
    });
    await heartbeat(h.app, n.auth, { sessions: [s(1000, 5000)] });
    // Duplicates in one report (same ticket and start instant) are tolerated: the last one counts.
    const sameInstant = { ...s(1500, 9000), connectedAt: connectedAt.replace('Z', '123+00:00') };
    await heartbeat(h.app, n.auth, { sessions: [s(1200, 6000), sameInstant] });

    const active = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/sessions?active=true&nodeId=${n.id}`,
      headers: bearer(admin),
    });
    expect(active.json().items).toHaveLength(1);
    expect(active.json().items[0]).toMatchObject({
      ticketId,
      userId: u.userId,
      rxBytes: 1500,
      txBytes: 9000,
      active: true,
      endedAt: null,
    });

    const usage = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/usage?groupBy=user&userId=${u.userId}`,
      headers: bearer(admin),
    });
    expect(usage.json().items).toEqual([{ key: u.userId, rxBytes: 1500, txBytes: 9000 }]);

    await heartbeat(h.app, n.auth, { sessions: [] });
    const ended = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/sessions?active=false&userId=${u.userId}`,
      headers: bearer(admin),
    });
    expect(ended.json().items).toHaveLength(1);
    expect(ended.json().items[0].endedAt).not.toBeNull();

    const byNode = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/usage?groupBy=node&nodeId=${n.id}`,
      headers: bearer(admin),
    });
    expect(byNode.json().items).toEqual([{ key: n.id, rxBytes: 1500, txBytes: 9000 }]);
    const userUsage = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/users/${u.userId}/usage`,
      headers: bearer(admin),
    });
    expect(userUsage.json().items[0]).toMatchObject({ rxBytes: 1500, txBytes: 9000 });
  });

  it('accepts session reports only for tickets issued for the reporting node, with matching claims', async () => {
    const a = await onlineNode(h.app, admin);
    const b = await onlineNode(h.app, admin);
    const u = await createUser(h.app, admin);
    const v = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const devV = await registerDevice(h.app, v.accessToken);
    const { ticketId } = await issueTicket(h.app, u.accessToken, a.id, dev.id);
    const connectedAt = new Date(Date.now() - 60_000).toISOString();
    const report = {
      ticketId,
      deviceId: dev.id,
      userId: u.userId,
      rxBytes: 1000,
      txBytes: 2000,
      connectedAt,
    };

    // Node B reports node A's ticket; node A reports it under another user/device, or an unknown ticket.
    await heartbeat(h.app, b.auth, { sessions: [report] });
    await heartbeat(h.app, a.auth, {
      sessions: [
        { ...report, userId: v.userId },
        { ...report, deviceId: devV.id },
        { ...report, userId: v.userId, deviceId: devV.id },
        { ...report, ticketId: randomUUID() },
      ],
    });
    // A leap second, which Date cannot represent, is refused by validation (400), never a 500.
    const leap = await h.app.inject({
      method: 'POST',
      url: '/v1/agent/heartbeat',
      headers: a.auth,
      payload: {
        protocolVersion: 1,
        agentVersion: '0.1.0',
        load: 0,
        activeSessions: 1,
        sessions: [{ ...report, connectedAt: '2026-12-31T23:59:60Z' }],
      },
    });
    expect(leap.statusCode).toBe(400);
    const rows = async () =>
      (
        await h.app.db.pool.query<{ node_id: string; user_id: string; rx: string; tx: string }>(
          `SELECT node_id, user_id, rx_bytes::text AS rx, tx_bytes::text AS tx FROM sessions
           WHERE node_id IN ($1, $2) OR user_id IN ($3, $4) ORDER BY node_id`,
          [a.id, b.id, u.userId, v.userId],
        )
      ).rows;
    const usage = async () =>
      (
        await h.app.db.pool.query<{ node_id: string; user_id: string; rx: string; tx: string }>(
          `SELECT node_id, user_id, rx_bytes::text AS rx, tx_bytes::text AS tx FROM usage
           WHERE node_id IN ($1, $2) OR user_id IN ($3, $4) ORDER BY node_id`,
          [a.id, b.id, u.userId, v.userId],
        )
      ).rows;
    expect(await rows()).toEqual([]);
    expect(await usage()).toEqual([]);
    const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
    // Node B's report, one for the three claim mismatches (same session key, so deduplicated) and
    // the unknown ticket.
    expect(metrics.body).toMatch(/^corridor_heartbeat_session_reports_ignored_total 3$/m);

    // The genuine report is accepted, next to a bogus one in the same heartbeat.
    await heartbeat(h.app, a.auth, { sessions: [report, { ...report, ticketId: randomUUID() }] });
    expect(await rows()).toEqual([{ node_id: a.id, user_id: u.userId, rx: '1000', tx: '2000' }]);
    expect(await usage()).toEqual([{ node_id: a.id, user_id: u.userId, rx: '1000', tx: '2000' }]);

    // Counters are monotonic: a lower report neither lowers the session nor adds usage.
    await heartbeat(h.app, a.auth, { sessions: [{ ...report, rxBytes: 10, txBytes: 3000 }] });
    expect(await rows()).toEqual([{ node_id: a.id, user_id: u.userId, rx: '1000', tx: '3000' }]);
    expect(await usage()).toEqual([{ node_id: a.id, user_id: u.userId, rx: '1000', tx: '3000' }]);

    // Concurrent heartbeats with the same counters add the delta once (each is applied, or refused
    // with 429 while another of the node is being applied).
    const next = { ...report, rxBytes: 5000, txBytes: 7000 };
    const codes = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const res = await h.app.inject({
          method: 'POST',
          url: '/v1/agent/heartbeat',
          headers: a.auth,
          payload: {
            protocolVersion: 1,
            agentVersion: '0.1.0',
            load: 0,
            activeSessions: 1,
            sessions: [next],
          },
        });
        return res.statusCode;
      }),
    );
    expect(codes.every((c) => c === 200 || c === 429)).toBe(true);
    expect(codes).toContain(200);
    expect(await rows()).toEqual([{ node_id: a.id, user_id: u.userId, rx: '5000', tx: '7000' }]);
    expect(await usage()).toEqual([{ node_id: a.id, user_id: u.userId, rx: '5000', tx: '7000' }]);
  });

  it('rejects bad heartbeats', async () => {
    const n = await onlineNode(h.app, admin);
    const base = { protocolVersion: 1, agentVersion: '0.1.0', load: 0.5, activeSessions: 0, sessions: [] };
    for (const payload of [
      { ...base, load: 1.5 },
      { ...base, activeSessions: -1 },
      { ...base, sessions: [{ ticketId: 'x' }] },
      { ...base, extra: true },
      {
        ...base,
        sessions: [
          {
            ticketId: randomUUID(),
            deviceId: randomUUID(),
            userId: randomUUID(),
            rxBytes: 1,
            txBytes: 1,
            connectedAt: 'yesterday',
          },
        ],
      },
    ]) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/v1/agent/heartbeat',
        headers: n.auth,
        payload,
      });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    const tooMany = Array.from({ length: 10_001 }, () => ({
      ticketId: randomUUID(),
      deviceId: randomUUID(),
      userId: randomUUID(),
      rxBytes: 1,
      txBytes: 1,
      connectedAt: new Date().toISOString(),
    }));
    const big = await h.app.inject({
      method: 'POST',
      url: '/v1/agent/heartbeat',
      headers: n.auth,
      payload: { ...base, sessions: tooMany },
    });
    expect(big.statusCode).toBe(400);
    // The largest allowed report fits the heartbeat's own body limit (larger than the global one).
    const full = await h.app.inject({
      method: 'POST',
      url: '/v1/agent/heartbeat',
      headers: n.auth,
      payload: { ...base, activeSessions: 10_000, sessions: tooMany.slice(0, 10_000) },
    });
    expect(full.statusCode).toBe(200);
    const huge = await h.app.inject({
      method: 'POST',
      url: '/v1/agent/heartbeat',
      headers: { ...n.auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ ...base, agentVersion: 'x'.repeat(8 * 1024 * 1024) }),
    });
    expect(huge.statusCode).toBe(413);
    const version = await h.app.inject({
      method: 'POST',
      url: '/v1/agent/heartbeat',
      headers: n.auth,
      payload: { ...base, protocolVersion: 99 },
    });
    expect(version.statusCode).toBe(400);
    expect(version.json().code).toBe('CORRIDOR_ERR_PROTOCOL_VERSION_UNSUPPORTED');
  });

  it('never lets a delta cursor skip a revocation committed out of id order', async () => {
    const n = await onlineNode(h.app, admin);
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const feed = async (since?: string) =>
      (
        await h.app.inject({
          method: 'GET',
          url: `/v1/agent/revocations${since ? `?since=${since}` : ''}`,
          headers: n.auth,
        })
      ).json<{ cursor: string; tickets: string[]; devices: string[] }>();
    const start = (await feed()).cursor;

    // Another replica is inside its revocation insert (id drawn, not committed yet)...
    const slow = await h.app.db.pool.connect();
    const slowTicket = randomUUID();
    try {
      await slow.query('BEGIN');
      await slow.query('SELECT pg_advisory_xact_lock($1)', [REVOCATION_INSERT_LOCK.toString()]);
      await slow.query(`INSERT INTO revocations (kind, subject_id) VALUES ('ticket', $1)`, [slowTicket]);
      // ...while this replica records another one and a node polls in between.
      const removal = h.app.inject({
        method: 'DELETE',
        url: `/v1/devices/${dev.id}`,
        headers: bearer(u.accessToken),
      });
      await new Promise((r) => setTimeout(r, 200));
      const mid = await feed(start);
      await slow.query('COMMIT');
      expect((await removal).statusCode).toBe(204);
      const after = await feed(mid.cursor);
      const seen = new Set([...mid.tickets, ...mid.devices, ...after.tickets, ...after.devices]);
      expect(seen.has(slowTicket)).toBe(true);
      expect(seen.has(dev.id)).toBe(true);
    } finally {
      await slow.query('ROLLBACK').catch(() => {});
      slow.release();
    }
  });

  it('serves revocations as snapshot then deltas, and a reset after a user is re-enabled', async () => {
    const n = await onlineNode(h.app, admin);
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const { ticketId } = await issueTicket(h.app, u.accessToken, n.id, dev.id);

    const snap = await h.app.inject({ method: 'GET', url: '/v1/agent/revocations', headers: n.auth });
    expect(snap.statusCode).toBe(200);
    expect(snap.json().reset).toBe(true);
    const cursor0 = snap.json().cursor as string;

    expect(
      (
        await h.app.inject({
          method: 'POST',
          url: `/v1/admin/tickets/${ticketId}/revoke`,
          headers: bearer(admin),
        })
      ).statusCode,
    ).toBe(200);
    expect(
      (
        await h.app.inject({
          method: 'POST',
          url: `/v1/admin/users/${u.userId}/disable?reason=abuse`,
          headers: bearer(admin),
        })
      ).statusCode,
    ).toBe(200);
    const delta = await h.app.inject({
      method: 'GET',
      url: `/v1/agent/revocations?since=${cursor0}`,
      headers: n.auth,
    });
    expect(delta.json()).toMatchObject({ reset: false, tickets: [ticketId], users: [u.userId], devices: [] });
    const cursor1 = delta.json().cursor as string;
    const empty = await h.app.inject({
      method: 'GET',
      url: `/v1/agent/revocations?since=${cursor1}`,
      headers: n.auth,
    });
    expect(empty.json()).toMatchObject({
      reset: false,
      tickets: [],
      users: [],
      devices: [],
      cursor: cursor1,
    });
    expect((await heartbeat(h.app, n.auth)).revocationsCursor).toBe(cursor1);

    // Re-enabling lifts the user revocation: the next poll is a full snapshot without the user.
    expect(
      (
        await h.app.inject({
          method: 'POST',
          url: `/v1/admin/users/${u.userId}/enable`,
          headers: bearer(admin),
        })
      ).statusCode,
    ).toBe(200);
    const reset = await h.app.inject({
      method: 'GET',
      url: `/v1/agent/revocations?since=${cursor1}`,
      headers: n.auth,
    });
    expect(reset.json().reset).toBe(true);
    expect(reset.json().users).not.toContain(u.userId);
    expect(reset.json().tickets).toContain(ticketId);

    for (const since of ['', 'bad cursor', 'x'.repeat(65)]) {
      const bad = await h.app.inject({
        method: 'GET',
        url: `/v1/agent/revocations?since=${encodeURIComponent(since)}`,
        headers: n.auth,
      });
      expect(bad.statusCode).toBe(400);
    }
    const garbage = await h.app.inject({
      method: 'GET',
      url: '/v1/agent/revocations?since=abc',
      headers: n.auth,
    });
    expect(garbage.json().reset).toBe(true);
  });
});
