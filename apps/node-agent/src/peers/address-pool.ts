/**
 * Client addresses: one host index per device, the same index in the IPv4 subnet and (when enabled) in
 * the IPv6 subnet (`<prefix>::<index>`). A device gets its index back on every session (sticky), as long
 * as the pool was not so full that its idle lease had to be reused: when no index is free, the least
 * recently used lease without a live session is taken over. Index 1 is the node (gateway); index 0 and
 * the broadcast index are never handed out.
 *
 * Packet-path keys are signed int32 (`key4`, `key6`, `indexOf4`): read from packet bytes with `|`
 * and never `>>> 0`, so they stay small integers in V8 — a uint32 of 2^31 or more is a heap number,
 * which costs an allocation per packet when passed to a function or used as a Map key.
 */
import type { Ipv4Subnet, Ipv6Subnet } from '../config.js';
import { ipv6Bytes } from '../config.js';

interface Lease {
  deviceId: string;
  active: number; // live sessions holding it
  lastUsed: number;
}

export function ipv4ToU32(s: string): number {
  const p = s.split('.').map(Number);
  return (
    (((p[0] as number) << 24) | ((p[1] as number) << 16) | ((p[2] as number) << 8) | (p[3] as number)) >>> 0
  );
}

export class AddressPool {
  readonly network4: number;
  readonly mask4: number;
  readonly gateway4: number;
  /** First 12 bytes of client IPv6 addresses (prefix + zeros), or null without IPv6. */
  readonly prefix6: Buffer | null;
  readonly gateway6: Buffer | null;
  /** Low 32 bits of the IPv6 network address as int32 (client i gets low32 = net6Low + i). */
  readonly net6Low: number;
  /** Network address and mask as int32 (packet-path form). */
  private readonly network4Key: number;
  private readonly mask4Key: number;
  readonly size: number;
  private readonly byIndex = new Map<number, Lease>();
  private readonly byDevice = new Map<string, number>();
  private nextFree = 2;
  private tick = 0;

  constructor(
    readonly subnet4: Ipv4Subnet,
    readonly subnet6: Ipv6Subnet | null,
  ) {
    this.network4 = ipv4ToU32(subnet4.network);
    this.mask4 = (0xffffffff << (32 - subnet4.prefix)) >>> 0;
    this.network4Key = this.network4 | 0;
    this.mask4Key = this.mask4 | 0;
    this.gateway4 = ipv4ToU32(subnet4.gateway);
    let size = 2 ** (32 - subnet4.prefix) - 2; // without network and broadcast
    if (subnet6) {
      const net = ipv6Bytes(subnet6.network);
      this.prefix6 = net.subarray(0, 12);
      this.net6Low = net.readInt32BE(12);
      this.gateway6 = ipv6Bytes(subnet6.gateway);
      size = Math.min(size, 2 ** Math.min(32, 128 - subnet6.prefix) - 2);
    } else {
      this.prefix6 = null;
      this.gateway6 = null;
      this.net6Low = 0;
    }
    this.size = Math.max(0, Math.min(size, 0xfffffff));
  }

  /** Highest usable host index. */
  get maxIndex(): number {
    return this.size; // indexes 2..size (1 is the gateway)
  }

  ipv4(index: number): number {
    return (this.network4 + index) >>> 0;
  }

  ipv4Text(index: number): string {
    const n = this.ipv4(index);
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }

  ipv6Bytes(index: number): Buffer | null {
    if (this.prefix6 === null) return null;
    const b = Buffer.alloc(16);
    this.prefix6.copy(b, 0);
    b.writeInt32BE(this.key6(index), 12);
    return b;
  }

  /** The lease index for `deviceId` (sticky), or null when every index is held by a live session. */
  lease(deviceId: string): number | null {
    const tick = ++this.tick;
    const have = this.byDevice.get(deviceId);
    if (have !== undefined) {
      (this.byIndex.get(have) as Lease).lastUsed = tick;
      return have;
    }
    let index: number | null = null;
    while (this.nextFree <= this.maxIndex && index === null) {
      if (!this.byIndex.has(this.nextFree)) index = this.nextFree;
      this.nextFree++;
    }
    if (index === null) {
      // Full: take over the least recently used idle lease.
      let victim: number | null = null;
      let oldest = Infinity;
      for (const [i, l] of this.byIndex) {
        if (l.active === 0 && l.lastUsed < oldest) {
          oldest = l.lastUsed;
          victim = i;
        }
      }
      if (victim === null) return null;
      this.byDevice.delete((this.byIndex.get(victim) as Lease).deviceId);
      this.byIndex.delete(victim);
      index = victim;
    }
    this.byIndex.set(index, { deviceId, active: 0, lastUsed: tick });
    this.byDevice.set(deviceId, index);
    return index;
  }

  hold(index: number): void {
    const l = this.byIndex.get(index);
    if (l) l.active++;
  }

  release(index: number): void {
    const l = this.byIndex.get(index);
    if (l && l.active > 0) l.active--;
  }

  /** The int32 key of client `index`'s IPv4 address (the key of the IPv4 session map). */
  key4(index: number): number {
    return (this.network4 + index) | 0;
  }

  /** Index of an inner IPv4 destination (int32 key) when it is a client address of this pool, else -1. */
  indexOf4(addr: number): number {
    if ((addr & this.mask4Key) !== this.network4Key) return -1;
    const i = (addr - this.network4Key) | 0;
    return i >= 2 && i <= this.maxIndex ? i : -1;
  }

  /** Low 32 bits of client `index`'s IPv6 address as int32 (the key of the IPv6 session map). */
  key6(index: number): number {
    return (this.net6Low + index) | 0;
  }

  get leases(): number {
    return this.byIndex.size;
  }
}
