/**
 * Node-side guard against replayed initiations: an initiation is accepted only if its TAI64N
 * timestamp is strictly greater than the last accepted one for the same client static key.
 *
 * Memory is bounded: at most `capacity` keys, least recently used evicted first. An evicted entry
 * raises a floor: unknown keys must then present a timestamp above the highest evicted one, so
 * eviction can never re-open a replay window. The floor is never capped: the caller (ResponderTunnel)
 * refuses initiations whose timestamp is not within INITIATION_TIMESTAMP_WINDOW_MS of its own clock
 * BEFORE they reach this guard, so no remembered timestamp — and hence no floor — lies more than
 * that window ahead of the node's clock.
 *
 * The floor is kept per bucket of client keys (`floorBuckets`, chosen by a keyed hash with a secret
 * random per guard, so a client cannot pick a key that lands in someone else's bucket). An eviction
 * raises only its own bucket's floor, so a client whose clock runs ahead (at most the window) delays
 * at most the few newcomers that share its bucket, and only until their clocks pass it.
 *
 * Record only after the whole initiation was authorized, so strangers (no valid ticket) cannot churn
 * the table.
 */
import { mac, randomBytes } from '../crypto/primitives.js';
import { compareTai64n } from './tai64n.js';
import { TIMESTAMP_BYTES } from './wire.js';

export const DEFAULT_REPLAY_GUARD_CAPACITY = 100_000;
export const DEFAULT_REPLAY_GUARD_FLOOR_BUCKETS = 4096;

export interface ReplayTimestampGuardOptions {
  /** Number of floor buckets, a power of two in 1..65536 (default 4096). */
  readonly floorBuckets?: number;
}

interface Entry {
  /**
   * The 12 timestamp bytes as a latin1 string: one code unit per byte, so string order is the
   * timestamps' big-endian byte order. A string, not a Buffer copy: small Buffers are slices of an
   * 8 KiB allocation pool, and one kept per client would pin a whole pool chunk each.
   */
  readonly timestamp: string;
  readonly bucket: number;
}

function timestampText(timestamp: Uint8Array): string {
  return Buffer.from(timestamp.buffer, timestamp.byteOffset, timestamp.byteLength).toString('latin1');
}

export class ReplayTimestampGuard {
  private readonly last = new Map<string, Entry>();
  /** floorBuckets consecutive 12-byte timestamps, all zero at first. */
  private readonly floors: Buffer;
  private readonly bucketMask: number;
  private readonly bucketSecret = Buffer.alloc(32);
  private readonly bucketScratch = Buffer.alloc(16);

  constructor(
    private readonly capacity = DEFAULT_REPLAY_GUARD_CAPACITY,
    options: ReplayTimestampGuardOptions = {},
  ) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
    const buckets = options.floorBuckets ?? DEFAULT_REPLAY_GUARD_FLOOR_BUCKETS;
    if (!Number.isInteger(buckets) || buckets < 1 || buckets > 65_536 || (buckets & (buckets - 1)) !== 0) {
      throw new RangeError('floorBuckets must be a power of two in 1..65536');
    }
    this.bucketMask = buckets - 1;
    this.floors = Buffer.alloc(buckets * TIMESTAMP_BYTES);
    randomBytes(this.bucketSecret);
  }

  /** The floor bucket of a client key (keyed hash; stable for the life of this guard). */
  floorBucket(clientStaticPublicKey: Uint8Array): number {
    mac(this.bucketScratch, this.bucketSecret, clientStaticPublicKey);
    return this.bucketScratch.readUInt16LE(0) & this.bucketMask;
  }

  private floor(bucket: number): Buffer {
    return this.floors.subarray(bucket * TIMESTAMP_BYTES, (bucket + 1) * TIMESTAMP_BYTES);
  }

  /** True when `timestamp` is strictly newer than anything accepted (or evicted) for this key. */
  isFresh(clientStaticPublicKey: Uint8Array, timestamp: Uint8Array): boolean {
    if (timestamp.length !== TIMESTAMP_BYTES) return false;
    const prev = this.last.get(Buffer.from(clientStaticPublicKey).toString('base64'));
    if (prev !== undefined) return timestampText(timestamp) > prev.timestamp;
    return compareTai64n(timestamp, this.floor(this.floorBucket(clientStaticPublicKey))) > 0;
  }

  /** Records an accepted timestamp; returns false (and records nothing) when it is not fresh. */
  accept(clientStaticPublicKey: Uint8Array, timestamp: Uint8Array): boolean {
    if (!this.isFresh(clientStaticPublicKey, timestamp)) return false;
    const key = Buffer.from(clientStaticPublicKey).toString('base64');
    this.last.delete(key);
    this.last.set(key, {
      timestamp: timestampText(timestamp),
      bucket: this.floorBucket(clientStaticPublicKey),
    });
    while (this.last.size > this.capacity) {
      const oldest = this.last.entries().next().value;
      if (oldest === undefined) break;
      this.last.delete(oldest[0]);
      const floor = this.floor(oldest[1].bucket);
      const evicted = Buffer.from(oldest[1].timestamp, 'latin1');
      if (compareTai64n(evicted, floor) > 0) floor.set(evicted);
    }
    return true;
  }

  get size(): number {
    return this.last.size;
  }
}
