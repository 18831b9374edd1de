/**
 * Rotating refresh tokens. Only SHA-256 hashes are stored. Contract of `rotate`: exactly one
 * caller can rotate a given token; presenting an already rotated token revokes its whole family and
 * reports `reused`. Rotations and revocations of one family are serialized (advisory lock), so no
 * rotation can slip a live token past a revocation (reuse detection, logout, disabling the user).
 */
import { randomUUID } from 'node:crypto';
import type { Prisma, PrismaClient } from '../generated/prisma/client.js';
import { hashToken, newOpaqueToken } from '../lib/crypto.js';

export type RotateResult =
  | { kind: 'ok'; userId: string; token: string }
  | { kind: 'reused'; userId: string }
  | { kind: 'disabled'; userId: string }
  | { kind: 'invalid' }
  | { kind: 'expired' };

export class RefreshTokensRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Issues a token in `familyId` (a new family when omitted); returns the clear token once. `tx`:
   * write inside that transaction (rotation).
   */
  async issue(
    userId: string,
    ttlS: number,
    familyId: string = randomUUID(),
    tx: Prisma.TransactionClient = this.prisma,
  ): Promise<string> {
    const token = newOpaqueToken();
    await tx.refreshToken.create({
      data: {
        id: randomUUID(),
        userId,
        familyId,
        tokenHash: hashToken(token),
        expiresAt: new Date(Date.now() + ttlS * 1000),
      },
    });
    return token;
  }

  /**
   * Rotates `token`. Serialized per family with every other rotation and revocation of that family
   * (transaction-scoped advisory lock), and reads the token again under the lock:
   *  - a token already rotated is reuse: the whole family is revoked in the same transaction, so a
   *    rotation racing with it either committed before (its successor is revoked too) or runs after
   *    (and finds its own token revoked);
   *  - the user row is read FOR SHARE, so disabling a user (FOR UPDATE, users repository) and a
   *    rotation never interleave: a rotation that commits first has its successor revoked by the
   *    disable, one that runs after finds the user disabled and revokes the family.
   */
  async rotate(token: string, ttlS: number): Promise<RotateResult> {
    const tokenHash = hashToken(token);
    const first = await this.prisma.refreshToken.findUnique({
      where: { tokenHash },
      select: { familyId: true },
    });
    if (first === null) return { kind: 'invalid' };
    return this.prisma.$transaction(async (tx): Promise<RotateResult> => {
      await lockFamily(tx, first.familyId);
      const row = await tx.refreshToken.findUnique({ where: { tokenHash } });
      if (row === null) return { kind: 'invalid' };
      if (row.rotatedAt !== null) {
        await revokeFamilyIn(tx, row.familyId);
        return { kind: 'reused', userId: row.userId };
      }
      if (row.revokedAt !== null) return { kind: 'invalid' };
      if (row.expiresAt.getTime() <= Date.now()) return { kind: 'expired' };
      const user = await tx.$queryRaw<{ disabled: boolean }[]>`
        SELECT disabled_at IS NOT NULL AS disabled FROM users WHERE id = ${row.userId}::uuid FOR SHARE`;
      if (user.length === 0 || user[0]!.disabled) {
        await revokeFamilyIn(tx, row.familyId);
        return { kind: 'disabled', userId: row.userId };
      }
      await tx.refreshToken.update({ where: { id: row.id }, data: { rotatedAt: new Date() } });
      const next = await this.issue(row.userId, ttlS, row.familyId, tx);
      return { kind: 'ok', userId: row.userId, token: next };
    });
  }

  /** Revokes the family of `token`; returns null for unknown tokens. */
  async revokeByToken(token: string): Promise<{ userId: string } | null> {
    const row = await this.prisma.refreshToken.findUnique({
      where: { tokenHash: hashToken(token) },
      select: { familyId: true, userId: true },
    });
    if (row === null) return null;
    await this.revokeFamily(row.familyId);
    return { userId: row.userId };
  }

  /** Revokes every token of the family, serialized with its rotations (see `rotate`). */
  async revokeFamily(familyId: string): Promise<void> {
    await this.prisma.$transaction(async (tx) => {
      await lockFamily(tx, familyId);
      await revokeFamilyIn(tx, familyId);
    });
  }

  /**
   * Revokes every token of the user. Call inside the transaction that holds the user row FOR UPDATE
   * (disabling), which orders it against rotations (they read the row FOR SHARE).
   */
  async revokeAllForUser(userId: string, tx: Prisma.TransactionClient = this.prisma): Promise<void> {
    await tx.refreshToken.updateMany({
      where: { userId, revokedAt: null },
      data: { revokedAt: new Date() },
    });
  }
}

/** Transaction-scoped lock serializing rotations and revocations of one token family. */
async function lockFamily(tx: Prisma.TransactionClient, familyId: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`refresh-family:${familyId}`}, 0))`;
}

async function revokeFamilyIn(tx: Prisma.TransactionClient, familyId: string): Promise<void> {
  await tx.refreshToken.updateMany({ where: { familyId, revokedAt: null }, data: { revokedAt: new Date() } });
}
