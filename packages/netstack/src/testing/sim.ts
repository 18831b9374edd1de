// Deterministic network simulation for tests: stacks joined by a seeded lossy link, a virtual clock,
// and one event loop that delivers packets and polls stacks in virtual time. No real timers, no I/O.
//
// The link is hostile on purpose: it copies each packet out of the sender's scratch buffer (the sink
// contract), and after a packet was handed to the receiver's input() it scribbles over that copy, so
// engine code that keeps views of input packets breaks in tests instead of in production.
import { Netstack, type NetstackOptions } from '../api/netstack.js';
import { Stack, type StackOptions } from '../stack.js';
import { Prng } from './prng.js';

export interface LinkOptions {
  /** One-way delay in ms (default 5). */
  delayMs?: number;
  /** Extra uniform random delay in [0, jitterMs) (reorders packets). */
  jitterMs?: number;
  /** Probability that a packet is dropped. */
  loss?: number;
  /** Probability that a packet is delivered twice. */
  duplicate?: number;
  /** Probability that a packet is held back by an extra reorderMs. */
  reorder?: number;
  reorderMs?: number;
  /** Link rate in bytes per ms (0 = unlimited): packets are serialized, queueing adds delay. */
  bytesPerMs?: number;
  /** Drop-tail queue limit in packets when rate-limited (default 1000). */
  queueLimit?: number;
  /** Drops packets for which this returns true (scripted loss: every Nth, a given segment...). */
  dropIf?: (packet: Uint8Array, index: number) => boolean;
}

interface Pending {
  at: number;
  order: number;
  to: number;
  packet: Uint8Array;
}

export class SimClock {
  now = 0;
  read = (): number => this.now;
}

export interface SimNode {
  readonly stack: Stack;
  /** Set for nodes added with addNetstack (the Node-style API over the same stack). */
  readonly netstack: Netstack | null;
  readonly name: string;
  sent: number;
  received: number;
}

export class SimNetwork {
  readonly clock = new SimClock();
  readonly prng: Prng;
  readonly nodes: SimNode[] = [];
  private readonly queue: Pending[] = [];
  private order = 0;
  private readonly links: LinkOptions[] = [];
  private readonly busyUntil: number[] = [];
  private sentIndex: number[] = [];
  /** Packets dropped by the link (not by stacks). */
  linkDrops = 0;
  delivered = 0;
  /** Optional tap: sees every packet as it leaves a node (before loss). */
  tap: ((from: number, packet: Uint8Array) => void) | null = null;

  constructor(seed: number) {
    this.prng = new Prng(seed);
  }

  /** Adds a stack; packets it sends go to the other node of a two-node network. */
  addNode(name: string, options: Omit<StackOptions, 'sink' | 'clock'>, link: LinkOptions = {}): SimNode {
    const index = this.nodes.length;
    const rng = new Prng(this.prng.nextU32());
    const node: SimNode = {
      name,
      sent: 0,
      received: 0,
      netstack: null,
      stack: new Stack({
        random: (b) => rng.fill(b),
        ...options,
        clock: this.clock.read,
        sink: (p) => this.transmit(index, p),
      }),
    };
    this.nodes.push(node);
    this.links.push(link);
    this.busyUntil.push(0);
    this.sentIndex.push(0);
    return node;
  }

  /** Adds a Node-style Netstack (its deadline timer off: this loop polls it in virtual time). */
  addNetstack(
    name: string,
    options: Omit<NetstackOptions, 'sink' | 'clock' | 'timers'>,
    link: LinkOptions = {},
  ): SimNode & { netstack: Netstack } {
    const index = this.nodes.length;
    const rng = new Prng(this.prng.nextU32());
    const ns = new Netstack({
      random: (b) => rng.fill(b),
      ...options,
      timers: false,
      clock: this.clock.read,
      sink: (p) => this.transmit(index, p),
    });
    const node = { name, sent: 0, received: 0, netstack: ns, stack: ns.stack };
    this.nodes.push(node);
    this.links.push(link);
    this.busyUntil.push(0);
    this.sentIndex.push(0);
    return node;
  }

  private transmit(from: number, view: Uint8Array): void {
    const node = this.nodes[from] as SimNode;
    node.sent++;
    const packet = view.slice();
    this.tap?.(from, packet);
    const link = this.links[from] as LinkOptions;
    const idx = this.sentIndex[from]!++;
    const to = from === 0 ? 1 : 0;
    if (link.dropIf?.(packet, idx)) {
      this.linkDrops++;
      return;
    }
    if (link.loss && this.prng.next() < link.loss) {
      this.linkDrops++;
      return;
    }
    let at = this.clock.now;
    if (link.bytesPerMs && link.bytesPerMs > 0) {
      const start = Math.max(at, this.busyUntil[from] as number);
      const queued = ((start - at) * link.bytesPerMs) / 1500;
      if (queued > (link.queueLimit ?? 1000)) {
        this.linkDrops++;
        return;
      }
      const done = start + packet.length / link.bytesPerMs;
      this.busyUntil[from] = done;
      at = done;
    }
    at += link.delayMs ?? 5;
    if (link.jitterMs) at += this.prng.next() * link.jitterMs;
    if (link.reorder && this.prng.next() < link.reorder) at += link.reorderMs ?? 10;
    this.push({ at, order: this.order++, to, packet });
    if (link.duplicate && this.prng.next() < link.duplicate) {
      this.push({ at: at + 0.5, order: this.order++, to, packet: packet.slice() });
    }
  }

  private push(p: Pending): void {
    // Sorted insert from the back (most packets arrive in order).
    const q = this.queue;
    let i = q.length;
    while (i > 0) {
      const prev = q[i - 1] as Pending;
      if (prev.at < p.at || (prev.at === p.at && prev.order < p.order)) break;
      i--;
    }
    q.splice(i, 0, p);
  }

  /**
   * Runs the simulation until `done()` returns true or virtual time passes `untilMs`. Returns true when
   * done() became true. Between steps, awaits a macrotask turn so Node streams and promises settle.
   */
  async run(done: () => boolean, untilMs: number, opts: { yieldEvery?: number } = {}): Promise<boolean> {
    const yieldEvery = opts.yieldEvery ?? 1;
    let steps = 0;
    for (const n of this.nodes) n.stack.poll();
    while (true) {
      if (done()) return true;
      if (++steps % yieldEvery === 0) await new Promise((r) => setImmediate(r));
      if (done()) return true;
      let next = Infinity;
      for (const n of this.nodes) {
        const d = n.stack.nextDeadline();
        if (d < next) next = d;
      }
      const head = this.queue[0];
      if (head && head.at < next) next = head.at;
      if (next === -Infinity) next = this.clock.now;
      if (next === Infinity || next > untilMs) {
        if (next === Infinity && this.queue.length === 0) {
          // Nothing scheduled: let pending microtasks/streams act once more, then give up.
          await new Promise((r) => setImmediate(r));
          if (done()) return true;
          let again = Infinity;
          for (const n of this.nodes) again = Math.min(again, n.stack.nextDeadline());
          if (again === Infinity) return false;
          continue;
        }
        if (next > untilMs) {
          this.clock.now = untilMs;
          return done();
        }
      }
      if (next > this.clock.now) this.clock.now = next;
      const touched = new Set<number>();
      while (this.queue.length > 0 && (this.queue[0] as Pending).at <= this.clock.now) {
        const p = this.queue.shift() as Pending;
        const node = this.nodes[p.to] as SimNode;
        node.received++;
        this.delivered++;
        node.stack.input(p.packet);
        p.packet.fill(0xa5); // hostile: the engine must not have kept a view
        touched.add(p.to);
      }
      for (let i = 0; i < this.nodes.length; i++) {
        const n = this.nodes[i] as SimNode;
        if (touched.has(i) || n.stack.nextDeadline() <= this.clock.now) n.stack.poll();
      }
    }
  }

  /** Synchronous variant for engine-level tests (no awaiting): runs until done() or untilMs. */
  runSync(done: () => boolean, untilMs: number): boolean {
    for (const n of this.nodes) n.stack.poll();
    while (true) {
      if (done()) return true;
      let next = Infinity;
      for (const n of this.nodes) {
        const d = n.stack.nextDeadline();
        if (d < next) next = d;
      }
      const head = this.queue[0];
      if (head && head.at < next) next = head.at;
      if (next === -Infinity) next = this.clock.now;
      if (next === Infinity) return done();
      if (next > untilMs) {
        this.clock.now = untilMs;
        return done();
      }
      if (next > this.clock.now) this.clock.now = next;
      const touched = new Set<number>();
      while (this.queue.length > 0 && (this.queue[0] as Pending).at <= this.clock.now) {
        const p = this.queue.shift() as Pending;
        const node = this.nodes[p.to] as SimNode;
        node.received++;
        this.delivered++;
        node.stack.input(p.packet);
        p.packet.fill(0xa5);
        touched.add(p.to);
      }
      for (let i = 0; i < this.nodes.length; i++) {
        const n = this.nodes[i] as SimNode;
        if (touched.has(i) || n.stack.nextDeadline() <= this.clock.now) n.stack.poll();
      }
    }
  }
}
