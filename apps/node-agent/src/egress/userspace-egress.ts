/**
 * Userspace egress (`egress = userspace`): a node without TUN, NAT or any privilege. It plays the
 * TunDevice the Engine writes client packets to and reads replies from, so sessions, tickets,
 * isolation, limits, quotas and revocation stay exactly the Engine's (the same code as kernel mode);
 * behind that seam the node's own TCP/IP stack (@corridor/netstack) terminates client flows and real
 * sockets carry them on.
 *
 * Client → internet (writeSlab, called by the receive path with decrypted, source-checked packets):
 *   1. Parse the destination (bounds-checked; garbage is dropped as 'malformed', never thrown).
 *   2. Another client (isolation off: the receive path already dropped it otherwise) → straight back
 *      out to that client's session (the hairpin the kernel's forwarding does in kernel mode).
 *   3. Egress policy (egress/policy.ts) per packet, before any socket exists: a refusal is counted by
 *      reason and answered with ICMP administratively prohibited (rate-limited), as kernel mode's
 *      nftables `reject with icmpx admin-prohibited`.
 *   4. Netstack input. TCP: the accept-any listener holds each SYN (deferred accept) while a real
 *      socket dials the original destination; only when it connected does the client get its SYN-ACK,
 *      else RST (refused) or ICMP unreachable (timeout, no route); then both streams are piped with
 *      backpressure (netstack windows close when the upstream socket does not drain, and the other way).
 *      UDP: one connected dgram socket per flow (client address:port → destination), closed when the
 *      stack expires the idle flow. ICMP echo: a real echo through an unprivileged ICMP datagram socket
 *      (icmp-pinger.ts; only when net.ipv4.ping_group_range admits our group, otherwise ICMP host
 *      unreachable — never a reply the destination did not give). Echo to the gateway address is
 *      answered by the stack itself: the node IS that address.
 * Internet → client: the stack's sink copies each outgoing packet into an out slab handed to the
 *   Engine's send path (onPackets) as one batch per event-loop iteration (or when the slab fills).
 *
 * `closeClient(addresses)` (called when a session ends: revocation, quota, expiry, shutdown) aborts the
 * client's connections (RST into the stack, upstream sockets destroyed), flows and pending dials.
 * After `close()` everything is aborted and writes are counted as dropped.
 * Drops and refusals are counted per reason (USERSPACE_DROP_REASONS, policy.refused), never thrown.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import {
  Netstack,
  type ConnectionRequest,
  type IcmpEchoRequest,
  type IpAddr,
  type TcpSocket,
  type UdpFlowSocket,
} from '@corridor/netstack';
import type { PacketBatch, PacketHandler, TunDevice, TunDeviceEvents, TunStats } from '@corridor/tun';
import type { Ipv4Subnet, Ipv6Subnet } from '../config.js';
import { silentLogger, type Logger } from '../log.js';
import { buildUnreachable } from './icmp-error.js';
import { IcmpPinger } from './icmp-pinger.js';
import { ALLOWED, contains4, contains6, parseCidr, type EgressPolicy } from './policy.js';

/** Why the userspace egress dropped a packet or refused a flow (besides the policy). Closed. */
export const USERSPACE_DROP_REASONS = [
  'malformed',
  'closed',
  'clientFlowLimit',
  'echoBusy',
  'echoNotPermitted',
  'outSlabFull',
] as const;
export type UserspaceDropReason = (typeof USERSPACE_DROP_REASONS)[number];

const OUT_SLAB_BYTES = 512 * 1024;
const OUT_MAX_PACKETS = 2048;
const CONNECT_TIMEOUT_MS = 15_000;
const ICMP_ERRORS_PER_SECOND = 200;
const MAX_PINGS_IN_FLIGHT = 64;
const UDP_QUEUE_BEFORE_CONNECT = 64;
/** Bytes a relayed client connection hands its upstream socket per read: fewer, larger writes. */
const READ_CHUNK_BYTES = 256 * 1024;

export interface UserspaceEgressOptions {
  readonly subnet4: Ipv4Subnet;
  readonly subnet6: Ipv6Subnet | null;
  readonly mtu: number;
  readonly policy: EgressPolicy;
  readonly log?: Logger;
  /** Connections + UDP flows one client may hold at once (file descriptors are the node's). */
  readonly maxFlowsPerClient?: number;
  /** UDP flows expire after this long without a datagram either way. Default 30 s. */
  /**
   * Tests only: relay to servers on this machine's loopback (127/8, ::1), which the stack otherwise
   * never takes as destinations. The egress policy's loopback deny applies regardless.
   */
  readonly testLoopbackDestinations?: boolean;
  readonly udpIdleMs?: number;
  /** false: no ICMP helper, echo is answered host-unreachable (tests). Default: the helper decides. */
  readonly ping?: boolean;
}

/** Counters of the userspace egress (status and /metrics). */
export interface UserspaceEgressStats {
  tcpOpen: number;
  tcpAccepted: number;
  tcpDialFailed: Record<string, number>;
  udpOpen: number;
  udpFlows: number;
  echoReplied: number;
  echoUnanswered: number;
  pingPermitted: boolean;
  drops: Record<UserspaceDropReason, number>;
  stack: {
    connections: number;
    bufferBytes: number;
    drops: Record<string, number>;
    segmentsOut: number;
    retransmits: number;
    rtoTimeouts: number;
  };
}

/** A flow the node relays for one client (closed when the client's session ends). */
interface Relay {
  abort(): void;
}

class OutBatch implements PacketBatch {
  readonly slab = Buffer.alloc(OUT_SLAB_BYTES);
  readonly offsets = new Uint32Array(OUT_MAX_PACKETS);
  readonly lengths = new Uint32Array(OUT_MAX_PACKETS);
  count = 0;
  used = 0;
  offset(i: number): number {
    return this.offsets[i]!;
  }
  length(i: number): number {
    return this.lengths[i]!;
  }
  packet(i: number): Uint8Array {
    return this.slab.subarray(this.offsets[i]!, this.offsets[i]! + this.lengths[i]!);
  }
}

function writeAddr(b: Buffer, off: number, a: IpAddr): void {
  if (a.family === 4) b.writeUInt32BE(a.w3 >>> 0, off);
  else {
    b.writeUInt32BE(a.w0 >>> 0, off);
    b.writeUInt32BE(a.w1 >>> 0, off + 4);
    b.writeUInt32BE(a.w2 >>> 0, off + 8);
    b.writeUInt32BE(a.w3 >>> 0, off + 12);
  }
}

export class UserspaceEgress extends EventEmitter<TunDeviceEvents> implements TunDevice {
  readonly name = 'userspace';
  readonly mtu: number;
  readonly ns: Netstack;
  readonly policy: EgressPolicy;
  readonly drops = Object.fromEntries(USERSPACE_DROP_REASONS.map((r) => [r, 0])) as Record<
    UserspaceDropReason,
    number
  >;
  private handler: PacketHandler | null = null;
  private readonly out = new OutBatch();
  private flushQueued = false;
  private readonly flushFn = () => this.flush();
  private closedFlag = false;
  private readonly log: Logger;
  private readonly gw4: Buffer;
  private readonly gw6: Buffer | null;
  private readonly gw4Int: number;
  private readonly client4 = parseCidr('0.0.0.0/32')!;
  private readonly client6;
  private readonly icmpOut = Buffer.alloc(1500);
  private icmpWindow = 0;
  private icmpCount = 0;
  private readonly byClient = new Map<string, Set<Relay>>();
  private readonly maxFlowsPerClient: number;
  private readonly pinger: IcmpPinger | null;
  private readonly pingReady: Promise<void>;
  private readonly counters = {
    tcpAccepted: 0,
    tcpOpen: 0,
    udpOpen: 0,
    udpFlows: 0,
    echoReplied: 0,
    echoUnanswered: 0,
  };
  private readonly dialFailed: Record<string, number> = {};
  private readonly tunStats: TunStats = {
    rxPackets: 0,
    rxBytes: 0,
    rxBatches: 0,
    txPackets: 0,
    txBytes: 0,
    txDropped: 0,
    txErrors: 0,
    errors: 0,
  };

  constructor(opts: UserspaceEgressOptions) {
    super();
    this.mtu = opts.mtu;
    this.policy = opts.policy;
    this.log = opts.log ?? silentLogger;
    this.maxFlowsPerClient = opts.maxFlowsPerClient ?? 4096;
    this.pinger = opts.ping === false ? null : new IcmpPinger();
    this.pingReady = this.pinger ? this.pinger.start() : Promise.resolve();
    this.client4 = parseCidr(`${opts.subnet4.network}/${opts.subnet4.prefix}`)!;
    this.client6 = opts.subnet6 ? parseCidr(`${opts.subnet6.network}/${opts.subnet6.prefix}`) : null;
    this.gw4 = Buffer.from(opts.subnet4.gateway.split('.').map(Number));
    this.gw4Int = this.gw4.readInt32BE(0);
    if (opts.subnet6) {
      const w = parseCidr(opts.subnet6.gateway)!.words;
      this.gw6 = Buffer.alloc(16);
      for (let i = 0; i < 4; i++) this.gw6.writeInt32BE(w[i]!, i * 4);
    } else this.gw6 = null;
    this.ns = new Netstack({
      addresses: [opts.subnet4.gateway, ...(opts.subnet6 ? [opts.subnet6.gateway] : [])],
      mtu: opts.mtu,
      sink: (p) => this.emitOut(p),
      acceptMartians: opts.testLoopbackDestinations === true,
      udp: { flowIdleMs: opts.udpIdleMs ?? 30_000, maxFlows: 65_536 },
      // Windows sized for tunnel RTTs (buffers grow on demand and are released when empty, so idle
      // connections cost nothing); all connections together stay within maxBufferBytes.
      tcp: {
        synBacklog: 8192,
        acceptBacklog: 8192,
        recvBufferSize: 2 * 1024 * 1024,
        sendBufferSize: 1024 * 1024,
      },
      limits: { maxBufferBytes: 512 * 1024 * 1024 },
    });
    this.ns
      .listenAny({ deferred: true, allowHalfOpen: true, readChunkSize: READ_CHUNK_BYTES })
      .on('request', (r) => this.onTcpRequest(r));
    this.ns.listenAnyUdp({ maxPending: 4096 }).on('flow', (f) => this.onUdpFlow(f));
    this.ns.onIcmpEcho((req) => this.onEcho(req));
  }

  /** Resolves once the ICMP helper said which families it may ping (see pingPermitted). */
  ready(): Promise<void> {
    return this.pingReady;
  }

  /** Whether echo requests get a real echo (IPv4; IPv6 in pingStatus()). */
  get pingPermitted(): boolean {
    return this.pinger?.allowed?.[4] ?? false;
  }

  /** Why echo is off (helper missing, not permitted), or null. */
  get pingProblem(): string | null {
    if (this.pinger === null) return 'disabled';
    if (this.pinger.failed) return this.pinger.failed;
    if (this.pinger.allowed && !this.pinger.allowed[4])
      return 'net.ipv4.ping_group_range does not include our group';
    return null;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  // ---- TunDevice: the Engine's side --------------------------------------------------------------

  onPackets(handler: PacketHandler | null): void {
    this.handler = handler;
  }

  // eslint-disable-next-line require-yield
  async *packets(): AsyncIterableIterator<Uint8Array> {
    throw new Error('UserspaceEgress delivers packets through onPackets() only');
  }

  write(packet: Uint8Array): boolean {
    return this.inputOne(packet, 0, packet.length);
  }

  writeBatch(packets: readonly Uint8Array[]): number {
    let n = 0;
    for (const p of packets) if (this.inputOne(p, 0, p.length)) n++;
    return n;
  }

  writeSlab(slab: Uint8Array, lengths: Uint32Array, count = lengths.length): number {
    let off = 0;
    let n = 0;
    const total = Math.min(count, lengths.length);
    for (let i = 0; i < total; i++) {
      const len = lengths[i]!;
      if (off + len > slab.length) break;
      if (this.inputOne(slab, off, len)) n++;
      off += len;
    }
    return n;
  }

  /** Steps 1-4 for one packet. Returns false only when closed (the Engine counts that as tunFull). */
  private inputOne(buf: Uint8Array, off: number, len: number): boolean {
    if (this.closedFlag) {
      this.tunStats.txDropped++;
      this.drops.closed++;
      return false;
    }
    this.tunStats.txPackets++;
    this.tunStats.txBytes += len;
    const version = len > 0 ? buf[off]! >> 4 : 0;
    let verdict: number;
    if (version === 4 && len >= 20) {
      const ihl = (buf[off]! & 15) * 4;
      const dst = (buf[off + 16]! << 24) | (buf[off + 17]! << 16) | (buf[off + 18]! << 8) | buf[off + 19]!;
      // 2. another client: hairpin
      if (dst !== this.gw4Int && contains4(this.client4, dst)) {
        this.emitOut(buf.subarray(off, off + len));
        return true;
      }
      const echo = buf[off + 9] === 1 && len > ihl && buf[off + ihl] === 8;
      verdict = this.policy.check4(dst, echo);
    } else if (version === 6 && len >= 40) {
      const w0 = (buf[off + 24]! << 24) | (buf[off + 25]! << 16) | (buf[off + 26]! << 8) | buf[off + 27]!;
      const w1 = (buf[off + 28]! << 24) | (buf[off + 29]! << 16) | (buf[off + 30]! << 8) | buf[off + 31]!;
      const w2 = (buf[off + 32]! << 24) | (buf[off + 33]! << 16) | (buf[off + 34]! << 8) | buf[off + 35]!;
      const w3 = (buf[off + 36]! << 24) | (buf[off + 37]! << 16) | (buf[off + 38]! << 8) | buf[off + 39]!;
      const c6 = this.client6;
      const g = this.gw6;
      const isGw =
        g !== null &&
        g.readInt32BE(12) === w3 &&
        g.readInt32BE(0) === w0 &&
        g.readInt32BE(4) === w1 &&
        g.readInt32BE(8) === w2;
      if (!isGw && c6 !== null && contains6(c6, w0, w1, w2, w3)) {
        this.emitOut(buf.subarray(off, off + len));
        return true;
      }
      const echo = buf[off + 6] === 58 && len > 40 && buf[off + 40] === 128;
      verdict = this.policy.check6(w0, w1, w2, w3, echo);
    } else {
      this.drops.malformed++;
      return true;
    }
    // 3. policy
    if (verdict !== ALLOWED) {
      this.policy.count(verdict);
      this.refuse(buf, off, len, 'prohibited');
      return true;
    }
    // 4. the stack (it copies what it keeps)
    this.ns.input(off === 0 && len === buf.length ? buf : buf.subarray(off, off + len));
    return true;
  }

  /** ICMP unreachable about a packet, from the gateway, rate-limited. */
  private refuse(buf: Uint8Array, off: number, len: number, kind: 'prohibited' | 'host'): void {
    const now = performance.now();
    if (now - this.icmpWindow >= 1000) {
      this.icmpWindow = now;
      this.icmpCount = 0;
    }
    if (this.icmpCount >= ICMP_ERRORS_PER_SECOND) return;
    const v = buf[off]! >> 4;
    const src = v === 4 ? this.gw4 : this.gw6;
    if (src === null) return;
    const n = buildUnreachable(buf, off, len, kind, src, this.icmpOut);
    if (n > 0) {
      this.icmpCount++;
      this.emitOut(this.icmpOut.subarray(0, n));
    }
  }

  /** Queues one outgoing packet (copied) for the Engine's send path; flushed at the end of the tick. */
  private emitOut(p: Uint8Array): void {
    const o = this.out;
    if (o.count === OUT_MAX_PACKETS || o.used + p.length > OUT_SLAB_BYTES) this.flush();
    if (p.length > OUT_SLAB_BYTES) {
      this.drops.outSlabFull++;
      return;
    }
    o.slab.set(p, o.used);
    o.offsets[o.count] = o.used;
    o.lengths[o.count] = p.length;
    o.count++;
    o.used += p.length;
    this.tunStats.rxPackets++;
    this.tunStats.rxBytes += p.length;
    if (!this.flushQueued) {
      // At the end of this event-loop iteration (check phase): packets from every socket callback of
      // the iteration leave together, one sendmmsg per batch instead of one per callback.
      this.flushQueued = true;
      setImmediate(this.flushFn);
    }
  }

  private flush(): void {
    this.flushQueued = false;
    const o = this.out;
    if (o.count === 0) return;
    this.tunStats.rxBatches++;
    try {
      if (this.handler !== null) this.handler(o);
    } finally {
      o.count = 0;
      o.used = 0;
    }
  }

  // ---- relays -------------------------------------------------------------------------------------

  private track(client: string, r: Relay): Set<Relay> | null {
    let set = this.byClient.get(client);
    if (set === undefined) {
      set = new Set();
      this.byClient.set(client, set);
    }
    if (set.size >= this.maxFlowsPerClient) {
      this.drops.clientFlowLimit++;
      return null;
    }
    set.add(r);
    return set;
  }

  private untrack(client: string, r: Relay): void {
    const set = this.byClient.get(client);
    if (set === undefined) return;
    set.delete(r);
    if (set.size === 0) this.byClient.delete(client);
  }

  /** TCP: dial first, complete the client's handshake only once the real socket connected. */
  private onTcpRequest(req: ConnectionRequest): void {
    const client = req.remoteAddress;
    let up: net.Socket | null = null;
    let s: TcpSocket | null = null;
    let finished = false;
    const relay: Relay = {
      abort: () => {
        if (s === null) req.reject('reset');
        else s.resetAndDestroy();
        up?.destroy();
      },
    };
    if (this.track(client, relay) === null) {
      req.reject('reset');
      return;
    }
    const done = () => {
      if (finished) return;
      finished = true;
      this.untrack(client, relay);
      if (s !== null) this.counters.tcpOpen--;
    };
    const sock = net.connect({
      host: req.localAddress,
      port: req.localPort,
      allowHalfOpen: true,
      noDelay: true,
    });
    up = sock;
    const timer = setTimeout(
      () => sock.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })),
      CONNECT_TIMEOUT_MS,
    );
    sock.once('close', () => clearTimeout(timer));
    sock.once('connect', () => {
      clearTimeout(timer);
      if (!req.pending || this.closedFlag) {
        sock.destroy();
        req.reject('reset');
        done();
        return;
      }
      const c = req.accept();
      s = c;
      this.counters.tcpAccepted++;
      this.counters.tcpOpen++;
      c.pipe(sock);
      sock.pipe(c);
      c.on('error', () => sock.destroy());
      sock.on('error', () => c.resetAndDestroy());
      c.on('close', () => {
        if (!sock.destroyed && (sock.writableFinished || c.errored)) sock.destroy();
        if (sock.destroyed) done();
      });
      sock.on('close', () => {
        if (c.destroyed) done();
        else if (sock.errored) c.resetAndDestroy();
      });
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (s !== null) return; // handled by the relay's listeners
      const code = err.code ?? 'EOTHER';
      this.dialFailed[code] = (this.dialFailed[code] ?? 0) + 1;
      // A closed port answers RST; silence, no route, a timeout: ICMP unreachable.
      req.reject(code === 'ECONNREFUSED' ? 'reset' : 'unreachable');
      done();
    });
  }

  /** UDP: one connected socket per flow, closed with the flow (idle timeout) or the session. */
  private onUdpFlow(f: UdpFlowSocket): void {
    const client = f.remoteAddress;
    const sock = dgram.createSocket(f.family === 'IPv4' ? 'udp4' : 'udp6');
    let closed = false;
    const relay: Relay = {
      abort: () => f.close(),
    };
    if (this.track(client, relay) === null) {
      f.close();
      sock.close();
      return;
    }
    this.counters.udpFlows++;
    this.counters.udpOpen++;
    let queue: Buffer[] | null = [];
    const end = () => {
      if (closed) return;
      closed = true;
      this.counters.udpOpen--;
      this.untrack(client, relay);
      f.close();
      try {
        sock.close();
      } catch {
        // already closed
      }
    };
    sock.on('error', end);
    sock.on('message', (m) => {
      if (!closed) f.send(m);
    });
    f.on('message', (m) => {
      if (closed) return;
      if (queue !== null) {
        if (queue.length < UDP_QUEUE_BEFORE_CONNECT) queue.push(m);
      } else sock.send(m);
    });
    f.on('close', end);
    sock.connect(f.localPort, f.localAddress, () => {
      const q = queue ?? [];
      queue = null;
      if (!closed) for (const m of q) sock.send(m);
    });
  }

  /** ICMP echo to a non-local destination: a real echo, or host unreachable when we may not ping. */
  private onEcho(req: IcmpEchoRequest): void {
    const pinger = this.pinger;
    if (pinger === null || pinger.allowed === null || !pinger.allowed[req.family]) {
      this.drops.echoNotPermitted++;
      this.refuseEcho(req);
      return;
    }
    if (pinger.inFlight >= MAX_PINGS_IN_FLIGHT) {
      this.drops.echoBusy++;
      return;
    }
    void pinger.echo(req.family, req.destination.toString(), req.data.length).then((outcome) => {
      if (this.closedFlag) return;
      if (outcome === 'ok' && this.ns.replyEcho(req)) this.counters.echoReplied++;
      else if (outcome === 'denied') {
        this.drops.echoNotPermitted++;
        this.refuseEcho(req);
      } else this.counters.echoUnanswered++;
    });
  }

  /** Host unreachable about an echo request we cannot forward (synthesized quote of the request). */
  private refuseEcho(req: IcmpEchoRequest): void {
    const v6 = req.family === 6;
    const hl = v6 ? 40 : 20;
    const q = Buffer.alloc(hl + 8 + Math.min(req.data.length, 64));
    if (v6) {
      q[0] = 0x60;
      q.writeUInt16BE(q.length - 40, 4);
      q[6] = 58;
      q[7] = 64;
      writeAddr(q, 8, req.source);
      writeAddr(q, 24, req.destination);
      q[40] = 128;
    } else {
      q[0] = 0x45;
      q.writeUInt16BE(q.length, 2);
      q[8] = 64;
      q[9] = 1;
      writeAddr(q, 12, req.source);
      writeAddr(q, 16, req.destination);
      q[20] = 8;
    }
    q.writeUInt16BE(req.id, hl + 4);
    q.writeUInt16BE(req.sequence, hl + 6);
    q.set(req.data.subarray(0, q.length - hl - 8), hl + 8);
    this.refuse(q, 0, q.length, 'host');
  }

  // ---- sessions and lifecycle ----------------------------------------------------------------------

  /** Aborts every connection, flow and pending dial of these client addresses (a session ended). */
  closeClient(addresses: readonly string[]): number {
    let n = 0;
    for (const a of addresses) {
      const set = this.byClient.get(a);
      if (set === undefined) continue;
      this.byClient.delete(a);
      for (const r of [...set]) {
        r.abort();
        n++;
      }
    }
    return n;
  }

  stats(): TunStats {
    return { ...this.tunStats };
  }

  egressStats(): UserspaceEgressStats {
    const st = this.ns.stats();
    const drops: Record<string, number> = {};
    for (const [k, v] of Object.entries(st.drops)) if (v > 0) drops[k] = v;
    return {
      ...this.counters,
      tcpDialFailed: { ...this.dialFailed },
      pingPermitted: this.pingPermitted,
      drops: { ...this.drops },
      stack: {
        connections: st.connections,
        bufferBytes: st.bufferBytes,
        drops,
        segmentsOut: st.tcp.segmentsOut,
        retransmits: st.tcp.retransmits,
        rtoTimeouts: st.tcp.rtoTimeouts,
      },
    };
  }

  close(): Promise<void> {
    if (!this.closedFlag) {
      this.closedFlag = true;
      for (const set of [...this.byClient.values()]) for (const r of [...set]) r.abort();
      this.byClient.clear();
      this.ns.close();
      this.pinger?.close();
      this.handler = null;
      queueMicrotask(() => this.emit('close'));
    }
    return Promise.resolve();
  }
}
