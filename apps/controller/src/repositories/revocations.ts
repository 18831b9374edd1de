/**
 * Revocations of users, devices and tickets, served to nodes as a cursor-based feed.
 *
 * Cursor `<epoch>.<lastId>`: `lastId` is the highest revocation id the node has; `epoch` counts
 * lifted revocations (a re-enabled user). A cursor from an older epoch gets a full snapshot
 * (`reset: true`) because deltas can only add ids, never remove them.
 *
 * Deltas are `id > lastId`, which is only sound if ids become visible in id order. A BIGSERIAL id
 * is drawn at insert time, so two replicas inserting at once could commit ids 11 then 10; a node
 * reading between the commits would move its cursor past 10 and never see it. Inserts therefore
 * hold REVOCATION_INSERT_LOCK (transaction-scoped advisory lock) from drawing the id to commit.
 */
import type { PrismaClient } from '../generated/prisma/client.js';

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

export class RevocationsRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async insert(
    kind: RevocationKind,
    subjectId: string,
    reason: string | null,
    createdById: string | null,
  ): Promise<RevocationRecord> {
    const r = await this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${REVOCATION_INSERT_LOCK})`;
      return tx.revocation.create({ data: { kind, subjectId, reason, createdById } });
    });
    return { id: r.id.toString(), kind: r.kind, subjectId: r.subjectId, createdAt: r.createdAt };
  }

  async insertMany(
    kind: RevocationKind,
    subjectIds: string[],
    reason: string,
    createdById: string | null,
  ): Promise<void> {
    if (subjectIds.length === 0) return;
    await this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${REVOCATION_INSERT_LOCK})`;
      await tx.revocation.createMany({
        data: subjectIds.map((subjectId) => ({ kind, subjectId, reason, createdById })),
      });
    });
  }

  /** Lifts active revocations of a subject (user re-enabled). Returns how many were lifted. */
  async lift(kind: RevocationKind, subjectId: string): Promise<number> {
    const res = await this.prisma.revocation.updateMany({
      where: { kind, subjectId, liftedAt: null },
      data: { liftedAt: new Date() },
    });
    return res.count;
  }

  async currentCursor(): Promise<string> {
    const [row] = await this.prisma.$queryRaw<{ epoch: bigint; last: bigint | null }[]>`
      SELECT (SELECT count(*) FROM revocations WHERE lifted_at IS NOT NULL) AS epoch, (SELECT max(id) FROM revocations) AS last`;
    return `${Number(row?.epoch ?? 0)}.${Number(row?.last ?? 0)}`;
  }

  /**
   * Revocations after `since`, or a snapshot. Ticket revocations older than `ticketTtlS` are left
   * out of snapshots: those tickets have expired anyway.
   */
  async feed(since: string | undefined, ticketTtlS: number): Promise<RevocationFeed> {
    const cursor = await this.currentCursor();
    const [epoch] = cursor.split('.');
    let sinceId: bigint | undefined;
    if (since !== undefined) {
      const m = /^(\d{1,18})\.(\d{1,18})$/.exec(since);
      if (m && m[1] === epoch) sinceId = BigInt(m[2]!);
    }
    const reset = sinceId === undefined;
    const rows = await this.prisma.revocation.findMany({
      where: {
        liftedAt: null,
        ...(reset
          ? {
              OR: [
                { kind: { not: 'ticket' } },
                { createdAt: { gte: new Date(Date.now() - ticketTtlS * 1000 - 60_000) } },
              ],
            }
          : { id: { gt: sinceId } }),
      },
      orderBy: { id: 'asc' },
      select: { id: true, kind: true, subjectId: true },
    });
    const feed: RevocationFeed = { cursor, reset, tickets: [], devices: [], users: [] };
    let last = 0n;
    for (const r of rows) {
      if (r.id > last) last = r.id;
      (r.kind === 'ticket' ? feed.tickets : r.kind === 'device' ? feed.devices : feed.users).push(
        r.subjectId,
      );
    }
    // Rows inserted between currentCursor() and the query must not be skipped by the next delta.
    const [e, lastInCursor] = cursor.split('.');
    if (last > BigInt(lastInCursor ?? '0')) feed.cursor = `${e}.${last}`;
    feed.tickets = [...new Set(feed.tickets)];
    feed.devices = [...new Set(feed.devices)];
    feed.users = [...new Set(feed.users)];
    return feed;
  }
}
