/** Audit log: who did what, to what, when and from where. Append-only. */
import type { PrismaClient } from '../generated/prisma/client.js';
import { CURSOR_ID, afterCursor, decodeCursor, page, takeFor } from '../lib/pagination.js';

export interface AuditInput {
  actorType: 'user' | 'admin' | 'node' | 'system' | 'anonymous';
  actorId?: string | null;
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  ip?: string | null;
  /** Must never contain secrets (tokens, passwords). */
  details?: Record<string, string | number | boolean | null>;
}

export interface AuditRecord {
  id: string;
  actorType: string;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  details: unknown;
  createdAt: Date;
}

export interface AuditFilter {
  actorId?: string;
  action?: string;
  targetId?: string;
  from?: Date;
  to?: Date;
  limit: number;
  cursor?: string;
  order: 'asc' | 'desc';
}

export class AuditRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async record(e: AuditInput): Promise<void> {
    await this.prisma.auditEvent.create({
      data: {
        actorType: e.actorType,
        actorId: e.actorId ?? null,
        action: e.action,
        targetType: e.targetType ?? null,
        targetId: e.targetId ?? null,
        ip: e.ip ?? null,
        ...(e.details ? { details: e.details } : {}),
      },
    });
  }

  async list(f: AuditFilter): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
    const c = decodeCursor(f.cursor, CURSOR_ID.bigint);
    const rows = await this.prisma.auditEvent.findMany({
      where: {
        ...(f.actorId ? { actorId: f.actorId } : {}),
        ...(f.action ? { action: f.action } : {}),
        ...(f.targetId ? { targetId: f.targetId } : {}),
        ...(f.from || f.to
          ? { createdAt: { ...(f.from ? { gte: f.from } : {}), ...(f.to ? { lt: f.to } : {}) } }
          : {}),
        ...afterCursor(c, f.order, 'createdAt', BigInt),
      },
      orderBy: [{ createdAt: f.order }, { id: f.order }],
      take: takeFor(f.limit),
    });
    const mapped = rows.map((r) => ({ ...r, id: r.id.toString() }));
    return page(mapped, f.limit, (r) => r);
  }
}
