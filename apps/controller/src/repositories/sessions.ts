/**
 * Sessions and usage, fed by node heartbeats. Heartbeats carry cumulative per-session counters;
 * the delta since the previous report is added to the per (user, node, UTC day) usage row.
 */
import type pg from 'pg';
import type { PrismaClient } from '../generated/prisma/client.js';
import { CURSOR_ID, afterCursor, decodeCursor, page, takeFor } from '../lib/pagination.js';

export interface SessionReportInput {
  ticketId: string;
  userId: string;
  deviceId: string;
  rxBytes: number;
  txBytes: number;
  connectedAt: string;
}

export interface SessionEndInput extends SessionReportInput {
  endedAt: string;
  reason: string;
}

export interface SessionRecord {
  id: string;
  nodeId: string;
  ticketId: string;
  userId: string;
  deviceId: string;
  startedAt: Date;
  lastSeenAt: Date;
  endedAt: Date | null;
  endReason: string | null;
  rxBytes: number;
  txBytes: number;
}

export interface SessionFilter {
  active?: boolean;
  nodeId?: string;
  userId?: string;
  deviceId?: string;
  from?: Date;
  to?: Date;
  limit: number;
  cursor?: string;
  order: 'asc' | 'desc';
}

export interface UsageFilter {
  groupBy: 'user' | 'node' | 'day';
  userId?: string;
  nodeId?: string;
  from?: string;
  to?: string;
  limit: number;
  offset: number;
}

export interface UsageRow {
  key: string;
  rxBytes: number;
  txBytes: number;
}

/**
 * One statement per heartbeat. `valid` keeps only the reports whose ticket exists, was issued for
 * the reporting node ($1) and names the same user and device; everything else is dropped (a node
 * must not write sessions or usage for another node's tickets or for made-up users). Counters are
 * cumulative: the stored counters only grow (GREATEST) and usage gets the positive delta over the
 * stored value, so a lower or repeated report adds nothing. The caller serializes heartbeats of one
 * node (advisory lock), so the stored value cannot be stale against a concurrent heartbeat of the
 * same node.
 *
 * Cost: linear in the reports. Each report looks up its ticket and its stored session by primary
 * or unique key once, in `valid` (MATERIALIZED: computed once); nothing joins the reports with
 * themselves. (A separate `prev` CTE joined back to `valid` used to be inlined into a nested loop
 * that probed the sessions index once per pair of reports: 10^8 probes, minutes of database time,
 * for one heartbeat of HEARTBEAT_MAX_SESSIONS reports.)
 */
export const HEARTBEAT_SQL = `
  WITH input AS (
    SELECT * FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::bigint[], $6::bigint[], $7::timestamptz[])
      AS t(ticket_id, user_id, device_id, rx, tx, started_at)
  ),
  valid AS MATERIALIZED (
    SELECT i.ticket_id, i.user_id, i.device_id, i.rx, i.tx, i.started_at,
           s.rx_bytes AS prev_rx, s.tx_bytes AS prev_tx
    FROM input i
    JOIN tickets t ON t.id = i.ticket_id AND t.node_id = $1 AND t.user_id = i.user_id AND t.device_id = i.device_id
    LEFT JOIN sessions s ON s.node_id = $1 AND s.ticket_id = i.ticket_id AND s.started_at = i.started_at
  ),
  upserted AS (
    INSERT INTO sessions (id, node_id, ticket_id, user_id, device_id, started_at, last_seen_at, rx_bytes, tx_bytes)
    SELECT gen_random_uuid(), $1, ticket_id, user_id, device_id, started_at, $8::timestamptz, rx, tx FROM valid
    ON CONFLICT (node_id, ticket_id, started_at) DO UPDATE SET
      last_seen_at = $8::timestamptz, ended_at = NULL,
      rx_bytes = GREATEST(sessions.rx_bytes, EXCLUDED.rx_bytes),
      tx_bytes = GREATEST(sessions.tx_bytes, EXCLUDED.tx_bytes)
    RETURNING 1
  ),
  used AS (
    INSERT INTO usage (user_id, node_id, day, rx_bytes, tx_bytes)
    SELECT user_id, $1, ($8::timestamptz AT TIME ZONE 'UTC')::date,
           sum(GREATEST(rx - COALESCE(prev_rx, 0), 0)), sum(GREATEST(tx - COALESCE(prev_tx, 0), 0))
    FROM valid
    GROUP BY user_id
    ON CONFLICT (user_id, node_id, day) DO UPDATE SET
      rx_bytes = usage.rx_bytes + EXCLUDED.rx_bytes, tx_bytes = usage.tx_bytes + EXCLUDED.tx_bytes
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM valid)::int AS accepted, (SELECT count(*) FROM upserted)::int AS upserted,
         (SELECT count(*) FROM used)::int AS used`;

/**
 * Sessions the node reports as ended (heartbeat `ended`), same validity rule, usage accounting and
 * cost as HEARTBEAT_SQL: the final counters only raise the stored ones and usage gets the increase
 * once, so a repeated end report adds nothing. The end instant is clamped into [start, heartbeat
 * time].
 */
export const ENDED_SQL = `
  WITH input AS (
    SELECT * FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::bigint[], $6::bigint[], $7::timestamptz[],
                         $8::timestamptz[], $9::text[])
      AS t(ticket_id, user_id, device_id, rx, tx, started_at, ended_at, reason)
  ),
  valid AS MATERIALIZED (
    SELECT i.ticket_id, i.user_id, i.device_id, i.rx, i.tx, i.started_at, i.ended_at, i.reason,
           s.rx_bytes AS prev_rx, s.tx_bytes AS prev_tx
    FROM input i
    JOIN tickets t ON t.id = i.ticket_id AND t.node_id = $1 AND t.user_id = i.user_id AND t.device_id = i.device_id
    LEFT JOIN sessions s ON s.node_id = $1 AND s.ticket_id = i.ticket_id AND s.started_at = i.started_at
  ),
  upserted AS (
    INSERT INTO sessions (id, node_id, ticket_id, user_id, device_id, started_at, last_seen_at, ended_at, end_reason,
                          rx_bytes, tx_bytes)
    SELECT gen_random_uuid(), $1, ticket_id, user_id, device_id, started_at, $10::timestamptz,
           LEAST(GREATEST(ended_at, started_at), $10::timestamptz), reason, rx, tx FROM valid
    ON CONFLICT (node_id, ticket_id, started_at) DO UPDATE SET
      last_seen_at = $10::timestamptz, ended_at = EXCLUDED.ended_at, end_reason = EXCLUDED.end_reason,
      rx_bytes = GREATEST(sessions.rx_bytes, EXCLUDED.rx_bytes),
      tx_bytes = GREATEST(sessions.tx_bytes, EXCLUDED.tx_bytes)
    RETURNING 1
  ),
  used AS (
    INSERT INTO usage (user_id, node_id, day, rx_bytes, tx_bytes)
    SELECT user_id, $1, ($10::timestamptz AT TIME ZONE 'UTC')::date,
           sum(GREATEST(rx - COALESCE(prev_rx, 0), 0)), sum(GREATEST(tx - COALESCE(prev_tx, 0), 0))
    FROM valid
    GROUP BY user_id
    ON CONFLICT (user_id, node_id, day) DO UPDATE SET
      rx_bytes = usage.rx_bytes + EXCLUDED.rx_bytes, tx_bytes = usage.tx_bytes + EXCLUDED.tx_bytes
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM valid)::int AS accepted, (SELECT count(*) FROM upserted)::int AS upserted,
         (SELECT count(*) FROM used)::int AS used`;

/** Longest a heartbeat waits for one of the same node still being applied (then 'busy': 429). */
export const HEARTBEAT_LOCK_WAIT_MS = 2_000;
const HEARTBEAT_LOCK_RETRY_MS = 50;

/** Keeps the last report of each session key (ticket, start instant normalized to ms). */
function uniqueByKey<T extends SessionReportInput>(list: readonly T[]): { items: T[]; unusable: number } {
  const unique = new Map<string, T>();
  let unusable = 0;
  for (const s of list) {
    const ms = Date.parse(s.connectedAt);
    if (!Number.isFinite(ms)) {
      unusable++;
      continue;
    }
    const connectedAt = new Date(ms).toISOString();
    unique.set(`${s.ticketId}|${connectedAt}`, { ...s, connectedAt });
  }
  return { items: [...unique.values()], unusable };
}

function toSession(r: {
  id: string;
  nodeId: string;
  ticketId: string;
  userId: string;
  deviceId: string;
  startedAt: Date;
  lastSeenAt: Date;
  endedAt: Date | null;
  endReason: string | null;
  rxBytes: bigint;
  txBytes: bigint;
}): SessionRecord {
  return { ...r, rxBytes: Number(r.rxBytes), txBytes: Number(r.txBytes) };
}

export class SessionsRepository {
  constructor(
    private readonly pool: pg.Pool,
    private readonly prisma: PrismaClient,
  ) {}

  /**
   * Applies one heartbeat atomically: upserts the reported sessions that belong to this node (see
   * HEARTBEAT_SQL), adds usage deltas, and ends the node's sessions that are no longer reported.
   * Returns how many reports were accepted and how many were ignored (unknown ticket, ticket of
   * another node, user/device not matching the ticket, or an unusable start time), or 'busy' when
   * a heartbeat of the same node was being applied for all of HEARTBEAT_LOCK_WAIT_MS (nothing was
   * written).
   */
  async applyHeartbeat(
    nodeId: string,
    reported: readonly SessionReportInput[],
    endedReports: readonly SessionEndInput[] = [],
  ): Promise<{ accepted: number; ignored: number } | 'busy'> {
    // A session listed twice (same ticket and start instant) would make the upsert touch one row
    // twice, which PostgreSQL rejects; keep the last report of each.
    // Start times are normalized to milliseconds (the column's precision) first, so the session
    // key compares equal across heartbeats however the agent formats it.
    const live = uniqueByKey(reported);
    const ended = uniqueByKey(endedReports);
    const sessions = live.items;
    const unusable = live.unusable + ended.unusable;
    // A heartbeat that overlaps one of the same node still being applied waits for it without
    // holding a pool connection (try, release, retry), and is refused after HEARTBEAT_LOCK_WAIT_MS.
    const deadline = Date.now() + HEARTBEAT_LOCK_WAIT_MS;
    for (;;) {
      const accepted = await this.applyOnce(nodeId, sessions, ended.items);
      if (accepted !== 'busy')
        return { accepted, ignored: unusable + sessions.length + ended.items.length - accepted };
      if (Date.now() >= deadline) return 'busy';
      await new Promise((r) => setTimeout(r, HEARTBEAT_LOCK_RETRY_MS));
    }
  }

  /** One attempt under the node's heartbeat lock; 'busy' (nothing written) when the lock is taken. */
  private async applyOnce(
    nodeId: string,
    sessions: readonly SessionReportInput[],
    ended: readonly SessionEndInput[],
  ): Promise<number | 'busy'> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Heartbeats of one node are applied one at a time (across replicas): the usage delta is
      // computed against the stored counters, which a concurrent heartbeat of the same node would
      // otherwise read before the other commits, counting the same bytes twice. Only tried, never
      // waited for here: a wait would hold a pool connection each, and one node sending
      // heartbeats in parallel would hold them all.
      const got = await client.query<{ ok: boolean }>(
        "SELECT pg_try_advisory_xact_lock(hashtextextended('heartbeat:' || $1, 0)) AS ok",
        [nodeId],
      );
      if (got.rows[0]?.ok !== true) {
        await client.query('ROLLBACK');
        return 'busy';
      }
      // Taken after the lock so reports of one node are stamped in the order they are applied.
      const at = new Date();
      let accepted = 0;
      if (sessions.length > 0) {
        const res = await client.query<{ accepted: number }>(HEARTBEAT_SQL, [
          nodeId,
          sessions.map((s) => s.ticketId),
          sessions.map((s) => s.userId),
          sessions.map((s) => s.deviceId),
          sessions.map((s) => String(s.rxBytes)),
          sessions.map((s) => String(s.txBytes)),
          sessions.map((s) => s.connectedAt),
          at,
        ]);
        accepted = res.rows[0]?.accepted ?? 0;
      }
      // Ends after live reports: a session in both lists ends with the higher counters, once.
      if (ended.length > 0) {
        const e = ended;
        const res = await client.query<{ accepted: number }>(ENDED_SQL, [
          nodeId,
          e.map((s) => s.ticketId),
          e.map((s) => s.userId),
          e.map((s) => s.deviceId),
          e.map((s) => String(s.rxBytes)),
          e.map((s) => String(s.txBytes)),
          e.map((s) => s.connectedAt),
          e.map((s) => s.endedAt),
          e.map((s) => s.reason),
          at,
        ]);
        accepted += res.rows[0]?.accepted ?? 0;
      }
      // Sessions not touched by this report (last_seen_at older than its timestamp) have ended. The
      // timestamp is passed in at the column's millisecond precision so the comparison is exact.
      await client.query(
        'UPDATE sessions SET ended_at = $2 WHERE node_id = $1 AND ended_at IS NULL AND last_seen_at < $2',
        [nodeId, at],
      );
      await client.query('COMMIT');
      return accepted;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  async list(f: SessionFilter): Promise<{ items: SessionRecord[]; nextCursor: string | null }> {
    const c = decodeCursor(f.cursor, CURSOR_ID.uuid);
    const rows = await this.prisma.session.findMany({
      where: {
        ...(f.active === undefined ? {} : f.active ? { endedAt: null } : { endedAt: { not: null } }),
        ...(f.nodeId ? { nodeId: f.nodeId } : {}),
        ...(f.userId ? { userId: f.userId } : {}),
        ...(f.deviceId ? { deviceId: f.deviceId } : {}),
        ...(f.from || f.to
          ? { startedAt: { ...(f.from ? { gte: f.from } : {}), ...(f.to ? { lt: f.to } : {}) } }
          : {}),
        ...afterCursor(c, f.order, 'startedAt', (id) => id),
      },
      orderBy: [{ startedAt: f.order }, { id: f.order }],
      take: takeFor(f.limit),
    });
    return page(rows.map(toSession), f.limit, (s) => ({ createdAt: s.startedAt, id: s.id }));
  }

  /** Usage totals grouped by user, node or day (`from`/`to` are inclusive YYYY-MM-DD, UTC). */
  async usage(f: UsageFilter): Promise<{ items: UsageRow[]; total: number }> {
    const col =
      f.groupBy === 'user'
        ? 'user_id::text'
        : f.groupBy === 'node'
          ? 'node_id'
          : "to_char(day, 'YYYY-MM-DD')";
    const where: string[] = [];
    const values: unknown[] = [];
    if (f.userId) where.push(`user_id = $${values.push(f.userId)}::uuid`);
    if (f.nodeId) where.push(`node_id = $${values.push(f.nodeId)}`);
    if (f.from) where.push(`day >= $${values.push(f.from)}::date`);
    if (f.to) where.push(`day <= $${values.push(f.to)}::date`);
    const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const order = f.groupBy === 'day' ? 'key DESC' : 'sum(rx_bytes) + sum(tx_bytes) DESC, key';
    const limitIdx = values.push(takeFor(f.limit) - 1);
    const offsetIdx = values.push(f.offset);
    const res = await this.pool.query<{ key: string; rx: string; tx: string; total: string }>(
      `SELECT ${col} AS key, sum(rx_bytes)::text AS rx, sum(tx_bytes)::text AS tx, count(*) OVER ()::text AS total
       FROM usage ${whereSql} GROUP BY 1 ORDER BY ${order} LIMIT $${limitIdx} OFFSET $${offsetIdx}`,
      values,
    );
    return {
      items: res.rows.map((r) => ({ key: r.key, rxBytes: Number(r.rx), txBytes: Number(r.tx) })),
      total: Number(res.rows[0]?.total ?? 0),
    };
  }
}
