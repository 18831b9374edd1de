/**
 * Review point 9, unbounded growth, against real PostgreSQL + Redis: a per-user ticket issuance
 * limit, and retention that deletes old tickets, refresh tokens, sessions, audit events, usage
 * rows, node tokens and revocations while keeping recent ones.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RETENTION_LOCK } from '../../src/services/retention.js';
import {
  adminToken,
  bearer,
  createUser,
  hasServices,
  onlineNode,
  registerDevice,
  startHarness,
  warnSkip,
  type Harness,
} from '../helpers.js';

warnSkip();

describe.skipIf(!hasServices)('bounded growth (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness({
      TICKET_LIMIT_PER_USER: '3',
      TICKET_LIMIT_WINDOW_S: '600',
      TICKET_RETENTION_S: '86400',
      REFRESH_TOKEN_RETENTION_S: '86400',
      SESSION_RETENTION_S: '172800',
      AUDIT_RETENTION_S: '259200',
      USAGE_RETENTION_S: '345600',
    });
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  it('limits ticket issuance per user with 429 and Retry-After, other users unaffected', async () => {
    const node = await onlineNode(h.app, admin);
    const ask = async (token: string, deviceId: string) =>
      h.app.inject({
        method: 'POST',
        url: `/v1/nodes/${node.id}/tickets`,
        headers: bearer(token),
        payload: { deviceId },
      });
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await ask(u.accessToken, dev.id)).statusCode);
    expect(codes).toEqual([200, 200, 200]);
    // A burst past the limit is refused as a whole, concurrently too.
    const burst = await Promise.all(Array.from({ length: 20 }, () => ask(u.accessToken, dev.id)));
    expect(burst.map((r) => r.statusCode)).toEqual(Array(20).fill(429));
    expect(burst[0]!.json().code).toBe('CORRIDOR_ERR_RATE_LIMITED');
    const retry = Number(burst[0]!.headers['retry-after']);
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(600);
    const rows = await h.app.db.pool.query('SELECT count(*)::int AS n FROM tickets WHERE user_id = $1', [
      u.userId,
    ]);
    expect(rows.rows[0].n).toBe(3);
    const v = await createUser(h.app, admin);
    expect((await ask(v.accessToken, (await registerDevice(h.app, v.accessToken)).id)).statusCode).toBe(200);
  });

  it('prunes rows past their retention and keeps recent ones', async () => {
    const q = (sql: string, values: unknown[] = []) => h.app.db.pool.query(sql, values);
    const u = await createUser(h.app, admin);
    const node = await onlineNode(h.app, admin);
    const day = 86_400_000;
    const ago = (ms: number) => new Date(Date.now() - ms);
    const oldTicket = randomUUID();
    const newTicket = randomUUID();
    for (const [id, exp] of [
      [oldTicket, ago(2 * day)],
      [newTicket, ago(day / 2)],
    ] as const) {
      await q(
        `INSERT INTO tickets (id, user_id, device_id, node_id, key_id, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, 1, $5, $5)`,
        [id, u.userId, randomUUID(), node.id, exp],
      );
    }
    const family = randomUUID();
    for (const [hash, exp, revoked] of [
      ['old-expired', ago(2 * day), null],
      ['old-revoked', new Date(Date.now() + day), ago(2 * day)],
      ['recent', new Date(Date.now() + day), null],
    ] as const) {
      await q(
        `INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [randomUUID(), u.userId, family, `${hash}-${family}`, exp, revoked],
      );
    }
    for (const [seen, label] of [
      [ago(3 * day), 'old'],
      [ago(day), 'recent'],
    ] as const) {
      await q(
        `INSERT INTO sessions (id, node_id, ticket_id, user_id, device_id, started_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)`,
        [randomUUID(), node.id, randomUUID(), u.userId, randomUUID(), seen],
      );
      await q(
        `INSERT INTO audit_events (actor_type, action, target_id, created_at) VALUES ('system', $1, $2, $3)`,
        [`retention.${label}`, family, label === 'old' ? ago(4 * day) : ago(2 * day)],
      );
      await q(
        `INSERT INTO usage (user_id, node_id, day, rx_bytes, tx_bytes) VALUES ($1, $2, $3::date, 1, 1)`,
        [u.userId, node.id, (label === 'old' ? ago(5 * day) : ago(3 * day)).toISOString().slice(0, 10)],
      );
    }

    const counts = await h.app.retention.runOnce();
    expect(counts).not.toBeNull();
    expect(counts!.tickets).toBeGreaterThanOrEqual(1);

    const tickets = await q('SELECT id FROM tickets WHERE id = ANY($1)', [[oldTicket, newTicket]]);
    expect(tickets.rows.map((r) => r.id)).toEqual([newTicket]);
    const tokens = await q('SELECT token_hash FROM refresh_tokens WHERE family_id = $1', [family]);
    expect(tokens.rows.map((r) => r.token_hash)).toEqual([`recent-${family}`]);
    const sessions = await q('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1', [u.userId]);
    expect(sessions.rows[0].n).toBe(1);
    const audit = await q('SELECT action FROM audit_events WHERE target_id = $1', [family]);
    expect(audit.rows.map((r) => r.action)).toEqual(['retention.recent']);
    const usage = await q('SELECT count(*)::int AS n FROM usage WHERE user_id = $1', [u.userId]);
    expect(usage.rows[0].n).toBe(1);
  });

  it('lets one replica prune at a time', async () => {
    const holder = await h.app.db.pool.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [RETENTION_LOCK.toString()]);
      expect(await h.app.retention.runOnce()).toBeNull();
      await holder.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK.toString()]);
      expect(await h.app.retention.runOnce()).not.toBeNull();
    } finally {
      holder.release();
    }
  });
});
