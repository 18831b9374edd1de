/** Devices: a user's registered X25519 public keys (text form), with a per-user limit. */
import { randomUUID } from 'node:crypto';
import type { Prisma, PrismaClient } from '../generated/prisma/client.js';

export interface DeviceRecord {
  id: string;
  userId: string;
  name: string;
  publicKey: string;
  createdAt: Date;
  revokedAt: Date | null;
  /** Last ticket issued for the device, or null. */
  lastSeenAt: Date | null;
}

export type RegisterResult =
  | { kind: 'ok'; device: DeviceRecord }
  | { kind: 'limit' }
  | { kind: 'keyInUse' }
  /** The key belonged to a device an admin revoked (its tombstone outlives the device). */
  | { kind: 'keyRevoked' }
  | { kind: 'noUser' }
  | { kind: 'disabled' };

/** Most devices one listing returns (the schemas' maxItems); active ones are capped by DEVICE_LIMIT. */
export const MAX_LISTED_DEVICES = 1000;

export class DevicesRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async listForUser(userId: string): Promise<DeviceRecord[]> {
    const rows = await this.prisma.$queryRaw<DeviceRecord[]>`
      SELECT d.id, d.user_id AS "userId", d.name, d.public_key AS "publicKey", d.created_at AS "createdAt",
             d.revoked_at AS "revokedAt",
             (SELECT max(t.issued_at) FROM tickets t WHERE t.device_id = d.id) AS "lastSeenAt"
      FROM devices d WHERE d.user_id = ${userId}::uuid ORDER BY d.created_at, d.id LIMIT ${MAX_LISTED_DEVICES}`;
    return rows;
  }

  async get(userId: string, id: string): Promise<DeviceRecord | null> {
    const rows = await this.prisma.$queryRaw<DeviceRecord[]>`
      SELECT d.id, d.user_id AS "userId", d.name, d.public_key AS "publicKey", d.created_at AS "createdAt",
             d.revoked_at AS "revokedAt",
             (SELECT max(t.issued_at) FROM tickets t WHERE t.device_id = d.id) AS "lastSeenAt"
      FROM devices d WHERE d.id = ${id}::uuid AND d.user_id = ${userId}::uuid`;
    return rows[0] ?? null;
  }

  async findById(id: string): Promise<{ id: string; userId: string; revokedAt: Date | null } | null> {
    return this.prisma.device.findUnique({
      where: { id },
      select: { id: true, userId: true, revokedAt: true },
    });
  }

  /**
   * Registers a device unless the user already has `limit` active devices or the key is taken.
   * The user row is locked for the count so concurrent registrations cannot exceed the limit.
   */
  async register(userId: string, name: string, publicKey: string, limit: number): Promise<RegisterResult> {
    try {
      return await this.prisma.$transaction(async (tx) => {
        const locked = await tx.$queryRaw<{ id: string; disabled: boolean }[]>`
          SELECT id, disabled_at IS NOT NULL AS disabled FROM users WHERE id = ${userId}::uuid FOR UPDATE`;
        if (locked.length === 0) return { kind: 'noUser' } as const;
        if (locked[0]!.disabled) return { kind: 'disabled' } as const;
        const tomb = await tx.deviceKeyTombstone.findUnique({
          where: { publicKey },
          select: { publicKey: true },
        });
        if (tomb !== null) return { kind: 'keyRevoked' } as const;
        const count = await tx.device.count({ where: { userId, revokedAt: null } });
        if (count >= limit) return { kind: 'limit' } as const;
        const d = await tx.device.create({
          data: { id: randomUUID(), userId, name, publicKey },
          select: { id: true, userId: true, name: true, publicKey: true, createdAt: true, revokedAt: true },
        });
        return { kind: 'ok', device: { ...d, lastSeenAt: null } } as const;
      });
    } catch (e) {
      if ((e as { code?: string }).code === 'P2002') return { kind: 'keyInUse' };
      throw e;
    }
  }

  async rename(userId: string, id: string, name: string): Promise<boolean> {
    const res = await this.prisma.device.updateMany({ where: { id, userId }, data: { name } });
    return res.count > 0;
  }

  async delete(userId: string, id: string): Promise<boolean> {
    const res = await this.prisma.device.deleteMany({ where: { id, userId } });
    return res.count > 0;
  }

  /**
   * Admin revocation inside the caller's transaction: the device stays listed but can no longer get
   * tickets, and its key gets a tombstone that outlives the device. Idempotent; false when there is
   * no such device.
   */
  async revokeIn(tx: Prisma.TransactionClient, id: string): Promise<boolean> {
    const rows = await tx.$queryRaw<{ user_id: string; public_key: string; revoked_at: Date }[]>`
      UPDATE devices SET revoked_at = COALESCE(revoked_at, now()), updated_at = now()
      WHERE id = ${id}::uuid RETURNING user_id, public_key, revoked_at`;
    const d = rows[0];
    if (d === undefined) return false;
    await tx.$executeRaw`
      INSERT INTO device_key_tombstones (public_key, device_id, user_id, revoked_at)
      VALUES (${d.public_key}, ${id}::uuid, ${d.user_id}::uuid, ${d.revoked_at})
      ON CONFLICT (public_key) DO NOTHING`;
    return true;
  }
}
