/**
 * The proxy's packet device: what the connection engine sees instead of a TUN when `vpnctl proxy`
 * runs. Behind it is a userspace TCP/IP stack (@corridor/netstack) holding the tunnel address the
 * node assigned; proxied connections are that stack's connections.
 *
 *   stack -> engine (send side): the stack's sink hands over one packet at a time, as a view valid
 *     only during the call and from inside the stack's poll. Each is copied into a slab; the slab is
 *     handed to the engine as ONE PacketBatch (exactly like a TUN read batch) at the end of the poll
 *     (a microtask) or when it is full. The engine seals it into the link and flushes once per batch.
 *   engine -> stack (receive side): `writeBatch` feeds each decrypted packet to `stack.input()`,
 *     which copies what it keeps; views are not held.
 *
 * Contract: one stack at a time (`attach`); a new session with another address attaches a new stack
 * and the old one is closed by the caller (its connections were tied to the old address). Without a
 * stack, writes are dropped (counted by the engine as 'tunFull') and nothing is emitted.
 */
import type { Netstack } from '@corridor/netstack';
import type { PacketBatch, PacketHandler } from '@corridor/tun';
import type { PacketDevice } from '../connection/engine.js';

/** Largest packet a slab slot holds (the engine's MAX_TUN_MTU fits). */
const SLOT_BYTES = 2048;
const SLAB_PACKETS = 128;

class SlabBatch implements PacketBatch {
  count = 0;
  readonly offsets = new Uint32Array(SLAB_PACKETS);
  readonly lengths = new Uint32Array(SLAB_PACKETS);
  constructor(readonly slab: Uint8Array) {}
  offset(i: number): number {
    return this.offsets[i]!;
  }
  length(i: number): number {
    return this.lengths[i]!;
  }
  packet(i: number): Uint8Array {
    const o = this.offsets[i]!;
    return this.slab.subarray(o, o + this.lengths[i]!);
  }
}

export class NetstackDevice implements PacketDevice {
  /** Packets the stack emitted that were too large for a slot (cannot happen with a sane MTU). */
  oversize = 0;
  private handler: PacketHandler | null = null;
  private stack: Netstack | null = null;
  private readonly batch = new SlabBatch(new Uint8Array(SLOT_BYTES * SLAB_PACKETS));
  private used = 0;
  private flushQueued = false;

  /** The sink to give the Netstack constructor. */
  readonly sink = (packet: Uint8Array): void => {
    if (packet.length > SLOT_BYTES) {
      this.oversize++;
      return;
    }
    if (this.batch.count === SLAB_PACKETS) this.deliver();
    const b = this.batch;
    b.slab.set(packet, this.used);
    b.offsets[b.count] = this.used;
    b.lengths[b.count] = packet.length;
    b.count++;
    this.used += SLOT_BYTES;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => {
        this.flushQueued = false;
        this.deliver();
      });
    }
  };

  attach(stack: Netstack | null): void {
    this.stack = stack;
    this.batch.count = 0;
    this.used = 0;
  }

  get current(): Netstack | null {
    return this.stack;
  }

  private deliver(): void {
    const b = this.batch;
    if (b.count === 0) return;
    try {
      this.handler?.(b);
    } finally {
      b.count = 0;
      this.used = 0;
    }
  }

  onPackets(handler: PacketHandler | null): void {
    this.handler = handler;
  }

  /**
   * The receive path's batch: packets back to back in `slab`, `lengths[0..count)`. The stack copies
   * what it keeps (the slab is reused after this call).
   */
  writeSlab(slab: Uint8Array, lengths: Uint32Array, count: number = lengths.length): number {
    const s = this.stack;
    if (s === null) return 0;
    let off = 0;
    for (let i = 0; i < count; i++) {
      const n = lengths[i]!;
      s.input(slab.subarray(off, off + n));
      off += n;
    }
    return count;
  }

  writeBatch(packets: readonly Uint8Array[]): number {
    const s = this.stack;
    if (s === null) return 0;
    for (let i = 0; i < packets.length; i++) s.input(packets[i]!);
    return packets.length;
  }
}
