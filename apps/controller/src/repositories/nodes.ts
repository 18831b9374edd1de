/**
 * Nodes, their one-time enrollment tokens and their long-lived agent credentials. Tokens and
 * credentials are stored as SHA-256 hashes only; the clear values are returned once.
 */
import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '../generated/prisma/client.js';
import { digestsEqual, hashToken, newOpaqueToken } from '../lib/crypto.js';
import { CURSOR_ID, afterCursor, decodeCursor, page, takeFor } from '../lib/pagination.js';

export interface NodeRecord {
  id: string;
  region: string;
  country: string;
  city: string;
  endpointHost: string;
  udpPort: number;
  tcpPort: number;
  staticPublicKey: string | null;
  enrolledAt: Date | null;
  disabledAt: Date | null;
  lastSeenAt: Date | null;
  agentVersion: string | null;
  createdAt: Date;
}

export interface NodeInput {
  id: string;
  region: string;
  country: string;
  city: string;
  endpointHost: string;
  udpPort: number;
  tcpPort: number;
}

const FIELDS = {
  id: true,
  region: true,
  country: true,
  city: true,
  endpointHost: true,
  udpPort: true,
  tcpPort: true,
  staticPublicKey: true,
  enrolledAt: true,
  disabledAt: true,
  lastSeenAt: true,
  agentVersion: true,
  createdAt: true,
} as const;

export type EnrollResult =
  { kind: 'ok'; nodeId: string; credential: string } | { kind: 'invalid' } | { kind: 'keyInUse' };

/** Aborts an enrollment transaction whose key belongs to another node. */
class KeyInUse extends Error {}

export class NodesRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** Creates the node and its first enrollment token; null when the id is taken. */
  async create(
    input: NodeInput,
    tokenTtlS: number,
    createdById: string,
  ): Promise<{ node: NodeRecord; token: string; expiresAt: Date } | null> {
    try {
      return await this.prisma.$transaction(async (tx) => {
        const node = await tx.node.create({ data: input, select: FIELDS });
        const token = newOpaqueToken();
        const expiresAt = new Date(Date.now() + tokenTtlS * 1000);
        await tx.nodeEnrollmentToken.create({
          data: { id: randomUUID(), nodeId: node.id, tokenHash: hashToken(token), expiresAt, createdById },
        });
        return { node, token, expiresAt };
      });
    } catch (e) {
      if ((e as { code?: string }).code === 'P2002') return null;
      throw e;
    }
  }

  /** A fresh enrollment token (re-enrollment); earlier unused tokens are invalidated. Null if no such node. */
  async newEnrollmentToken(
    nodeId: string,
    tokenTtlS: number,
    createdById: string,
  ): Promise<{ token: string; expiresAt: Date } | null> {
    const node = await this.prisma.node.findUnique({ where: { id: nodeId }, select: { id: true } });
    if (node === null) return null;
    const token = newOpaqueToken();
    const expiresAt = new Date(Date.now() + tokenTtlS * 1000);
    await this.prisma.$transaction([
      this.prisma.nodeEnrollmentToken.updateMany({
        where: { nodeId, usedAt: null },
        data: { usedAt: new Date() },
      }),
      this.prisma.nodeEnrollmentToken.create({
        data: { id: randomUUID(), nodeId, tokenHash: hashToken(token), expiresAt, createdById },
      }),
    ]);
    return { token, expiresAt };
  }

  /**
   * Consumes a one-time token (conditional update, so exactly one enrollment wins), records the
   * node's static key, revokes earlier credentials and returns a new credential once. A refused
   * enrollment (key of another node) leaves the token unused.
   */
  async enroll(token: string, publicKey: string, agentVersion: string): Promise<EnrollResult> {
    const tokenHash = hashToken(token);
    try {
      return await this.prisma.$transaction(async (tx) => {
        const row = await tx.nodeEnrollmentToken.findUnique({ where: { tokenHash } });
        if (row === null || row.usedAt !== null || row.expiresAt.getTime() <= Date.now())
          return { kind: 'invalid' } as const;
        const claimed = await tx.nodeEnrollmentToken.updateMany({
          where: { id: row.id, usedAt: null },
          data: { usedAt: new Date() },
        });
        if (claimed.count === 0) return { kind: 'invalid' } as const;
        const clash = await tx.node.findFirst({
          where: { staticPublicKey: publicKey, id: { not: row.nodeId } },
          select: { id: true },
        });
        // Roll back (throw) rather than return: returning would commit the claim and burn the
        // one-time token on a request that changed nothing.
        if (clash !== null) throw new KeyInUse();
        await tx.node.update({
          where: { id: row.nodeId },
          data: { staticPublicKey: publicKey, enrolledAt: new Date(), agentVersion },
        });
        await tx.nodeCredential.updateMany({
          where: { nodeId: row.nodeId, revokedAt: null },
          data: { revokedAt: new Date() },
        });
        const credential = newOpaqueToken();
        await tx.nodeCredential.create({
          data: { id: randomUUID(), nodeId: row.nodeId, secretHash: hashToken(credential) },
        });
        return { kind: 'ok', nodeId: row.nodeId, credential } as const;
      });
    } catch (e) {
      if (e instanceof KeyInUse || (e as { code?: string }).code === 'P2002') return { kind: 'keyInUse' };
      throw e;
    }
  }

  /** Constant-time check of a node credential against the node's active credentials. */
  async verifyCredential(nodeId: string, secret: string): Promise<boolean> {
    const creds = await this.prisma.nodeCredential.findMany({
      where: { nodeId, revokedAt: null, node: { disabledAt: null } },
      select: { secretHash: true },
    });
    const presented = hashToken(secret);
    let ok = false;
    for (const c of creds) ok = digestsEqual(c.secretHash, presented) || ok;
    return ok;
  }

  async get(id: string): Promise<NodeRecord | null> {
    return this.prisma.node.findUnique({ where: { id }, select: FIELDS });
  }

  /** All nodes that are not disabled (for the user-facing list; cached by NodeDirectory). */
  async listActive(): Promise<NodeRecord[]> {
    return this.prisma.node.findMany({
      where: { disabledAt: null },
      orderBy: [{ region: 'asc' }, { id: 'asc' }],
      select: FIELDS,
    });
  }

  async list(f: {
    region?: string;
    enrolled?: boolean;
    limit: number;
    cursor?: string;
    order: 'asc' | 'desc';
  }) {
    const c = decodeCursor(f.cursor, CURSOR_ID.nodeId);
    const rows = await this.prisma.node.findMany({
      where: {
        ...(f.region ? { region: f.region } : {}),
        ...(f.enrolled === undefined
          ? {}
          : f.enrolled
            ? { enrolledAt: { not: null } }
            : { enrolledAt: null }),
        ...afterCursor(c, f.order, 'createdAt', (id) => id),
      },
      orderBy: [{ createdAt: f.order }, { id: f.order }],
      take: takeFor(f.limit),
      select: FIELDS,
    });
    return page(rows, f.limit, (n) => n);
  }

  async setDisabled(id: string, disabled: boolean): Promise<boolean> {
    const res = await this.prisma.node.updateMany({
      where: { id },
      data: { disabledAt: disabled ? new Date() : null },
    });
    return res.count > 0;
  }

  async recordHeartbeat(id: string, agentVersion: string): Promise<void> {
    await this.prisma.node.update({ where: { id }, data: { lastSeenAt: new Date(), agentVersion } });
  }
}
