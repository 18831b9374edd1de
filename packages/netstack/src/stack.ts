/**
 * Stack: the sans-IO userspace TCP/IP engine (the lwIP role). No sockets, no timers of its own, no
 * I/O: the caller moves packets and time.
 *
 *   input(packet, now?)   one IP packet from the TUN/tunnel. Processed at once; replies that need no
 *                         connection (RST, ICMP echo reply, ICMP unreachable) leave immediately; ACKs
 *                         and data wait for the next poll(). The packet is not kept: copy-free views
 *                         are used only during the call, payload is copied into buffers.
 *   poll(now?)            fires due timers, delivers events to handlers (TCP, listeners, UDP), then
 *                         transmits what connections owe. Call it after a batch of input() calls,
 *                         when nextDeadline() has passed, and after `wake` fired.
 *   nextDeadline()        when poll() is next needed (ms on the stack clock): -Infinity when work is
 *                         already pending, Infinity when nothing is scheduled.
 *   sink(packet)          (caller-provided) receives every outgoing IP packet. The packet is a view of
 *                         the stack's scratch buffer, valid only during the call: write it to the TUN
 *                         (which copies) or copy it. The sink must not call back into the stack.
 *   wake()                (optional) called when an API call (send, close, connect...) queued work
 *                         outside input/poll, so the driver can schedule a poll soon.
 *
 * Time: `now` defaults to the injected `clock` (ms, monotonic). Hostile input never throws: every
 * refusal is counted per DropReason in stats().drops. Memory is bounded by the limits: connections,
 * half-open per listener (then SYN cookies), UDP flows and queues, reassembly bytes/datagrams, and per
 * connection the send/receive buffers (pooled, released when empty) and fixed-size SACK/assembler
 * arrays. After close() every connection is aborted and input/poll do nothing.
 */
import { newDropCounters, type DropCounters, type DropReason } from './drop-reasons.js';
import { NetstackError } from './errors.js';
import { FlowTable } from './flow-table.js';
import { DEFAULT_REASSEMBLY_LIMITS, Reassembler, type ReassemblyLimits } from './ip/reassembly.js';
import { BufferPool, MemoryBudget } from './tcp/buffer-pool.js';
import { DEFAULT_TCP_CONFIG, windowScaleFor, type TcpConfig } from './tcp/config.js';
import { generateIsn, tupleHash } from './tcp/isn.js';
import { TcpListener } from './tcp/listener.js';
import { seqAdd, seqDiff, seqGe, seqLt } from './tcp/seq.js';
import { SipKey } from './tcp/siphash.js';
import { checkSynCookie, cookieOptionsFromTsEcr, cookieTsVal, createSynCookie } from './tcp/syn-cookie.js';
import {
  EV_CLOSED,
  EV_CONNECTED,
  EV_WRITABLE,
  newTcpCounters,
  Recovery,
  Tcb,
  TcpState,
  type TcpCounters,
  type TcpError,
  type TcpHost,
} from './tcp/tcb.js';
import { negotiateOptions, tcpInput } from './tcp/tcp-input.js';
import { tcpOutput, tcpTimers } from './tcp/tcp-output.js';
import { TimerHeap } from './timer-heap.js';
import { UdpAnyListener, UdpEndpoint, UdpFlow, type UdpError } from './udp/udp-socket.js';
import { IpAddr, parseIp } from './wire/address.js';
import { pseudoHeaderSum, pseudoHeaderSumRaw } from './wire/checksum.js';
import {
  DEFAULT_TTL,
  ICMP_DEST_UNREACH,
  ICMP_ECHO_REPLY,
  ICMP_HEADER_BYTES,
  ICMP_UNREACH_ADMIN,
  ICMP_UNREACH_HOST,
  ICMP_UNREACH_NEEDFRAG,
  ICMP_UNREACH_NET,
  ICMP_UNREACH_PORT,
  ICMP_UNREACH_PROTOCOL,
  ICMPV6_DEST_UNREACH,
  ICMPV6_ECHO_REPLY,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_PARAMPROB_NEXTHEADER,
  ICMPV6_UNREACH_ADDR,
  ICMPV6_UNREACH_ADMIN,
  ICMPV6_UNREACH_NOROUTE,
  ICMPV6_UNREACH_PORT,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_NONE,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_HEADER_BYTES,
  IPV4_MIN_MTU,
  IPV6_HEADER_BYTES,
  IPV6_MIN_MTU,
  IP_MAX_PACKET_BYTES,
  TCP_ACK,
  TCP_FIN,
  TCP_HEADER_BYTES,
  TCP_RST,
  TCP_SYN,
  UDP_HEADER_BYTES,
} from './wire/constants.js';
import { finishIcmpChecksum, IcmpMessage, parseIcmp, writeIcmpHeader } from './wire/icmp.js';
import { IpInfo } from './wire/ip-info.js';
import { parseIpv4, writeIpv4Header } from './wire/ipv4.js';
import { parseIpv6, writeIpv6Header } from './wire/ipv6.js';
import { finishTcpChecksum, parseTcp, TcpHeaderOut, TcpSegment, writeTcpHeader } from './wire/tcp.js';
import { finishUdpChecksum, parseUdp, UdpDatagram, writeUdpHeader } from './wire/udp.js';

export interface UdpConfig {
  /** Flows the accept-any UDP listener may hold. */
  maxFlows: number;
  /** A flow expires after this long without a datagram either way. */
  flowIdleMs: number;
  /** Queued datagrams per endpoint/flow (count and bytes). */
  queueDatagrams: number;
  queueBytes: number;
}

export const DEFAULT_UDP_CONFIG: UdpConfig = {
  maxFlows: 4096,
  flowIdleMs: 60_000,
  queueDatagrams: 256,
  queueBytes: 512 * 1024,
};

export interface StackLimits {
  /** TCP connections in the table (all states, TIME-WAIT included). */
  maxConnections: number;
  /**
   * Send + receive buffer memory of all connections together. When it is spent, incoming data that
   * needs more is dropped ('tcpNoBufferSpace'; the peer retransmits) and send() takes less.
   */
  maxBufferBytes: number;
}

export interface StackOptions {
  /** Receives every outgoing IP packet (a view valid only during the call). */
  sink: (packet: Uint8Array) => void;
  /** Local addresses (IPv4/IPv6 text). Accept-any listeners take other destinations too. */
  addresses?: readonly string[];
  /** Link MTU (bytes of IP packet), 576..65535; default 1500. */
  mtu?: number;
  /**
   * Take packets from and (through accept-any listeners) to the loopback/unspecified addresses Linux
   * treats as martians (127/8, 0/8, ::1, ::, IPv4-mapped). Default false, and never set in production:
   * it exists so tests can relay to and from servers on the test machine's loopback.
   */
  acceptMartians?: boolean;
  /** Monotonic clock in ms; default performance.now. */
  clock?: () => number;
  /** Fills a buffer with random bytes (secrets, ports); default crypto.getRandomValues. */
  random?: (bytes: Uint8Array) => void;
  /** Called when API calls queued work outside input/poll (schedule a poll). */
  wake?: () => void;
  tcp?: Partial<TcpConfig>;
  udp?: Partial<UdpConfig>;
  limits?: Partial<StackLimits>;
  /** Fragment reassembly: false refuses fragments ('fragmentRefused'); default on with limits. */
  reassembly?: false | Partial<ReassemblyLimits>;
  /** Answer ICMP echo requests to local addresses (default true). */
  icmpEcho?: boolean;
  /** ICMP errors we send per second per destination (port unreachable etc.); default 100. */
  icmpErrorsPerSecond?: number;
}

export interface IcmpEchoRequest {
  readonly family: 4 | 6;
  readonly source: IpAddr;
  /** The destination the echo request was sent to (not a local address: accept-any echo). */
  readonly destination: IpAddr;
  readonly id: number;
  readonly sequence: number;
  readonly data: Uint8Array;
}

export interface StackStats {
  drops: DropCounters;
  tcp: TcpCounters;
  ip: { packetsIn: number; packetsOut: number; bytesIn: number; bytesOut: number; reassembled: number };
  udp: { datagramsIn: number; datagramsOut: number; flowsCreated: number; flowsExpired: number };
  icmp: { echoRequests: number; echoReplies: number; errorsIn: number; errorsOut: number };
  connections: number;
  connectionsByState: Record<string, number>;
  udpFlows: number;
  /** Buffer memory held by connections right now (send + receive rings), bytes. */
  bufferBytes: number;
  /** Times the buffer memory budget (limits.maxBufferBytes) refused to grow a buffer. */
  bufferRefusals: number;
  reassemblyBytes: number;
}

export type RejectHow = 'reset' | 'unreachable' | 'prohibited' | 'drop';

const EPHEMERAL_LOW = 49152;
const EPHEMERAL_COUNT = 65536 - EPHEMERAL_LOW;
/** Buckets of the per-destination ICMP error budget (a power of two). */
const ICMP_ERROR_BUCKETS = 256;
/** Distinguishes the ICMP bucket hash from ISNs and cookies under the same key. */
const ICMP_BUCKET_TAG = 0x1c3b0001;
/** Distinguishes the SYN-cookie timestamp offset hash. */
const COOKIE_TS_TAG = 0x75c00001;
/** Upper bound of passes through the dirty list in one poll (guards handler ping-pong). */
const MAX_POLL_ROUNDS = 64;

export class Stack implements TcpHost {
  readonly tcp: TcpConfig;
  readonly udpConfig: UdpConfig;
  readonly limits: StackLimits;
  readonly drops: DropCounters = newDropCounters();
  readonly tcpCounters: TcpCounters = newTcpCounters();
  readonly sendPool: BufferPool;
  readonly recvPool: BufferPool;
  /** Buffer memory of all connections (limits.maxBufferBytes). */
  readonly memory: MemoryBudget;
  readonly mtu: number;
  readonly addresses: IpAddr[] = [];

  private readonly sink: (packet: Uint8Array) => void;
  private readonly clock: () => number;
  private readonly random: (bytes: Uint8Array) => void;
  private readonly wakeFn: (() => void) | undefined;
  private readonly icmpEcho: boolean;
  private readonly icmpErrorsPerSecond: number;
  private readonly secret: SipKey;
  private readonly tcbs: FlowTable<Tcb>;
  private readonly flows: FlowTable<UdpFlow>;
  private readonly tcbTimers = new TimerHeap<Tcb>();
  private readonly flowTimers = new TimerHeap<UdpFlow>();
  private readonly reassembler: Reassembler | null;
  private readonly listeners = new Map<number, TcpListener[]>();
  private anyListener: TcpListener | null = null;
  private readonly udpEndpoints = new Map<number, UdpEndpoint[]>();
  private udpAny: UdpAnyListener | null = null;
  private echoHandler: ((req: IcmpEchoRequest) => void) | null = null;
  private readonly echoQueue: IcmpEchoRequest[] = [];

  private dirtyTcbs: Tcb[] = [];
  /** Connections that entered TIME-WAIT, oldest first (entries may be stale; checked on use). */
  private timeWait: Tcb[] = [];
  private timeWaitHead = 0;
  /** Connections whose send() the memory budget cut short (woken when memory is freed). */
  private memoryWaiters: Tcb[] = [];
  private spareDirty: Tcb[] = [];
  private readonly dirtyListeners: TcpListener[] = [];
  private readonly dirtyUdp: (UdpEndpoint | UdpFlow | UdpAnyListener)[] = [];
  private inPoll = false;
  private woken = false;
  private closed = false;
  private lastNow = 0;
  private ipId = 0;
  private ephemeralNext: number;
  private readonly wscale: number;
  private readonly randPool = new Uint32Array(256);
  private randIndex = 256;
  private challengeWindow = 0;
  private challengeCount = 0;
  private icmpWindow = 0;
  private readonly icmpBuckets = new Uint32Array(ICMP_ERROR_BUCKETS);

  // Scratch objects: one per stack, reused for every packet.
  private readonly info = new IpInfo();
  private readonly seg = new TcpSegment();
  private readonly udpIn = new UdpDatagram();
  private readonly icmpIn = new IcmpMessage();
  private readonly hdr = new TcpHeaderOut();
  private readonly out: Uint8Array;
  private readonly sackScratch = new Uint32Array(8);

  private readonly ipStats = { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, reassembled: 0 };
  private readonly udpStats = { datagramsIn: 0, datagramsOut: 0, flowsCreated: 0, flowsExpired: 0 };
  private readonly icmpStats = { echoRequests: 0, echoReplies: 0, errorsIn: 0, errorsOut: 0 };

  private readonly acceptMartians: boolean;

  constructor(options: StackOptions) {
    if (typeof options?.sink !== 'function') {
      throw new NetstackError('CORRIDOR_ERR_NETSTACK_INVALID_OPTION', 'sink must be a function');
    }
    this.sink = options.sink;
    this.clock = options.clock ?? (() => performance.now());
    this.random = options.random ?? ((b) => crypto.getRandomValues(b));
    this.wakeFn = options.wake;
    const mtu = options.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < IPV4_MIN_MTU || mtu > IP_MAX_PACKET_BYTES) {
      throw new NetstackError(
        'CORRIDOR_ERR_NETSTACK_INVALID_OPTION',
        `mtu must be an integer in ${IPV4_MIN_MTU}..${IP_MAX_PACKET_BYTES}, got ${mtu}`,
      );
    }
    this.mtu = mtu;
    this.acceptMartians = options.acceptMartians === true;
    this.tcp = { ...DEFAULT_TCP_CONFIG, ...options.tcp };
    this.udpConfig = { ...DEFAULT_UDP_CONFIG, ...options.udp };
    this.limits = { maxConnections: 65536, maxBufferBytes: 256 * 1024 * 1024, ...options.limits };
    for (const [k, v] of Object.entries(this.tcp)) {
      if (typeof v === 'number' && !(v >= 0)) {
        throw new NetstackError('CORRIDOR_ERR_NETSTACK_INVALID_OPTION', `tcp.${k} must be a number >= 0`);
      }
    }
    if (this.tcp.recvBufferSize < 1024 || this.tcp.sendBufferSize < 1024) {
      throw new NetstackError(
        'CORRIDOR_ERR_NETSTACK_INVALID_OPTION',
        'TCP buffers must be at least 1024 bytes',
      );
    }
    this.tcp.recvBufferSize = Math.min(this.tcp.recvBufferSize, 0xffff << 14);
    this.wscale = this.tcp.windowScaling ? windowScaleFor(this.tcp.recvBufferSize) : 0;
    if (!this.tcp.windowScaling) this.tcp.recvBufferSize = Math.min(this.tcp.recvBufferSize, 0xffff);
    this.memory = new MemoryBudget(this.limits.maxBufferBytes);
    this.sendPool = new BufferPool(this.tcp.sendBufferSize, this.memory);
    this.recvPool = new BufferPool(this.tcp.recvBufferSize, this.memory);
    for (const a of options.addresses ?? []) this.addAddress(a);
    this.icmpEcho = options.icmpEcho ?? true;
    this.icmpErrorsPerSecond = options.icmpErrorsPerSecond ?? 100;
    this.reassembler =
      options.reassembly === false
        ? null
        : new Reassembler({ ...DEFAULT_REASSEMBLY_LIMITS, ...(options.reassembly ?? {}) });
    const seed = new Uint8Array(24);
    this.random(seed);
    this.secret = new SipKey(seed);
    const r = new Uint32Array(seed.buffer, 16, 2);
    this.tcbs = new FlowTable<Tcb>(r[0] as number);
    this.flows = new FlowTable<UdpFlow>(r[1] as number);
    // The port cursor comes from its own random draw: the peer sees the ports, and seed[0..16) is the
    // ISN / SYN-cookie key.
    this.ephemeralNext = this.randomU32() % EPHEMERAL_COUNT;
    seed.fill(0);
    this.out = new Uint8Array(Math.max(mtu, IPV6_MIN_MTU) + 64);
    this.lastNow = this.clock();
  }

  // ------------------------------------------------------------------ configuration

  /** Adds a local address (text). Throws NetstackError on bad text. */
  addAddress(text: string): IpAddr {
    const a = parseIp(text);
    if (!a || a.isUnspecified || a.isMulticastOrBroadcast) {
      throw new NetstackError(
        'CORRIDOR_ERR_NETSTACK_INVALID_ADDRESS',
        `not a usable unicast address: ${String(text)}`,
        'give an IPv4 address like 10.8.0.12 or an IPv6 address like fd00::12',
      );
    }
    if (!this.addresses.some((x) => x.equals(a))) this.addresses.push(a);
    return a;
  }

  isLocal(a: IpAddr): boolean {
    for (const x of this.addresses) if (x.equals(a)) return true;
    return false;
  }

  private isLocalDst(info: IpInfo): boolean {
    const list = this.addresses;
    for (let i = 0; i < list.length; i++) if (info.dstEquals(list[i] as IpAddr)) return true;
    return false;
  }

  private isLocalSrc(info: IpInfo): boolean {
    const list = this.addresses;
    for (let i = 0; i < list.length; i++) if (info.srcEquals(list[i] as IpAddr)) return true;
    return false;
  }

  /** MSS we advertise for a family: MTU minus IP and TCP headers, clamped. */
  mssFor(family: 4 | 6): number {
    let mss = this.mtu - (family === 4 ? IPV4_HEADER_BYTES : IPV6_HEADER_BYTES) - TCP_HEADER_BYTES;
    if (this.tcp.mssClamp > 0 && mss > this.tcp.mssClamp) mss = this.tcp.mssClamp;
    return mss;
  }

  now(): number {
    return this.lastNow;
  }

  private tick(now: number | undefined): number {
    const t = now ?? this.clock();
    if (t > this.lastNow) this.lastNow = t;
    return this.lastNow;
  }

  tsClock(now: number): number {
    return Math.floor(now) >>> 0;
  }

  // ------------------------------------------------------------------ TcpHost

  markDirty(tcb: Tcb): void {
    if (tcb.dirty) return;
    tcb.dirty = true;
    this.dirtyTcbs.push(tcb);
    this.requestWake();
  }

  private requestWake(): void {
    if (!this.inPoll && !this.woken && this.wakeFn) {
      this.woken = true;
      this.wakeFn();
    }
  }

  waitForMemory(tcb: Tcb): void {
    if (!this.memoryWaiters.includes(tcb)) this.memoryWaiters.push(tcb);
  }

  timerChanged(tcb: Tcb, at: number): void {
    if (!tcb.inTable && tcb.state === TcpState.CLOSED) return;
    this.tcbTimers.schedule(tcb, at);
  }

  takeChallengeAck(now: number): boolean {
    const w = Math.floor(now / 1000);
    if (w !== this.challengeWindow) {
      this.challengeWindow = w;
      this.challengeCount = 0;
    }
    if (this.challengeCount >= this.tcp.challengeAckPerSecond) return false;
    this.challengeCount++;
    return true;
  }

  /**
   * ICMP error budget: icmpErrorsPerSecond per destination, counted in ICMP_ERROR_BUCKETS buckets
   * chosen by a keyed hash of the destination. Not one stack-wide count: an off-path attacker could
   * read that from the errors left for itself and learn which of its spoofed datagrams had hit an
   * open port (SAD DNS, CVE-2020-25705). All destinations together get at most
   * ICMP_ERROR_BUCKETS * icmpErrorsPerSecond errors a second.
   */
  private takeIcmpError(now: number, dst: IpAddr): boolean {
    const w = Math.floor(now / 1000);
    if (w !== this.icmpWindow) {
      this.icmpWindow = w;
      this.icmpBuckets.fill(0);
    }
    const b = tupleHash(this.secret, dst, 0, dst, 0, ICMP_BUCKET_TAG, 0) & (ICMP_ERROR_BUCKETS - 1);
    if ((this.icmpBuckets[b] as number) >= this.icmpErrorsPerSecond) {
      this.drops.icmpRateLimited++;
      return false;
    }
    this.icmpBuckets[b] = (this.icmpBuckets[b] as number) + 1;
    return true;
  }

  tcbClosed(tcb: Tcb): void {
    this.tcbs.remove(tcb);
    this.tcbTimers.remove(tcb);
    tcb.heapKey = Infinity;
    if (tcb.halfOpen) {
      tcb.halfOpen = false;
      const l = tcb.listener as TcpListener | null;
      if (l) l.halfOpen--;
    }
    const l = tcb.listener as TcpListener | null;
    if (l && !tcb.accepted) {
      const i = l.queue.indexOf(tcb);
      if (i >= 0) l.queue.splice(i, 1);
    }
  }

  tcbEstablished(tcb: Tcb): void {
    this.tcpCounters.passiveOpens++;
    const l = tcb.listener as TcpListener | null;
    if (tcb.halfOpen) {
      tcb.halfOpen = false;
      if (l) l.halfOpen--;
    }
    if (!l || tcb.accepted) return;
    if (l.closed || l.queue.length >= this.tcp.acceptBacklog) {
      tcb.abort();
      return;
    }
    l.queue.push(tcb);
    this.markListener(l);
  }

  private markListener(l: TcpListener): void {
    if (l.dirty) return;
    l.dirty = true;
    this.dirtyListeners.push(l);
    this.requestWake();
  }

  private markUdp(u: UdpEndpoint | UdpFlow | UdpAnyListener): void {
    if (u.dirty) return;
    u.dirty = true;
    this.dirtyUdp.push(u);
    this.requestWake();
  }

  // ------------------------------------------------------------------ input

  /** Processes one incoming IP packet (see the contract at the top). Never throws on bad bytes. */
  input(packet: Uint8Array, now?: number): void {
    if (this.closed) return;
    const t = this.tick(now);
    if (!(packet instanceof Uint8Array)) {
      this.drops.ipShort++;
      return;
    }
    this.ipStats.packetsIn++;
    this.ipStats.bytesIn += packet.length;
    this.dispatch(packet, packet.length, t, 0);
  }

  private drop(reason: DropReason): void {
    this.drops[reason]++;
  }

  private dispatch(pkt: Uint8Array, len: number, now: number, depth: number): void {
    if (len < 1) {
      this.drop('ipShort');
      return;
    }
    const info = this.info;
    const version = (pkt[0] as number) >>> 4;
    const r =
      version === 4 ? parseIpv4(pkt, len, info) : version === 6 ? parseIpv6(pkt, len, info) : 'ipBadVersion';
    if (r !== 'ok') {
      this.drop(r);
      return;
    }
    if ((info.srcIsMartian() && !this.acceptMartians) || this.isLocalSrc(info)) {
      this.drop('ipBadSource');
      return;
    }
    const local = this.isLocalDst(info);
    // Fragments too: one that the stack would drop once reassembled must not take a reassembly slot
    // (junk fragments to foreign, loopback or multicast addresses would evict real datagrams).
    if (!local && !this.wantsForeign(info)) {
      this.drop('ipNotForUs');
      return;
    }
    if (info.isFragment) {
      if (this.reassembler === null) {
        this.drop('fragmentRefused');
        return;
      }
      if (depth > 0) {
        this.drop('fragmentInvalid');
        return;
      }
      const res = this.reassembler.add(pkt, info, now);
      this.countReassemblerDrops();
      if (res.kind === 'drop') this.drop(res.reason);
      else if (res.kind === 'complete') {
        this.ipStats.reassembled++;
        this.dispatch(res.packet, res.packet.length, now, depth + 1);
      }
      return;
    }
    switch (info.protocol) {
      case IPPROTO_TCP:
        this.tcpIn(pkt, now, local);
        return;
      case IPPROTO_UDP:
        this.udpInput(pkt, now, local);
        return;
      case IPPROTO_ICMP:
        if (info.family === 4) this.icmpInput(pkt, now, local);
        else this.drop('ipUnsupportedProtocol');
        return;
      case IPPROTO_ICMPV6:
        if (info.family === 6) this.icmpInput(pkt, now, local);
        else this.drop('ipUnsupportedProtocol');
        return;
      default:
        this.drop('ipUnsupportedProtocol');
        // RFC 8200 4.7: nothing follows No Next Header; it is not an error to report.
        if (local && !(info.family === 6 && info.protocol === IPPROTO_NONE)) {
          this.sendUnreachable(pkt, len, 'protocol', now);
        }
        return;
    }
  }

  /**
   * Whether a packet to a non-local destination may concern us: accept-any listeners, flows and
   * connections they created (found by 4-tuple later), echo for the accept-any ICMP handler, and ICMP
   * errors about those flows (addressed to the spoofed source we used).
   */
  private wantsForeign(info: IpInfo): boolean {
    if (info.dstIsMulticastOrBroadcast() || (info.dstIsMartian() && !this.acceptMartians)) return false;
    // An IPv6 fragment's next header may be an extension header: the transport is known only after
    // reassembly (which checks again).
    if (info.isFragment && info.family === 6 && !isTransport(info.protocol)) return true;
    switch (info.protocol) {
      case IPPROTO_TCP:
        return this.anyListener !== null || this.tcbs.size > 0;
      case IPPROTO_UDP:
        return this.udpAny !== null || this.flows.size > 0;
      case IPPROTO_ICMP:
      case IPPROTO_ICMPV6:
        return this.echoHandler !== null || this.tcbs.size > 0 || this.flows.size > 0;
      default:
        return false;
    }
  }

  private countReassemblerDrops(): void {
    const r = this.reassembler;
    if (r === null) return;
    if (r.evicted > 0) {
      this.drops.fragmentMemoryLimit += r.evicted;
      r.evicted = 0;
    }
    if (r.expired > 0) {
      this.drops.fragmentTimeout += r.expired;
      r.expired = 0;
    }
  }

  private pseudoSum(pkt: Uint8Array, protocol: number, length: number): number {
    const info = this.info;
    return pseudoHeaderSumRaw(
      pkt,
      info.srcOffset,
      info.dstOffset,
      info.family === 4 ? 4 : 16,
      protocol,
      length,
    );
  }

  // ------------------------------------------------------------------ TCP demux

  private tcpIn(pkt: Uint8Array, now: number, local: boolean): void {
    const info = this.info;
    const seg = this.seg;
    const r = parseTcp(
      pkt,
      info.payloadOffset,
      info.payloadLength,
      this.pseudoSum(pkt, IPPROTO_TCP, info.payloadLength),
      seg,
    );
    if (r !== 'ok') {
      this.drop(r);
      return;
    }
    if (seg.srcPort === 0 || seg.dstPort === 0) {
      this.drop('tcpBadPort');
      return;
    }
    const tcb = this.tcbs.lookup(
      info.family,
      info.dst0,
      info.dst1,
      info.dst2,
      info.dst3,
      seg.dstPort,
      info.src0,
      info.src1,
      info.src2,
      info.src3,
      seg.srcPort,
    );
    const flags = seg.flags;
    if (tcb !== null) {
      // A new SYN for a connection in TIME-WAIT may reopen it (RFC 6191 style, like Linux).
      if (
        tcb.state === TcpState.TIME_WAIT &&
        (flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN &&
        (seqLt(tcb.rcvNxt, seg.seq) || (tcb.tsEnabled && seg.hasTimestamp && seqLt(tcb.tsRecent, seg.tsVal)))
      ) {
        tcb.terminate(null);
      } else {
        tcpInput(tcb, seg, pkt, now);
        return;
      }
    }
    if (!local && this.anyListener === null) {
      this.drop('ipNotForUs');
      return;
    }
    if ((flags & TCP_SYN) !== 0 && (flags & (TCP_FIN | TCP_RST)) !== 0) {
      this.drop('tcpBadFlags');
      return;
    }
    const listener = local ? this.findListener(seg.dstPort) : this.anyListener;
    if (listener !== null) {
      this.listenInput(listener, pkt, now);
      return;
    }
    // CLOSED (RFC 9293 3.10.7.1): answer with RST unless it is one.
    this.drop('tcpNoListener');
    if ((flags & TCP_RST) === 0) this.rstForSegment(now);
  }

  private findListener(port: number): TcpListener | null {
    const list = this.listeners.get(port);
    if (list !== undefined) {
      let wildcard: TcpListener | null = null;
      for (const l of list) {
        if (l.address === null) wildcard = l;
        else if (this.info.dstEquals(l.address)) return l;
      }
      if (wildcard !== null) return wildcard;
    }
    return this.anyListener;
  }

  /** RFC 9293 3.10.7.2: a segment for a listener. */
  private listenInput(l: TcpListener, pkt: Uint8Array, now: number): void {
    const seg = this.seg;
    const info = this.info;
    const flags = seg.flags;
    if ((flags & TCP_RST) !== 0) {
      this.drop('tcpClosedState');
      return;
    }
    if ((flags & TCP_ACK) !== 0) {
      // A deferred listener never issues cookies (see below), so no ACK can carry a valid one.
      if ((flags & TCP_SYN) === 0 && this.tcp.synCookies !== 'never' && !l.deferred) {
        this.cookieAck(l, pkt, now);
        return;
      }
      this.drop('tcpBadAck');
      this.rstForSegment(now);
      return;
    }
    if ((flags & TCP_SYN) === 0) {
      this.drop('tcpBadFlags');
      return;
    }
    if (info.dstIsMulticastOrBroadcast()) {
      this.drop('ipNotForUs');
      return;
    }
    const cfg = this.tcp;
    const backlogFull = l.halfOpen >= cfg.synBacklog || l.queue.length >= cfg.acceptBacklog;
    // A deferred (accept-any request) listener must not answer before the application decided: a
    // cookie SYN-ACK would complete the handshake to a destination its policy may refuse. Beyond the
    // backlog its SYNs are dropped and the client retransmits (gVisor's forwarder does the same).
    if (!l.deferred && (cfg.synCookies === 'always' || (backlogFull && cfg.synCookies === 'auto'))) {
      this.sendCookieSynAck(now);
      return;
    }
    if (backlogFull) {
      this.drop('tcpSynBacklogFull');
      return;
    }
    if (!this.roomForConnection()) {
      this.drop('tcpConnectionLimit');
      return;
    }
    const tcb = new Tcb(this, info.dstAddr(), seg.dstPort, info.srcAddr(), seg.srcPort);
    tcb.listener = l;
    tcb.state = TcpState.SYN_RECEIVED;
    tcb.irs = seg.seq;
    tcb.rcvNxt = seqAdd(seg.seq, 1);
    tcb.lastAckSent = tcb.rcvNxt;
    tcb.rcvWscale = this.wscale;
    tcb.initSend(generateIsn(this.secret, tcb.local, tcb.localPort, tcb.remote, tcb.remotePort, now), false);
    tcb.tsOffset = this.randomU32();
    negotiateOptions(tcb, seg, this.mssFor(tcb.family), true, true, true, now);
    tcb.sndWnd = seg.window;
    tcb.maxSndWnd = seg.window;
    tcb.sndWl1 = seg.seq;
    tcb.lastRecvAt = now;
    tcb.halfOpen = true;
    l.halfOpen++;
    this.tcbs.insert(tcb);
    if (l.deferred) {
      tcb.held = true;
      tcb.setLinger(now + cfg.requestTimeoutMs);
      l.queue.push(tcb);
      this.markListener(l);
    } else {
      tcb.needSyn = true;
      this.markDirty(tcb);
    }
  }

  private roomForConnection(): boolean {
    if (this.tcbs.size < this.limits.maxConnections) return true;
    // Reuse the slot of the oldest connection in TIME-WAIT (Linux's tw bucket limit does the same).
    const q = this.timeWait;
    while (this.timeWaitHead < q.length) {
      const t = q[this.timeWaitHead] as Tcb;
      q[this.timeWaitHead++] = undefined as unknown as Tcb;
      if (t.state === TcpState.TIME_WAIT && t.inTable) {
        t.terminate(null);
        this.compactTimeWait();
        return true;
      }
    }
    this.compactTimeWait();
    return false;
  }

  timeWaitEntered(tcb: Tcb): void {
    this.timeWait.push(tcb);
    this.compactTimeWait();
  }

  /** Drops consumed and stale entries from the TIME-WAIT FIFO now and then (amortized O(1)). */
  private compactTimeWait(): void {
    const q = this.timeWait;
    if (this.timeWaitHead > 1024 && this.timeWaitHead * 2 > q.length) {
      this.timeWait = q.slice(this.timeWaitHead).filter((t) => t.state === TcpState.TIME_WAIT && t.inTable);
      this.timeWaitHead = 0;
    } else if (q.length > 2 * this.limits.maxConnections + 1024) {
      this.timeWait = q.slice(this.timeWaitHead).filter((t) => t.state === TcpState.TIME_WAIT && t.inTable);
      this.timeWaitHead = 0;
    }
  }

  private sendCookieSynAck(now: number): void {
    const info = this.info;
    const seg = this.seg;
    const local = info.dstAddr();
    const remote = info.srcAddr();
    const cfg = this.tcp;
    const cookie = createSynCookie(
      this.secret,
      local,
      seg.dstPort,
      remote,
      seg.srcPort,
      seg.seq,
      seg.mss || 536,
      now,
    );
    const h = this.hdr;
    h.reset();
    h.srcPort = seg.dstPort;
    h.dstPort = seg.srcPort;
    h.seq = cookie;
    h.ack = seqAdd(seg.seq, 1);
    h.flags = TCP_SYN | TCP_ACK;
    h.window = Math.min(cfg.recvBufferSize, 0xffff);
    h.mss = this.mssFor(info.family);
    if (cfg.timestamps && seg.hasTimestamp) {
      const ws = cfg.windowScaling && seg.wscale >= 0 ? seg.wscale : -1;
      const sack = cfg.sack && seg.sackPermitted;
      h.hasTimestamp = true;
      // A per-connection offset (RFC 7323 7.1), recomputed from the 4-tuple when the ACK returns.
      h.tsVal = cookieTsVal(
        this.tsClock(now) + this.cookieTsOffset(local, seg.dstPort, remote, seg.srcPort),
        ws,
        sack,
      );
      h.tsEcr = seg.tsVal;
      h.sackPermitted = sack;
      if (ws >= 0) h.wscale = this.wscale;
    }
    this.tcpCounters.synCookiesSent++;
    this.emitTcpRaw(local, remote, 0);
  }

  private cookieAck(l: TcpListener, pkt: Uint8Array, now: number): void {
    const info = this.info;
    const seg = this.seg;
    const local = info.dstAddr();
    const remote = info.srcAddr();
    const cookie = seqAdd(seg.ack, -1);
    const peerIsn = seqAdd(seg.seq, -1);
    const mss = checkSynCookie(this.secret, local, seg.dstPort, remote, seg.srcPort, peerIsn, cookie, now);
    if (mss === 0) {
      this.drop('tcpBadSynCookie');
      this.rstForSegment(now);
      return;
    }
    if (l.queue.length >= this.tcp.acceptBacklog || !this.roomForConnection()) {
      this.drop(l.queue.length >= this.tcp.acceptBacklog ? 'tcpSynBacklogFull' : 'tcpConnectionLimit');
      return;
    }
    const tcb = new Tcb(this, local, seg.dstPort, remote, seg.srcPort);
    tcb.listener = l;
    tcb.fromCookie = true;
    tcb.initSend(cookie, true);
    tcb.irs = peerIsn;
    tcb.rcvNxt = seg.seq;
    tcb.lastAckSent = seg.seq;
    const cfg = this.tcp;
    let ws = -1;
    let sack = false;
    if (cfg.timestamps && seg.hasTimestamp && seg.tsEcr !== 0) {
      const o = cookieOptionsFromTsEcr(seg.tsEcr);
      ws = cfg.windowScaling ? o.wscale : -1;
      sack = cfg.sack && o.sackPermitted;
      tcb.tsEnabled = true;
      tcb.tsRecent = seg.tsVal;
      tcb.tsRecentAt = now;
      // The offset our cookie TSval carried: the connection's clock continues from it.
      tcb.tsOffset = this.cookieTsOffset(local, seg.dstPort, remote, seg.srcPort);
    }
    tcb.wsEnabled = ws >= 0;
    tcb.sndWscale = ws >= 0 ? ws : 0;
    tcb.rcvWscale = ws >= 0 ? this.wscale : 0;
    tcb.sackEnabled = sack;
    tcb.rcvMss = this.mssFor(tcb.family);
    tcb.setSendMss(Math.max(64, Math.min(mss, this.mssFor(tcb.family)) - (tcb.tsEnabled ? 12 : 0)));
    tcb.resetCongestion();
    tcb.sndWnd = seg.window << tcb.sndWscale;
    tcb.maxSndWnd = tcb.sndWnd;
    tcb.sndWl1 = seg.seq;
    tcb.sndWl2 = seg.ack;
    // What our SYN-ACK advertised: an unscaled window of at most 64 KiB.
    tcb.rcvAdv = seqAdd(tcb.rcvNxt, Math.min(cfg.recvBufferSize, 0xffff));
    tcb.state = TcpState.ESTABLISHED;
    tcb.lastRecvAt = now;
    this.tcpCounters.synCookiesAccepted++;
    this.tcbs.insert(tcb);
    tcb.signal(EV_CONNECTED);
    this.tcbEstablished(tcb);
    if (tcb.state !== TcpState.ESTABLISHED) return;
    // The ACK may carry data (or a FIN).
    if (seg.payloadLength > 0 || (seg.flags & TCP_FIN) !== 0) tcpInput(tcb, seg, pkt, now);
  }

  /** The timestamp offset of a SYN-cookie connection (a keyed hash of its 4-tuple). */
  private cookieTsOffset(local: IpAddr, localPort: number, remote: IpAddr, remotePort: number): number {
    return tupleHash(this.secret, local, localPort, remote, remotePort, COOKIE_TS_TAG, 0);
  }

  /** RST in answer to the current segment (RFC 9293 3.10.7.1). */
  private rstForSegment(now: number): void {
    const info = this.info;
    const seg = this.seg;
    const h = this.hdr;
    h.reset();
    h.srcPort = seg.dstPort;
    h.dstPort = seg.srcPort;
    if ((seg.flags & TCP_ACK) !== 0) {
      h.seq = seg.ack;
      h.ack = 0;
      h.flags = TCP_RST;
    } else {
      h.seq = 0;
      let segLen = seg.payloadLength;
      if ((seg.flags & TCP_SYN) !== 0) segLen++;
      if ((seg.flags & TCP_FIN) !== 0) segLen++;
      h.ack = seqAdd(seg.seq, segLen);
      h.flags = TCP_RST | TCP_ACK;
    }
    h.window = 0;
    this.tcpCounters.resetsSent++;
    void now;
    this.emitTcpRaw(info.dstAddr(), info.srcAddr(), 0);
  }

  // ------------------------------------------------------------------ TCP output

  /** TcpHost: builds one segment of `tcb` (header fields from the Tcb, data from its send ring). */
  emitSegment(tcb: Tcb, seq: number, flags: number, dataLen: number, now: number): void {
    const h = this.hdr;
    h.reset();
    h.srcPort = tcb.localPort;
    h.dstPort = tcb.remotePort;
    h.seq = seq;
    h.flags = flags;
    const hasAck = (flags & TCP_ACK) !== 0;
    h.ack = hasAck ? tcb.rcvNxt : 0;
    let field = 0;
    if ((flags & TCP_RST) !== 0) {
      field = 0;
    } else if ((flags & TCP_SYN) !== 0) {
      field = Math.min(tcb.rcvBuf.capacity, 0xffff);
      h.mss = tcb.rcvMss;
      const cfg = this.tcp;
      if (hasAck) {
        // SYN-ACK: echo what was negotiated.
        if (tcb.wsEnabled) h.wscale = tcb.rcvWscale;
        h.sackPermitted = tcb.sackEnabled;
        if (tcb.tsEnabled) {
          h.hasTimestamp = true;
          h.tsVal = tcb.tsVal(now);
          h.tsEcr = tcb.tsRecent;
        }
      } else {
        if (cfg.windowScaling) h.wscale = tcb.rcvWscale;
        h.sackPermitted = cfg.sack;
        if (cfg.timestamps) {
          h.hasTimestamp = true;
          h.tsVal = tcb.tsVal(now);
          h.tsEcr = 0;
        }
      }
    } else {
      field = this.windowField(tcb);
      if (tcb.tsEnabled) {
        h.hasTimestamp = true;
        h.tsVal = tcb.tsVal(now);
        h.tsEcr = tcb.tsRecent;
      }
      // SACK blocks only as far as they fit beside the data: sndMss already leaves room for the
      // timestamp option, not for SACK, and a full segment with blocks would exceed the MTU (and the
      // peer's MSS, RFC 6691). Pure ACKs (every out-of-order arrival sends one) carry all of them.
      const sackRoom = dataLen > 0 ? Math.floor((tcb.sndMss - dataLen - 4) / 8) : 4;
      if (tcb.sackEnabled && hasAck && !tcb.assembler.isEmpty && sackRoom > 0) {
        const n = tcb.assembler.sackOrder(this.sackScratch, Math.min(4, sackRoom));
        for (let i = 0; i < n; i++) {
          h.sack[2 * i] = seqAdd(tcb.rcvNxt, this.sackScratch[2 * i] as number);
          h.sack[2 * i + 1] = seqAdd(tcb.rcvNxt, this.sackScratch[2 * i + 1] as number);
        }
        h.sackCount = n;
      }
    }
    h.window = field;
    const payloadAt = this.emitTcpHeaders(
      tcb.local,
      tcb.remote,
      dataLen,
      tcb.remote.family === 6 ? tcb.tableHash : 0,
    );
    if (dataLen > 0) {
      tcb.sndBuf.peek(seqDiff(seq, tcb.sndBufSeq), this.out, payloadAt, dataLen);
      tcb.bytesSent += dataLen;
      this.tcpCounters.bytesOut += dataLen;
    }
    this.finishTcp(tcb.local, tcb.remote, payloadAt, dataLen);
    this.tcpCounters.segmentsOut++;
    if (hasAck && (flags & TCP_RST) === 0) {
      tcb.ackNow = false;
      tcb.unackedSegments = 0;
      tcb.delAckAt = Infinity;
      tcb.lastAckSent = tcb.rcvNxt;
      if ((flags & TCP_SYN) === 0) {
        const edge = seqAdd(tcb.rcvNxt, field << tcb.rcvWscale);
        if (seqLt(tcb.rcvAdv, edge)) tcb.rcvAdv = edge;
      } else {
        tcb.rcvAdv = seqAdd(tcb.rcvNxt, field);
      }
    }
    if (dataLen > 0 || (flags & (TCP_SYN | TCP_FIN)) !== 0) tcb.lastSendAt = now;
  }

  /** The window field for a non-SYN segment: never shrinks the right edge, avoids tiny increments. */
  private windowField(tcb: Tcb): number {
    const scale = tcb.rcvWscale;
    const buf = tcb.rcvBuf;
    let wnd = buf.capacity - buf.length;
    const max = 0xffff << scale;
    if (wnd > max) wnd = max;
    let edgeWnd = seqDiff(tcb.rcvAdv, tcb.rcvNxt);
    if (edgeWnd < 0) edgeWnd = 0;
    // Receiver SWS avoidance: keep the old edge unless the window grows by a useful amount.
    if (wnd > edgeWnd && wnd - edgeWnd < Math.min(buf.capacity >>> 1, tcb.rcvMss) && edgeWnd > 0)
      wnd = edgeWnd;
    // Never move the right edge left (RFC 9293 3.8.6.2.2) — up to the scale's rounding, which is
    // always down so we never promise more than the ring holds.
    let field = wnd >>> scale;
    const edgeField = edgeWnd >>> scale;
    if (field < edgeField) field = edgeField;
    return field;
  }

  /** Writes IP + TCP headers (from this.hdr) into `out`; returns the payload offset. */
  private emitTcpHeaders(src: IpAddr, dst: IpAddr, dataLen: number, flowLabel: number): number {
    const out = this.out;
    const ipLen = src.family === 4 ? IPV4_HEADER_BYTES : IPV6_HEADER_BYTES;
    const tcpLen = writeTcpHeader(out, ipLen, this.hdr);
    const total = tcpLen + dataLen;
    if (src.family === 4)
      writeIpv4Header(out, 0, src, dst, IPPROTO_TCP, total, DEFAULT_TTL, this.ipId++, true);
    else writeIpv6Header(out, 0, src, dst, IPPROTO_TCP, total, DEFAULT_TTL, flowLabel);
    return ipLen + tcpLen;
  }

  private finishTcp(src: IpAddr, dst: IpAddr, payloadAt: number, dataLen: number): void {
    const out = this.out;
    const ipLen = src.family === 4 ? IPV4_HEADER_BYTES : IPV6_HEADER_BYTES;
    const segLen = payloadAt - ipLen + dataLen;
    finishTcpChecksum(out, ipLen, segLen, pseudoHeaderSum(src, dst, IPPROTO_TCP, segLen));
    this.send(payloadAt + dataLen);
  }

  private emitTcpRaw(src: IpAddr, dst: IpAddr, flowLabel: number): void {
    const at = this.emitTcpHeaders(src, dst, 0, flowLabel);
    this.finishTcp(src, dst, at, 0);
  }

  private send(len: number): void {
    this.ipStats.packetsOut++;
    this.ipStats.bytesOut += len;
    this.sink(this.out.subarray(0, len));
  }

  // ------------------------------------------------------------------ UDP

  private udpInput(pkt: Uint8Array, now: number, local: boolean): void {
    const info = this.info;
    const d = this.udpIn;
    const isV6 = info.family === 6;
    const sumNoLen = pseudoHeaderSumRaw(pkt, info.srcOffset, info.dstOffset, isV6 ? 16 : 4, IPPROTO_UDP, 0);
    const r = parseUdp(pkt, info.payloadOffset, info.payloadLength, sumNoLen, isV6, d);
    if (r !== 'ok') {
      this.drop(r);
      return;
    }
    this.udpStats.datagramsIn++;
    if (d.dstPort === 0) {
      this.drop('udpBadPort');
      return;
    }
    // 1. A flow of the accept-any listener (by 4-tuple).
    if (this.flows.size > 0) {
      const f = this.flows.lookup(
        info.family,
        info.dst0,
        info.dst1,
        info.dst2,
        info.dst3,
        d.dstPort,
        info.src0,
        info.src1,
        info.src2,
        info.src3,
        d.srcPort,
      );
      if (f !== null) {
        f.lastActivity = now;
        f.bytesIn += d.payloadLength;
        this.queueUdp(f, pkt, info.srcAddr(), info.dstAddr());
        return;
      }
    }
    // 2. A bound endpoint (local destinations only).
    if (local) {
      const list = this.udpEndpoints.get(d.dstPort);
      if (list !== undefined) {
        let ep: UdpEndpoint | null = null;
        for (const e of list) {
          if (e.local === null) ep ??= e;
          else if (info.dstEquals(e.local)) {
            ep = e;
            break;
          }
        }
        if (ep !== null) {
          this.queueUdp(ep, pkt, info.srcAddr(), info.dstAddr());
          return;
        }
      }
    }
    // 3. The accept-any listener creates a flow.
    const any = this.udpAny;
    if (any !== null && !any.closed && !info.dstIsMulticastOrBroadcast()) {
      if (this.flows.size >= this.udpConfig.maxFlows || any.pending.length >= any.maxPending) {
        this.drop('udpFlowLimit');
        return;
      }
      const f = new UdpFlow(
        info.dstAddr(),
        d.dstPort,
        info.srcAddr(),
        d.srcPort,
        this.udpConfig.flowIdleMs,
        now,
        this.udpConfig.queueDatagrams,
        this.udpConfig.queueBytes,
      );
      this.flows.insert(f);
      this.flowTimers.schedule(f, f.expiresAt);
      this.udpStats.flowsCreated++;
      f.bytesIn += d.payloadLength;
      any.pending.push(f);
      this.markUdp(any);
      this.queueUdp(f, pkt, f.remote, f.local);
      return;
    }
    this.drop(local ? 'udpNoListener' : 'ipNotForUs');
    if (local) this.sendUnreachable(pkt, info.payloadOffset + info.payloadLength, 'port', now);
  }

  private queueUdp(target: UdpEndpoint | UdpFlow, pkt: Uint8Array, remote: IpAddr, local: IpAddr): void {
    const d = this.udpIn;
    // A copy: input() callers reuse their packet (a Buffer's slice() would be a view).
    const data = Uint8Array.prototype.slice.call(pkt, d.payloadOffset, d.payloadOffset + d.payloadLength);
    if (!target.enqueue({ data, remote, remotePort: d.srcPort, local })) {
      this.drop('udpQueueFull');
      return;
    }
    this.markUdp(target);
  }

  /** Sends one UDP datagram from (src, srcPort) to (dst, dstPort). Returns false if it cannot. */
  private emitUdp(src: IpAddr, srcPort: number, dst: IpAddr, dstPort: number, data: Uint8Array): boolean {
    const ipLen = src.family === 4 ? IPV4_HEADER_BYTES : IPV6_HEADER_BYTES;
    const total = UDP_HEADER_BYTES + data.length;
    // No fragmentation on output: a datagram that does not fit the link MTU is refused.
    if (ipLen + total > this.mtu) return false;
    const out = this.out;
    if (src.family === 4)
      writeIpv4Header(out, 0, src, dst, IPPROTO_UDP, total, DEFAULT_TTL, this.ipId++, false);
    else writeIpv6Header(out, 0, src, dst, IPPROTO_UDP, total, DEFAULT_TTL, 0);
    writeUdpHeader(out, ipLen, srcPort, dstPort, data.length);
    out.set(data, ipLen + UDP_HEADER_BYTES);
    finishUdpChecksum(out, ipLen, total, pseudoHeaderSum(src, dst, IPPROTO_UDP, total));
    this.udpStats.datagramsOut++;
    this.send(ipLen + total);
    return true;
  }

  // ------------------------------------------------------------------ ICMP

  private icmpInput(pkt: Uint8Array, now: number, local: boolean): void {
    const info = this.info;
    const m = this.icmpIn;
    const isV6 = info.family === 6;
    const sum = isV6 ? this.pseudoSum(pkt, IPPROTO_ICMPV6, info.payloadLength) : 0;
    const r = parseIcmp(pkt, info.payloadOffset, info.payloadLength, isV6, sum, m);
    if (r !== 'ok') {
      this.drop(r);
      return;
    }
    switch (m.kind) {
      case 'echoRequest':
        this.icmpStats.echoRequests++;
        if (info.dstIsMulticastOrBroadcast()) {
          this.drop('icmpUnhandled');
          return;
        }
        if (local) {
          if (this.icmpEcho) this.echoReply(pkt, now);
          else this.drop('icmpUnhandled');
        } else if (this.echoHandler !== null && this.echoQueue.length < 64) {
          this.echoQueue.push({
            family: info.family,
            source: info.srcAddr(),
            destination: info.dstAddr(),
            id: m.id,
            sequence: m.seqNo,
            data: Uint8Array.prototype.slice.call(pkt, m.dataOffset, m.dataOffset + m.dataLength),
          });
          this.requestWake();
        } else {
          this.drop(local ? 'icmpUnhandled' : 'ipNotForUs');
        }
        return;
      case 'error':
        this.icmpStats.errorsIn++;
        this.icmpError(pkt, now);
        return;
      default:
        this.drop('icmpUnhandled');
        return;
    }
  }

  private echoReply(pkt: Uint8Array, now: number): void {
    const info = this.info;
    const m = this.icmpIn;
    void now;
    this.emitEchoReply(
      info.dstAddr(),
      info.srcAddr(),
      m.id,
      m.seqNo,
      pkt.subarray(m.dataOffset, m.dataOffset + m.dataLength),
    );
  }

  private emitEchoReply(src: IpAddr, dst: IpAddr, id: number, seqNo: number, data: Uint8Array): boolean {
    const isV6 = src.family === 6;
    const ipLen = isV6 ? IPV6_HEADER_BYTES : IPV4_HEADER_BYTES;
    const icmpLen = ICMP_HEADER_BYTES + data.length;
    if (ipLen + icmpLen > this.mtu) return false;
    const out = this.out;
    writeIcmpHeader(out, ipLen, isV6 ? ICMPV6_ECHO_REPLY : ICMP_ECHO_REPLY, 0, id, seqNo);
    out.set(data, ipLen + ICMP_HEADER_BYTES);
    if (isV6) {
      writeIpv6Header(out, 0, src, dst, IPPROTO_ICMPV6, icmpLen, DEFAULT_TTL, 0);
      finishIcmpChecksum(out, ipLen, icmpLen, pseudoHeaderSum(src, dst, IPPROTO_ICMPV6, icmpLen));
    } else {
      writeIpv4Header(out, 0, src, dst, IPPROTO_ICMP, icmpLen, DEFAULT_TTL, this.ipId++, false);
      finishIcmpChecksum(out, ipLen, icmpLen, 0);
    }
    this.icmpStats.echoReplies++;
    this.send(ipLen + icmpLen);
    return true;
  }

  /** An ICMP error about a packet we sent: find the flow it quotes and act (RFC 5927, RFC 1122). */
  private icmpError(pkt: Uint8Array, now: number): void {
    const info = this.info;
    const m = this.icmpIn;
    const fam = info.family;
    const alen = fam === 4 ? 4 : 16;
    const qsrc = IpAddr.read(fam, pkt, m.quotedSrcOffset);
    const qdst = IpAddr.read(fam, pkt, m.quotedDstOffset);
    void alen;
    const isV6 = fam === 6;
    let error: TcpError | UdpError | null = null;
    let mtu = 0;
    if (isV6) {
      if (m.type === ICMPV6_PACKET_TOO_BIG) mtu = m.mtu;
      else if (m.type === ICMPV6_DEST_UNREACH) {
        error =
          m.code === ICMPV6_UNREACH_PORT
            ? 'ECONNREFUSED'
            : m.code === ICMPV6_UNREACH_NOROUTE
              ? 'ENETUNREACH'
              : m.code === ICMPV6_UNREACH_ADMIN || m.code === ICMPV6_UNREACH_ADDR
                ? 'EHOSTUNREACH'
                : 'EHOSTUNREACH';
      }
    } else if (m.type === ICMP_DEST_UNREACH) {
      if (m.code === ICMP_UNREACH_NEEDFRAG) mtu = m.mtu;
      else
        error =
          m.code === ICMP_UNREACH_PORT || m.code === ICMP_UNREACH_PROTOCOL
            ? 'ECONNREFUSED'
            : m.code === ICMP_UNREACH_NET
              ? 'ENETUNREACH'
              : 'EHOSTUNREACH';
    }
    if (m.quotedProtocol === IPPROTO_TCP) {
      const tcb = this.tcbs.find(qsrc, m.quotedSrcPort, qdst, m.quotedDstPort);
      // RFC 5927 section 4.1: the quoted sequence number must be in flight.
      if (tcb === null || !(seqGe(m.quotedSeq, tcb.sndUna) && seqLt(m.quotedSeq, tcb.sndNxt))) {
        this.drop('icmpErrorNoMatch');
        return;
      }
      if (mtu > 0) {
        this.pmtuUpdate(tcb, mtu, now);
        return;
      }
      if (error === null) {
        this.drop('icmpUnhandled');
        return;
      }
      if (tcb.state === TcpState.SYN_SENT) tcb.terminate(error as TcpError);
      else tcb.softError = error as TcpError;
      return;
    }
    if (m.quotedProtocol === IPPROTO_UDP) {
      if (error === null) {
        this.drop('icmpUnhandled');
        return;
      }
      const f = this.flows.size > 0 ? this.flows.find(qsrc, m.quotedSrcPort, qdst, m.quotedDstPort) : null;
      const target: UdpEndpoint | UdpFlow | null = f ?? this.findEndpoint(qsrc, m.quotedSrcPort);
      if (target === null) {
        this.drop('icmpErrorNoMatch');
        return;
      }
      target.error = error as UdpError;
      this.markUdp(target);
      return;
    }
    this.drop('icmpErrorNoMatch');
  }

  private findEndpoint(local: IpAddr, port: number): UdpEndpoint | null {
    const list = this.udpEndpoints.get(port);
    if (!list) return null;
    let wildcard: UdpEndpoint | null = null;
    for (const e of list) {
      if (e.local === null) wildcard = e;
      else if (e.local.equals(local)) return e;
    }
    return wildcard;
  }

  /** Path MTU discovery (RFC 1191 / RFC 8201): shrink the MSS and resend what is in flight. */
  private pmtuUpdate(tcb: Tcb, mtu: number, now: number): void {
    const fam = tcb.family;
    const floor = fam === 4 ? IPV4_MIN_MTU : IPV6_MIN_MTU;
    if (mtu < floor) mtu = floor;
    if (mtu > this.mtu) return;
    let mss = mtu - (fam === 4 ? IPV4_HEADER_BYTES : IPV6_HEADER_BYTES) - TCP_HEADER_BYTES;
    if (tcb.tsEnabled) mss -= 12;
    if (mss >= tcb.sndMss) return;
    tcb.setSendMss(mss);
    if (tcb.sndUna !== tcb.sndNxt && tcb.recovery === Recovery.OPEN) {
      // Everything in flight was too big: retransmit it now without a congestion response.
      tcb.recovery = Recovery.LOSS;
      tcb.recoverSeq = tcb.sndNxt;
      tcb.highRxt = tcb.sndUna;
      tcb.lossEnd = tcb.sndNxt;
      tcb.timing = false;
    }
    void now;
    this.markDirty(tcb);
  }

  /** ICMP destination unreachable (port/protocol) about the current packet, rate-limited. */
  private sendUnreachable(pkt: Uint8Array, len: number, what: 'port' | 'protocol', now: number): void {
    const info = this.info;
    if (info.dstIsMulticastOrBroadcast() || !this.takeIcmpError(now, info.srcAddr())) return;
    const isV6 = info.family === 6;
    if (isV6 && what === 'protocol') {
      // RFC 8200 section 4 / RFC 4443 3.4: Parameter Problem, unrecognized Next Header, pointing at
      // the field that named it.
      const ptr = info.protocolFieldOffset;
      this.emitIcmpError(
        info.dstAddr(),
        info.srcAddr(),
        ICMPV6_PARAMETER_PROBLEM,
        ICMPV6_PARAMPROB_NEXTHEADER,
        pkt.subarray(0, len),
        (ptr >>> 16) & 0xffff,
        ptr & 0xffff,
      );
      return;
    }
    const type = isV6 ? ICMPV6_DEST_UNREACH : ICMP_DEST_UNREACH;
    const code = isV6 ? ICMPV6_UNREACH_PORT : what === 'port' ? ICMP_UNREACH_PORT : ICMP_UNREACH_PROTOCOL;
    this.emitIcmpError(info.dstAddr(), info.srcAddr(), type, code, pkt.subarray(0, len));
  }

  /** Emits an ICMP error quoting as much of `quoted` as fits (RFC 1812 / RFC 4443 2.4(c)). */
  private emitIcmpError(
    src: IpAddr,
    dst: IpAddr,
    type: number,
    code: number,
    quoted: Uint8Array,
    word1 = 0,
    word2 = 0,
  ): void {
    const isV6 = src.family === 6;
    const ipLen = isV6 ? IPV6_HEADER_BYTES : IPV4_HEADER_BYTES;
    const maxQuote = Math.min(isV6 ? IPV6_MIN_MTU : IPV4_MIN_MTU, this.mtu) - ipLen - ICMP_HEADER_BYTES;
    const q = Math.min(quoted.length, maxQuote);
    const icmpLen = ICMP_HEADER_BYTES + q;
    const out = this.out;
    writeIcmpHeader(out, ipLen, type, code, word1, word2);
    out.set(quoted.subarray(0, q), ipLen + ICMP_HEADER_BYTES);
    if (isV6) {
      writeIpv6Header(out, 0, src, dst, IPPROTO_ICMPV6, icmpLen, DEFAULT_TTL, 0);
      finishIcmpChecksum(out, ipLen, icmpLen, pseudoHeaderSum(src, dst, IPPROTO_ICMPV6, icmpLen));
    } else {
      writeIpv4Header(out, 0, src, dst, IPPROTO_ICMP, icmpLen, DEFAULT_TTL, this.ipId++, false);
      finishIcmpChecksum(out, ipLen, icmpLen, 0);
    }
    this.icmpStats.errorsOut++;
    this.send(ipLen + icmpLen);
  }

  // ------------------------------------------------------------------ poll

  /** Fires due timers, delivers events, transmits (see the contract at the top). */
  poll(now?: number): void {
    if (this.closed || this.inPoll) return;
    const t = this.tick(now);
    this.inPoll = true;
    this.woken = false;
    try {
      this.runTimers(t);
      for (let round = 0; round < MAX_POLL_ROUNDS; round++) {
        if (this.memory.freed && this.memoryWaiters.length > 0) {
          this.memory.freed = false;
          const waiters = this.memoryWaiters;
          this.memoryWaiters = [];
          for (const w of waiters) if (w.state !== TcpState.CLOSED) w.signal(EV_WRITABLE);
        }
        const busy =
          this.dirtyTcbs.length > 0 ||
          this.dirtyListeners.length > 0 ||
          this.dirtyUdp.length > 0 ||
          this.echoQueue.length > 0;
        if (!busy) break;
        this.deliverOthers();
        this.processDirty(t);
      }
    } finally {
      this.inPoll = false;
    }
    if (this.dirtyTcbs.length > 0 || this.dirtyListeners.length > 0 || this.dirtyUdp.length > 0)
      this.requestWake();
  }

  private runTimers(now: number): void {
    const heap = this.tcbTimers;
    while (heap.minKey <= now) {
      const tcb = heap.peek() as Tcb;
      const real = tcb.nextTimer();
      if (real > now) {
        if (real === Infinity) heap.remove(tcb);
        else heap.rekey(tcb, real);
        continue;
      }
      tcpTimers(tcb, now);
      if (tcb.heapIndex >= 0) {
        const next = tcb.nextTimer();
        if (next === Infinity) heap.remove(tcb);
        else heap.rekey(tcb, next);
      }
    }
    const fh = this.flowTimers;
    while (fh.minKey <= now) {
      const f = fh.peek() as UdpFlow;
      if (f.expiresAt > now && !f.closed) {
        fh.rekey(f, f.expiresAt);
        continue;
      }
      fh.remove(f);
      if (!f.closed) {
        this.udpStats.flowsExpired++;
        this.closeFlow(f);
        this.markUdp(f);
      }
    }
    if (this.reassembler !== null && this.reassembler.nextDeadline() <= now) {
      this.reassembler.expire(now);
      this.countReassemblerDrops();
    }
  }

  private processDirty(now: number): void {
    // Swap lists so handlers that mark more Tcbs dirty append to a fresh list.
    const list = this.dirtyTcbs;
    this.dirtyTcbs = this.spareDirty;
    this.spareDirty = list;
    let i = 0;
    try {
      for (; i < list.length; i++) {
        const tcb = list[i] as Tcb;
        tcb.dirty = false;
        const ev = tcb.events;
        if (ev !== 0) {
          tcb.events = 0;
          const h = tcb.handler;
          if (h !== null) h.onTcpEvents(tcb, ev);
          else if ((ev & EV_CLOSED) !== 0 && tcb.state === TcpState.CLOSED) tcb.release();
        }
        if (tcb.state !== TcpState.CLOSED) {
          tcpOutput(tcb, now);
          const next = tcb.nextTimer();
          if (next !== Infinity && next < tcb.heapKey) this.tcbTimers.schedule(tcb, next);
        }
      }
    } finally {
      // A handler threw (its exception goes on to the caller): the connections not processed yet stay
      // queued for the next poll, and the one whose handler threw still gets its output.
      if (i < list.length) {
        const failed = list[i] as Tcb;
        if (!failed.dirty) this.markDirty(failed);
        for (let k = i + 1; k < list.length; k++) this.dirtyTcbs.push(list[k] as Tcb);
      }
      list.length = 0;
    }
  }

  private deliverOthers(): void {
    while (this.dirtyListeners.length > 0) {
      const l = this.dirtyListeners.shift() as TcpListener;
      l.dirty = false;
      if (!l.closed && l.queue.length > 0) l.handler?.onListenerEvents(l);
    }
    while (this.dirtyUdp.length > 0) {
      const u = this.dirtyUdp.shift() as UdpEndpoint | UdpFlow | UdpAnyListener;
      u.dirty = false;
      if (u instanceof UdpAnyListener) {
        if (!u.closed && u.pending.length > 0) u.handler?.onNewFlows(u);
      } else {
        u.handler?.onUdpEvents(u);
      }
    }
    while (this.echoQueue.length > 0) {
      const req = this.echoQueue.shift() as IcmpEchoRequest;
      this.echoHandler?.(req);
    }
  }

  /** When poll() is next needed: -Infinity if work is pending now, Infinity if nothing is scheduled. */
  nextDeadline(): number {
    if (this.closed) return Infinity;
    if (
      this.dirtyTcbs.length > 0 ||
      this.dirtyListeners.length > 0 ||
      this.dirtyUdp.length > 0 ||
      this.echoQueue.length > 0
    ) {
      return -Infinity;
    }
    let t = this.tcbTimers.minKey;
    const f = this.flowTimers.minKey;
    if (f < t) t = f;
    if (this.reassembler !== null) {
      const r = this.reassembler.nextDeadline();
      if (r < t) t = r;
    }
    return t;
  }

  // ------------------------------------------------------------------ TCP API

  private checkOpen(): void {
    if (this.closed) throw new NetstackError('CORRIDOR_ERR_NETSTACK_CLOSED', 'the stack is closed');
  }

  private parseAddress(text: string, what: string): IpAddr {
    const a = parseIp(text);
    if (!a) {
      throw new NetstackError(
        'CORRIDOR_ERR_NETSTACK_INVALID_ADDRESS',
        `${what} is not an IP address: ${String(text)}`,
      );
    }
    return a;
  }

  private checkPort(port: number, allowZero: boolean): number {
    if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
      throw new NetstackError(
        'CORRIDOR_ERR_NETSTACK_INVALID_PORT',
        `port must be an integer in ${allowZero ? 0 : 1}..65535, got ${String(port)}`,
      );
    }
    return port;
  }

  private sourceFor(remote: IpAddr, localText?: string): IpAddr {
    if (localText !== undefined) {
      const a = this.parseAddress(localText, 'localAddress');
      if (a.family !== remote.family) {
        throw new NetstackError(
          'CORRIDOR_ERR_NETSTACK_INVALID_ADDRESS',
          'localAddress and host are of different families',
        );
      }
      return a;
    }
    for (const a of this.addresses) if (a.family === remote.family) return a;
    throw new NetstackError(
      'CORRIDOR_ERR_NETSTACK_NO_LOCAL_ADDRESS',
      `no local IPv${remote.family} address to connect to ${remote.toString()} from`,
    );
  }

  /** Random 32-bit values, drawn from `random` 1 KiB at a time. */
  private randomU32(): number {
    if (this.randIndex >= this.randPool.length) {
      this.random(new Uint8Array(this.randPool.buffer));
      this.randIndex = 0;
    }
    return this.randPool[this.randIndex++] as number;
  }

  private allocatePort(local: IpAddr, remote: IpAddr, remotePort: number): number {
    for (let i = 0; i < EPHEMERAL_COUNT; i++) {
      const port = EPHEMERAL_LOW + ((this.ephemeralNext + i) % EPHEMERAL_COUNT);
      if (this.tcbs.find(local, port, remote, remotePort) === null && !this.listeners.has(port)) {
        this.ephemeralNext = (this.ephemeralNext + i + 1 + (this.randomU32() % 8)) % EPHEMERAL_COUNT;
        return port;
      }
    }
    throw new NetstackError('CORRIDOR_ERR_NETSTACK_NO_PORTS', 'no free ephemeral port for this destination');
  }

  /** Active open (SYN-SENT). Throws NetstackError on bad arguments or limits; failures arrive as events. */
  tcpConnect(opts: {
    host: string;
    port: number;
    localAddress?: string;
    localPort?: number;
    noDelay?: boolean;
  }): Tcb {
    this.checkOpen();
    const remote = this.parseAddress(opts.host, 'host');
    if (remote.isUnspecified || remote.isMulticastOrBroadcast) {
      throw new NetstackError(
        'CORRIDOR_ERR_NETSTACK_INVALID_ADDRESS',
        `cannot connect to ${remote.toString()}`,
      );
    }
    const port = this.checkPort(opts.port, false);
    const local = this.sourceFor(remote, opts.localAddress);
    if (!this.roomForConnection()) {
      throw new NetstackError(
        'CORRIDOR_ERR_NETSTACK_CONNECTION_LIMIT',
        `the connection table is full (${this.limits.maxConnections})`,
      );
    }
    let localPort: number;
    if (opts.localPort !== undefined && opts.localPort !== 0) {
      localPort = this.checkPort(opts.localPort, false);
      if (this.tcbs.find(local, localPort, remote, port) !== null) {
        throw new NetstackError(
          'CORRIDOR_ERR_NETSTACK_ADDRESS_IN_USE',
          `${local.toString()}:${localPort} is already connected there`,
        );
      }
    } else {
      localPort = this.allocatePort(local, remote, port);
    }
    const now = this.tick(undefined);
    const tcb = new Tcb(this, local, localPort, remote, port);
    tcb.state = TcpState.SYN_SENT;
    tcb.initSend(generateIsn(this.secret, local, localPort, remote, port, now), false);
    tcb.rcvWscale = this.wscale;
    tcb.rcvMss = this.mssFor(local.family);
    tcb.tsOffset = this.randomU32();
    tcb.noDelay = opts.noDelay ?? false;
    tcb.needSyn = true;
    tcb.lastRecvAt = now;
    this.tcbs.insert(tcb);
    this.tcpCounters.activeOpens++;
    this.markDirty(tcb);
    return tcb;
  }

  /** Passive open on a port (one local address or all). */
  tcpListen(opts: { port: number; address?: string }): TcpListener {
    this.checkOpen();
    const port = this.checkPort(opts.port, false);
    const address = opts.address === undefined ? null : this.parseAddress(opts.address, 'address');
    const list = this.listeners.get(port) ?? [];
    for (const l of list) {
      if (l.address === null || address === null || l.address.equals(address)) {
        throw new NetstackError(
          'CORRIDOR_ERR_NETSTACK_ADDRESS_IN_USE',
          `port ${port} already has a listener`,
        );
      }
    }
    const l = new TcpListener(false, address, port, false);
    list.push(l);
    this.listeners.set(port, list);
    return l;
  }

  /**
   * The accept-any listener: takes connections to any address and port not claimed by a more specific
   * listener (destinations need not be local). With `deferred`, SYNs become requests that wait for
   * acceptRequest()/rejectRequest() before any SYN-ACK is sent. One per stack.
   */
  tcpListenAny(opts: { deferred?: boolean } = {}): TcpListener {
    this.checkOpen();
    if (this.anyListener !== null && !this.anyListener.closed) {
      throw new NetstackError(
        'CORRIDOR_ERR_NETSTACK_ADDRESS_IN_USE',
        'the stack already has an accept-any listener',
      );
    }
    const l = new TcpListener(true, null, 0, opts.deferred ?? false);
    this.anyListener = l;
    return l;
  }

  /** Deferred request: send the SYN-ACK (the connection completes and reports EV_CONNECTED). */
  acceptRequest(tcb: Tcb): void {
    tcb.accepted = true;
    if (!tcb.held || tcb.state !== TcpState.SYN_RECEIVED) return;
    tcb.held = false;
    tcb.lingerAt = Infinity;
    tcb.needSyn = true;
    this.markDirty(tcb);
  }

  /** Deferred request: refuse it — RST, ICMP unreachable (host or admin-prohibited), or silence. */
  rejectRequest(tcb: Tcb, how: RejectHow = 'reset'): void {
    tcb.accepted = true;
    if (tcb.state === TcpState.CLOSED) return;
    this.drops.tcpListenerRefused++;
    if (tcb.state !== TcpState.SYN_RECEIVED) {
      tcb.abort();
      return;
    }
    const now = this.lastNow;
    if (how === 'reset') {
      // RST acknowledging the SYN (what a closed port answers).
      this.emitSegment(tcb, 0, TCP_RST | TCP_ACK, 0, now);
      this.tcpCounters.resetsSent++;
    } else if (how === 'unreachable' || how === 'prohibited') {
      this.emitUnreachableFor(tcb, how, now);
    }
    tcb.held = false;
    tcb.terminate(null);
  }

  /** ICMP unreachable quoting a synthesized copy of the peer's SYN header (we did not keep the packet). */
  private emitUnreachableFor(tcb: Tcb, how: 'unreachable' | 'prohibited', now: number): void {
    if (!this.takeIcmpError(now, tcb.remote)) return;
    const isV6 = tcb.family === 6;
    const ipLen = isV6 ? IPV6_HEADER_BYTES : IPV4_HEADER_BYTES;
    const q = new Uint8Array(ipLen + TCP_HEADER_BYTES);
    if (isV6) writeIpv6Header(q, 0, tcb.remote, tcb.local, IPPROTO_TCP, TCP_HEADER_BYTES, DEFAULT_TTL, 0);
    else writeIpv4Header(q, 0, tcb.remote, tcb.local, IPPROTO_TCP, TCP_HEADER_BYTES, DEFAULT_TTL, 0, true);
    q[ipLen] = tcb.remotePort >>> 8;
    q[ipLen + 1] = tcb.remotePort & 0xff;
    q[ipLen + 2] = tcb.localPort >>> 8;
    q[ipLen + 3] = tcb.localPort & 0xff;
    const irs = tcb.irs;
    q[ipLen + 4] = irs >>> 24;
    q[ipLen + 5] = irs >>> 16;
    q[ipLen + 6] = irs >>> 8;
    q[ipLen + 7] = irs;
    q[ipLen + 12] = 0x50;
    q[ipLen + 13] = TCP_SYN;
    const type = isV6 ? ICMPV6_DEST_UNREACH : ICMP_DEST_UNREACH;
    const code = isV6
      ? how === 'prohibited'
        ? ICMPV6_UNREACH_ADMIN
        : ICMPV6_UNREACH_ADDR
      : how === 'prohibited'
        ? ICMP_UNREACH_ADMIN
        : ICMP_UNREACH_HOST;
    this.emitIcmpError(tcb.local, tcb.remote, type, code, q);
  }

  /** Stops a listener: queued (not yet accepted) connections and requests are reset. */
  closeListener(l: TcpListener): void {
    if (l.closed) return;
    l.closed = true;
    if (l.any) {
      if (this.anyListener === l) this.anyListener = null;
    } else {
      const list = this.listeners.get(l.port);
      if (list) {
        const i = list.indexOf(l);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.listeners.delete(l.port);
      }
    }
    for (const t of l.queue.splice(0)) {
      if (t.held) this.rejectRequest(t, 'reset');
      else t.abort();
    }
  }

  // ------------------------------------------------------------------ UDP API

  /** Binds a UDP port (0 = an ephemeral one) on one local address or all. */
  udpBind(opts: { port?: number; address?: string } = {}): UdpEndpoint {
    this.checkOpen();
    let port = this.checkPort(opts.port ?? 0, true);
    const address = opts.address === undefined ? null : this.parseAddress(opts.address, 'address');
    if (port === 0) {
      // RFC 6056 algorithm 1 (what RFC 5452 asks of DNS clients): a random port, then the next free
      // one. A counter would let an off-path attacker guess the port of the next query.
      const start = this.randomU32() % EPHEMERAL_COUNT;
      for (let i = 0; i < EPHEMERAL_COUNT; i++) {
        const p = EPHEMERAL_LOW + ((start + i) % EPHEMERAL_COUNT);
        if (!this.udpEndpoints.has(p)) {
          port = p;
          break;
        }
      }
      if (port === 0) throw new NetstackError('CORRIDOR_ERR_NETSTACK_NO_PORTS', 'no free UDP port');
    }
    const list = this.udpEndpoints.get(port) ?? [];
    for (const e of list) {
      if (e.local === null || address === null || e.local.equals(address)) {
        throw new NetstackError('CORRIDOR_ERR_NETSTACK_ADDRESS_IN_USE', `UDP port ${port} is already bound`);
      }
    }
    const ep = new UdpEndpoint(address, port, this.udpConfig.queueDatagrams, this.udpConfig.queueBytes);
    list.push(ep);
    this.udpEndpoints.set(port, list);
    return ep;
  }

  /** Sends a datagram from an endpoint. Returns false when it cannot be sent (too large, no source). */
  udpSend(ep: UdpEndpoint, data: Uint8Array, host: string | IpAddr, port: number): boolean {
    if (this.closed || ep.closed) return false;
    const dst = typeof host === 'string' ? this.parseAddress(host, 'address') : host;
    this.checkPort(port, false);
    let src = ep.local;
    if (src === null || src.family !== dst.family) src = this.sourceFor(dst);
    return this.emitUdp(src, ep.port, dst, port, data);
  }

  unbindUdp(ep: UdpEndpoint): void {
    if (ep.closed) return;
    ep.dispose();
    const list = this.udpEndpoints.get(ep.port);
    if (list) {
      const i = list.indexOf(ep);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.udpEndpoints.delete(ep.port);
    }
  }

  /** The accept-any UDP listener: datagrams to any address:port without an endpoint become flows. */
  udpListenAny(opts: { maxPending?: number } = {}): UdpAnyListener {
    this.checkOpen();
    if (this.udpAny !== null && !this.udpAny.closed) {
      throw new NetstackError(
        'CORRIDOR_ERR_NETSTACK_ADDRESS_IN_USE',
        'the stack already has an accept-any UDP listener',
      );
    }
    const l = new UdpAnyListener(opts.maxPending ?? 256);
    this.udpAny = l;
    return l;
  }

  closeUdpListener(l: UdpAnyListener): void {
    if (l.closed) return;
    l.closed = true;
    if (this.udpAny === l) this.udpAny = null;
    for (const f of l.pending.splice(0)) this.closeFlow(f);
  }

  /** Replies on a flow (source = the flow's original destination). */
  flowSend(f: UdpFlow, data: Uint8Array): boolean {
    if (this.closed || f.closed) return false;
    f.lastActivity = this.lastNow;
    f.bytesOut += data.length;
    return this.emitUdp(f.local, f.localPort, f.remote, f.remotePort, data);
  }

  closeFlow(f: UdpFlow): void {
    if (f.closed) return;
    f.dispose();
    this.flows.remove(f);
    this.flowTimers.remove(f);
  }

  // ------------------------------------------------------------------ ICMP API

  /**
   * Receives echo requests to addresses that are not local (userspace egress answers them after
   * pinging the real destination). Requests are delivered from poll(); reply with sendEchoReply().
   */
  setIcmpEchoHandler(handler: ((req: IcmpEchoRequest) => void) | null): void {
    this.echoHandler = handler;
  }

  /** Answers an echo request delivered to the handler (source = its original destination). */
  sendEchoReply(req: IcmpEchoRequest): boolean {
    if (this.closed) return false;
    return this.emitEchoReply(req.destination, req.source, req.id, req.sequence, req.data);
  }

  // ------------------------------------------------------------------ lifecycle and stats

  /** Aborts every connection (RST), drops all state; input/poll become no-ops. Idempotent. */
  close(): void {
    if (this.closed) return;
    for (const tcb of this.tcbs.values()) {
      if (tcb.state !== TcpState.TIME_WAIT && tcb.state !== TcpState.CLOSED) {
        if (tcb.isSynchronized) {
          this.emitSegment(tcb, tcb.sndNxt, TCP_RST | TCP_ACK, 0, this.lastNow);
          this.tcpCounters.resetsSent++;
        }
        tcb.state = TcpState.CLOSED;
      }
      tcb.error = tcb.error ?? 'ECONNABORTED';
      tcb.terminate(tcb.error);
    }
    for (const list of this.listeners.values()) for (const l of list) l.closed = true;
    this.listeners.clear();
    if (this.anyListener) this.anyListener.closed = true;
    this.anyListener = null;
    for (const list of this.udpEndpoints.values()) for (const e of list) e.dispose();
    this.udpEndpoints.clear();
    for (const f of this.flows.values()) this.closeFlow(f);
    if (this.udpAny) this.udpAny.closed = true;
    this.udpAny = null;
    this.reassembler?.clear();
    // Deliver the EV_CLOSED events, then stop.
    this.poll(this.lastNow);
    this.closed = true;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Connections in the table (all states). */
  get connectionCount(): number {
    return this.tcbs.size;
  }

  /** Every connection (a snapshot; for diagnostics and tests). */
  connections(): Tcb[] {
    return this.tcbs.values();
  }

  stats(): StackStats {
    const byState: Record<string, number> = {};
    for (const t of this.tcbs.values()) byState[t.stateName] = (byState[t.stateName] ?? 0) + 1;
    return {
      drops: { ...this.drops },
      tcp: { ...this.tcpCounters },
      ip: { ...this.ipStats },
      udp: { ...this.udpStats },
      icmp: { ...this.icmpStats },
      connections: this.tcbs.size,
      connectionsByState: byState,
      udpFlows: this.flows.size,
      bufferBytes: this.memory.used,
      bufferRefusals: this.memory.refused,
      reassemblyBytes: this.reassembler?.bytesHeld ?? 0,
    };
  }
}

function isTransport(protocol: number): boolean {
  return (
    protocol === IPPROTO_TCP ||
    protocol === IPPROTO_UDP ||
    protocol === IPPROTO_ICMP ||
    protocol === IPPROTO_ICMPV6
  );
}
