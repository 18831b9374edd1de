/**
 * Long poll of the revocation feed: `GET /v1/agent/revocations?since=<cursor>&wait=<s>`.
 *
 * Contract of `poll`:
 *  - without `since` or with `wait` 0 it answers at once (snapshot or delta);
 *  - otherwise it answers as soon as the delta after `since` is not empty — woken by the revocation
 *    notices every replica receives through the store's pub/sub (Redis across replicas, in-process
 *    with the memory store) — or at the deadline with an empty delta and the current cursor;
 *  - a waiter registers for notices before it reads the feed, so a revocation committed between
 *    the read and the wait still wakes it; notices only wake, the feed (PostgreSQL) is the truth;
 *  - at most `maxWaiters` polls wait at once per replica (more: 503 with Retry-After) and
 *    PER_NODE_MAX per node (more: 429), so a stolen node credential cannot hold every slot;
 *  - `signal` (the client went away) ends the wait at once and frees the slot;
 *  - `close()` (server shutdown) wakes every waiter, which answers with what it has, and later
 *    polls answer at once.
 * Feed reads are shared: concurrent waiters with the same cursor that wake for the same notice
 * run one query between them.
 */
import { AppError, ERROR_CODES } from '../errors.js';
import type { RevocationFeed, RevocationsRepository } from '../repositories/revocations.js';
import type { RevocationService } from './revocations.js';

/** Long polls one node may hold at once (an agent needs one). */
export const PER_NODE_MAX = 4;
/** Retry-After for polls refused because every slot is taken. */
const FULL_RETRY_AFTER_S = 5;

interface Waiter {
  /** Notices seen since this waiter registered. */
  seen: number;
  wake: () => void;
}

export class RevocationPoll {
  private readonly waiters = new Set<Waiter>();
  private readonly perNode = new Map<string, number>();
  /** Bumped on every notice: feed reads started before a notice are never shared after it. */
  private epoch = 0;
  private readonly reads = new Map<string, Promise<RevocationFeed>>();
  private off: (() => void) | undefined;
  private closing = false;

  constructor(
    private readonly repo: RevocationsRepository,
    private readonly revocations: RevocationService,
    private readonly maxWaiters: number,
    private readonly onCount: (n: number) => void = () => {},
  ) {}

  start(): void {
    this.off = this.revocations.onRevoked(() => {
      this.epoch++;
      for (const w of this.waiters) {
        w.seen++;
        w.wake();
      }
    });
  }

  /** Wakes every waiter and makes later polls answer at once (shutdown). */
  close(): void {
    this.closing = true;
    this.off?.();
    for (const w of this.waiters) w.wake();
  }

  get size(): number {
    return this.waiters.size;
  }

  private read(since: string | undefined): Promise<RevocationFeed> {
    const key = `${this.epoch}|${since ?? ''}`;
    let p = this.reads.get(key);
    if (p === undefined) {
      p = this.repo.feed(since).finally(() => this.reads.delete(key));
      this.reads.set(key, p);
    }
    return p;
  }

  async poll(
    nodeId: string,
    since: string | undefined,
    waitS: number | undefined,
    signal: AbortSignal,
  ): Promise<RevocationFeed> {
    if (since === undefined || !waitS || this.closing) return this.read(since);
    if (this.waiters.size >= this.maxWaiters)
      throw new AppError(
        ERROR_CODES.SERVICE_UNAVAILABLE,
        'too many revocation long polls on this controller; retry, or poll without wait',
        { 'retry-after': String(FULL_RETRY_AFTER_S) },
      );
    const mine = this.perNode.get(nodeId) ?? 0;
    if (mine >= PER_NODE_MAX)
      throw new AppError(
        ERROR_CODES.RATE_LIMITED,
        `at most ${PER_NODE_MAX} revocation long polls per node at once`,
        { 'retry-after': String(FULL_RETRY_AFTER_S) },
      );

    const deadline = Date.now() + waitS * 1000;
    let wakeUp: () => void = () => {};
    const waiter: Waiter = { seen: 0, wake: () => wakeUp() };
    this.waiters.add(waiter);
    this.perNode.set(nodeId, mine + 1);
    this.onCount(this.waiters.size);
    try {
      for (;;) {
        const seenBefore = waiter.seen;
        const feed = await this.read(since);
        const empty = feed.tickets.length + feed.devices.length + feed.users.length === 0;
        if (feed.reset || !empty || this.closing || signal.aborted) return feed;
        if (waiter.seen !== seenBefore) continue; // a notice arrived while reading: read again
        const left = deadline - Date.now();
        if (left <= 0) return feed;
        const woken = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => done(false), left);
          const onAbort = () => done(false);
          const done = (byNotice: boolean) => {
            clearTimeout(timer);
            signal.removeEventListener('abort', onAbort);
            wakeUp = () => {};
            resolve(byNotice);
          };
          wakeUp = () => done(true);
          signal.addEventListener('abort', onAbort);
        });
        if (!woken) return feed;
      }
    } finally {
      this.waiters.delete(waiter);
      const n = (this.perNode.get(nodeId) ?? 1) - 1;
      if (n <= 0) this.perNode.delete(nodeId);
      else this.perNode.set(nodeId, n);
      this.onCount(this.waiters.size);
    }
  }
}
