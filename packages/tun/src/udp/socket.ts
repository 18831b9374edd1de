// UdpSocket: one non-blocking UDP socket driven by the addon in native/udp_linux.c.
//
// 1. open(): socket + bind (IPv4, IPv6 or dual-stack "::"), optional SO_REUSEPORT, large kernel buffers.
// 2. onDatagrams(handler): the addon polls the socket on this thread's event loop, reads with recvmmsg
//    into one preallocated slab (GRO-coalesced reads are split back into datagrams in C) and calls back
//    ONCE per batch with a DatagramBatch of views into that slab — valid only during the handler call.
// 3. sendSlab(slab): one native call sends a whole DatagramSlab with sendmmsg (runs to one destination
//    become UDP GSO messages when the kernel has UDP_SEGMENT); EAGAIN drops the rest (counted) and a
//    'writable' event follows; other errno values drop that datagram, are counted and reported.
// 4. close(): idempotent; stops the poll, closes the handle, then the fd.
// Errors are never thrown on the packet path: they are counted and emitted as 'error' (UdpError) when
// someone listens, otherwise only counted (stats().errors, lastError). A handler that detaches the
// receive slab (or meta) makes the addon stop before its next read: 'error' with
// CORRIDOR_ERR_UDP_SLAB_DETACHED, then the socket closes itself.
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { markAsUntransferable } from 'node:worker_threads';
import { isIP } from 'node:net';
import { META_WORDS, UdpEndpoint } from './endpoint.js';
import { UdpError, udpErrnoError, udpSlabDetachedError } from './errors.js';

type NativeHandle = { readonly __brand: 'CorridorUdpHandle' };

interface NativeUdp {
  socket(
    family: 4 | 6,
    address: string,
    port: number,
    reusePort: boolean,
    v6Only: boolean,
    rcvBuf: number,
    sndBuf: number,
  ): [fd: number, port: number, address: string];
  closeFd(fd: number): void;
  attach(
    fd: number,
    family: 4 | 6,
    slab: Uint8Array,
    slot: number,
    batch: number,
    meta: Uint32Array,
    stats: Float64Array,
    gro: boolean,
    onRead: (count: number) => void,
    onWritable: () => void,
    onError: (errno: number, syscall: string) => void,
    onClose: () => void,
  ): [NativeHandle, boolean, boolean];
  readStart(h: NativeHandle): void;
  readStop(h: NativeHandle): void;
  ref(h: NativeHandle, on: boolean): void;
  setGso(h: NativeHandle, on: boolean): boolean;
  sendSlab(h: NativeHandle, slab: Uint8Array, meta: Uint32Array, count: number): number;
  close(h: NativeHandle): void;
}

/** Mirror of the stats enum in native/udp_linux.c. */
const S = {
  rxPackets: 0,
  rxBytes: 1,
  rxBatches: 2,
  rxTruncated: 3,
  rxGroSegments: 4,
  rxErrors: 5,
  txPackets: 6,
  txBytes: 7,
  txSyscalls: 8,
  txGsoMessages: 9,
  txEagain: 10,
  txErrors: 11,
  txLastErrno: 12,
  rxOverflow: 13,
} as const;
const STAT_COUNT = 14;

let cached: NativeUdp | undefined;

function loadNative(): NativeUdp {
  if (cached) return cached;
  const path = fileURLToPath(new URL('../../build/Release/corridor_udp.node', import.meta.url));
  if (process.platform !== 'linux') {
    throw new UdpError('CORRIDOR_ERR_UDP_UNSUPPORTED', 'the batched UDP socket is Linux only', {
      hint: 'use MemoryBind from @corridor/tun/bind in tests on other platforms',
    });
  }
  if (!existsSync(path)) {
    throw new UdpError('CORRIDOR_ERR_UDP_NOT_BUILT', `the @corridor/tun UDP addon is not built (${path})`, {
      hint: 'run `pnpm install` at the repository root or `pnpm --filter @corridor/tun run build:native`',
    });
  }
  cached = createRequire(import.meta.url)(path) as NativeUdp;
  return cached;
}

/** True when the UDP addon can be loaded. */
export function isUdpAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}

export interface UdpSocketOptions {
  /** Local address to bind: an IPv4 or IPv6 literal. Default "0.0.0.0"; "::" is dual-stack unless v6Only. */
  address?: string;
  /** Local port; 0 (default) lets the kernel pick. */
  port?: number;
  /** IPv6 sockets only: refuse IPv4 (v4-mapped) traffic. Default false. */
  v6Only?: boolean;
  /** SO_REUSEPORT, so several sockets (e.g. one per worker) share the port. Default false. */
  reusePort?: boolean;
  /** Datagrams per recvmmsg call (1..1024, default 64). */
  batchSize?: number;
  /**
   * Receive slot size in bytes (default 2048, enough for a 1420-byte-MTU tunnel). Longer datagrams are
   * dropped and counted as rxTruncated. With `gro` the slot is 65536 so a coalesced read fits.
   */
  maxDatagramBytes?: number;
  /** Ask the kernel for UDP GRO (coalesced reads). Default true; `groEnabled` says whether it took. */
  gro?: boolean;
  /** Use UDP GSO for runs to one destination when the kernel has it. Default true. */
  gso?: boolean;
  /** SO_RCVBUF / SO_SNDBUF in bytes (default 4 MiB each; 0 keeps the system default). */
  receiveBufferBytes?: number;
  sendBufferBytes?: number;
}

/**
 * Datagrams of one receive wake-up. Every view (`slab`, `datagram(i)`) is valid ONLY during the
 * synchronous handler call: the addon reads the next batch into the same memory right after it returns.
 */
export class DatagramBatch {
  count = 0;
  constructor(
    readonly slab: Buffer,
    /** META_WORDS u32 per datagram: offset, length, source port, family, 4 address words, scope id. */
    readonly meta: Uint32Array,
  ) {}
  offset(i: number): number {
    return this.meta[i * META_WORDS] as number;
  }
  length(i: number): number {
    return this.meta[i * META_WORDS + 1] as number;
  }
  /** View of datagram i (no copy). */
  datagram(i: number): Buffer {
    const b = i * META_WORDS;
    const off = this.meta[b] as number;
    return this.slab.subarray(off, off + (this.meta[b + 1] as number));
  }
  /** Source of datagram i as a new, immutable endpoint (allocates; compare with `isFrom` on hot paths). */
  source(i: number): UdpEndpoint {
    return UdpEndpoint.fromMeta(this.meta, i);
  }
  /** Whether datagram i came from `endpoint` (no allocation). */
  isFrom(i: number, endpoint: UdpEndpoint): boolean {
    return endpoint.matchesMeta(this.meta, i);
  }
}

export type DatagramHandler = (batch: DatagramBatch) => void;

/**
 * Outgoing datagrams laid out in one slab: slot i is `slab[i*stride .. (i+1)*stride)`, the datagram
 * starting `headroom` bytes into it (room a framing layer may use, e.g. a TCP length prefix). Fill
 * `slot(i)` (a view created once, no allocation per packet), then `push(length, destination)`. The
 * caller owns the slab; a send copies into the kernel before returning, so it may be reused at once.
 */
export class DatagramSlab {
  readonly slab: Buffer;
  readonly meta: Uint32Array;
  readonly stride: number;
  readonly capacity: number;
  readonly headroom: number;
  /** Datagrams pushed since the last clear(). */
  count = 0;
  private readonly slots: Buffer[];

  constructor(options: { capacity?: number; slotBytes?: number; headroom?: number } = {}) {
    this.capacity = options.capacity ?? 64;
    this.headroom = options.headroom ?? 0;
    this.stride = ((options.slotBytes ?? 2048) + this.headroom + 15) & ~15;
    if (!Number.isInteger(this.capacity) || this.capacity < 1 || this.capacity > 65536) {
      throw new UdpError('CORRIDOR_ERR_UDP_INVALID_ARG', 'DatagramSlab capacity must be in 1..65536');
    }
    this.slab = Buffer.alloc(this.stride * this.capacity);
    this.meta = new Uint32Array(this.capacity * META_WORDS);
    this.slots = [];
    for (let i = 0; i < this.capacity; i++) {
      this.slots.push(this.slab.subarray(i * this.stride + this.headroom, (i + 1) * this.stride));
    }
  }

  /** Payload area of slot i (from the headroom to the end of the slot). */
  slot(i: number): Buffer {
    return this.slots[i] as Buffer;
  }

  /** The next free slot's payload area, or undefined when full. */
  next(): Buffer | undefined {
    return this.slots[this.count];
  }

  get full(): boolean {
    return this.count >= this.capacity;
  }

  /** Records the datagram written at the start of slot `count`'s payload area. False when full. */
  push(length: number, destination: UdpEndpoint): boolean {
    const i = this.count;
    if (i >= this.capacity) return false;
    const b = i * META_WORDS;
    this.meta[b] = i * this.stride + this.headroom;
    this.meta[b + 1] = length;
    destination.writeMeta(this.meta, i);
    this.count = i + 1;
    return true;
  }

  /** Copies `data` into the next slot and pushes it. False when full or too long. */
  pushCopy(data: Uint8Array, destination: UdpEndpoint): boolean {
    const slot = this.next();
    if (slot === undefined || data.length > slot.length) return false;
    slot.set(data);
    return this.push(data.length, destination);
  }

  /** Length of datagram i. */
  length(i: number): number {
    return this.meta[i * META_WORDS + 1] as number;
  }

  /** Byte offset of datagram i in the slab. */
  offset(i: number): number {
    return this.meta[i * META_WORDS] as number;
  }

  clear(): void {
    this.count = 0;
  }
}

export interface UdpStats {
  rxPackets: number;
  rxBytes: number;
  /** recvmmsg calls that returned datagrams. */
  rxBatches: number;
  /** Datagrams longer than the receive slot (dropped). */
  rxTruncated: number;
  /** Datagrams that arrived coalesced by GRO (and were split again). */
  rxGroSegments: number;
  rxErrors: number;
  txPackets: number;
  txBytes: number;
  /** sendmmsg/sendmsg calls. */
  txSyscalls: number;
  /** Messages sent as one GSO super-datagram. */
  txGsoMessages: number;
  /** Datagrams dropped: socket full (EAGAIN), closed, or refused (txErrors). */
  txDropped: number;
  txErrors: number;
  errors: number;
}

export interface UdpSocketEvents {
  writable: [];
  error: [UdpError];
  close: [];
}

export class UdpSocket extends EventEmitter<UdpSocketEvents> {
  readonly family: 4 | 6;
  readonly localAddress: string;
  readonly localPort: number;
  /** Whether the kernel coalesces reads (UDP_GRO) for this socket. */
  readonly groEnabled: boolean;
  private gso: boolean;
  private readonly native: NativeUdp;
  private readonly handle: NativeHandle;
  private readonly statsArray = new Float64Array(new ArrayBuffer(8 * STAT_COUNT));
  private readonly batch: DatagramBatch;
  private handler: DatagramHandler | null = null;
  private isClosed = false;
  private txDropped = 0;
  private lastTxErrors = 0;
  private errorCount = 0;
  lastError: UdpError | undefined;
  private readonly closedPromise: Promise<void>;
  private readonly single = new DatagramSlab({ capacity: 1, slotBytes: 65536 });

  static open(options: UdpSocketOptions = {}): UdpSocket {
    return new UdpSocket(options);
  }

  private constructor(options: UdpSocketOptions) {
    super();
    const address = options.address ?? '0.0.0.0';
    const v = isIP(address);
    if (v === 0)
      throw new UdpError('CORRIDOR_ERR_UDP_INVALID_ARG', `not an IP address: ${JSON.stringify(address)}`);
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new UdpError('CORRIDOR_ERR_UDP_INVALID_ARG', `port must be an integer in 0..65535, got ${port}`);
    }
    const batchSize = options.batchSize ?? 64;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1024) {
      throw new UdpError(
        'CORRIDOR_ERR_UDP_INVALID_ARG',
        `batchSize must be an integer in 1..1024, got ${batchSize}`,
      );
    }
    const wantGro = options.gro ?? true;
    const slot = wantGro ? 65536 : Math.max(64, Math.min(65536, options.maxDatagramBytes ?? 2048));
    // With GRO a slot may hold up to 64 coalesced datagrams; keep the slab bounded (<= 2 MiB).
    const recvBatch = wantGro ? Math.min(batchSize, 32) : batchSize;
    const metaEntries = wantGro ? recvBatch * 64 : recvBatch;
    this.family = v === 4 ? 4 : 6;
    this.native = loadNative();
    const where = `${this.family === 4 ? address : `[${address}]`}:${port}`;
    // The receive buffers come first: a failure after the socket exists would have to undo it, and a
    // leaked fd would keep the port bound.
    let slab: Buffer;
    let meta: Uint32Array;
    try {
      slab = Buffer.from(new ArrayBuffer(slot * recvBatch));
      meta = new Uint32Array(new ArrayBuffer(metaEntries * META_WORDS * 4));
    } catch (err) {
      throw new UdpError(
        'CORRIDOR_ERR_UDP_ENOMEM',
        `cannot allocate ${slot * recvBatch} bytes of receive buffers for ${where}`,
        {
          errno: 12,
          cause: err,
          hint: 'lower batchSize or maxDatagramBytes (or turn gro off: its slots are 64 KiB), or free memory',
        },
      );
    }
    let fd: number;
    let boundPort: number;
    let boundAddress: string;
    try {
      [fd, boundPort, boundAddress] = this.native.socket(
        this.family,
        address,
        port,
        options.reusePort ?? false,
        options.v6Only ?? false,
        options.receiveBufferBytes ?? 4 << 20,
        options.sendBufferBytes ?? 4 << 20,
      );
    } catch (err) {
      throw fromNative(err, where);
    }
    this.localPort = boundPort;
    this.localAddress = boundAddress;
    let resolveClosed!: () => void;
    this.closedPromise = new Promise((r) => (resolveClosed = r));
    try {
      for (const b of [slab.buffer, meta.buffer, this.statsArray.buffer]) markAsUntransferable(b);
      this.batch = new DatagramBatch(slab, meta);
      const [h, gro, gso] = this.native.attach(
        fd,
        this.family,
        slab,
        slot,
        recvBatch,
        meta,
        this.statsArray,
        wantGro,
        (count) => this.onRead(count),
        () => this.emit('writable'),
        (errno, syscall) => this.onNativeError(errno, syscall),
        () => {
          resolveClosed();
          this.emit('close');
        },
      );
      this.handle = h;
      this.groEnabled = gro;
      this.gso = gso;
    } catch (err) {
      this.native.closeFd(fd);
      throw fromNative(err, where);
    }
    if (options.gso === false) this.gso = this.native.setGso(this.handle, false);
  }

  private onNativeError(errno: number, syscall: string): void {
    if (syscall === 'slab') {
      // A handler detached a buffer the addon shares; it stopped receiving for good: release the socket.
      this.report(udpSlabDetachedError(this.describe()));
      void this.close();
      return;
    }
    this.report(udpErrnoError(syscall, errno, this.describe()));
  }

  private describe(): string {
    return this.family === 4
      ? `${this.localAddress}:${this.localPort}`
      : `[${this.localAddress}]:${this.localPort}`;
  }

  /** Whether runs of datagrams to one destination go out as UDP GSO messages. */
  get gsoEnabled(): boolean {
    return this.gso;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Sets the batch consumer and starts reading (null pauses; the kernel buffers, then drops). */
  onDatagrams(handler: DatagramHandler | null): void {
    if (this.isClosed) return;
    this.handler = handler;
    if (handler) this.native.readStart(this.handle);
    else this.native.readStop(this.handle);
  }

  private onRead(count: number): void {
    const h = this.handler;
    if (!h) return;
    this.batch.count = count;
    h(this.batch);
  }

  /**
   * Sends datagrams [0, count) of `slab` (default: all pushed). Returns how many were sent; the rest were
   * dropped (socket full → 'writable' follows; or refused → counted in txErrors and reported). Throws
   * UdpError('CORRIDOR_ERR_UDP_INVALID_ARG') only for a layout outside the slab (a caller bug).
   */
  sendSlab(slab: DatagramSlab, count: number = slab.count): number {
    if (!Number.isInteger(count) || count < 0 || count > slab.capacity) {
      throw new UdpError('CORRIDOR_ERR_UDP_INVALID_ARG', `sendSlab: count must be in 0..${slab.capacity}`);
    }
    if (this.isClosed) {
      this.txDropped += count;
      return 0;
    }
    const s = this.statsArray;
    const before = s[S.txPackets] as number;
    let consumed: number;
    try {
      consumed = this.native.sendSlab(this.handle, slab.slab, slab.meta, count);
    } catch (err) {
      throw fromNative(err, this.describe());
    }
    const sent = (s[S.txPackets] as number) - before;
    this.txDropped += count - sent;
    void consumed;
    // One 'error' per datagram the kernel (or the family check) refused in this call, as LinuxTun
    // does; the addon keeps only the last errno, which a batch of refusals nearly always shares.
    const txErrors = s[S.txErrors] as number;
    const refused = txErrors - this.lastTxErrors;
    this.lastTxErrors = txErrors;
    for (let k = 0; k < refused; k++) {
      this.report(udpErrnoError('sendmmsg', s[S.txLastErrno] as number, this.describe()));
    }
    return sent;
  }

  /** Sends one datagram (copied into an internal slab). Prefer sendSlab for more than one. */
  send(data: Uint8Array, destination: UdpEndpoint): boolean {
    const one = this.single;
    one.clear();
    if (!one.pushCopy(data, destination)) {
      this.txDropped++;
      return false;
    }
    return this.sendSlab(one) === 1;
  }

  ref(on = true): this {
    if (!this.isClosed) this.native.ref(this.handle, on);
    return this;
  }

  unref(): this {
    return this.ref(false);
  }

  close(): Promise<void> {
    if (!this.isClosed) {
      this.isClosed = true;
      this.handler = null;
      this.native.close(this.handle);
    }
    return this.closedPromise;
  }

  stats(): UdpStats {
    const s = this.statsArray;
    return {
      rxPackets: s[S.rxPackets] as number,
      rxBytes: s[S.rxBytes] as number,
      rxBatches: s[S.rxBatches] as number,
      rxTruncated: (s[S.rxTruncated] as number) + (s[S.rxOverflow] as number),
      rxGroSegments: s[S.rxGroSegments] as number,
      rxErrors: s[S.rxErrors] as number,
      txPackets: s[S.txPackets] as number,
      txBytes: s[S.txBytes] as number,
      txSyscalls: s[S.txSyscalls] as number,
      txGsoMessages: s[S.txGsoMessages] as number,
      txDropped: this.txDropped,
      txErrors: s[S.txErrors] as number,
      errors: this.errorCount,
    };
  }

  private report(err: UdpError): void {
    this.errorCount++;
    this.lastError = err;
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

function fromNative(err: unknown, where: string): UdpError {
  const e = err as { errno?: unknown; code?: unknown; syscall?: unknown; message?: unknown };
  if (typeof e?.errno === 'number' && typeof e.syscall === 'string') {
    return udpErrnoError(e.syscall, e.errno, where, typeof e.code === 'string' ? e.code : undefined);
  }
  if (e?.code === 'CORRIDOR_ERR_UDP_INVALID_ARG') {
    return new UdpError('CORRIDOR_ERR_UDP_INVALID_ARG', String(e.message), { cause: err });
  }
  return new UdpError('CORRIDOR_ERR_UDP_UNKNOWN', String(e?.message ?? err), { cause: err });
}

/** Opens a batched UDP socket; see UdpSocketOptions. Throws UdpError (code, errno, syscall, hint). */
export function openUdpSocket(options: UdpSocketOptions = {}): UdpSocket {
  return UdpSocket.open(options);
}
