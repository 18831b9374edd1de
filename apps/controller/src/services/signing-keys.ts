/**
 * Ticket-signing key lifecycle and the in-memory key cache.
 *
 * Each key signs during [notBefore, retiresAt) and is published to nodes until notAfter =
 * retiresAt + ticket lifetime, so tickets signed just before a rotation stay verifiable (overlap).
 * The next key is created `lead` before the current one retires, so nodes fetch it before the
 * first ticket signed with it arrives. Creation/rotation is serialized across replicas by an
 * advisory lock; replicas learn about changes through the `signing-keys` pub/sub channel (and a
 * periodic refresh as a safety net).
 */
import {
  ed25519PrivateKeyFromBytes,
  generateEd25519KeyPair,
  formatPublicKey,
  type Ed25519PrivateKey,
  type Ed25519PublicKey,
} from '@corridor/protocol';
import type { SigningKeysRepository, SigningKeyRow, TxSigningKeys } from '../repositories/signing-keys.js';
import { openSecret, sealSecret } from '../lib/crypto.js';
import type { Store } from '../store/store.js';

export const SIGNING_KEYS_CHANNEL = 'signing-keys';
/** Safety net next to pub/sub invalidation: reload a cache older than this. */
const STALE_MS = 60_000;

export interface CachedKey {
  keyId: number;
  publicKey: Ed25519PublicKey;
  /** Present only for keys this replica may sign with (not yet past notAfter). */
  privateKey: Ed25519PrivateKey;
  notBefore: Date;
  retiresAt: Date;
  notAfter: Date;
}

export interface PublicSigningKey {
  keyId: number;
  publicKey: string;
  notBefore: string;
  notAfter: string;
}

export class SigningKeyService {
  private keys: CachedKey[] = [];
  private loadedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  private refreshing: Promise<void> | undefined;
  private maintaining: Promise<void> | undefined;
  private readonly leadMs: number;

  constructor(
    private readonly repo: SigningKeysRepository,
    private readonly store: Store,
    private readonly encryptionKey: Buffer,
    private readonly rotationMs: number,
    private readonly ticketTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.leadMs = Math.min(rotationMs / 2, 3_600_000);
  }

  /** Ensures a usable key exists, loads the cache, subscribes to invalidations, starts the timer. */
  async start(): Promise<void> {
    this.unsubscribe = await this.store.subscribe(SIGNING_KEYS_CHANNEL, () => {
      void this.refresh().catch(() => {});
    });
    await this.ensureKeys();
    await this.refresh();
    const every = Math.max(1_000, Math.min(this.leadMs / 4, 60_000));
    this.timer = setInterval(() => void this.maintain().catch(() => {}), every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.unsubscribe?.();
  }

  /**
   * The key to sign with now. Fast path: no I/O while a cached key covers now; a cache older than
   * STALE_MS is refreshed in the background (one shared reload), never on the request.
   */
  async current(): Promise<CachedKey> {
    const k = this.pick(this.now());
    if (k) {
      if (this.now() - this.loadedAt > STALE_MS) void this.maintain().catch(() => {});
      return k;
    }
    await this.maintain();
    const again = this.pick(this.now());
    if (!again) throw new Error('no signing key available');
    return again;
  }

  /** ensureKeys + refresh, shared by concurrent callers. */
  private maintain(): Promise<void> {
    this.maintaining ??= (async () => {
      try {
        await this.ensureKeys();
        await this.refresh();
      } finally {
        this.maintaining = undefined;
      }
    })();
    return this.maintaining;
  }

  private pick(t: number): CachedKey | undefined {
    let best: CachedKey | undefined;
    for (const k of this.keys) {
      if (k.notBefore.getTime() <= t && t < k.retiresAt.getTime() && (!best || k.notBefore > best.notBefore))
        best = k;
    }
    return best;
  }

  /** Public keys nodes must accept now (current, previous still in overlap, and the next one). */
  published(): { version: number; keys: PublicSigningKey[] } {
    const t = this.now();
    const live = this.keys.filter((k) => k.notAfter.getTime() > t);
    return {
      version: live.reduce((m, k) => Math.max(m, k.keyId), 0),
      keys: live.map((k) => ({
        keyId: k.keyId,
        publicKey: formatPublicKey('ed25519pub', k.publicKey),
        notBefore: k.notBefore.toISOString(),
        notAfter: k.notAfter.toISOString(),
      })),
    };
  }

  /** Reloads the cache from the database. Concurrent callers share one reload. */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const rows = await this.repo.listPublished(new Date(this.now()));
        this.keys = rows.map((r) => this.open(r));
        this.loadedAt = this.now();
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /** Creates the first key, or the next one when the current retires within `lead`. */
  async ensureKeys(): Promise<void> {
    const created = await this.repo.withRotationLock(async (tx) => {
      const t = this.now();
      const all = await tx.all();
      const latest = all.reduce<SigningKeyRow | undefined>(
        (m, k) => (!m || k.retiresAt > m.retiresAt ? k : m),
        undefined,
      );
      if (latest && latest.retiresAt.getTime() - t > this.leadMs) return false;
      const start = latest && latest.retiresAt.getTime() > t ? latest.retiresAt.getTime() : t;
      await tx.insert(this.newKey(nextId(all), start));
      return true;
    });
    if (created) await this.store.publish(SIGNING_KEYS_CHANNEL, 'created');
  }

  /**
   * Rotates now (admin action, or suspected compromise of nothing but hygiene): the current key
   * stops signing immediately but stays published until its tickets expire; a new key signs from now.
   */
  async rotateNow(): Promise<number> {
    const newId = await this.repo.withRotationLock(async (tx) => {
      const t = this.now();
      const all = await tx.all();
      for (const k of all) {
        if (k.retiresAt.getTime() > t) {
          if (k.notBefore.getTime() <= t) {
            await tx.update(k.keyId, {
              retiresAt: new Date(t),
              notAfter: new Date(Math.min(k.notAfter.getTime(), t + this.ticketTtlMs)),
            });
          } else {
            // A pre-published future key is superseded: retire it unused.
            await tx.update(k.keyId, { retiresAt: k.notBefore, notAfter: k.notBefore });
          }
        }
      }
      const row = this.newKey(nextId(all), t);
      await tx.insert(row);
      return row.keyId;
    });
    await this.store.publish(SIGNING_KEYS_CHANNEL, 'rotated');
    await this.refresh();
    return newId;
  }

  private newKey(keyId: number, notBefore: number): SigningKeyRow {
    const pair = generateEd25519KeyPair();
    const retiresAt = notBefore + this.rotationMs;
    return {
      keyId,
      publicKey: Buffer.from(pair.publicKey),
      privateKeyEnc: sealSecret(this.encryptionKey, pair.privateKey, `signing-key:${keyId}`),
      notBefore: new Date(notBefore),
      retiresAt: new Date(retiresAt),
      notAfter: new Date(retiresAt + this.ticketTtlMs),
    };
  }

  private open(r: SigningKeyRow): CachedKey {
    const raw = openSecret(this.encryptionKey, r.privateKeyEnc, `signing-key:${r.keyId}`);
    const pk = ed25519PrivateKeyFromBytes(raw);
    raw.fill(0);
    if (!pk.ok) throw new Error(`signing key ${r.keyId} is corrupt`);
    return {
      keyId: r.keyId,
      publicKey: r.publicKey as Ed25519PublicKey,
      privateKey: pk.value,
      notBefore: r.notBefore,
      retiresAt: r.retiresAt,
      notAfter: r.notAfter,
    };
  }
}

function nextId(all: readonly SigningKeyRow[]): number {
  return all.reduce((m, k) => Math.max(m, k.keyId), 0) + 1;
}

export type { TxSigningKeys };
