/**
 * One admitted client as the node's data path sees it: the protocol peer, the ticket's claims, the
 * assigned addresses, where to send (endpoint + bind, updated on roaming), byte counters and the
 * ticket's limits (a token bucket per direction for the bandwidth limit, one quota for both directions).
 * Plain fields, no closures: the packet path touches it per packet.
 */
import type { ResponderPeer } from '@corridor/protocol';
import type { Bind, BindEndpoint } from '@corridor/tun/bind';

export interface SessionClaims {
  readonly ticketId: string;
  readonly userId: string;
  readonly deviceId: string;
  /** Ticket expiry, ms since the epoch. */
  readonly expiresAtMs: number;
  readonly bandwidthBytesPerSec: number;
  readonly dataQuotaBytes: number;
}

/**
 * Token bucket in bytes: `rate` bytes/s, burst of max(rate / 4, 64 KiB) so one batch of full-size
 * packets passes. rate 0 = unlimited.
 */
export class ByteBucket {
  private tokens: number;
  private at = -Infinity;
  readonly burst: number;
  constructor(readonly rate: number) {
    this.burst = Math.max(rate / 4, 65536);
    this.tokens = this.burst;
  }
  take(bytes: number, now: number): boolean {
    if (this.rate === 0) return true;
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
      this.at = now;
    }
    if (this.tokens < bytes) return false;
    this.tokens -= bytes;
    return true;
  }
}

/** Shared by every session without a bandwidth limit (no per-session allocation). */
const UNLIMITED = new ByteBucket(0);

function bucketFor(rate: number): ByteBucket {
  return rate === 0 ? UNLIMITED : new ByteBucket(rate);
}

export class Session {
  claims: SessionClaims;
  /** Wall-clock start (ms) of the current ticket's session. */
  connectedAt: number;
  rxBytes = 0;
  txBytes = 0;
  rxPackets = 0;
  txPackets = 0;
  endpoint: BindEndpoint | null;
  bind: Bind | null;
  rxBucket: ByteBucket;
  txBucket: ByteBucket;
  /** Set when the quota ran out; the timer loop ends the session. */
  quotaExceeded = false;
  /**
   * Bytes the current ticket already moved in earlier sessions on this node (Engine's quota ledger):
   * the quota is the ticket's, so reconnecting with the same ticket does not start it afresh.
   */
  quotaUsedBefore = 0;
  ended = false;
  /** Low 32 bits of the IPv6 address as int32 (AddressPool.key6); meaningful when `hasV6`. */
  readonly v6Low: number;
  readonly hasV6: boolean;

  constructor(
    readonly peer: ResponderPeer,
    claims: SessionClaims,
    readonly index: number,
    /** Assigned IPv4 as an int32 key (AddressPool.key4). */
    readonly v4: number,
    /** AddressPool.key6, or null without IPv6. */
    v6Low: number | null,
    endpoint: BindEndpoint,
    bind: Bind,
    now: number,
  ) {
    this.claims = claims;
    this.connectedAt = now;
    this.endpoint = endpoint;
    this.bind = bind;
    this.hasV6 = v6Low !== null;
    this.v6Low = v6Low ?? 0;
    this.rxBucket = bucketFor(claims.bandwidthBytesPerSec);
    this.txBucket = bucketFor(claims.bandwidthBytesPerSec);
  }

  /** New ticket on the same peer (re-handshake with a fresh ticket): counters and limits restart. */
  renew(claims: SessionClaims, now: number, quotaUsedBefore = 0): void {
    this.claims = claims;
    this.quotaUsedBefore = quotaUsedBefore;
    this.connectedAt = now;
    this.rxBytes = this.txBytes = this.rxPackets = this.txPackets = 0;
    this.rxBucket = bucketFor(claims.bandwidthBytesPerSec);
    this.txBucket = bucketFor(claims.bandwidthBytesPerSec);
    this.quotaExceeded = false;
  }

  /** Charges `bytes` against quota and the direction's bucket: 0 ok, 1 bandwidth, 2 quota. */
  charge(bucket: ByteBucket, bytes: number, now: number): 0 | 1 | 2 {
    const quota = this.claims.dataQuotaBytes;
    if (quota > 0 && this.quotaUsedBefore + this.rxBytes + this.txBytes + bytes > quota) {
      this.quotaExceeded = true;
      return 2;
    }
    return bucket.take(bytes, now) ? 0 : 1;
  }
}
