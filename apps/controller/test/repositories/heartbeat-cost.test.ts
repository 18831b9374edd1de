/**
 * A heartbeat's database work grows linearly with its reports (real PostgreSQL). Measured as work
 * the executor does (index probes, rows compared), not as time: one heartbeat of
 * HEARTBEAT_MAX_SESSIONS reports that share a ticket used to make 10^8 probes of the sessions index
 * (minutes of database time, holding a pool connection and the node's heartbeat lock).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENDED_SQL, HEARTBEAT_SQL } from '../../src/repositories/sessions.js';
import {
  adminToken,
  createUser,
  hasServices,
  onlineNode,
  registerDevice,
  startHarness,
  warnSkip,
  type Harness,
} from '../helpers.js';

warnSkip();

interface PlanNode {
  'Relation Name'?: string;
  'Actual Loops'?: number;
  'Rows Removed by Join Filter'?: number;
  Plans?: PlanNode[];
}

/** Index/heap probes of `sessions` and rows thrown away by join filters, over a whole plan. */
function work(node: PlanNode, acc = { sessionProbes: 0, joinFilterRejects: 0 }) {
  if (node['Relation Name'] === 'sessions') acc.sessionProbes += node['Actual Loops'] ?? 0;
  acc.joinFilterRejects += (node['Rows Removed by Join Filter'] ?? 0) * (node['Actual Loops'] ?? 1);
  for (const p of node.Plans ?? []) work(p, acc);
  return acc;
}

describe.skipIf(!hasServices)('heartbeat cost (PostgreSQL)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness();
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  it('applies live and ended reports with work linear in their number', async () => {
    const node = await onlineNode(h.app, admin);
    const u = await createUser(h.app, admin);
    const dev = await registerDevice(h.app, u.accessToken);
    const N = 2_000;
    // Half the reports are sessions of one ticket (reconnects), half have a ticket each.
    const tickets = (
      await h.app.db.pool.query<{ id: string }>(
        `INSERT INTO tickets (id, user_id, device_id, node_id, key_id, issued_at, expires_at)
         SELECT gen_random_uuid(), $1, $2, $3, 1, now(), now() + interval '1 hour'
         FROM generate_series(1, $4) RETURNING id`,
        [u.userId, dev.id, node.id, N / 2 + 1],
      )
    ).rows.map((r) => r.id);
    const t0 = Date.now() - 3_600_000;
    const reports = Array.from({ length: N }, (_, i) => ({
      ticketId: i < N / 2 ? tickets[0]! : tickets[i - N / 2 + 1]!,
      startedAt: new Date(t0 + i * 1000).toISOString(),
    }));
    const at = new Date();
    const cols = (list: typeof reports) => [
      list.map((r) => r.ticketId),
      list.map(() => u.userId),
      list.map(() => dev.id),
      list.map(() => '100'),
      list.map(() => '200'),
      list.map((r) => r.startedAt),
    ];
    const live = reports.slice(0, N / 2).concat(reports.slice(N / 2, (3 * N) / 4));
    const ended = reports.slice((3 * N) / 4);
    const statements: [string, string, unknown[]][] = [
      ['live', HEARTBEAT_SQL, [node.id, ...cols(live), at]],
      [
        'ended',
        ENDED_SQL,
        [node.id, ...cols(ended), ended.map(() => at.toISOString()), ended.map(() => 'clientClosed'), at],
      ],
    ];
    const client = await h.app.db.pool.connect();
    try {
      // Twice: first the sessions are new, then they all exist (the costly case).
      for (const round of ['new sessions', 'known sessions']) {
        for (const [name, sql, values] of statements) {
          await client.query('BEGIN');
          const res = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
            `EXPLAIN (ANALYZE, FORMAT JSON, TIMING OFF) ${sql}`,
            values,
          );
          // Keep the rows for the second round.
          await client.query('COMMIT');
          const w = work(res.rows[0]!['QUERY PLAN'][0]!.Plan);
          const n = (values[1] as unknown[]).length;
          expect(
            w.sessionProbes,
            `${round}, ${name}: probes of sessions for ${n} reports`,
          ).toBeLessThanOrEqual(2 * n);
          expect(w.joinFilterRejects, `${round}, ${name}: rows compared and rejected`).toBeLessThanOrEqual(
            2 * n,
          );
        }
      }
    } finally {
      client.release();
    }
    const stored = await h.app.db.pool.query(
      'SELECT count(*)::int AS n, count(ended_at)::int AS ended FROM sessions WHERE node_id = $1',
      [node.id],
    );
    expect(stored.rows[0]).toEqual({ n: N, ended: N / 4 });
  });
});
