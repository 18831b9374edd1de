/**
 * Ticket-signing keys. Private keys are stored sealed (AES-256-GCM, key id as associated data)
 * and only opened in memory by SigningKeyService.
 */
import type { PrismaClient } from '../generated/prisma/client.js';

export interface SigningKeyRow {
  keyId: number;
  publicKey: Buffer;
  privateKeyEnc: Buffer;
  notBefore: Date;
  retiresAt: Date;
  notAfter: Date;
}

export class SigningKeysRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** Keys still valid for verification at `now` (notAfter in the future), oldest first. */
  async listPublished(now: Date): Promise<SigningKeyRow[]> {
    const rows = await this.prisma.signingKey.findMany({
      where: { notAfter: { gt: now } },
      orderBy: { keyId: 'asc' },
    });
    return rows.map((r) => ({
      ...r,
      publicKey: Buffer.from(r.publicKey),
      privateKeyEnc: Buffer.from(r.privateKeyEnc),
    }));
  }

  /**
   * Runs `fn` inside a transaction holding a cluster-wide advisory lock, so only one replica
   * creates or rotates keys at a time. `fn` receives the transaction-scoped repository.
   */
  async withRotationLock<T>(fn: (tx: TxSigningKeys) => Promise<T>): Promise<T> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(7301993002)`;
      return fn({
        async all() {
          const rows = await tx.signingKey.findMany({ orderBy: { keyId: 'asc' } });
          return rows.map((r) => ({
            ...r,
            publicKey: Buffer.from(r.publicKey),
            privateKeyEnc: Buffer.from(r.privateKeyEnc),
          }));
        },
        async insert(row: SigningKeyRow) {
          await tx.signingKey.create({
            data: {
              ...row,
              publicKey: new Uint8Array(row.publicKey),
              privateKeyEnc: new Uint8Array(row.privateKeyEnc),
            },
          });
        },
        async update(
          keyId: number,
          data: Partial<Pick<SigningKeyRow, 'notBefore' | 'retiresAt' | 'notAfter'>>,
        ) {
          await tx.signingKey.update({ where: { keyId }, data });
        },
      });
    });
  }
}

export interface TxSigningKeys {
  all(): Promise<SigningKeyRow[]>;
  insert(row: SigningKeyRow): Promise<void>;
  update(
    keyId: number,
    data: Partial<Pick<SigningKeyRow, 'notBefore' | 'retiresAt' | 'notAfter'>>,
  ): Promise<void>;
}
