/**
 * Node-side guard against replayed initiations: an initiation is accepted only if its TAI64N
 * timestamp is strictly greater than the last accepted one for the same client static key.
 *
 * Memory is bounded: at most `capacity` keys, least recently used evicted first. An evicted entry
 * raises a floor: unknown keys must then present a timestamp above the highest evicted one, so
 * eviction can never re-open a replay window (at worst a client whose clock lags that floor is
 * refused until its clock passes it). Record only after the whole initiation was authorized, so
 * strangers (no valid ticket) cannot churn the table.
 *
 * The floor never rises above the node's own clock (`now` passed to `accept`): otherwise one client
 * with a far-future timestamp (a wrong clock, or a ticket holder doing it on purpose) would, once
 * evicted, lock every new client out until the node restarts.
 */
import { compareTai64n } from './tai64n.js';
import { TIMESTAMP_BYTES } from './wire.js';

export const DEFAULT_REPLAY_GUARD_CAPACITY = 100_000;

export class ReplayTimestampGuard {
  private readonly last = new Map<string, Buffer>();
  private floor: Buffer = Buffer.alloc(TIMESTAMP_BYTES);

  constructor(private readonly capacity = DEFAULT_REPLAY_GUARD_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
  }

  /** True when `timestamp` is strictly newer than anything accepted (or evicted) for this key. */
  isFresh(clientStaticPublicKey: Uint8Array, timestamp: Uint8Array): boolean {
    if (timestamp.length !== TIMESTAMP_BYTES) return false;
    const prev = this.last.get(Buffer.from(clientStaticPublicKey).toString('base64'));
    return compareTai64n(timestamp, prev ?? this.floor) > 0;
  }

  /**
   * Records an accepted timestamp; returns false (and records nothing) when it is not fresh.
   * `now`: the node's wall clock as a TAI64N timestamp; caps how far an eviction raises the floor.
   */
  accept(clientStaticPublicKey: Uint8Array, timestamp: Uint8Array, now?: Uint8Array): boolean {
    if (!this.isFresh(clientStaticPublicKey, timestamp)) return false;
    const key = Buffer.from(clientStaticPublicKey).toString('base64');
    this.last.delete(key);
    this.last.set(key, Buffer.from(timestamp));
    while (this.last.size > this.capacity) {
      const oldest = this.last.entries().next().value;
      if (oldest === undefined) break;
      this.last.delete(oldest[0]);
      const raised =
        now !== undefined && now.length === TIMESTAMP_BYTES && compareTai64n(oldest[1], now) > 0
          ? Buffer.from(now)
          : oldest[1];
      if (compareTai64n(raised, this.floor) > 0) this.floor = raised;
    }
    return true;
  }

  get size(): number {
    return this.last.size;
  }
}
