// LinuxTun: a kernel TUN queue (IFF_TUN | IFF_NO_PI) driven by the addon in native/tun_linux.c.
//
// 1. open(): /dev/net/tun + TUNSETIFF, non-blocking fd, owned by this object from then on.
// 2. onPackets(handler): the addon polls the fd on this thread's event loop and calls back once per
//    batch (up to `batchSize` packets) with views into one preallocated slab — see PacketBatch ownership
//    in tun-device.ts: the slab is reused as soon as the handler returns.
// 3. write()/writeBatch()/writeSlab(): synchronous non-blocking write(2)s; EAGAIN drops and arms a
//    'writable' event; kernel rejections are counted and emitted as 'error' (never thrown).
// 4. close(): idempotent; stops the poll, closes the handle, then the fd (no callback after that).
import { TunError, fromNativeError, errnoError, slabDetachedError } from './errors.js';
import { loadNative, STAT, STAT_COUNT, type NativeHandle, type NativeTun } from './native.js';
import { validateTunName } from './name.js';
import * as ipConfig from './ip-config.js';
import { markAsUntransferable } from 'node:worker_threads';
import {
  BaseTun,
  checkSlabLayout,
  type PacketBatch,
  type PacketHandler,
  type TunStats,
} from './tun-device.js';

export interface LinuxTunOptions {
  /** Interface name (<= 15 chars; "%d" lets the kernel number it). Omitted → kernel picks "tunN". */
  name?: string;
  /** IFF_MULTI_QUEUE: open the same name again (e.g. once per worker thread) to get one queue each. */
  multiQueue?: boolean;
  /** Max packets per handler call (1..1024, default 64). */
  batchSize?: number;
  /**
   * TCP offloads (IFF_VNET_HDR + TUNSETOFFLOAD): the kernel hands over TCP super-packets of up to
   * 64 KiB, which the addon cuts into MTU-sized segments (handlers still see ordinary packets), and
   * writeSlab() writes consecutive segments of one TCP flow as one super-packet. The kernel's TCP/IP
   * work then runs once per super-packet instead of once per segment. Default off. With `multiQueue`,
   * every queue of one interface must use the same setting.
   */
  offload?: boolean;
}

/** Offload counters of a LinuxTun opened with `offload`. */
export interface TunOffloadStats {
  /** Whether the kernel accepted TUNSETOFFLOAD (reads can be super-packets). */
  enabled: boolean;
  /** TCP super-packets read and cut into segments. */
  rxSuperPackets: number;
  /** Reads dropped because their virtio_net_hdr was unusable (should stay 0). */
  rxDropped: number;
  /** Coalesced writes, and the packets that went out inside them. */
  txSuperPackets: number;
  txCoalesced: number;
}

const EBADF = 9;
/** Rejected packets per writeSlab() call whose errno is reported individually; later ones reuse the last. */
const ERRNO_SLOTS = 64;

class SlabBatch implements PacketBatch {
  count = 0;
  constructor(
    readonly slab: Uint8Array,
    private readonly meta: Uint32Array,
  ) {}
  offset(i: number): number {
    return this.meta[2 * i] as number;
  }
  length(i: number): number {
    return this.meta[2 * i + 1] as number;
  }
  packet(i: number): Uint8Array {
    const off = this.meta[2 * i] as number;
    return this.slab.subarray(off, off + (this.meta[2 * i + 1] as number));
  }
}

export class LinuxTun extends BaseTun {
  readonly name: string;
  /** Raw fd, for diagnostics (and the naive benchmark). Owned by this object; never close it yourself. */
  readonly fd: number;
  private readonly native: NativeTun;
  private readonly handle: NativeHandle;
  // Explicit ArrayBuffers: off-heap backing stores whose addresses the addon may keep until close.
  private readonly statsArray = new Float64Array(new ArrayBuffer(8 * STAT_COUNT));
  private readonly batch: SlabBatch;
  private handler: PacketHandler | null = null;
  private isClosed = false;
  private txDropped = 0;
  /** Errnos of the packets one writeSlab() call rejected (the first ERRNO_SLOTS of them). */
  private readonly errnos = new Int32Array(ERRNO_SLOTS);
  private readonly closedPromise: Promise<void>;
  private readonly offloadOn: boolean;

  /** Creates the interface if needed and attaches one queue to it. Throws TunError. */
  static open(options: LinuxTunOptions = {}): LinuxTun {
    return new LinuxTun(options);
  }

  private constructor(options: LinuxTunOptions) {
    super();
    const name = options.name === undefined ? '' : validateTunName(options.name);
    const batchSize = options.batchSize ?? 64;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1024) {
      throw new TunError(
        'CORRIDOR_ERR_TUN_INVALID_ARG',
        `batchSize must be an integer in 1..1024, got ${batchSize}`,
      );
    }
    this.native = loadNative();
    // Room for `batchSize` typical packets plus one maximum-size packet: the addon stops a batch when
    // less than MAX_PACKET bytes remain, so no read is ever truncated. Allocated before the queue is
    // opened: a failure afterwards would leak the fd, and with it the interface.
    const slabBytes = batchSize * 2048 + this.native.MAX_PACKET + 1;
    let slab: Uint8Array;
    let meta: Uint32Array;
    try {
      slab = new Uint8Array(new ArrayBuffer(slabBytes));
      meta = new Uint32Array(new ArrayBuffer(8 * batchSize));
    } catch (err) {
      throw new TunError('CORRIDOR_ERR_TUN_ENOMEM', `cannot allocate ${slabBytes} bytes of read buffers`, {
        errno: 12,
        cause: err,
        hint: 'lower batchSize, or free memory',
      });
    }
    let fd: number;
    let actual: string;
    const offload = options.offload ?? false;
    try {
      [fd, actual, this.offloadOn] = this.native.open(name, options.multiQueue ?? false, true, offload);
    } catch (err) {
      throw fromNativeError(err, name || undefined);
    }
    this.fd = fd;
    this.name = actual;
    let resolveClosed!: () => void;
    this.closedPromise = new Promise((r) => (resolveClosed = r));
    try {
      // The addon keeps raw pointers into these three buffers until close. A handler could hand
      // `batch.slab.buffer` to postMessage/structuredClone in a transfer list, which would detach it and
      // leave the addon writing into memory another isolate owns (and may free): untransferable buffers
      // are copied instead of moved.
      for (const buffer of [slab.buffer, meta.buffer, this.statsArray.buffer]) markAsUntransferable(buffer);
      this.batch = new SlabBatch(slab, meta);
      this.handle = this.native.attach(
        fd,
        slab,
        meta,
        this.statsArray,
        batchSize,
        (count) => this.onRead(count),
        () => this.emit('writable'),
        (errno, syscall) => this.onNativeError(errno, syscall),
        () => {
          resolveClosed();
          this.emit('close');
        },
        offload,
      );
    } catch (err) {
      this.native.closeFd(fd);
      throw fromNativeError(err, actual);
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Current MTU (SIOCGIFMTU; a system call per access). 0 after close. */
  get mtu(): number {
    if (this.isClosed) return 0;
    return ipConfig.getMtu(this.name);
  }

  onPackets(handler: PacketHandler | null): void {
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

  private onNativeError(errno: number, syscall: string): void {
    const err =
      syscall === 'slab' ? slabDetachedError(this.name) : errnoError(syscall, errno, undefined, this.name);
    this.reportError(err);
    // A failed read or poll leaves the queue unusable (e.g. the interface was deleted, or a handler
    // detached the slab and the addon stopped reading): release it.
    if (syscall === 'read' || syscall === 'uv_poll' || syscall === 'slab') void this.close();
  }

  write(packet: Uint8Array): boolean {
    if (this.isClosed) {
      this.txDropped++;
      return false;
    }
    const rc = this.native.write(this.handle, packet);
    if (rc === 1) return true;
    this.txDropped++;
    if (rc < 0 && rc !== -EBADF) this.reportError(errnoError('write', -rc, undefined, this.name));
    return false;
  }

  /**
   * Stops at the first EAGAIN (the rest is dropped, 'writable' follows); a rejected packet is skipped.
   * One native call for the whole array (with `offload`, runs of one TCP flow are coalesced).
   */
  override writeBatch(packets: readonly Uint8Array[]): number {
    if (this.isClosed) {
      this.txDropped += packets.length;
      return 0;
    }
    const s = this.statsArray;
    const packetsBefore = s[STAT.txPackets] as number;
    const errorsBefore = s[STAT.txErrors] as number;
    this.native.writeVec(this.handle, packets as Uint8Array[], this.errnos);
    const written = (s[STAT.txPackets] as number) - packetsBefore;
    const rejected = (s[STAT.txErrors] as number) - errorsBefore;
    this.txDropped += packets.length - written;
    for (let k = 0; k < rejected; k++) {
      const errno = k < ERRNO_SLOTS ? (this.errnos[k] as number) : (s[STAT.txLastErrno] as number);
      this.reportError(errnoError('write', errno, undefined, this.name));
    }
    return written;
  }

  writeSlab(slab: Uint8Array, lengths: Uint32Array, count: number = lengths.length): number {
    checkSlabLayout(slab, lengths, count);
    if (this.isClosed) {
      this.txDropped += count;
      return 0;
    }
    // Counted per call: packets written and packets rejected by the kernel in this call only.
    const packetsBefore = this.statsArray[STAT.txPackets] as number;
    const errorsBefore = this.statsArray[STAT.txErrors] as number;
    this.native.writeSlab(this.handle, slab, lengths, count, this.errnos);
    const written = (this.statsArray[STAT.txPackets] as number) - packetsBefore;
    const rejected = (this.statsArray[STAT.txErrors] as number) - errorsBefore;
    this.txDropped += count - written;
    // One 'error' per rejected packet (as write() and writeBatch() do), with its own errno.
    for (let k = 0; k < rejected; k++) {
      const errno =
        k < ERRNO_SLOTS ? (this.errnos[k] as number) : (this.statsArray[STAT.txLastErrno] as number);
      this.reportError(errnoError('write', errno, undefined, this.name));
    }
    // Fewer than count written: the addon stopped at EAGAIN (rest dropped, 'writable' follows) or the
    // kernel rejected some packets (counted in txErrors, reported above).
    return written;
  }

  /** Keep (default) or stop keeping the process alive while reading. */
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

  stats(): TunStats {
    const s = this.statsArray;
    return {
      rxPackets: s[STAT.rxPackets] as number,
      rxBytes: s[STAT.rxBytes] as number,
      rxBatches: s[STAT.rxBatches] as number,
      txPackets: s[STAT.txPackets] as number,
      txBytes: s[STAT.txBytes] as number,
      txDropped: this.txDropped,
      txErrors: s[STAT.txErrors] as number,
      errors: this.errorCount,
    };
  }

  /** Offload counters (all 0 and `enabled: false` without the `offload` option). */
  offloadStats(): TunOffloadStats {
    const s = this.statsArray;
    return {
      enabled: this.offloadOn,
      rxSuperPackets: s[STAT.rxGso] as number,
      rxDropped: s[STAT.rxDropped] as number,
      txSuperPackets: s[STAT.txGso] as number,
      txCoalesced: s[STAT.txCoalesced] as number,
    };
  }

  // ---- interface configuration (see ip-config.ts; addresses/routes need iproute2) ----

  setMtu(mtu: number): void {
    this.assertOpen();
    ipConfig.setMtu(this.name, mtu);
  }

  setTxQueueLen(len: number): void {
    this.assertOpen();
    ipConfig.setTxQueueLen(this.name, len);
  }

  setUp(up = true): void {
    this.assertOpen();
    ipConfig.setUp(this.name, up);
  }

  addAddress(cidr: string): Promise<void> {
    this.assertOpen();
    return ipConfig.addAddress(this.name, cidr);
  }

  removeAddress(cidr: string): Promise<void> {
    this.assertOpen();
    return ipConfig.removeAddress(this.name, cidr);
  }

  addRoute(to: string, opts: ipConfig.RouteOptions & { family?: 4 | 6 } = {}): Promise<void> {
    this.assertOpen();
    return ipConfig.addRoute(this.name, to, opts);
  }

  removeRoute(to: string, opts: ipConfig.RouteOptions & { family?: 4 | 6 } = {}): Promise<void> {
    this.assertOpen();
    return ipConfig.removeRoute(this.name, to, opts);
  }

  configure(config: ipConfig.InterfaceConfig): Promise<void> {
    this.assertOpen();
    return ipConfig.configureInterface(this.name, config);
  }

  private assertOpen(): void {
    if (this.isClosed) {
      throw new TunError('CORRIDOR_ERR_TUN_CLOSED', `${this.name} is closed`);
    }
  }
}

/** Opens a TUN queue; see LinuxTunOptions. Throws TunError (code, errno, syscall, hint). */
export function openTun(options: LinuxTunOptions = {}): LinuxTun {
  return LinuxTun.open(options);
}
