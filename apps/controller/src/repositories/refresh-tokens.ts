/**
 * Rotating refresh tokens. Only SHA-256 hashes are stored. Contract of `rotate`: exactly one
 * caller can rotate a given token (conditional update); presenting an already rotated token
 * revokes its whole family and reports `reused`.
 */
import { randomUUID } from 'node:crypto';
import type { Prisma, PrismaClient } from '../generated/prisma/client.js';
import { hashToken, newOpaqueToken } from '../lib/crypto.js';

export type RotateResult =
  | { kind: 'ok'; userId: string; token: string }
  | { kind: 'reused'; userId: string }
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

  async rotate(token: string, ttlS: number): Promise<RotateResult> {
    const row = await this.prisma.refreshToken.findUnique({ where: { tokenHash: hashToken(token) } });
    if (row === null) return { kind: 'invalid' };
    if (row.rotatedAt !== null) {
      await this.revokeFamily(row.familyId);
      return { kind: 'reused', userId: row.userId };
    }
    if (row.revokedAt !== null) return { kind: 'invalid' };
    if (row.expiresAt.getTime() <= Date.now()) return { kind: 'expired' };
    // Claim and successor in one transaction: a concurrent claim of the same token waits on the
    // row lock until the successor is committed, so the loser's family revocation (a later
    // statement) also kills the winner's new token. Claiming and issuing separately let the
    // winner's token be written after the family was revoked, and survive.
    const next = await this.prisma.$transaction(async (tx) => {
      const claimed = await tx.refreshToken.updateMany({
        where: { id: row.id, rotatedAt: null, revokedAt: null },
        data: { rotatedAt: new Date() },
      });
      if (claimed.count === 0) return null;
      return this.issue(row.userId, ttlS, row.familyId, tx);
    });
    if (next === null) {
      // Lost a race with a concurrent use of the same token: that is reuse too.
      await this.revokeFamily(row.familyId);
      return { kind: 'reused', userId: row.userId };
    }
    return { kind: 'ok', userId: row.userId, token: next };
  }

  /** Revokes the family of `token`; returns false for unknown tokens. */
  async revokeByToken(token: string): Promise<{ userId: string } | null> {
    const row = await this.prisma.refreshToken.findUnique({
      where: { tokenHash: hashToken(token) },
      select: { familyId: true, userId: true },
    });
    if (row === null) return null;
    await this.revokeFamily(row.familyId);
    return { userId: row.userId };
  }

  async revokeFamily(familyId: string): Promise<void> {
    await this.prisma.refreshToken.updateMany({
      where: { familyId, revokedAt: null },
      data: { revokedAt: new Date() },
    });
  }

  async revokeAllForUser(userId: string): Promise<void> {
    await this.prisma.refreshToken.updateMany({
      where: { userId, revokedAt: null },
      data: { revokedAt: new Date() },
    });
  }
}
