/**
 * Retention: keeps every table that grows with use bounded. Every `intervalS` one replica (the
 * one that takes the session-level advisory lock RETENTION_LOCK; the others skip that round)
 * deletes, in batches of BATCH rows so no statement holds locks for long:
 *   tickets            expired more than `ticketsS` ago (at least an hour: the final reports of
 *                      their sessions come with a later heartbeat and need the ticket)
 *   refresh_tokens     expired or revoked more than `refreshTokensS` ago (rotated tokens are kept
 *                      until they expire: reuse detection needs them)
 *   node_enrollment_tokens, node_credentials   expired/used or revoked more than `refreshTokensS` ago
 *   sessions           last reported more than `sessionsS` ago, and ended or without a ticket
 *                      (so no heartbeat can report them again)
 *   audit_events       older than `auditS`
 *   usage              days older than `usageS`
 *   revocations        no longer covering an unexpired ticket (RevocationsRepository.prune)
 * Device key tombstones are kept: they are what makes an admin's revocation final.
 */
import type pg from 'pg';
import type { RetentionConfig } from '../config.js';
import type { RevocationsRepository } from '../repositories/revocations.js';

/** Advisory lock key of the pruner (any 64-bit constant unique to this use). */
export const RETENTION_LOCK = 0x636f_7272_7265_746en;
/** Rows per DELETE statement. */
export const BATCH = 5_000;

export type RetentionCounts = Record<string, number>;

interface Rule {
  table: string;
  /** SQL condition on the table's rows; `$1` is the cutoff for this rule. */
  where: string;
  retentionS: (c: RetentionConfig) => number;
}

const RULES: Rule[] = [
  { table: 'tickets', where: 'expires_at < $1', retentionS: (c) => c.ticketsS },
  {
    table: 'refresh_tokens',
    where: '(expires_at < $1 OR revoked_at < $1)',
    retentionS: (c) => c.refreshTokensS,
  },
  {
    table: 'node_enrollment_tokens',
    where: '(expires_at < $1 OR used_at < $1)',
    retentionS: (c) => c.refreshTokensS,
  },
  { table: 'node_credentials', where: 'revoked_at < $1', retentionS: (c) => c.refreshTokensS },
  {
    // Only sessions no heartbeat can report again: ended ones, and ones whose ticket is gone (reports
    // for it are ignored). A live session of a node that lost the controller for longer than the
    // retention would otherwise be deleted, and its next report counted as new usage in full.
    table: 'sessions',
    where: `last_seen_at < $1 AND (ended_at IS NOT NULL OR NOT EXISTS (
      SELECT 1 FROM tickets t WHERE t.id = sessions.ticket_id AND t.node_id = sessions.node_id))`,
    retentionS: (c) => c.sessionsS,
  },
  { table: 'audit_events', where: 'created_at < $1', retentionS: (c) => c.auditS },
  { table: 'usage', where: "day < ($1::timestamptz AT TIME ZONE 'UTC')::date", retentionS: (c) => c.usageS },
];

export class Retention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionCounts | null> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly revocations: RevocationsRepository,
    private readonly config: RetentionConfig,
    private readonly onRun: (counts: RetentionCounts) => void = () => {},
    private readonly onError: (e: unknown) => void = () => {},
  ) {}

  start(): void {
    const tick = () => {
      this.running ??= this.runOnce()
        .then((c) => {
          if (c) this.onRun(c);
          return c;
        })
        .catch((e: unknown) => {
          this.onError(e);
          return null;
        })
        .finally(() => (this.running = undefined));
    };
    this.timer = setInterval(tick, this.config.intervalS * 1000);
    this.timer.unref();
  }

  /** Stops the timer and waits for a round in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /**
   * One pruning round at `now`. Returns the rows deleted per table, or null when another replica
   * holds the lock (it is pruning right now).
   */
  async runOnce(now = new Date()): Promise<RetentionCounts | null> {
    const counts: RetentionCounts = {};
    const client = await this.pool.connect();
    let locked = false;
    try {
      const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
        RETENTION_LOCK.toString(),
      ]);
      locked = got.rows[0]?.ok === true;
      if (!locked) return null;
      for (const rule of RULES) {
        const cutoff = new Date(now.getTime() - rule.retentionS(this.config) * 1000);
        let total = 0;
        for (;;) {
          const res = await client.query(
            `DELETE FROM ${rule.table} WHERE ctid IN (SELECT ctid FROM ${rule.table} WHERE ${rule.where} LIMIT ${BATCH})`,
            [cutoff],
          );
          total += res.rowCount ?? 0;
          if ((res.rowCount ?? 0) < BATCH) break;
        }
        counts[rule.table] = total;
      }
    } finally {
      if (locked)
        await client.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK.toString()]).catch(() => {});
      client.release();
    }
    // After the connection went back: the embedded pool has only one. Revocation pruning is
    // serialized with revocation inserts by its own lock and is idempotent.
    counts.revocations = await this.revocations.prune(now);
    return counts;
  }
}
