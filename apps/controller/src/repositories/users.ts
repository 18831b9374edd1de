/** Users: accounts, roles and the disabled flag. Returns plain objects; never password hashes to callers that do not ask. */
import { randomUUID } from 'node:crypto';
import type { Prisma, PrismaClient } from '../generated/prisma/client.js';
import { CURSOR_ID, afterCursor, decodeCursor, page, takeFor } from '../lib/pagination.js';

export type Role = 'user' | 'admin';

export interface UserRecord {
  id: string;
  email: string;
  role: Role;
  disabledAt: Date | null;
  createdAt: Date;
  lastLoginAt: Date | null;
  bandwidthBytesPerSec: number;
  dataQuotaBytes: number;
}

export interface UserFilter {
  q?: string;
  role?: Role;
  disabled?: boolean;
  limit: number;
  cursor?: string;
  order: 'asc' | 'desc';
}

const PUBLIC_FIELDS = {
  id: true,
  email: true,
  role: true,
  disabledAt: true,
  createdAt: true,
  lastLoginAt: true,
  bandwidthBytesPerSec: true,
  dataQuotaBytes: true,
} as const;

type UserRow = {
  id: string;
  email: string;
  role: Role;
  disabledAt: Date | null;
  createdAt: Date;
  lastLoginAt: Date | null;
  bandwidthBytesPerSec: bigint;
  dataQuotaBytes: bigint;
};

function toRecord(u: UserRow): UserRecord {
  return {
    ...u,
    bandwidthBytesPerSec: Number(u.bandwidthBytesPerSec),
    dataQuotaBytes: Number(u.dataQuotaBytes),
  };
}

export class UsersRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** For login only: includes the password hash. */
  async findCredentials(email: string): Promise<{
    id: string;
    email: string;
    role: Role;
    passwordHash: string;
    disabledAt: Date | null;
  } | null> {
    return this.prisma.user.findUnique({
      where: { email: email.toLowerCase() },
      select: { id: true, email: true, role: true, passwordHash: true, disabledAt: true },
    });
  }

  async findById(id: string): Promise<UserRecord | null> {
    const u = await this.prisma.user.findUnique({ where: { id }, select: PUBLIC_FIELDS });
    return u ? toRecord(u) : null;
  }

  /** Returns null when the e-mail is taken. */
  async create(input: {
    email: string;
    passwordHash: string;
    role: Role;
    bandwidthBytesPerSec: number;
    dataQuotaBytes: number;
  }): Promise<UserRecord | null> {
    try {
      const u = await this.prisma.user.create({
        data: {
          id: randomUUID(),
          email: input.email.toLowerCase(),
          passwordHash: input.passwordHash,
          role: input.role,
          bandwidthBytesPerSec: BigInt(input.bandwidthBytesPerSec),
          dataQuotaBytes: BigInt(input.dataQuotaBytes),
        },
        select: PUBLIC_FIELDS,
      });
      return toRecord(u);
    } catch (e) {
      if ((e as { code?: string }).code === 'P2002') return null;
      throw e;
    }
  }

  async countAdmins(): Promise<number> {
    return this.prisma.user.count({ where: { role: 'admin' } });
  }

  async touchLogin(id: string): Promise<void> {
    await this.prisma.user.update({ where: { id }, data: { lastLoginAt: new Date() } });
  }

  /** Locks the user row for the caller's transaction (FOR UPDATE); null when there is no such user. */
  async lockIn(tx: Prisma.TransactionClient, id: string): Promise<{ disabledAt: Date | null } | null> {
    const rows = await tx.$queryRaw<{ disabled_at: Date | null }[]>`
      SELECT disabled_at FROM users WHERE id = ${id}::uuid FOR UPDATE`;
    return rows[0] ? { disabledAt: rows[0].disabled_at } : null;
  }

  async setDisabledIn(tx: Prisma.TransactionClient, id: string, disabled: boolean): Promise<void> {
    await tx.user.update({ where: { id }, data: { disabledAt: disabled ? new Date() : null } });
  }

  /** Ids of all disabled users (the DisabledUsers cache). */
  async listDisabledIds(): Promise<string[]> {
    const rows = await this.prisma.user.findMany({
      where: { disabledAt: { not: null } },
      select: { id: true },
    });
    return rows.map((r) => r.id);
  }

  async list(f: UserFilter): Promise<{ items: UserRecord[]; nextCursor: string | null }> {
    const c = decodeCursor(f.cursor, CURSOR_ID.uuid);
    const rows = await this.prisma.user.findMany({
      where: {
        ...(f.q ? { email: { contains: f.q.toLowerCase() } } : {}),
        ...(f.role ? { role: f.role } : {}),
        ...(f.disabled === undefined
          ? {}
          : f.disabled
            ? { disabledAt: { not: null } }
            : { disabledAt: null }),
        ...afterCursor(c, f.order, 'createdAt', (id) => id),
      },
      orderBy: [{ createdAt: f.order }, { id: f.order }],
      take: takeFor(f.limit),
      select: PUBLIC_FIELDS,
    });
    return page(rows.map(toRecord), f.limit, (u) => u);
  }
}
