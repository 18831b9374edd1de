/**
 * Read-only aggregates and lookups for the admin dashboard that no other repository gives:
 * overview counts, traffic time series, and the e-mails of user ids (sessions and audit rows carry
 * ids only). Plain SQL on the shared pg pool; every statement is served by an index
 * (see prisma/migrations/*_dashboard_indexes and `pnpm bench:admin`, which prints each plan).
 *
 * Traffic has two sources, and the answer says which one it used:
 *   - 7 days, daily buckets: the `usage` rows (exact bytes per user, node and UTC day, written by
 *     heartbeats as deltas). Days that are over no longer change, so their per-node sums are read
 *     once and kept in memory (a week of 1,000 nodes is 7,000 numbers); a request reads today's
 *     rows only;
 *   - 24 hours, hourly buckets: there is no hourly table, so each session overlapping the window
 *     contributes its cumulative bytes spread evenly over its lifetime
 *     [started_at, ended_at or last report] (an estimate: a session that was busy early and idle
 *     late is drawn flatter than it was).
 * `now` is always passed in, so callers (and tests) decide the window.
 */
import type pg from 'pg';

export const TRAFFIC_RANGES = ['24h', '7d'] as const;
export type TrafficRange = (typeof TRAFFIC_RANGES)[number];

export interface NodeStateRow {
  id: string;
  region: string;
  disabled: boolean;
  enrolled: boolean;
}

export interface OverviewCounts {
  nodes: NodeStateRow[];
  /** Sessions not ended, per node (a node that stops heartbeating leaves its sessions open). */
  openSessionsByNode: Map<string, number>;
  usersTotal: number;
  usersActiveToday: number;
  failedLogins24h: number;
}

export interface TrafficSeries {
  nodeId: string | null;
  rxBytes: number[];
  txBytes: number[];
}

export interface TrafficResult {
  range: TrafficRange;
  method: 'sessions-estimate' | 'usage-daily';
  bucketSeconds: number;
  /** Bucket start instants, oldest first; the last bucket is the current (partial) hour or day. */
  buckets: Date[];
  total: TrafficSeries;
  /** The `top` busiest nodes of the window (or just the requested node), busiest first. */
  nodes: TrafficSeries[];
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Start of the UTC hour / day containing `t`. */
export function floorUtc(t: Date, unitMs: number): Date {
  return new Date(Math.floor(t.getTime() / unitMs) * unitMs);
}

/** `YYYY-MM-DD` of the UTC day containing `t`. */
export function utcDay(t: Date): string {
  return t.toISOString().slice(0, 10);
}

/**
 * 24 h estimate, per node and hour of the window [$1, $2) (hour k = [$1 + k h, $1 + (k+1) h)).
 *
 * `s`: sessions live at some point of the window — still open (ended_at IS NULL) or ended inside it
 * (both served by sessions(ended_at, started_at)) — as seconds since $1: b = start, e = end (or last
 * report), and the first and last hour they touch, k0 and k1. A session's bytes are spread evenly over
 * [b, e]: its first hour gets the overlap (all of it when b = e), its last hour (when different) the
 * rest of its overlap, and each hour strictly between them 3600 / (e - b) of its bytes. Only the few
 * sessions spanning three hours or more are joined with the hour list, so the work stays linear in
 * the number of sessions and the planner's row estimates stay honest (a per-session
 * generate_series makes it expect ~1000 rows each, pick a full index scan and JIT-compile).
 */
const SESSIONS_PER_HOUR_SQL = (nodeFilter: string, topParam: string) => `
  WITH s AS (
    SELECT node_id, rx, tx, b, e, e - b AS dur,
           floor(GREATEST(b, 0) / 3600)::int AS k0, floor(LEAST(e, w) / 3600)::int AS k1
    FROM (
      SELECT node_id, rx_bytes::float8 AS rx, tx_bytes::float8 AS tx,
             date_part('epoch', started_at - $1) AS b,
             date_part('epoch', GREATEST(COALESCE(ended_at, last_seen_at), started_at) - $1) AS e,
             date_part('epoch', $2::timestamptz - $1) AS w
      FROM sessions
      WHERE (ended_at IS NULL OR ended_at >= $1) ${nodeFilter}
    ) r
    WHERE e >= 0
  ),
  long AS MATERIALIZED (SELECT node_id, rx, tx, dur, k0, k1 FROM s WHERE k1 > k0 + 1),
  per AS (
    SELECT node_id, k, sum(rx * f) AS rx, sum(tx * f) AS tx
    FROM (
      SELECT node_id, k0 AS k, rx, tx,
             CASE WHEN dur = 0 THEN 1::float8
                  ELSE (LEAST(e, (k0 + 1) * 3600::float8) - GREATEST(b, k0 * 3600::float8)) / dur END AS f
      FROM s
      UNION ALL
      SELECT node_id, k1, rx, tx, (e - k1 * 3600::float8) / dur FROM s WHERE k1 > k0
      UNION ALL
      SELECT node_id, h.k, rx, tx, 3600::float8 / dur
      FROM long JOIN generate_series(1, 22) AS h(k) ON h.k > long.k0 AND h.k < long.k1
    ) parts
    GROUP BY node_id, k
  ),
  top AS (SELECT node_id FROM per GROUP BY node_id ORDER BY sum(rx + tx) DESC, node_id LIMIT ${topParam})
  SELECT NULL::text AS node_id, k, sum(rx)::float8 AS rx, sum(tx)::float8 AS tx FROM per GROUP BY k
  UNION ALL
  SELECT per.node_id, k, rx::float8, tx::float8 FROM per JOIN top USING (node_id)`;

/** Exact usage per node and UTC day, for the days listed in $1 (dates). */
const USAGE_PER_DAY_SQL = (nodeFilter: string) => `
  SELECT node_id, to_char(day, 'YYYY-MM-DD') AS day, sum(rx_bytes)::float8 AS rx, sum(tx_bytes)::float8 AS tx
  FROM usage
  WHERE day = ANY($1::date[]) ${nodeFilter}
  GROUP BY node_id, day`;

/**
 * A day's usage rows stop changing when the day is over (heartbeats add to the current UTC day).
 * A heartbeat applied just before midnight may commit just after it, so a day counts as final only
 * this long after its end.
 */
const FINAL_AFTER_MS = 10 * 60_000;

type NodeBytes = Map<string, { rx: number; tx: number }>;

function zeros(nodeId: string | null, count: number): TrafficSeries {
  return { nodeId, rxBytes: new Array<number>(count).fill(0), txBytes: new Array<number>(count).fill(0) };
}

export class DashboardStatsRepository {
  constructor(private readonly pool: pg.Pool) {}

  async overview(now: Date): Promise<OverviewCounts> {
    const since24h = new Date(now.getTime() - DAY_MS);
    const [nodes, active, users, today, failed] = await Promise.all([
      this.pool.query<NodeStateRow>(
        `SELECT id, region, disabled_at IS NOT NULL AS disabled, enrolled_at IS NOT NULL AS enrolled
         FROM nodes ORDER BY region, id`,
      ),
      this.pool.query<{ node_id: string; n: number }>(
        'SELECT node_id, count(*)::int AS n FROM sessions WHERE ended_at IS NULL GROUP BY node_id',
      ),
      this.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM users'),
      this.pool.query<{ n: number }>(
        'SELECT count(DISTINCT user_id)::int AS n FROM usage WHERE day = $1::date',
        [utcDay(now)],
      ),
      this.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM audit_events WHERE action = 'auth.login_failed' AND created_at >= $1`,
        [since24h],
      ),
    ]);
    return {
      nodes: nodes.rows,
      openSessionsByNode: new Map(active.rows.map((r) => [r.node_id, r.n])),
      usersTotal: users.rows[0]?.n ?? 0,
      usersActiveToday: today.rows[0]?.n ?? 0,
      failedLogins24h: failed.rows[0]?.n ?? 0,
    };
  }

  /** E-mails of the given users (unknown ids are left out). */
  async userEmails(ids: readonly string[]): Promise<{ id: string; email: string }[]> {
    if (ids.length === 0) return [];
    const res = await this.pool.query<{ id: string; email: string }>(
      'SELECT id::text AS id, email FROM users WHERE id = ANY($1::uuid[]) ORDER BY id',
      [ids],
    );
    return res.rows;
  }

  /** Total and per-node traffic for the window ending at `now`; `nodeId` narrows it to one node. */
  async traffic(
    range: TrafficRange,
    now: Date,
    opts: { nodeId?: string; top: number },
  ): Promise<TrafficResult> {
    const hourly = range === '24h';
    const unit = hourly ? HOUR_MS : DAY_MS;
    const count = hourly ? 24 : 7;
    const first = new Date(floorUtc(now, unit).getTime() - (count - 1) * unit);
    const buckets = Array.from({ length: count }, (_, i) => new Date(first.getTime() + i * unit));
    if (hourly) {
      const { total, nodes } = await this.hourly(first, now, opts);
      const order = (x: TrafficSeries) =>
        x.rxBytes.reduce((a, b) => a + b, 0) + x.txBytes.reduce((a, b) => a + b, 0);
      nodes.sort((a, b) => order(b) - order(a) || (a.nodeId ?? '').localeCompare(b.nodeId ?? ''));
      if (opts.nodeId !== undefined && nodes.length === 0) nodes.push(zeros(opts.nodeId, count));
      return { range, method: 'sessions-estimate', bucketSeconds: unit / 1000, buckets, total, nodes };
    }
    // cells[i]: bytes per node on day i.
    const cells = await this.dayCells(buckets, now, opts.nodeId);
    const totals = new Map<string, number>();
    for (const cell of cells)
      for (const [node, v] of cell) totals.set(node, (totals.get(node) ?? 0) + v.rx + v.tx);
    const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const chosen =
      opts.nodeId !== undefined ? [opts.nodeId] : ranked.slice(0, opts.top).map(([node]) => node);
    const series = (pick: (cell: NodeBytes) => { rx: number; tx: number }) => ({
      rxBytes: cells.map((c) => Math.round(pick(c).rx)),
      txBytes: cells.map((c) => Math.round(pick(c).tx)),
    });
    const zero = { rx: 0, tx: 0 };
    return {
      range,
      method: 'usage-daily',
      bucketSeconds: unit / 1000,
      buckets,
      total: {
        nodeId: null,
        ...series((c) => {
          let rx = 0;
          let tx = 0;
          for (const v of c.values()) {
            rx += v.rx;
            tx += v.tx;
          }
          return { rx, tx };
        }),
      },
      nodes: chosen.map((node) => ({ nodeId: node, ...series((c) => c.get(node) ?? zero) })),
    };
  }

  /** The 24 h estimate: the total and the busiest nodes (or the one node), each 24 hourly values. */
  private async hourly(
    first: Date,
    now: Date,
    opts: { nodeId?: string; top: number },
  ): Promise<{ total: TrafficSeries; nodes: TrafficSeries[] }> {
    const values: unknown[] = [first, now];
    const filter = opts.nodeId === undefined ? '' : `AND node_id = $${values.push(opts.nodeId)}`;
    const topParam = `$${values.push(opts.nodeId === undefined ? opts.top : 1)}`;
    const res = await this.pool.query<{ node_id: string | null; k: number; rx: number; tx: number }>(
      SESSIONS_PER_HOUR_SQL(filter, topParam),
      values,
    );
    const total = zeros(null, 24);
    const byNode = new Map<string, TrafficSeries>();
    for (const r of res.rows) {
      if (r.k < 0 || r.k > 23) continue;
      let series = total;
      if (r.node_id !== null) {
        series = byNode.get(r.node_id) ?? zeros(r.node_id, 24);
        byNode.set(r.node_id, series);
      }
      series.rxBytes[r.k] = Math.round(r.rx);
      series.txBytes[r.k] = Math.round(r.tx);
    }
    return { total, nodes: [...byNode.values()] };
  }

  /** Final days of all nodes: UTC day → bytes per node (bounded: only the last 8 days are kept). */
  private readonly finalDays = new Map<string, NodeBytes>();

  /**
   * Daily cells. For the all-nodes view, days that are over come from `finalDays` once read (their
   * rows no longer change), so a request reads only today's rows; one node's days are few rows
   * (usage(node_id, day)) and are always read.
   */
  private async dayCells(buckets: Date[], now: Date, nodeId: string | undefined): Promise<NodeBytes[]> {
    const days = buckets.map(utcDay);
    const isFinal = (b: Date) => b.getTime() + DAY_MS + FINAL_AFTER_MS <= now.getTime();
    const wanted =
      nodeId === undefined ? days.filter((d, i) => !(isFinal(buckets[i]!) && this.finalDays.has(d))) : days;
    const fetched = new Map<string, NodeBytes>();
    if (wanted.length > 0) {
      const values: unknown[] = [wanted];
      const filter = nodeId === undefined ? '' : `AND node_id = $${values.push(nodeId)}`;
      const res = await this.pool.query<{ node_id: string; day: string; rx: number; tx: number }>(
        USAGE_PER_DAY_SQL(filter),
        values,
      );
      for (const d of wanted) fetched.set(d, new Map());
      for (const r of res.rows) fetched.get(r.day)?.set(r.node_id, { rx: r.rx, tx: r.tx });
    }
    if (nodeId === undefined) {
      buckets.forEach((b, i) => {
        const d = days[i]!;
        const got = fetched.get(d);
        if (got !== undefined && isFinal(b)) this.finalDays.set(d, got);
      });
      for (const d of this.finalDays.keys()) if (d < days[0]!) this.finalDays.delete(d);
    }
    return days.map((d) => fetched.get(d) ?? this.finalDays.get(d) ?? new Map());
  }

  /** Forgets cached final days (benchmarks measure the cold path with it). */
  forgetFinalDays(): void {
    this.finalDays.clear();
  }
}
