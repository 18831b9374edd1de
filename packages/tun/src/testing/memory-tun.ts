// MemoryTun: an in-memory TunDevice pair for tests without root. What one end writes, the other end
// reads, asynchronously (setImmediate), in batches through a reused slab — the same ownership contract
// as LinuxTun (PacketBatch views are valid only during the handler call; with `poison` on, the slab is
// overwritten right after each call so code that keeps views fails loudly in tests).
import {
  BaseTun,
  checkSlabLayout,
  type PacketBatch,
  type PacketHandler,
  type TunStats,
} from '../tun-device.js';
import { TunError, errnoError } from '../errors.js';
import { validateTunName } from '../name.js';

export interface MemoryTunOptions {
  /** Names of the two ends (default 'mem0' / 'mem1'). */
  names?: [string, string];
  /** MTU reported by both ends (default 1500). Not enforced on write, like a kernel TUN. */
  mtu?: number;
  /** Max packets per handler call (default 64). */
  batchSize?: number;
  /**
   * Packets an end buffers for a reader that is paused or slow (default 512, like txqueuelen). Beyond
   * that, write() returns false and a 'writable' event follows once the reader drained some.
   */
  queueLimit?: number;
  /** Overwrite the slab with 0xEE after each handler call (default true). */
  poison?: boolean;
}

const MAX_PACKET = 65535;

class MemoryBatch implements PacketBatch {
  count = 0;
  readonly offsets: number[] = [];
  readonly lengths: number[] = [];
  constructor(public slab: Uint8Array) {}
  offset(i: number): number {
    return this.offsets[i] as number;
  }
  length(i: number): number {
    return this.lengths[i] as number;
  }
  packet(i: number): Uint8Array {
    const off = this.offsets[i] as number;
    return this.slab.subarray(off, off + (this.lengths[i] as number));
  }
}

export class MemoryTun extends BaseTun {
  readonly name: string;
  mtu: number;
  /** Set by createMemoryTunPair. */
  peer!: MemoryTun;
  private readonly inbound: Uint8Array[] = [];
  private inboundHead = 0;
  private handler: PacketHandler | null = null;
  private scheduled = false;
  private isClosed = false;
  private peerBlocked = false;
  private readonly batch: MemoryBatch;
  private readonly counters = {
    rxPackets: 0,
    rxBytes: 0,
    rxBatches: 0,
    txPackets: 0,
    txBytes: 0,
    txDropped: 0,
    txErrors: 0,
  };
  private closedPromise: Promise<void> | undefined;

  constructor(
    name: string,
    private readonly options: Required<Omit<MemoryTunOptions, 'names'>>,
  ) {
    super();
    this.name = validateTunName(name);
    this.mtu = options.mtu;
    this.batch = new MemoryBatch(new Uint8Array(options.batchSize * 2048 + MAX_PACKET));
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Packets waiting for this end's reader. */
  get queued(): number {
    return this.inbound.length - this.inboundHead;
  }

  onPackets(handler: PacketHandler | null): void {
    if (this.isClosed) return;
    this.handler = handler;
    if (handler) this.schedule();
  }

  write(packet: Uint8Array): boolean {
    if (this.isClosed) {
      this.counters.txDropped++;
      return false;
    }
    const version = packet.length > 0 ? (packet[0] as number) >> 4 : 0;
    if (packet.length > MAX_PACKET || (version !== 4 && version !== 6)) {
      // What the kernel answers for a packet that is not IPv4/IPv6 (IFF_NO_PI).
      this.counters.txErrors++;
      this.counters.txDropped++;
      this.reportError(errnoError('write', 22, 'EINVAL', this.name));
      return false;
    }
    if (!this.peer.accept(packet)) {
      this.counters.txDropped++;
      return false;
    }
    this.counters.txPackets++;
    this.counters.txBytes += packet.length;
    return true;
  }

  /** Stops when the peer's queue is full (rest dropped, 'writable' follows); a rejected packet is skipped. */
  override writeBatch(packets: readonly Uint8Array[]): number {
    let written = 0;
    for (let i = 0; i < packets.length; i++) {
      if (this.write(packets[i] as Uint8Array)) written++;
      else if (this.peerBlocked || this.isClosed) {
        this.counters.txDropped += packets.length - i - 1;
        break;
      }
    }
    return written;
  }

  writeSlab(slab: Uint8Array, lengths: Uint32Array, count: number = lengths.length): number {
    checkSlabLayout(slab, lengths, count);
    let off = 0;
    let written = 0;
    for (let i = 0; i < count; i++) {
      const len = lengths[i] as number;
      if (this.write(slab.subarray(off, off + len))) written++;
      else if (this.peerBlocked || this.isClosed) {
        this.counters.txDropped += count - i - 1;
        break;
      }
      off += len;
    }
    return written;
  }

  /** Called by the peer's write(): copies the packet in, or refuses when the queue is full/closed. */
  private accept(packet: Uint8Array): boolean {
    if (this.isClosed) return false;
    if (this.queued >= this.options.queueLimit) {
      this.peer.peerBlocked = true;
      return false;
    }
    this.inbound.push(Uint8Array.from(packet));
    this.schedule();
    return true;
  }

  private schedule(): void {
    if (this.scheduled || !this.handler || this.queued === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.deliver();
    });
  }

  private deliver(): void {
    const b = this.batch;
    // One batch per turn, like one poll wake-up; the rest next turn so other I/O interleaves.
    if (this.handler && !this.isClosed && this.queued > 0) {
      let off = 0;
      b.count = 0;
      b.offsets.length = 0;
      b.lengths.length = 0;
      while (b.count < this.options.batchSize && this.queued > 0) {
        const p = this.inbound[this.inboundHead] as Uint8Array;
        if (b.slab.length - off < p.length) break;
        this.inboundHead++;
        b.slab.set(p, off);
        b.offsets.push(off);
        b.lengths.push(p.length);
        b.count++;
        this.counters.rxPackets++;
        this.counters.rxBytes += p.length;
        off += (p.length + 15) & ~15;
      }
      if (this.inboundHead > 1024 && this.inboundHead * 2 > this.inbound.length) {
        this.inbound.splice(0, this.inboundHead);
        this.inboundHead = 0;
      }
      this.counters.rxBatches++;
      try {
        this.handler(b);
      } finally {
        if (this.options.poison) b.slab.fill(0xee, 0, off);
      }
    }
    if (this.peer.peerBlocked && this.queued < this.options.queueLimit / 2) {
      this.peer.peerBlocked = false;
      if (!this.peer.isClosed) this.peer.emit('writable');
    }
    this.schedule();
  }

  close(): Promise<void> {
    if (!this.closedPromise) {
      this.isClosed = true;
      this.handler = null;
      this.inbound.length = 0;
      this.inboundHead = 0;
      this.closedPromise = new Promise((resolve) =>
        setImmediate(() => {
          this.emit('close');
          resolve();
        }),
      );
    }
    return this.closedPromise;
  }

  stats(): TunStats {
    return { ...this.counters, errors: this.errorCount };
  }

  /** Test helper: make this end report an error as the kernel path would (e.g. simulate EIO). */
  injectError(err: TunError): void {
    this.reportError(err);
  }
}

/** Two connected in-memory TUN ends: a.write(p) is read by b, and vice versa. */
export function createMemoryTunPair(options: MemoryTunOptions = {}): [MemoryTun, MemoryTun] {
  const [nameA, nameB] = options.names ?? ['mem0', 'mem1'];
  const opts = {
    mtu: options.mtu ?? 1500,
    batchSize: options.batchSize ?? 64,
    queueLimit: options.queueLimit ?? 512,
    poison: options.poison ?? true,
  };
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) {
    throw new TunError('CORRIDOR_ERR_TUN_INVALID_ARG', 'batchSize must be a positive integer');
  }
  const a = new MemoryTun(nameA, opts);
  const b = new MemoryTun(nameB, opts);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
