/**
 * Per-client-static-key initiation limit (WireGuard limits each peer to 50 initiations per second):
 * a token bucket per key, `initiationsPerSecond` sustained with a small `burst`. It guards
 * `authorize` (ticket verification) and session churn against a ticket holder who sends from many
 * source addresses, each of which would pass the per-source limiter. The small burst admits what an
 * honest client or node does in quick succession — a rekey right after connecting, or a node
 * re-feeding an initiation it held while it asked the controller online — without raising the
 * sustained rate. The caller checks only initiations whose timestamp already passed the replay guard,
 * so replays of someone else's initiation cannot spend the key holder's budget.
 *
 * Memory is bounded by `maxEntries` (least recently used evicted first): a bucket refills completely
 * within burst / initiationsPerSecond, so eviction loses nothing unless more than `maxEntries` keys
 * initiated within that time. Sans-IO: `now` is the caller's monotonic clock in ms.
 */
import { CLIENT_KEY_INITIATION_BURST, CLIENT_KEY_INITIATIONS_PER_SECOND } from '../constants.js';

export interface ClientKeyLimiterOptions {
  readonly initiationsPerSecond: number;
  readonly burst: number;
  readonly maxEntries: number;
}

export const DEFAULT_CLIENT_KEY_LIMITER_OPTIONS: ClientKeyLimiterOptions = {
  initiationsPerSecond: CLIENT_KEY_INITIATIONS_PER_SECOND,
  burst: CLIENT_KEY_INITIATION_BURST,
  maxEntries: 65_536,
};

interface Bucket {
  tokens: number;
  at: number;
}

export class ClientKeyLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly options: ClientKeyLimiterOptions;

  constructor(options: Partial<ClientKeyLimiterOptions> = {}) {
    this.options = { ...DEFAULT_CLIENT_KEY_LIMITER_OPTIONS, ...options };
  }

  /** Takes one token for the key at `now`; false means refuse the initiation (nothing is recorded). */
  allow(clientStaticPublicKey: Uint8Array, now: number): boolean {
    const { initiationsPerSecond, burst, maxEntries } = this.options;
    const key = Buffer.from(clientStaticPublicKey).toString('base64');
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: burst, at: now };
    } else {
      b.tokens = Math.min(burst, b.tokens + (Math.max(0, now - b.at) * initiationsPerSecond) / 1000);
      b.at = now;
      this.buckets.delete(key);
    }
    this.buckets.set(key, b); // most recently used last
    if (this.buckets.size > maxEntries) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /**
   * Drops buckets that have refilled completely: they carry no information (a new bucket starts
   * full), so an idle node does not keep one per client that ever connected.
   */
  collect(now: number): void {
    const { initiationsPerSecond, burst } = this.options;
    for (const [k, b] of this.buckets) {
      if (b.tokens + (Math.max(0, now - b.at) * initiationsPerSecond) / 1000 >= burst) this.buckets.delete(k);
    }
  }

  get size(): number {
    return this.buckets.size;
  }
}
