/**
 * Rotating refresh tokens. Only SHA-256 hashes are stored. Contract of `rotate`: exactly one
 * caller can rotate a given token (conditional update); presenting an already rotated token
 * revokes its whole family and reports `reused`.
 */
import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '../generated/prisma/client.js';
import { hashToken, newOpaqueToken } from '../lib/crypto.js';

export type RotateResult =
  | { kind: 'ok'; userId: string; token: string }
  | { kind: 'reused'; userId: string }
  | { kind: 'invalid' }
  | { kind: 'expired' };

export class RefreshTokensRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** Issues a token in `familyId` (a new family when omitted); returns the clear token once. */
  async issue(userId: string, ttlS: number, familyId: string = randomUUID()): Promise<string> {
    const token = newOpaqueToken();
    await this.prisma.refreshToken.create({
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
    const claimed = await this.prisma.refreshToken.updateMany({
      where: { id: row.id, rotatedAt: null, revokedAt: null },
      data: { rotatedAt: new Date() },
    });
    if (claimed.count === 0) {
      // Lost a race with a concurrent use of the same token: that is reuse too.
      await this.revokeFamily(row.familyId);
      return { kind: 'reused', userId: row.userId };
    }
    return { kind: 'ok', userId: row.userId, token: await this.issue(row.userId, ttlS, row.familyId) };
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
