/**
 * Per-source token bucket for handshake initiations, checked before any Diffie-Hellman
 * (wireguard-go `ratelimiter/`). Sans-IO: the caller passes `now` (monotonic ms) and a source key
 * (e.g. the IP address as a string; ports are usually left out so one host cannot multiply its
 * budget). Memory is bounded by `maxEntries`: when full, idle (refilled) buckets are collected (at
 * most once per refill period), and if that frees nothing, new sources are refused until it does.
 */
export interface RateLimiterOptions {
  /** Sustained initiations per second per source. */
  readonly packetsPerSecond: number;
  /** Burst size (bucket capacity). */
  readonly burst: number;
  /** Bound on tracked sources. */
  readonly maxEntries: number;
}

export const DEFAULT_RATE_LIMITER_OPTIONS: RateLimiterOptions = {
  packetsPerSecond: 20,
  burst: 5,
  maxEntries: 65_536,
};

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly options: RateLimiterOptions;
  /** Last full-table sweep: sweeps are O(entries), so at most one per refill period. */
  private lastCollectAt = -Infinity;

  constructor(options: Partial<RateLimiterOptions> = {}) {
    this.options = { ...DEFAULT_RATE_LIMITER_OPTIONS, ...options };
  }

  /** Takes one token for `source` at `now`; false means drop the packet. */
  allow(source: string, now: number): boolean {
    const { packetsPerSecond, burst, maxEntries } = this.options;
    let b = this.buckets.get(source);
    if (b === undefined) {
      if (this.buckets.size >= maxEntries) {
        // A bucket becomes collectable one refill period (burst / rate) after its last use, so
        // sweeping more often frees nothing more and would let a flood of new sources cost a full
        // sweep per packet.
        if (now - this.lastCollectAt >= (burst * 1000) / packetsPerSecond) {
          this.lastCollectAt = now;
          this.collect(now);
        }
        if (this.buckets.size >= maxEntries) return false;
      }
      b = { tokens: burst, at: now };
      this.buckets.set(source, b);
    } else {
      const elapsed = Math.max(0, now - b.at);
      b.tokens = Math.min(burst, b.tokens + (elapsed * packetsPerSecond) / 1000);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Drops buckets that have refilled completely (they carry no information). */
  collect(now: number): void {
    const { packetsPerSecond, burst } = this.options;
    for (const [k, b] of this.buckets) {
      if (b.tokens + (Math.max(0, now - b.at) * packetsPerSecond) / 1000 >= burst) this.buckets.delete(k);
    }
  }

  get size(): number {
    return this.buckets.size;
  }
}
