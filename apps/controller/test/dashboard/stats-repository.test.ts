/**
 * Traffic series against real PostgreSQL: the SQL's hourly spread is checked against a direct
 * per-hour overlap computation over random sessions, the daily series against usage rows, and the
 * cache of final days against rows changed after they were read.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { DashboardStatsRepository, floorUtc } from '../../src/dashboard/stats-repository.js';
import { createTestDatabase, hasServices, warnSkip, type TestDatabase } from '../helpers.js';

warnSkip();

const HOUR = 3_600_000;
const DAY = 86_400_000;

interface S {
  node: string;
  start: number;
  /** ended_at, or null while live */
  end: number | null;
  lastSeen: number;
  rx: number;
  tx: number;
}

/** Bytes per (node, hour) of the 24 buckets ending at `now`: each session spread evenly over its life. */
function reference(sessions: S[], now: number): Map<string, number[]> {
  const first = floorUtc(new Date(now), HOUR).getTime() - 23 * HOUR;
  const out = new Map<string, number[]>();
  for (const s of sessions) {
    if (s.end !== null && s.end < first) continue;
    const stop = Math.max(s.end ?? s.lastSeen, s.start);
    if (stop < first) continue;
    const series = out.get(s.node) ?? new Array<number>(24).fill(0);
    out.set(s.node, series);
    for (let k = 0; k < 24; k++) {
      const lo = first + k * HOUR;
      const hi = lo + HOUR;
      let share: number;
      if (stop === s.start) share = s.start >= lo && s.start < hi ? 1 : 0;
      else share = Math.max(0, Math.min(stop, hi) - Math.max(s.start, lo)) / (stop - s.start);
      series[k]! += (s.rx + s.tx) * share;
    }
  }
  return out;
}

describe.skipIf(!hasServices)('dashboard traffic series (PostgreSQL)', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });
  beforeEach(async () => {
    await pool.query('TRUNCATE sessions, usage');
  });

  async function insertSessions(sessions: S[]): Promise<void> {
    for (const s of sessions) {
      await pool.query(
        `INSERT INTO sessions (id, node_id, ticket_id, user_id, device_id, started_at, last_seen_at, ended_at, rx_bytes, tx_bytes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [
          randomUUID(),
          s.node,
          randomUUID(),
          randomUUID(),
          randomUUID(),
          new Date(s.start),
          new Date(s.lastSeen),
          s.end === null ? null : new Date(s.end),
          s.rx,
          s.tx,
        ],
      );
    }
  }

  it('spreads a session over the hours it spans', async () => {
    const now = Date.parse('2026-03-10T15:20:00Z');
    // 10:30 → 12:30 with 7200 bytes: 1800 in hour 10, 3600 in 11, 1800 in 12.
    await insertSessions([
      {
        node: 'n-a',
        start: Date.parse('2026-03-10T10:30:00Z'),
        end: Date.parse('2026-03-10T12:30:00Z'),
        lastSeen: Date.parse('2026-03-10T12:30:00Z'),
        rx: 1200,
        tx: 6000,
      },
      // Ended before the window: not counted.
      {
        node: 'n-a',
        start: now - 30 * HOUR,
        end: now - 25 * HOUR,
        lastSeen: now - 25 * HOUR,
        rx: 1e9,
        tx: 1e9,
      },
    ]);
    const repo = new DashboardStatsRepository(pool);
    const t = await repo.traffic('24h', new Date(now), { top: 5 });
    expect(t.method).toBe('sessions-estimate');
    expect(t.buckets[0]!.toISOString()).toBe('2026-03-09T16:00:00.000Z');
    expect(t.buckets[23]!.toISOString()).toBe('2026-03-10T15:00:00.000Z');
    const at = (iso: string) => t.buckets.findIndex((b) => b.toISOString() === iso);
    const sum = (i: number) => t.total.rxBytes[i]! + t.total.txBytes[i]!;
    expect(sum(at('2026-03-10T10:00:00.000Z'))).toBe(1800);
    expect(sum(at('2026-03-10T11:00:00.000Z'))).toBe(3600);
    expect(sum(at('2026-03-10T12:00:00.000Z'))).toBe(1800);
    expect(t.total.rxBytes.reduce((a, b) => a + b, 0)).toBe(1200);
    expect(t.nodes.map((n) => n.nodeId)).toEqual(['n-a']);
  });

  it('matches a direct per-hour overlap computation over random sessions', async () => {
    const now = Date.parse('2026-05-01T08:41:17.123Z');
    const session = fc
      .record({
        node: fc.constantFrom('n-1', 'n-2', 'n-3'),
        startAgo: fc.integer({ min: 0, max: 3 * DAY }),
        length: fc.oneof(
          fc.constant(0),
          fc.integer({ min: 1, max: 3 * HOUR }),
          fc.integer({ min: 1, max: 40 * HOUR }),
        ),
        live: fc.boolean(),
        rx: fc.integer({ min: 0, max: 1e9 }),
        tx: fc.integer({ min: 0, max: 1e10 }),
      })
      .map(({ node, startAgo, length, live, rx, tx }): S => {
        const start = now - startAgo;
        const stop = Math.min(start + length, now);
        return { node, start, end: live ? null : stop, lastSeen: stop, rx, tx };
      });
    await fc.assert(
      fc.asyncProperty(fc.array(session, { minLength: 1, maxLength: 40 }), async (sessions) => {
        await pool.query('TRUNCATE sessions');
        await insertSessions(sessions);
        const t = await new DashboardStatsRepository(pool).traffic('24h', new Date(now), { top: 3 });
        const ref = reference(sessions, now);
        const close = (a: number, b: number) => Math.abs(a - b) <= 1 + Math.abs(b) * 1e-9;
        for (let k = 0; k < 24; k++) {
          let want = 0;
          for (const series of ref.values()) want += series[k]!;
          expect(close(t.total.rxBytes[k]! + t.total.txBytes[k]!, want), `hour ${k}`).toBe(true);
        }
        for (const n of t.nodes) {
          const want = ref.get(n.nodeId!)!;
          n.rxBytes.forEach((rx, k) =>
            expect(close(rx + n.txBytes[k]!, want[k]!), `${n.nodeId} hour ${k}`).toBe(true),
          );
        }
        // The listed nodes are the busiest, busiest first.
        const totals = [...ref.entries()].map(([node, s]) => [node, s.reduce((a, b) => a + b, 0)] as const);
        totals.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
        const listed = t.nodes.map((n) => n.nodeId);
        expect(listed).toEqual(totals.slice(0, 3).map(([node]) => node));
      }),
      { numRuns: 25 },
    );
  });

  it('narrows the 24 h series to one node, with zeros for a node without traffic', async () => {
    const now = Date.parse('2026-03-10T15:20:00Z');
    await insertSessions([
      { node: 'n-a', start: now - 2 * HOUR, end: null, lastSeen: now - 1000, rx: 100, tx: 100 },
      { node: 'n-b', start: now - 2 * HOUR, end: null, lastSeen: now - 1000, rx: 999, tx: 999 },
    ]);
    const repo = new DashboardStatsRepository(pool);
    const a = await repo.traffic('24h', new Date(now), { nodeId: 'n-a', top: 5 });
    expect(a.nodes.map((n) => n.nodeId)).toEqual(['n-a']);
    expect(a.total.rxBytes.reduce((x, y) => x + y, 0)).toBe(100);
    const none = await repo.traffic('24h', new Date(now), { nodeId: 'n-zzz', top: 5 });
    expect(none.nodes).toEqual([
      { nodeId: 'n-zzz', rxBytes: new Array(24).fill(0), txBytes: new Array(24).fill(0) },
    ]);
  });

  it('sums usage per UTC day for 7 days, keeps days that are over, and re-reads today', async () => {
    const now = Date.parse('2026-03-10T15:20:00Z');
    const day = (d: number) => new Date(now - d * DAY).toISOString().slice(0, 10);
    const rows: [string, string, string, number, number][] = [];
    for (let d = 0; d < 9; d++)
      for (const node of ['n-a', 'n-b'])
        for (let u = 0; u < 3; u++)
          rows.push([randomUUID(), node, day(d), (d + 1) * 10, node === 'n-a' ? 1000 : 1]);
    for (const r of rows)
      await pool.query(
        'INSERT INTO usage (user_id, node_id, day, rx_bytes, tx_bytes) VALUES ($1, $2, $3, $4, $5)',
        r,
      );
    const repo = new DashboardStatsRepository(pool);
    const t = await repo.traffic('7d', new Date(now), { top: 1 });
    expect(t.method).toBe('usage-daily');
    expect(t.buckets.map((b) => b.toISOString().slice(0, 10))).toEqual([6, 5, 4, 3, 2, 1, 0].map(day));
    // Per day: 2 nodes × 3 users × (d + 1) × 10 rx.
    expect(t.total.rxBytes).toEqual([6, 5, 4, 3, 2, 1, 0].map((d) => 60 * (d + 1)));
    expect(t.total.txBytes).toEqual(new Array(7).fill(3 * 1000 + 3));
    expect(t.nodes.map((n) => n.nodeId)).toEqual(['n-a']);

    // Rows change after the first read: a finished day stays as read (it is final), today follows.
    await pool.query(`UPDATE usage SET tx_bytes = tx_bytes + 5 WHERE day IN ($1, $2)`, [day(3), day(0)]);
    const again = await repo.traffic('7d', new Date(now), { top: 1 });
    expect(again.total.txBytes[3]).toBe(3003);
    expect(again.total.txBytes[6]).toBe(3003 + 6 * 5);
    // One node's series is always read fresh.
    const a = await repo.traffic('7d', new Date(now), { nodeId: 'n-a', top: 5 });
    expect(a.total.txBytes[3]).toBe(3000 + 15);
    // Ten minutes into a day, yesterday is not final yet.
    const early = Date.parse('2026-03-11T00:05:00Z');
    await pool.query(`UPDATE usage SET rx_bytes = rx_bytes + 1 WHERE day = $1`, [day(0)]);
    const e1 = await repo.traffic('7d', new Date(early), { top: 1 });
    await pool.query(`UPDATE usage SET rx_bytes = rx_bytes + 1 WHERE day = $1`, [day(0)]);
    const e2 = await repo.traffic('7d', new Date(early), { top: 1 });
    expect(e2.total.rxBytes[5]! - e1.total.rxBytes[5]!).toBe(6);
  });
});
