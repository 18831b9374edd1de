/**
 * Revocation fan-out. A revocation is committed to PostgreSQL first (the source of truth that
 * nodes read through the feed), then announced on the `revocations` channel so every replica
 * learns about it at once: local listeners (`onRevoked`) run — the disabled-user cache, the
 * long-poll waiters of `GET /v1/agent/revocations?wait=` — whichever replica made the change.
 *
 * Announcing happens after commit and is best effort: a lost notice delays a long poll until its
 * deadline and the disabled-user cache until its periodic reload, but never loses a revocation
 * (nodes read the feed, not the notices).
 */
import { EventEmitter } from 'node:events';
import type { RevocationKind, RevocationRecord, RevocationsRepository } from '../repositories/revocations.js';
import type { Store } from '../store/store.js';

export const REVOCATIONS_CHANNEL = 'revocations';

export interface RevocationNotice {
  /** Revocation id, or '' for a lift. */
  id: string;
  kind: RevocationKind;
  subjectId: string;
  /** True when revocations of the subject were lifted (a user re-enabled). */
  lifted?: boolean;
}

export class RevocationService {
  private readonly events = new EventEmitter();
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(
    private readonly repo: RevocationsRepository,
    private readonly store: Store,
    private readonly onNotice: (n: RevocationNotice) => void = () => {},
  ) {
    // Long-poll waiters subscribe here; their number is bounded by REVOCATION_WAITERS_MAX.
    this.events.setMaxListeners(0);
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.store.subscribe(REVOCATIONS_CHANNEL, (message) => {
      let notice: RevocationNotice;
      try {
        notice = JSON.parse(message) as RevocationNotice;
      } catch {
        return;
      }
      if (typeof notice !== 'object' || notice === null || typeof notice.subjectId !== 'string') return;
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
    await this.announce({ id: rec.id, kind, subjectId });
    return rec;
  }

  /** Tells every replica (this one included) about a committed revocation or lift. */
  async announce(notice: RevocationNotice): Promise<void> {
    await this.store.publish(REVOCATIONS_CHANNEL, JSON.stringify(notice));
  }

  /** Listener for notices from any replica (including this one). Returns a remover. */
  onRevoked(listener: (n: RevocationNotice) => void): () => void {
    this.events.on('revoked', listener);
    return () => this.events.off('revoked', listener);
  }
}
