/**
 * Revocation fan-out. A revocation is committed to PostgreSQL first (the source of truth that
 * nodes read through the feed), then announced on the `revocations` channel so every replica
 * learns about it at once: local listeners (`onRevoked`) run and replica caches are dropped.
 */
import { EventEmitter } from 'node:events';
import type { RevocationKind, RevocationRecord, RevocationsRepository } from '../repositories/revocations.js';
import type { Store } from '../store/store.js';

export const REVOCATIONS_CHANNEL = 'revocations';

export interface RevocationNotice {
  id: string;
  kind: RevocationKind;
  subjectId: string;
}

export class RevocationService {
  private readonly events = new EventEmitter();
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(
    private readonly repo: RevocationsRepository,
    private readonly store: Store,
    private readonly onNotice: (n: RevocationNotice) => void = () => {},
  ) {
    this.events.setMaxListeners(1000);
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.store.subscribe(REVOCATIONS_CHANNEL, (message) => {
      let notice: RevocationNotice;
      try {
        notice = JSON.parse(message) as RevocationNotice;
      } catch {
        return;
      }
      this.onNotice(notice);
      this.events.emit('revoked', notice);
    });
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.();
    this.events.removeAllListeners();
  }

  /** Records and announces a revocation. */
  async revoke(
    kind: RevocationKind,
    subjectId: string,
    reason: string | null,
    actorId: string | null,
  ): Promise<RevocationRecord> {
    const rec = await this.repo.insert(kind, subjectId, reason, actorId);
    await this.store.publish(
      REVOCATIONS_CHANNEL,
      JSON.stringify({ id: rec.id, kind, subjectId } satisfies RevocationNotice),
    );
    return rec;
  }

  /** Listener for notices from any replica (including this one). Returns a remover. */
  onRevoked(listener: (n: RevocationNotice) => void): () => void {
    this.events.on('revoked', listener);
    return () => this.events.off('revoked', listener);
  }
}
