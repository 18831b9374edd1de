// Reassembler: IPv4 and IPv6 fragment reassembly with bounded memory (RFC 791, RFC 8200 4.5).
//
// Contract: add() copies the fragment's data (the caller's packet buffer is not kept). Memory is the
// sum of fragment bytes actually received, never a length the sender claims: a fragment at offset
// 60000 costs its own size, not 60 KB. Limits: `maxBytes` over all datagrams, `maxDatagrams`
// datagrams in progress, `maxFragments` per datagram; when a new datagram needs room the oldest
// incomplete one is evicted (counted 'fragmentMemoryLimit'). Overlapping fragments drop the whole
// datagram (RFC 5722; also the safe choice for IPv4). Incomplete datagrams expire after `timeoutMs`.
// On completion add() returns a fresh packet (IPv4 or IPv6 header + whole payload) that the caller
// parses again as an unfragmented packet; the reassembler keeps no reference to it.
import type { DropReason } from '../drop-reasons.js';
import type { IpAddr } from '../wire/address.js';
import { IPV4_HEADER_BYTES, IPV6_HEADER_BYTES, IP_MAX_PACKET_BYTES } from '../wire/constants.js';
import type { IpInfo } from '../wire/ip-info.js';
import { writeIpv4Header } from '../wire/ipv4.js';
import { writeIpv6Header } from '../wire/ipv6.js';

export interface ReassemblyLimits {
  maxBytes: number;
  maxDatagrams: number;
  maxFragments: number;
  timeoutMs: number;
}

export const DEFAULT_REASSEMBLY_LIMITS: ReassemblyLimits = {
  maxBytes: 1 << 20,
  maxDatagrams: 64,
  maxFragments: 64,
  timeoutMs: 30_000,
};

interface Fragment {
  offset: number;
  data: Uint8Array;
}

class Datagram {
  readonly fragments: Fragment[] = [];
  bytes = 0;
  /** Total payload length, known once the last fragment (MF = 0) arrived; -1 before. */
  total = -1;
  constructor(
    readonly key: string,
    readonly family: 4 | 6,
    readonly src: IpAddr,
    readonly dst: IpAddr,
    readonly protocol: number,
    readonly ttl: number,
    readonly expires: number,
  ) {}
}

export type ReassemblyResult =
  | { readonly kind: 'pending' }
  | { readonly kind: 'complete'; readonly packet: Uint8Array }
  | { readonly kind: 'drop'; readonly reason: DropReason };

const PENDING: ReassemblyResult = Object.freeze({ kind: 'pending' });
const drop = (reason: DropReason): ReassemblyResult => ({ kind: 'drop', reason });

export class Reassembler {
  private readonly datagrams = new Map<string, Datagram>();
  private bytes = 0;
  /** Drops not tied to the fragment being added (evictions and timeouts), for the stack to count. */
  evicted = 0;
  expired = 0;

  constructor(readonly limits: ReassemblyLimits = DEFAULT_REASSEMBLY_LIMITS) {}

  get datagramsInProgress(): number {
    return this.datagrams.size;
  }

  get bytesHeld(): number {
    return this.bytes;
  }

  /** Earliest expiry among datagrams in progress (Infinity when none). */
  nextDeadline(): number {
    // Map iteration order = insertion order = expiry order (fixed timeout per datagram).
    for (const d of this.datagrams.values()) return d.expires;
    return Infinity;
  }

  /** Drops expired datagrams; returns how many expired. */
  expire(now: number): number {
    let n = 0;
    for (const [key, d] of this.datagrams) {
      if (d.expires > now) break;
      this.discard(key, d);
      n++;
    }
    this.expired += n;
    return n;
  }

  /** Adds the fragment in `pkt` described by `info` (already parsed, isFragment true). */
  add(pkt: Uint8Array, info: IpInfo, now: number): ReassemblyResult {
    const off = info.fragmentOffset;
    const len = info.payloadLength;
    const end = off + len;
    const maxPayload = info.family === 4 ? IP_MAX_PACKET_BYTES - IPV4_HEADER_BYTES : IP_MAX_PACKET_BYTES;
    if (end > maxPayload) return drop('fragmentInvalid');
    if (info.moreFragments && (len === 0 || len % 8 !== 0)) return drop('fragmentInvalid');
    if (len > this.limits.maxBytes) return drop('fragmentMemoryLimit');
    const key =
      `${info.family}:${info.src0}.${info.src1}.${info.src2}.${info.src3}>` +
      `${info.dst0}.${info.dst1}.${info.dst2}.${info.dst3}:${info.fragmentId}` +
      (info.family === 4 ? `:${info.protocol}` : '');
    let d = this.datagrams.get(key);
    if (d === undefined) {
      while (this.datagrams.size >= this.limits.maxDatagrams || this.bytes + len > this.limits.maxBytes) {
        if (!this.evictOldest()) return drop('fragmentMemoryLimit');
      }
      d = new Datagram(
        key,
        info.family,
        info.srcAddr(),
        info.dstAddr(),
        info.protocol,
        info.ttl,
        now + this.limits.timeoutMs,
      );
      this.datagrams.set(key, d);
    } else {
      while (this.bytes + len > this.limits.maxBytes) {
        if (!this.evictOldest(d)) {
          this.discard(key, d);
          return drop('fragmentMemoryLimit');
        }
      }
    }
    if (!info.moreFragments) {
      if (d.total >= 0 && d.total !== end) {
        this.discard(key, d);
        return drop('fragmentInvalid');
      }
      // Fragments that arrived before the last one must lie within the length it sets: one past it
      // would otherwise let the byte count match the total with a hole inside (and be written past
      // the end of the rebuilt packet).
      for (const f of d.fragments) {
        if (f.offset + f.data.length > end) {
          this.discard(key, d);
          return drop('fragmentInvalid');
        }
      }
      d.total = end;
    }
    if (d.total >= 0 && end > d.total) {
      this.discard(key, d);
      return drop('fragmentInvalid');
    }
    for (const f of d.fragments) {
      const fEnd = f.offset + f.data.length;
      if (off < fEnd && f.offset < end) {
        if (f.offset === off && fEnd === end) return drop('fragmentInvalid'); // exact duplicate: keep the first
        this.discard(key, d);
        return drop('fragmentInvalid');
      }
    }
    if (d.fragments.length >= this.limits.maxFragments) {
      this.discard(key, d);
      return drop('fragmentMemoryLimit');
    }
    const data = new Uint8Array(len);
    data.set(pkt.subarray(info.payloadOffset, info.payloadOffset + len));
    d.fragments.push({ offset: off, data });
    d.bytes += len;
    this.bytes += len;
    if (d.total < 0 || d.bytes !== d.total) return PENDING;
    // No overlaps and the byte count matches the total: the fragments tile [0, total) exactly.
    const packet = this.build(d);
    this.discard(key, d);
    return { kind: 'complete', packet };
  }

  private build(d: Datagram): Uint8Array {
    const hl = d.family === 4 ? IPV4_HEADER_BYTES : IPV6_HEADER_BYTES;
    const out = new Uint8Array(hl + d.total);
    if (d.family === 4) writeIpv4Header(out, 0, d.src, d.dst, d.protocol, d.total, d.ttl, 0, false);
    else writeIpv6Header(out, 0, d.src, d.dst, d.protocol, d.total, d.ttl, 0);
    for (const f of d.fragments) out.set(f.data, hl + f.offset);
    return out;
  }

  private evictOldest(except?: Datagram): boolean {
    for (const [key, d] of this.datagrams) {
      if (d === except) continue;
      this.discard(key, d);
      this.evicted++;
      return true;
    }
    return false;
  }

  private discard(key: string, d: Datagram): void {
    this.bytes -= d.bytes;
    this.datagrams.delete(key);
  }

  clear(): void {
    this.datagrams.clear();
    this.bytes = 0;
  }
}
