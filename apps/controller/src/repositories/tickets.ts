/**
 * Ticket rows, written on the hot path with raw SQL through the shared pg pool: one statement
 * both checks the device (registered to this user, not revoked) and the user (not disabled) and
 * records the ticket, returning the device key and the user's limits so the caller can sign
 * without another query. Concurrent requests are grouped into one statement.
 */
import type pg from 'pg';

export interface TicketRowInput {
  ticketId: string;
  userId: string;
  deviceId: string;
  nodeId: string;
  keyId: number;
  issuedAt: Date;
  expiresAt: Date;
}

export interface IssuedTicketRow {
  publicKey: string;
  bandwidthBytesPerSec: number;
  dataQuotaBytes: number;
}

export type TicketRefusal = 'deviceNotFound' | 'deviceRevoked' | 'userDisabled';

/**
 * One statement for a whole batch: the CTE `ok` keeps the requests whose device belongs to the
 * user, is not revoked and whose user is not disabled; `ins` records those tickets. Requests left
 * out of the result were refused.
 */
const BATCH_SQL = `
  WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int[], $6::timestamptz[], $7::timestamptz[])
      AS t(id, user_id, device_id, node_id, key_id, issued_at, expires_at)
  ),
  ok AS (
    SELECT i.*, d.public_key, u.bandwidth_bytes_per_sec::text AS bw, u.data_quota_bytes::text AS quota
    FROM input i
    JOIN devices d ON d.id = i.device_id AND d.user_id = i.user_id AND d.revoked_at IS NULL
    JOIN users u ON u.id = d.user_id AND u.disabled_at IS NULL
  ),
  ins AS (
    INSERT INTO tickets (id, user_id, device_id, node_id, key_id, issued_at, expires_at)
    SELECT id, user_id, device_id, node_id, key_id, issued_at, expires_at FROM ok
    RETURNING id
  )
  SELECT ok.id, ok.public_key, ok.bw, ok.quota FROM ok JOIN ins USING (id)`;

/** Upper bound on tickets per statement (keeps statements and their latency small). */
const MAX_BATCH = 128;

interface Pending {
  t: TicketRowInput;
  resolve(row: IssuedTicketRow | null): void;
  reject(e: unknown): void;
}

export class TicketsRepository {
  private queue: Pending[] = [];
  private scheduled = false;

  /**
   * `onBatchError` hears about a failed group insert before its rows are retried one by one (for
   * the log: without it a bad row would fail its neighbours silently).
   */
  constructor(
    private readonly pool: pg.Pool,
    private readonly onBatchError: (err: unknown, size: number) => void = () => {},
    /**
     * Use a named prepared statement for the group insert (planned once per connection). Off for
     * the embedded database, whose one session outlives connections (db/embedded.ts).
     */
    private readonly namedStatements = true,
  ) {}

  /**
   * Inserts the ticket if the user may have it; resolves null when refused (see `diagnose`).
   * Calls made in the same event-loop turn are written with one statement and one commit (group
   * insert), which is what keeps the hot path at a few thousand tickets/s on a small machine.
   *
   * Contract: it resolves with a row only once that ticket's row is committed (revocation by
   * ticket id and the heartbeat check rely on the record), and rejects otherwise. When a group
   * insert fails (one statement: nothing of it was written), each of its tickets is retried alone,
   * so a bad row fails only its own request.
   */
  insertChecked(t: TicketRowInput): Promise<IssuedTicketRow | null> {
    return new Promise((resolve, reject) => {
      this.queue.push({ t, resolve, reject });
      if (this.queue.length >= MAX_BATCH) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.write(batch).then(
      () => {},
      (e: unknown) => {
        if (batch.length === 1) {
          batch[0]!.reject(e);
          return;
        }
        this.onBatchError(e, batch.length);
        for (const p of batch) this.write([p]).catch((err: unknown) => p.reject(err));
      },
    );
  }

  /** One statement for `batch`; settles every entry on success, none on failure. */
  private async write(batch: readonly Pending[]): Promise<void> {
    const col = <K extends keyof TicketRowInput>(k: K) => batch.map((p) => p.t[k]);
    const res = await this.pool.query<{ id: string; public_key: string; bw: string; quota: string }>({
      ...(this.namedStatements ? { name: 'ticket-batch-insert' } : {}),
      text: BATCH_SQL,
      values: [
        col('ticketId'),
        col('userId'),
        col('deviceId'),
        col('nodeId'),
        col('keyId'),
        col('issuedAt'),
        col('expiresAt'),
      ],
    });
    const byId = new Map(res.rows.map((r) => [r.id, r]));
    for (const p of batch) {
      const r = byId.get(p.t.ticketId);
      p.resolve(
        r
          ? { publicKey: r.public_key, bandwidthBytesPerSec: Number(r.bw), dataQuotaBytes: Number(r.quota) }
          : null,
      );
    }
  }

  /** Why `insertChecked` refused (slow path, only on refusal). */
  async diagnose(userId: string, deviceId: string): Promise<TicketRefusal> {
    const res = await this.pool.query<{ device_revoked: boolean | null; user_disabled: boolean | null }>(
      `SELECT (SELECT revoked_at IS NOT NULL FROM devices WHERE id = $2::uuid AND user_id = $1::uuid) AS device_revoked,
              (SELECT disabled_at IS NOT NULL FROM users WHERE id = $1::uuid) AS user_disabled`,
      [userId, deviceId],
    );
    const r = res.rows[0];
    if (r?.user_disabled !== false) return 'userDisabled';
    if (r.device_revoked === null) return 'deviceNotFound';
    return 'deviceRevoked';
  }

  /** The ticket and the state of its device and user (online authorisation). */
  status(ticketId: string): Promise<TicketStatus | null> {
    return ticketStatus(this.pool, ticketId);
  }

  async find(ticketId: string): Promise<{ id: string; userId: string; expiresAt: Date } | null> {
    const res = await this.pool.query<{ id: string; user_id: string; expires_at: Date }>(
      'SELECT id, user_id, expires_at FROM tickets WHERE id = $1::uuid',
      [ticketId],
    );
    const r = res.rows[0];
    return r ? { id: r.id, userId: r.user_id, expiresAt: r.expires_at } : null;
  }

  /** Unexpired tickets of a user issued before `before` (to revoke them when re-enabling the user). */
  async unexpiredForUser(userId: string, before: Date): Promise<string[]> {
    const res = await this.pool.query<{ id: string }>(
      'SELECT id FROM tickets WHERE user_id = $1::uuid AND issued_at <= $2 AND expires_at > now()',
      [userId, before],
    );
    return res.rows.map((r) => r.id);
  }
}

/** Everything online authorisation needs about one ticket, read in one statement. */
export interface TicketStatus {
  nodeId: string;
  userId: string;
  deviceId: string;
  expiresAt: Date;
  /** Null when the device row is gone (removed by its owner). */
  devicePublicKey: string | null;
  deviceRevoked: boolean;
  /** Disabled, revoked, or the user row is gone. */
  userDisabled: boolean;
  ticketRevoked: boolean;
}

export async function ticketStatus(pool: pg.Pool, ticketId: string): Promise<TicketStatus | null> {
  const res = await pool.query<{
    node_id: string;
    user_id: string;
    device_id: string;
    expires_at: Date;
    public_key: string | null;
    device_revoked: boolean;
    user_disabled: boolean;
    ticket_revoked: boolean;
  }>(
    `SELECT t.node_id, t.user_id, t.device_id, t.expires_at, d.public_key,
            (d.revoked_at IS NOT NULL OR EXISTS (SELECT 1 FROM revocations r
               WHERE r.kind = 'device' AND r.subject_id = t.device_id AND r.lifted_at IS NULL)) AS device_revoked,
            (u.id IS NULL OR u.disabled_at IS NOT NULL OR EXISTS (SELECT 1 FROM revocations r
               WHERE r.kind = 'user' AND r.subject_id = t.user_id AND r.lifted_at IS NULL)) AS user_disabled,
            EXISTS (SELECT 1 FROM revocations r
               WHERE r.kind = 'ticket' AND r.subject_id = t.id AND r.lifted_at IS NULL) AS ticket_revoked
       FROM tickets t
       LEFT JOIN devices d ON d.id = t.device_id
       LEFT JOIN users u ON u.id = t.user_id
      WHERE t.id = $1::uuid`,
    [ticketId],
  );
  const r = res.rows[0];
  if (r === undefined) return null;
  return {
    nodeId: r.node_id,
    userId: r.user_id,
    deviceId: r.device_id,
    expiresAt: r.expires_at,
    devicePublicKey: r.public_key,
    deviceRevoked: r.device_revoked,
    userDisabled: r.user_disabled,
    ticketRevoked: r.ticket_revoked,
  };
}
