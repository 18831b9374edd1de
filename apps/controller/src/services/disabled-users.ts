/**
 * Which users are disabled, in memory on every replica, so a disabled user's access tokens stop
 * working at once instead of when they expire, at no per-request I/O cost.
 *
 * Kept current by the revocation notices every replica receives (`user` revoked → disabled,
 * lifted → enabled), by the replica that makes the change before it answers (`add`/`remove`), and
 * reloaded from PostgreSQL every `reloadMs` as a safety net for notices lost while the store was
 * unreachable. A reload never undoes a notice that arrived while it ran.
 */
import type { UsersRepository } from '../repositories/users.js';
import type { RevocationNotice, RevocationService } from './revocations.js';

export class DisabledUsers {
  private ids = new Set<string>();
  /** Notices received while a reload is running, replayed over its result. */
  private duringReload: RevocationNotice[] | undefined;
  private timer: NodeJS.Timeout | undefined;
  private off: (() => void) | undefined;

  constructor(
    private readonly users: UsersRepository,
    private readonly revocations: RevocationService,
    private readonly reloadMs = 30_000,
  ) {}

  async start(): Promise<void> {
    this.off = this.revocations.onRevoked((n) => this.apply(n));
    await this.reload();
    this.timer = setInterval(() => void this.reload().catch(() => {}), this.reloadMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.off?.();
  }

  has(userId: string): boolean {
    return this.ids.has(userId);
  }

  add(userId: string): void {
    this.apply({ id: '', kind: 'user', subjectId: userId });
  }

  remove(userId: string): void {
    this.apply({ id: '', kind: 'user', subjectId: userId, lifted: true });
  }

  private apply(n: RevocationNotice): void {
    if (n.kind !== 'user') return;
    this.duringReload?.push(n);
    if (n.lifted) this.ids.delete(n.subjectId);
    else this.ids.add(n.subjectId);
  }

  async reload(): Promise<void> {
    this.duringReload = [];
    try {
      const fresh = new Set(await this.users.listDisabledIds());
      for (const n of this.duringReload) {
        if (n.lifted) fresh.delete(n.subjectId);
        else fresh.add(n.subjectId);
      }
      this.ids = fresh;
    } finally {
      this.duringReload = undefined;
    }
  }
}
