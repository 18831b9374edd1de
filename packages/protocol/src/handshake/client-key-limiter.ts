/**
 * Per-client-static-key initiation limit (WireGuard's HandshakeInitationRate): initiations of one
 * key are consumed at most once per `intervalMs`. It guards `authorize` (ticket verification) and
 * session churn against a ticket holder who sends from many source addresses, each of which would
 * pass the per-source limiter. The caller checks only initiations whose timestamp already passed
 * the replay guard, so replays of someone else's initiation cannot spend the key holder's budget.
 *
 * Memory is bounded by `maxEntries` (least recently consumed evicted first); an entry matters only
 * for `intervalMs`, so eviction loses nothing unless more than `maxEntries` keys initiated within
 * that interval. Sans-IO: `now` is the caller's monotonic clock in ms.
 */
export class ClientKeyLimiter {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly intervalMs: number,
    private readonly maxEntries = 65_536,
  ) {}

  /** True (and the key's clock restarts) when the key's last consumed initiation is old enough. */
  allow(clientStaticPublicKey: Uint8Array, now: number): boolean {
    const key = Buffer.from(clientStaticPublicKey).toString('base64');
    const last = this.last.get(key);
    if (last !== undefined && now - last < this.intervalMs) return false;
    this.last.delete(key);
    this.last.set(key, now);
    if (this.last.size > this.maxEntries) {
      const oldest = this.last.keys().next().value;
      if (oldest !== undefined) this.last.delete(oldest);
    }
    return true;
  }

  get size(): number {
    return this.last.size;
  }
}
