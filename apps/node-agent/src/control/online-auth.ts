/**
 * Optional online authorisation ("the node asks the controller"), on top of the offline ticket check:
 *   off     — never asks (default, recommended);
 *   check   — asks; a controller that cannot be reached does not stop admission;
 *   require — asks; no answer means no admission.
 * The handshake path is synchronous, so `decide()` answers from a cache and, on a miss, starts ONE
 * request for that (ticket, client key) and says 'pending'; when the answer arrives `onSettled(key)`
 * runs and the agent replays the held initiation. Answers are cached for the controller's
 * `cacheSeconds` (at least 5 s so the replay finds it); fallbacks for an unreachable controller briefly.
 */
import type { AuthorizeRequest, AuthorizeResponse } from '@corridor/protocol/control';
import type { OnlineAuthMode } from '../config.js';

export type OnlineDecision = 'allow' | 'deny' | 'pending';

interface Entry {
  allow: boolean;
  reason: string;
  until: number;
}

export interface OnlineAuthStats {
  requests: number;
  allowed: number;
  denied: number;
  unreachable: number;
}

export class OnlineAuthorizer {
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Set<string>();
  readonly stats: OnlineAuthStats = { requests: 0, allowed: 0, denied: 0, unreachable: 0 };
  /** Called with the cache key once an answer (or a fallback) is cached. */
  onSettled: (key: string) => void = () => {};

  constructor(
    readonly mode: OnlineAuthMode,
    private readonly ask: (req: AuthorizeRequest) => Promise<AuthorizeResponse>,
    private readonly clock: () => number = Date.now,
    private readonly maxInflight = 256,
  ) {}

  static key(req: AuthorizeRequest): string {
    return `${req.ticketId}|${req.clientPublicKey}`;
  }

  /** Cached decision for `req`, or 'pending' after starting a request. 'deny' also when too many are in flight. */
  decide(req: AuthorizeRequest): { decision: OnlineDecision; reason: string; key: string } {
    const key = OnlineAuthorizer.key(req);
    if (this.mode === 'off') return { decision: 'allow', reason: 'off', key };
    const now = this.clock();
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.until > now)
      return { decision: hit.allow ? 'allow' : 'deny', reason: hit.reason, key };
    if (hit !== undefined) this.cache.delete(key);
    if (!this.inflight.has(key)) {
      if (this.inflight.size >= this.maxInflight) return { decision: 'deny', reason: 'onlineBusy', key };
      this.inflight.add(key);
      this.stats.requests++;
      void this.ask(req).then(
        (res) => this.settle(key, res.allow, res.reason, Math.max(5, res.cacheSeconds)),
        () => {
          this.stats.unreachable++;
          // check: admit on the offline verdict; require: refuse. Short caches so recovery is quick.
          if (this.mode === 'check') this.settle(key, true, 'controllerUnreachable', 10);
          else this.settle(key, false, 'controllerUnreachable', 2);
        },
      );
    }
    return { decision: 'pending', reason: 'pending', key };
  }

  private settle(key: string, allow: boolean, reason: string, seconds: number): void {
    this.inflight.delete(key);
    if (allow) this.stats.allowed++;
    else this.stats.denied++;
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(key, { allow, reason, until: this.clock() + seconds * 1000 });
    this.onSettled(key);
  }

  /** Forgets cached answers for a ticket (e.g. after a revocation). */
  forgetTicket(ticketId: string): void {
    for (const k of this.cache.keys()) if (k.startsWith(`${ticketId}|`)) this.cache.delete(k);
  }
}
