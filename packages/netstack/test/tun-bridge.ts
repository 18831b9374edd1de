// TunBridge: a Netstack attached to a kernel TUN, for the kernel tests and the benchmark (the I/O the
// sans-IO package leaves to its user). Packets from the TUN go to netstack.input(); packets the stack
// sends are gathered in a slab and written with one writeSlab per microtask. Optional seeded loss in
// either direction ("the bridge drops every Nth packet" / "random p"), counted.
import { openTun, type LinuxTun } from '@corridor/tun';
import { Netstack, type NetstackOptions } from '../src/index.js';
import { Prng } from '../src/testing/prng.js';

export interface LossSpec {
  /** Drop every Nth packet (1-based count), 0 = off. */
  everyNth?: number;
  /** Drop with this probability (seeded), 0 = off. */
  random?: number;
  seed?: number;
  /** Never drop packets whose TCP payload is empty (keep handshakes/ACK-only: optional). */
  dataOnly?: boolean;
}

class Dropper {
  private n = 0;
  private readonly rng: Prng;
  dropped = 0;

  constructor(readonly spec: LossSpec | undefined) {
    this.rng = new Prng(spec?.seed ?? 1);
  }

  shouldDrop(p: Uint8Array): boolean {
    const s = this.spec;
    if (!s) return false;
    if (s.dataOnly && !hasTcpPayload(p)) return false;
    this.n++;
    let drop = false;
    if (s.everyNth && this.n % s.everyNth === 0) drop = true;
    if (s.random && this.rng.next() < s.random) drop = true;
    if (drop) this.dropped++;
    return drop;
  }
}

function hasTcpPayload(p: Uint8Array): boolean {
  const v = (p[0] as number) >>> 4;
  if (v === 4) {
    if (p[9] !== 6) return false;
    const ihl = ((p[0] as number) & 15) * 4;
    const total = ((p[2] as number) << 8) | (p[3] as number);
    const doff = ((p[ihl + 12] as number) >>> 4) * 4;
    return total - ihl - doff > 0;
  }
  if (v === 6) {
    if (p[6] !== 6) return false;
    const plen = ((p[4] as number) << 8) | (p[5] as number);
    const doff = ((p[40 + 12] as number) >>> 4) * 4;
    return plen - doff > 0;
  }
  return false;
}

export interface TunBridgeOptions extends Omit<NetstackOptions, 'sink'> {
  tunName: string;
  /** Address (CIDR) of the kernel side on the TUN, e.g. 198.18.20.1/24. */
  kernelCidrs: string[];
  mtu?: number;
  /** Loss from the kernel to our stack / from our stack to the kernel. */
  lossIn?: LossSpec;
  lossOut?: LossSpec;
  txQueueLen?: number;
  batchSize?: number;
}

export class TunBridge {
  readonly tun: LinuxTun;
  readonly netstack: Netstack;
  private readonly slab = new Uint8Array(1 << 20);
  private readonly lengths = new Uint32Array(4096);
  private count = 0;
  private used = 0;
  private flushQueued = false;
  private readonly dropIn: Dropper;
  private readonly dropOut: Dropper;
  packetsIn = 0;
  packetsOut = 0;

  private constructor(tun: LinuxTun, options: TunBridgeOptions) {
    this.tun = tun;
    this.dropIn = new Dropper(options.lossIn);
    this.dropOut = new Dropper(options.lossOut);
    this.netstack = new Netstack({ ...options, mtu: options.mtu ?? 1500, sink: (p) => this.out(p) });
    tun.onPackets((batch) => {
      const ns = this.netstack;
      for (let i = 0; i < batch.count; i++) {
        const p = batch.packet(i);
        this.packetsIn++;
        if (this.dropIn.shouldDrop(p)) continue;
        ns.stack.input(p);
      }
      ns.schedulePoll();
    });
  }

  static async open(options: TunBridgeOptions): Promise<TunBridge> {
    const tun = openTun({ name: options.tunName, batchSize: options.batchSize ?? 128 });
    await tun.configure({
      addresses: options.kernelCidrs,
      mtu: options.mtu ?? 1500,
      txQueueLen: options.txQueueLen ?? 4096,
      up: true,
    });
    return new TunBridge(tun, options);
  }

  get droppedIn(): number {
    return this.dropIn.dropped;
  }

  get droppedOut(): number {
    return this.dropOut.dropped;
  }

  private out(p: Uint8Array): void {
    this.packetsOut++;
    if (this.dropOut.shouldDrop(p)) return;
    if (this.used + p.length > this.slab.length || this.count === this.lengths.length) this.flush();
    this.slab.set(p, this.used);
    this.used += p.length;
    this.lengths[this.count++] = p.length;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  flush(): void {
    this.flushQueued = false;
    if (this.count === 0) return;
    this.tun.writeSlab(this.slab, this.lengths, this.count);
    this.count = 0;
    this.used = 0;
  }

  async close(): Promise<void> {
    this.netstack.close();
    this.flush();
    await this.tun.close();
  }
}
