/**
 * Revocations of users, devices and tickets, served to nodes as a cursor-based feed.
 *
 * Cursor `<generation>.<lastId>`: `lastId` is the highest revocation id the node has; `generation`
 * (table revocation_feed_state) changes whenever the feed loses rows — a lifted revocation (user
 * re-enabled) or pruning — and a cursor from another generation gets a full snapshot
 * (`reset: true`), because deltas can only add ids, never remove them.
 *
 * Deltas are `id > lastId`, which is only sound if ids become visible in id order. A BIGSERIAL id
 * is drawn at insert time, so two replicas inserting at once could commit ids 11 then 10; a node
 * reading between the commits would move its cursor past 10 and never see it. Inserts therefore
 * hold REVOCATION_INSERT_LOCK (transaction-scoped advisory lock) from drawing the id to commit.
 *
 * The feed does not grow forever. A revocation matters only while a ticket it covers can still be
 * presented, so snapshots carry a revocation only while such a ticket is unexpired — judged by each
 * ticket's own `expires_at`, never by the current TICKET_TTL_S (which may have been lowered since) —
 * and `prune` deletes the others. Both keep every revocation younger than PRUNE_GRACE_MS: a ticket
 * insert that read the user and device before the revocation committed may still commit after it
 * (it takes no lock on them), so "covers no ticket yet" is not "will cover none", and a node whose
 * snapshot dropped the revocation would never see it again (its cursor is already past the id).
 */
import { REVOCATION_LIST_MAX_ITEMS } from '@corridor/protocol/control';
import type { Prisma, PrismaClient } from '../generated/prisma/client.js';

export type RevocationKind = 'user' | 'device' | 'ticket';

export interface RevocationRecord {
  id: string;
  kind: RevocationKind;
  subjectId: string;
  createdAt: Date;
}

export interface RevocationFeed {
  cursor: string;
  reset: boolean;
  tickets: string[];
  devices: string[];
  users: string[];
}

/** Advisory lock key serializing revocation inserts (any 64-bit constant unique to this use). */
export const REVOCATION_INSERT_LOCK = 0x636f_7272_7276_6b6en;

/**
 * Rows younger than this are never pruned nor left out of snapshots: a ticket insert racing the
 * revocation may still commit.
 */
export const PRUNE_GRACE_MS = 3_600_000;

/**
 * Whether revocation `r` still covers a ticket that has not expired (SQL fragment on alias `r`).
 * A ticket revocation covers its ticket; a device or user revocation every ticket of that device
 * or user.
 */
const STILL_COVERS_A_TICKET = `(
  (r.kind = 'ticket' AND EXISTS (SELECT 1 FROM tickets t WHERE t.id = r.subject_id AND t.expires_at > now()))
  OR (r.kind = 'device' AND EXISTS (SELECT 1 FROM tickets t WHERE t.device_id = r.subject_id AND t.expires_at > now()))
  OR (r.kind = 'user' AND EXISTS (SELECT 1 FROM tickets t WHERE t.user_id = r.subject_id AND t.expires_at > now()))
)`;

/** Whether revocation `r` is still within PRUNE_GRACE_MS of its creation (SQL fragment on alias `r`). */
const WITHIN_GRACE = `r.created_at > now() - make_interval(secs => ${PRUNE_GRACE_MS / 1000})`;

type Tx = Prisma.TransactionClient;

export class RevocationsRepository {
  /**
   * `pageSize`: most revocation rows one feed answer carries (so every id list stays within the
   * agent API's REVOCATION_LIST_MAX_ITEMS, which nodes enforce); the rest follow in deltas.
   */
  constructor(
    private readonly prisma: PrismaClient,
    private readonly pageSize = REVOCATION_LIST_MAX_ITEMS,
  ) {}

  /** Records a revocation in its own transaction. */
  async insert(
    kind: RevocationKind,
    subjectId: string,
    reason: string | null,
    createdById: string | null,
  ): Promise<RevocationRecord> {
    return this.prisma.$transaction((tx) => this.insertIn(tx, kind, subjectId, reason, createdById));
  }

  /** Records a revocation inside the caller's transaction (holds the insert lock until it commits). */
  async insertIn(
    tx: Tx,
    kind: RevocationKind,
    subjectId: string,
    reason: string | null,
    createdById: string | null,
  ): Promise<RevocationRecord> {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${REVOCATION_INSERT_LOCK})`;
    const r = await tx.revocation.create({ data: { kind, subjectId, reason, createdById } });
    return { id: r.id.toString(), kind: r.kind, subjectId: r.subjectId, createdAt: r.createdAt };
  }

  /** The active (not lifted) revocation of a subject, if any. */
  async findActive(tx: Tx, kind: RevocationKind, subjectId: string): Promise<RevocationRecord | null> {
    const r = await tx.revocation.findFirst({
      where: { kind, subjectId, liftedAt: null },
      orderBy: { id: 'desc' },
    });
    return r ? { id: r.id.toString(), kind: r.kind, subjectId: r.subjectId, createdAt: r.createdAt } : null;
  }

  /**
   * Revokes every unexpired ticket of a user individually, inside the caller's transaction (user
   * re-enabled: tickets from before stay revoked). One INSERT … SELECT: the ids never travel
   * through the controller, and their number is bounded by the per-user ticket limit.
   */
  async revokeUnexpiredTicketsOfUser(
    tx: Tx,
    userId: string,
    reason: string,
    createdById: string | null,
  ): Promise<number> {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${REVOCATION_INSERT_LOCK})`;
    return tx.$executeRaw`
      INSERT INTO revocations (kind, subject_id, reason, created_by_id)
      SELECT 'ticket', t.id, ${reason}, ${createdById}::uuid FROM tickets t
      WHERE t.user_id = ${userId}::uuid AND t.expires_at > now()
        AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'ticket' AND r.subject_id = t.id AND r.lifted_at IS NULL)
      ORDER BY t.id`;
  }

  /**
   * Lifts active revocations of a subject inside the caller's transaction and, when any were
   * lifted, moves the feed to a new generation (nodes drop the subject with a fresh snapshot).
   */
  async liftIn(tx: Tx, kind: RevocationKind, subjectId: string): Promise<number> {
    const res = await tx.revocation.updateMany({
      where: { kind, subjectId, liftedAt: null },
      data: { liftedAt: new Date() },
    });
    if (res.count > 0) await this.bumpGeneration(tx);
    return res.count;
  }

  private async bumpGeneration(tx: Tx): Promise<void> {
    await tx.$executeRaw`
      INSERT INTO revocation_feed_state (id, generation) VALUES (1, 1)
      ON CONFLICT (id) DO UPDATE SET generation = revocation_feed_state.generation + 1`;
  }

  async currentCursor(): Promise<string> {
    const [row] = await this.prisma.$queryRaw<{ gen: bigint | null; last: bigint | null }[]>`
      SELECT (SELECT generation FROM revocation_feed_state WHERE id = 1) AS gen,
             (SELECT max(id) FROM revocations) AS last`;
    return `${row?.gen ?? 0n}.${row?.last ?? 0n}`;
  }

  /**
   * Revocations after `since`, or a snapshot (no `since`, a cursor of another generation, or one
   * past the newest id). Snapshots hold only revocations that still cover an unexpired ticket, or
   * are younger than PRUNE_GRACE_MS (a racing ticket insert may still commit).
   *
   * Paged: one answer carries at most `pageSize` rows, in id order. When a page is full its cursor
   * is the last id it carries (not the newest id), so the node's next request is a delta that
   * continues from there at once — after a snapshot page too, since a delta holds every row past
   * the cursor (a superset of what the rest of the snapshot would have held).
   */
  async feed(since: string | undefined): Promise<RevocationFeed> {
    const cursor = await this.currentCursor();
    const [gen, lastInCursor] = cursor.split('.') as [string, string];
    let sinceId: bigint | undefined;
    if (since !== undefined) {
      const m = /^(\d{1,18})\.(\d{1,18})$/.exec(since);
      if (m && m[1] === gen && BigInt(m[2]!) <= BigInt(lastInCursor)) sinceId = BigInt(m[2]!);
    }
    const reset = sinceId === undefined;
    const rows = reset
      ? await this.prisma.$queryRawUnsafe<{ id: bigint; kind: RevocationKind; subject_id: string }[]>(
          `SELECT r.id, r.kind::text AS kind, r.subject_id FROM revocations r
            WHERE r.lifted_at IS NULL AND (${WITHIN_GRACE} OR ${STILL_COVERS_A_TICKET}) ORDER BY r.id
            LIMIT $1`,
          this.pageSize,
        )
      : (
          await this.prisma.revocation.findMany({
            where: { liftedAt: null, id: { gt: sinceId } },
            orderBy: { id: 'asc' },
            select: { id: true, kind: true, subjectId: true },
            take: this.pageSize,
          })
        ).map((r) => ({ id: r.id, kind: r.kind, subject_id: r.subjectId }));
    const feed: RevocationFeed = { cursor, reset, tickets: [], devices: [], users: [] };
    let last = 0n;
    for (const r of rows) {
      if (r.id > last) last = r.id;
      (r.kind === 'ticket' ? feed.tickets : r.kind === 'device' ? feed.devices : feed.users).push(
        r.subject_id,
      );
    }
    // A full page: the rest follows from its last id. Otherwise rows inserted between
    // currentCursor() and the query must not be skipped by the next delta.
    if (rows.length >= this.pageSize || last > BigInt(lastInCursor)) feed.cursor = `${gen}.${last}`;
    feed.tickets = [...new Set(feed.tickets)];
    feed.devices = [...new Set(feed.devices)];
    feed.users = [...new Set(feed.users)];
    return feed;
  }

  /**
   * Deletes revocations that no longer cover an unexpired ticket, and lifted ones, when older than
   * PRUNE_GRACE_MS; starts a new feed generation when anything went (so nodes drop those ids).
   * Returns how many rows were deleted.
   */
  async prune(now = new Date()): Promise<number> {
    const before = new Date(now.getTime() - PRUNE_GRACE_MS);
    return this.prisma.$transaction(async (tx) => {
      // Serialized with inserts: a revocation being recorded right now is never judged half-done.
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${REVOCATION_INSERT_LOCK})`;
      const deleted = await tx.$executeRawUnsafe(
        `DELETE FROM revocations r WHERE r.created_at < $1
           AND (r.lifted_at IS NOT NULL OR NOT ${STILL_COVERS_A_TICKET})`,
        before,
      );
      if (deleted > 0) await this.bumpGeneration(tx);
      return deleted;
    });
  }
}
