/**
 * vpnctl data-path benchmark (`pnpm bench:client`): what the connection engine adds on top of the
 * protocol, per packet, without sockets or a kernel TUN (those are the binds' and the addon's
 * benchmarks). One run prints, for 1400-byte packets in batches of 64:
 *  1. send: TUN batch -> ConnectionEngine (send.ts) -> link outbox, vs. the reference: a bare
 *     InitiatorTunnel.encapsulate loop into one buffer;
 *  2. receive: link batch -> ConnectionEngine (receive.ts) -> one TUN writeBatch, vs. the reference:
 *     a bare InitiatorTunnel.decapsulate loop (both include the node sealing the packets);
 *  3. the ratios engine / reference (1.0 = no overhead), in CPU time, so other load matters less.
 * The machine's load average is printed with the figures; re-run when it is quiet.
 */
import { EventEmitter } from 'node:events';
import os from 'node:os';
import {
  DATA_HEADER_BYTES,
  DATA_TRAILER_BYTES,
  generateX25519KeyPair,
  InitiatorTunnel,
  ResponderTunnel,
  type ResponderPeer,
} from '@corridor/protocol';
import { exampleTunnelParams } from '@corridor/protocol/testing';
import type { PacketBatch, PacketHandler, TunDevice } from '@corridor/tun';
import { ConnectionEngine } from '../src/connection/engine.js';
import type { Link, LinkBatch, LinkEvents } from '../src/connection/link.js';

const MEASURE_MS = Number(process.env.BENCH_MS ?? 3000);
const PACKET = 1400;
const BATCH = 64;
const SLOT = 2048;

/** A link that keeps the last flush for the node and otherwise discards (no syscalls). */
class NullLink extends EventEmitter<LinkEvents> implements Link {
  readonly transport = 'udp' as const;
  readonly remote = 'bench';
  readonly dropped = 0;
  private readonly slab = Buffer.alloc(SLOT * BATCH);
  // Slot views made once, like SendSlab's (BindLink hands these out).
  private readonly slots = Array.from({ length: BATCH }, (_, i) =>
    this.slab.subarray(i * SLOT, (i + 1) * SLOT),
  );
  private readonly lengths = new Uint32Array(BATCH);
  private n = 0;
  handler: ((b: LinkBatch) => void) | null = null;
  deliver: ((messages: Buffer[]) => void) | null = null;
  get queued(): number {
    return this.n;
  }
  reserve(): Buffer | undefined {
    return this.n < BATCH ? this.slots[this.n] : undefined;
  }
  commit(length: number): void {
    this.lengths[this.n++] = length;
  }
  enqueue(m: Uint8Array): boolean {
    const s = this.reserve();
    if (!s) return false;
    s.set(m);
    this.commit(m.length);
    return true;
  }
  flush(): number {
    const n = this.n;
    if (this.deliver)
      this.deliver(
        Array.from({ length: n }, (_, i) =>
          Buffer.from(this.slab.subarray(i * SLOT, i * SLOT + this.lengths[i]!)),
        ),
      );
    this.n = 0;
    return n;
  }
  onReceive(h: ((b: LinkBatch) => void) | null): void {
    this.handler = h;
  }
  async close(): Promise<void> {}
}

/** A TUN stand-in: the bench calls the engine's packet handler directly; writes are counted. */
class BenchTun extends EventEmitter {
  readonly name = 'bench0';
  readonly mtu = 1420;
  readonly closed = false;
  handler: PacketHandler | null = null;
  written = 0;
  onPackets(h: PacketHandler | null): void {
    this.handler = h;
  }
  writeBatch(p: readonly Uint8Array[]): number {
    this.written += p.length;
    return p.length;
  }
  write(): boolean {
    this.written++;
    return true;
  }
}

function measure(run: () => void, perRun: number): number {
  const end = performance.now() + 300;
  while (performance.now() < end) run();
  const cpu0 = process.cpuUsage();
  const stop = performance.now() + MEASURE_MS;
  let ops = 0;
  while (performance.now() < stop) {
    run();
    ops += perRun;
  }
  const cpu = process.cpuUsage(cpu0);
  return ops / ((cpu.user + cpu.system) / 1e6);
}

async function main(): Promise<void> {
  const nodeKeys = generateX25519KeyPair();
  const node = new ResponderTunnel({
    staticKeys: nodeKeys,
    authorize: () => ({ ok: true, params: exampleTunnelParams() }),
  });
  const tunnel = new InitiatorTunnel({
    staticKeys: generateX25519KeyPair(),
    nodeStaticPublicKey: nodeKeys.publicKey,
    ticket: Buffer.from('t'),
  });
  const link = new NullLink();
  const tun = new BenchTun();
  let peer: ResponderPeer | null = null;
  const out = Buffer.alloc(4096);
  // Handshake through the null link: the node answers in-process.
  link.deliver = (messages) => {
    const replies: Buffer[] = [];
    for (const m of messages) {
      const r = node.decapsulate(m, { ip: '198.18.0.2', port: 40000 }, out);
      if (r.type === 'writeToNetwork') replies.push(Buffer.from(r.data));
      if (r.type !== 'error' && r.peer) peer = r.peer;
    }
    if (replies.length)
      setImmediate(() => link.handler?.({ count: replies.length, message: (i) => replies[i] }));
  };
  const engine = new ConnectionEngine(
    {
      tun: tun as unknown as TunDevice,
      tunnel,
      openLink: async () => link,
      renewTicket: async () => ({ ticket: Buffer.from('t'), expiresAtMs: Date.now() + 3_600_000 }),
    },
    { transport: 'udp', ticketExpiresAtMs: Date.now() + 3_600_000 },
  );
  await engine.start(false);
  await new Promise((r) => setTimeout(r, 50));
  link.deliver = null;

  // 1. Send: a TUN batch of 64 packets laid out in one slab, like the addon's.
  const tunSlab = new Uint8Array(BATCH * PACKET);
  tunSlab.fill(0x45);
  const batch: PacketBatch = {
    count: BATCH,
    slab: tunSlab,
    offset: (i) => i * PACKET,
    length: () => PACKET,
    packet: (i) => tunSlab.subarray(i * PACKET, (i + 1) * PACKET),
  };
  const handler = tun.handler!;
  const engineSend = measure(() => handler(batch), BATCH);
  // The reference seals with the engine's own session: same keys, same counter path.
  const sealOut = Buffer.alloc(PACKET + DATA_HEADER_BYTES + DATA_TRAILER_BYTES);
  const bareSend = measure(() => {
    for (let i = 0; i < BATCH; i++) tunnel.encapsulate(batch.packet(i), sealOut);
  }, BATCH);

  // 2. Receive: the node seals 64 packets, the engine opens them and writes one TUN batch.
  const inner = Buffer.alloc(PACKET, 0x45);
  const sealed = Array.from({ length: BATCH }, () => Buffer.alloc(SLOT));
  const lens = new Uint32Array(BATCH);
  const sealBatch = () => {
    for (let i = 0; i < BATCH; i++) {
      const r = node.encapsulate(peer!, inner, sealed[i]!);
      lens[i] = r.type === 'writeToNetwork' ? r.data.length : 0;
    }
  };
  const views = sealed.map((b, i) => () => b.subarray(0, lens[i]));
  const linkBatch: LinkBatch = { count: BATCH, message: (i) => views[i]!() };
  const recvHandler = link.handler!;
  const engineReceive = measure(() => {
    sealBatch();
    recvHandler(linkBatch);
  }, BATCH);
  const bareReceive = measure(() => {
    sealBatch();
    for (let i = 0; i < BATCH; i++) {
      const m = sealed[i]!.subarray(0, lens[i]);
      tunnel.decapsulate(m, m.subarray(DATA_HEADER_BYTES));
    }
  }, BATCH);
  await engine.close();

  const fmt = (pps: number) =>
    `${(pps / 1e3).toFixed(0).padStart(6)} kpps ${((pps * PACKET * 8) / 1e9).toFixed(2).padStart(5)} Gbit/s`;
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  process.stdout.write(
    [
      `vpnctl data path, ${PACKET}-byte packets, batches of ${BATCH}, per CPU-second (load average ${load}, ${os.cpus().length} CPUs)`,
      `  send    engine ${fmt(engineSend)}   reference (bare encapsulate) ${fmt(bareSend)}   ratio ${(engineSend / bareSend).toFixed(2)}`,
      `  receive engine ${fmt(engineReceive)}   reference (bare decapsulate) ${fmt(bareReceive)}   ratio ${(engineReceive / bareReceive).toFixed(2)}`,
      `  (receive figures include the node sealing each packet, in both columns)`,
      `  engine drops: ${JSON.stringify(Object.fromEntries(Object.entries(engine.drops).filter(([, v]) => v > 0)))}, TUN writes ${tun.written}`,
      '',
    ].join('\n'),
  );
}

await main();
