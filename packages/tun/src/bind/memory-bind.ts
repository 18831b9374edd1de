// MemoryBind: an in-memory network of binds for tests without root or sockets (wireguard-go
// `conn/bindtest`). Hostile to misuse, like MemoryTun:
// - delivery is asynchronous (setImmediate) and batched through ONE reused slab per bind; after each
//   handler call the slab is overwritten with 0xEE (`poison`, default on), so code that keeps a view of
//   a received message past the handler reads garbage and fails its test;
// - a send copies the message at once, so scribbling on the caller's slab after send() returns changes
//   nothing (as with a kernel socket);
// - the link can lose (`loss`), reorder (`reorder`) and duplicate (`duplicate`) messages, with a seeded
//   generator so a failing test can be replayed.
// Endpoints are interned per "address:port": the same object for the same bind, so identity works.
import { EventEmitter } from 'node:events';
import {
  SendSlab,
  newBindStats,
  type Bind,
  type BindEndpoint,
  type BindEvents,
  type BindStats,
  type ReceiveHandler,
  type ReceivedBatch,
} from './bind.js';

export interface MemoryNetworkOptions {
  /** Probability (0..1) that a message is dropped. */
  loss?: number;
  /** Probability (0..1) that a message is delivered after the next one. */
  reorder?: number;
  /** Probability (0..1) that a message is delivered twice. */
  duplicate?: number;
  /** Seed of the link's random choices (default 1). */
  seed?: number;
  /** Scribble over the receive slab after every handler call (default true). */
  poison?: boolean;
  /** Max messages per handler call (default 64). */
  batchSize?: number;
  /** Messages a bind queues for a slow reader before dropping (default 4096). */
  queueLimit?: number;
}

export class MemoryEndpoint implements BindEndpoint {
  readonly transport = 'memory' as const;
  readonly key: string;
  constructor(
    readonly address: string,
    readonly port: number,
  ) {
    this.key = `${address}:${port}`;
  }
  toString(): string {
    return this.key;
  }
}

interface Queued {
  data: Buffer;
  from: MemoryEndpoint;
}

class MemoryReceived implements ReceivedBatch {
  count = 0;
  readonly offsets: number[] = [];
  readonly lengths: number[] = [];
  readonly from: MemoryEndpoint[] = [];
  constructor(readonly slab: Buffer) {}
  datagram(i: number): Buffer {
    const off = this.offsets[i] as number;
    return this.slab.subarray(off, off + (this.lengths[i] as number));
  }
  endpoint(i: number): MemoryEndpoint {
    return this.from[i] as MemoryEndpoint;
  }
  isFrom(i: number, endpoint: BindEndpoint): boolean {
    return this.from[i] === endpoint;
  }
}

export class MemoryNetwork {
  private readonly binds = new Map<string, MemoryBind>();
  private readonly endpoints = new Map<string, MemoryEndpoint>();
  private seed: number;
  readonly options: Required<Omit<MemoryNetworkOptions, 'seed'>>;
  /** Messages the link dropped on purpose (loss), for assertions. */
  lost = 0;

  constructor(options: MemoryNetworkOptions = {}) {
    this.seed = (options.seed ?? 1) >>> 0 || 1;
    this.options = {
      loss: options.loss ?? 0,
      reorder: options.reorder ?? 0,
      duplicate: options.duplicate ?? 0,
      poison: options.poison ?? true,
      batchSize: options.batchSize ?? 64,
      queueLimit: options.queueLimit ?? 4096,
    };
  }

  /** xorshift32: deterministic per seed. */
  random(): number {
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed / 4294967296;
  }

  endpoint(address: string, port: number): MemoryEndpoint {
    const key = `${address}:${port}`;
    let ep = this.endpoints.get(key);
    if (ep === undefined) {
      ep = new MemoryEndpoint(address, port);
      this.endpoints.set(key, ep);
    }
    return ep;
  }

  /** A bind at `address:port` (port 0 picks a free one). Throws when the address is taken. */
  bind(address: string, port = 0): MemoryBind {
    let p = port;
    if (p === 0) {
      p = 40000;
      while (this.binds.has(`${address}:${p}`)) p++;
    }
    const ep = this.endpoint(address, p);
    if (this.binds.has(ep.key)) throw new Error(`MemoryNetwork: ${ep.key} is already bound`);
    const b = new MemoryBind(this, ep);
    this.binds.set(ep.key, b);
    return b;
  }

  /** @internal */
  deliver(from: MemoryEndpoint, to: BindEndpoint, data: Uint8Array): boolean {
    const target = this.binds.get(to.key);
    if (target === undefined || target.closed) return true; // like UDP: sent into the void
    const o = this.options;
    if (o.loss > 0 && this.random() < o.loss) {
      this.lost++;
      return true;
    }
    const copies = o.duplicate > 0 && this.random() < o.duplicate ? 2 : 1;
    for (let c = 0; c < copies; c++)
      target.enqueue({ data: Buffer.from(data), from }, o.reorder > 0 && this.random() < o.reorder);
    return true;
  }

  /** @internal */
  unbind(ep: MemoryEndpoint): void {
    this.binds.delete(ep.key);
  }
}

export class MemoryBind extends EventEmitter<BindEvents> implements Bind {
  readonly transport = 'memory' as const;
  private handler: ReceiveHandler | null = null;
  private readonly inbound: Queued[] = [];
  private held: Queued | undefined;
  private scheduled = false;
  private isClosed = false;
  private readonly counters = newBindStats();
  private readonly received: MemoryReceived;

  constructor(
    private readonly network: MemoryNetwork,
    readonly local: MemoryEndpoint,
  ) {
    super();
    this.received = new MemoryReceived(Buffer.alloc(network.options.batchSize * 2048 + 65536));
  }

  get localAddress(): string {
    return this.local.address;
  }

  get localPort(): number {
    return this.local.port;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  onReceive(handler: ReceiveHandler | null): void {
    if (this.isClosed) return;
    this.handler = handler;
    this.schedule();
  }

  createSendSlab(capacity = 64): SendSlab {
    return new SendSlab({ capacity });
  }

  send(slab: SendSlab, count: number = slab.count): number {
    if (!Number.isInteger(count) || count < 0 || count > slab.capacity) {
      throw new RangeError(`send: count must be in 0..${slab.capacity}`);
    }
    let sent = 0;
    for (let i = 0; i < count; i++) {
      const ep = slab.endpoint(i);
      const off = slab.offset(i);
      const len = slab.length(i);
      if (this.isClosed || ep === undefined || ep.transport !== 'memory') {
        this.counters.txDropped++;
        continue;
      }
      this.network.deliver(this.local, ep, slab.slab.subarray(off, off + len));
      this.counters.txPackets++;
      this.counters.txBytes += len;
      sent++;
    }
    return sent;
  }

  sendTo(data: Uint8Array, endpoint: BindEndpoint): boolean {
    if (this.isClosed || endpoint.transport !== 'memory') {
      this.counters.txDropped++;
      return false;
    }
    this.network.deliver(this.local, endpoint, data);
    this.counters.txPackets++;
    this.counters.txBytes += data.length;
    return true;
  }

  closeEndpoint(_endpoint: BindEndpoint): void {}

  /** @internal */
  enqueue(q: Queued, hold: boolean): void {
    if (this.inbound.length >= this.network.options.queueLimit) {
      this.counters.rxErrors++;
      return;
    }
    if (hold && this.held === undefined) {
      this.held = q; // delivered after the next message
      return;
    }
    this.inbound.push(q);
    if (this.held !== undefined) {
      this.inbound.push(this.held);
      this.held = undefined;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.handler === null || this.inbound.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.deliver();
    });
  }

  private deliver(): void {
    const h = this.handler;
    if (h === null || this.isClosed) return;
    const r = this.received;
    r.count = 0;
    r.offsets.length = r.lengths.length = r.from.length = 0;
    let off = 0;
    while (r.count < this.network.options.batchSize && this.inbound.length > 0) {
      const q = this.inbound[0] as Queued;
      if (off + q.data.length > r.slab.length) break;
      this.inbound.shift();
      q.data.copy(r.slab, off);
      r.offsets.push(off);
      r.lengths.push(q.data.length);
      r.from.push(q.from);
      r.count++;
      this.counters.rxPackets++;
      this.counters.rxBytes += q.data.length;
      off += (q.data.length + 15) & ~15;
    }
    this.counters.rxBatches++;
    try {
      h(r);
    } finally {
      if (this.network.options.poison) r.slab.fill(0xee, 0, off);
    }
    this.schedule();
  }

  close(): Promise<void> {
    if (!this.isClosed) {
      this.isClosed = true;
      this.handler = null;
      this.inbound.length = 0;
      this.network.unbind(this.local);
      setImmediate(() => this.emit('close'));
    }
    return Promise.resolve();
  }

  stats(): BindStats {
    return { ...this.counters };
  }
}

/** A fresh in-memory network; `network.bind(address, port)` gives connected binds. */
export function createMemoryNetwork(options: MemoryNetworkOptions = {}): MemoryNetwork {
  return new MemoryNetwork(options);
}
