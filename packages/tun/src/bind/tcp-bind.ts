// TCP binds: the protocol's fallback transport. Each message travels as one frame, `u16 big-endian
// length || message` (FrameDecoder / FRAME_HEADER_BYTES from @corridor/protocol), frames back to back.
//
//   TcpServerBind — listens; every accepted connection is one TcpEndpoint (a peer). A connection that
//     sends a bad frame (empty, oversize) is destroyed and counted; 'endpointClosed' tells the owner to
//     forget the endpoint. Connections beyond `maxConnections`, or beyond `maxConnectionsPerAddress`
//     from one source (IPv4 address, IPv6 /64), are refused at accept. Accepting costs nothing an
//     unauthenticated peer could hold on to for long: a connection must deliver its first whole frame
//     within `handshakeTimeoutMs` and then one at least every `idleTimeoutMs` (a client's persistent
//     keepalives do), otherwise one sweep timer closes it — bytes that never complete a frame
//     (slowloris) or a peer that vanished without a FIN (half-open) do not count as activity.
//   TcpClientBind — one connection to a node; `remote` is its only endpoint.
//
// The same framing runs over TLS (the `tls` transport): `TcpServerBind.standalone()` makes a server
// bind without a listener whose `accept(socket)` adopts sockets someone else accepted (the node's
// TLS front, after it decided the connection opens a tunnel), and `TcpClientBind.fromSocket()` wraps
// an already connected (TLS) socket. `label` names the transport in endpoints and status.
//
// Padding (`padding: 'buckets'`, see @corridor/protocol framing/padding.ts): every framed message is
// followed by a padding frame that rounds the pair up to a size bucket. Received padding frames are
// dropped here, whatever this bind's own setting, and never reach the handler.
//
// Ownership: received frames are views into Node's chunk (or a reassembly buffer) valid only during the
// handler call, as for every Bind. Sends copy the framed messages into one Buffer per peer per send()
// call before writing, so the caller's slab is free again when send() returns. A peer whose socket has
// more than `maxBufferedBytes` queued gets its messages dropped (counted) instead of growing memory.
//
// Sends check the slab first: an entry outside the slab is a caller bug and throws
// (CORRIDOR_ERR_BIND_INVALID_ARG) before anything is written, as UdpBind does. A message no receiver
// accepts (shorter than MIN_WIRE_MESSAGE_BYTES, longer than MAX_FRAME_PAYLOAD_BYTES) is dropped, counted
// and reported (CORRIDOR_ERR_BIND_MESSAGE_SIZE) instead of framed: the peer's FrameDecoder would refuse
// it and the connection with it.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  MAX_FRAME_PAYLOAD_BYTES,
  MIN_WIRE_MESSAGE_BYTES,
  isPaddingMessage,
  paddingMessageBytes,
  rateLimitKey,
  writePaddingMessage,
  type PaddingMode,
} from '@corridor/protocol';
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

let nextConnectionId = 1;

/** Whether a protocol peer's FrameDecoder accepts a message of `length` bytes as one frame. */
function frameable(length: number): boolean {
  return length >= MIN_WIRE_MESSAGE_BYTES && length <= MAX_FRAME_PAYLOAD_BYTES;
}

function invalidSlab(message: string): RangeError {
  return Object.assign(new RangeError(message), { code: 'CORRIDOR_ERR_BIND_INVALID_ARG' });
}

function messageSizeError(length: number): Error {
  return Object.assign(
    new Error(
      `not sent: a ${length}-byte message is outside ${MIN_WIRE_MESSAGE_BYTES}..${MAX_FRAME_PAYLOAD_BYTES} ` +
        'bytes, which the peer would refuse together with the connection',
    ),
    { code: 'CORRIDOR_ERR_BIND_MESSAGE_SIZE' },
  );
}

/** One TCP connection, i.e. one peer. */
export class TcpEndpoint implements BindEndpoint {
  readonly id = nextConnectionId++;
  readonly address: string;
  readonly port: number;
  readonly key: string;
  readonly decoder = new FrameDecoder();
  /** Monotonic ms (performance.now) of the accept / connect. */
  readonly connectedAt = performance.now();
  /** Monotonic ms of the last whole frame received, or -1 before the first. */
  lastFrameAt = -1;
  constructor(
    readonly socket: net.Socket,
    readonly transport: 'tcp' | 'tls' | 'wss' = 'tcp',
  ) {
    this.address = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    this.port = socket.remotePort ?? 0;
    this.key = `${transport}#${this.id} ${this.address.includes(':') ? `[${this.address}]` : this.address}:${this.port}`;
  }
  toString(): string {
    return this.key;
  }
}

class TcpReceived implements ReceivedBatch {
  frames: Buffer[] = [];
  from!: TcpEndpoint;
  get count(): number {
    return this.frames.length;
  }
  datagram(i: number): Buffer {
    return this.frames[i] as Buffer;
  }
  endpoint(_i: number): TcpEndpoint {
    return this.from;
  }
  isFrom(_i: number, endpoint: BindEndpoint): boolean {
    return endpoint === this.from;
  }
}

export interface TcpBindOptions {
  /** Per-peer cap on bytes queued in the socket before messages are dropped. Default 4 MiB. */
  maxBufferedBytes?: number;
  /** Pad what this bind sends to size buckets (default 'off'). Received padding is always dropped. */
  padding?: PaddingMode;
  /** Transport name for endpoints and status: 'tcp' (default), 'tls' or 'wss' (the same framing over TLS / WebSocket). */
  label?: 'tcp' | 'tls' | 'wss';
}

abstract class TcpBindBase extends EventEmitter<BindEvents> implements Bind {
  readonly transport: 'tcp' | 'tls' | 'wss';
  protected readonly padding: boolean;
  /** Padding frames received and dropped. */
  paddingReceived = 0;
  protected handler: ReceiveHandler | null = null;
  protected readonly counters = newBindStats();
  protected isClosed = false;
  private readonly received = new TcpReceived();
  protected readonly maxBuffered: number;

  constructor(options: TcpBindOptions) {
    super();
    this.maxBuffered = options.maxBufferedBytes ?? 4 << 20;
    this.padding = options.padding === 'buckets';
    this.transport = options.label ?? 'tcp';
  }

  abstract readonly localAddress: string;
  abstract readonly localPort: number;
  abstract close(): Promise<void>;

  get closed(): boolean {
    return this.isClosed;
  }

  onReceive(handler: ReceiveHandler | null): void {
    this.handler = handler;
  }

  protected report(err: Error): void {
    this.counters.errors++;
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** Wires a connected socket: frames in, close/error out. */
  protected adopt(ep: TcpEndpoint): void {
    const s = ep.socket;
    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => {
      if (this.isClosed) return;
      const r = ep.decoder.push(chunk);
      if (!r.ok) {
        this.counters.rxErrors++;
        s.destroy();
        return;
      }
      if (r.value.length === 0) return;
      ep.lastFrameAt = performance.now();
      const frames = r.value;
      // Padding frames are dropped here (compacting the decoder's fresh array in place).
      let kept = 0;
      for (let k = 0; k < frames.length; k++) {
        const f = frames[k]!;
        if (isPaddingMessage(f)) this.paddingReceived++;
        else frames[kept++] = f;
      }
      frames.length = kept;
      if (kept === 0 || this.handler === null) return;
      const rec = this.received;
      rec.frames = frames;
      rec.from = ep;
      this.counters.rxPackets += r.value.length;
      this.counters.rxBatches++;
      for (const f of r.value) this.counters.rxBytes += f.length;
      this.handler(rec);
    });
    s.on('error', (err) => this.report(err));
    s.on('close', () => {
      this.forget(ep);
      this.emit('endpointClosed', ep);
    });
  }

  protected abstract forget(ep: TcpEndpoint): void;

  createSendSlab(capacity = 64): SendSlab {
    return new SendSlab({ capacity });
  }

  send(slab: SendSlab, count: number = slab.count): number {
    if (!Number.isInteger(count) || count < 0 || count > slab.capacity) {
      throw invalidSlab(`send: count must be an integer in 0..${slab.capacity}`);
    }
    // The whole layout first: nothing is written when any entry lies outside the slab (Buffer#copy
    // would clamp it and leave uninitialised bytes of the frame buffer on the wire).
    const slabBytes = slab.slab.length;
    for (let k = 0; k < count; k++) {
      const start = slab.offset(k);
      const len = slab.length(k);
      if (start + len > slabBytes) {
        throw invalidSlab(`send: message ${k} (${len} bytes at ${start}) lies outside the slab`);
      }
    }
    let sent = 0;
    let i = 0;
    while (i < count) {
      const ep = slab.endpoint(i);
      // A run of messages to the same connection becomes one write.
      let j = i;
      let bytes = 0;
      let unframeable = 0;
      for (; j < count && slab.endpoint(j) === ep; j++) {
        const len = slab.length(j);
        if (frameable(len)) {
          bytes += len + FRAME_HEADER_BYTES;
          if (this.padding) {
            const pad = paddingMessageBytes(len + FRAME_HEADER_BYTES, FRAME_HEADER_BYTES);
            if (pad > 0) bytes += pad + FRAME_HEADER_BYTES;
          }
        } else {
          unframeable++;
          this.counters.txDropped++;
          this.report(messageSizeError(len));
        }
      }
      const framed = j - i - unframeable;
      if (framed === 0) {
        i = j;
        continue;
      }
      if (
        this.isClosed ||
        !(ep instanceof TcpEndpoint) ||
        ep.socket.destroyed ||
        !ep.socket.writable ||
        ep.socket.writableLength + bytes > this.maxBuffered
      ) {
        this.counters.txDropped += framed;
        i = j;
        continue;
      }
      const out = Buffer.allocUnsafe(bytes);
      let off = 0;
      for (let k = i; k < j; k++) {
        const len = slab.length(k);
        if (!frameable(len)) continue;
        const start = slab.offset(k);
        out[off] = len >>> 8;
        out[off + 1] = len & 0xff;
        slab.slab.copy(out, off + FRAME_HEADER_BYTES, start, start + len);
        off += len + FRAME_HEADER_BYTES;
        this.counters.txBytes += len;
        if (this.padding) {
          const pad = paddingMessageBytes(len + FRAME_HEADER_BYTES, FRAME_HEADER_BYTES);
          if (pad > 0) {
            out[off] = pad >>> 8;
            out[off + 1] = pad & 0xff;
            writePaddingMessage(out, off + FRAME_HEADER_BYTES, pad);
            off += pad + FRAME_HEADER_BYTES;
          }
        }
      }
      ep.socket.write(out);
      this.counters.txPackets += framed;
      sent += framed;
      i = j;
    }
    return sent;
  }

  sendTo(data: Uint8Array, endpoint: BindEndpoint): boolean {
    if (!frameable(data.length)) {
      this.counters.txDropped++;
      this.report(messageSizeError(data.length));
      return false;
    }
    const one = new SendSlab({ capacity: 1, slotBytes: data.length });
    one.pushCopyTo(data, endpoint);
    return this.send(one) === 1;
  }

  closeEndpoint(endpoint: BindEndpoint): void {
    if (endpoint instanceof TcpEndpoint) endpoint.socket.destroy();
  }

  stats(): BindStats {
    return { ...this.counters };
  }
}

export interface TcpServerOptions extends TcpBindOptions {
  host?: string;
  port?: number;
  /** Connections accepted at once (default 10,000); more are refused at accept. */
  maxConnections?: number;
  /**
   * Connections one source holds at once (default 32): an IPv4 address, or an IPv6 /64 (one host
   * usually owns a whole /64). More from that source are refused at accept.
   */
  maxConnectionsPerAddress?: number;
  /** A connection must deliver its first whole frame within this long (default 10 s) or is closed. */
  handshakeTimeoutMs?: number;
  /**
   * A connection that delivered no whole frame for this long is closed (default 5 min: far above the
   * persistent keepalive a node assigns, above the agent's own session idle timeout). 0 = never.
   */
  idleTimeoutMs?: number;
  /** SO_REUSEPORT-like sharing is not offered; one listener per port. */
}

export const DEFAULT_TCP_MAX_CONNECTIONS_PER_ADDRESS = 32;
export const DEFAULT_TCP_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_TCP_IDLE_TIMEOUT_MS = 300_000;

function positive(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a number >= 0, got ${value}`);
  return v;
}

export class TcpServerBind extends TcpBindBase {
  private readonly connections = new Set<TcpEndpoint>();
  /** Open connections per source (rateLimitKey of the remote address). */
  private readonly perSource = new Map<string, number>();
  /** The source key each connection counts against. */
  private readonly sources = new Map<TcpEndpoint, string>();
  private readonly handshakeTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly sweeper: ReturnType<typeof setInterval>;
  private closing: Promise<void> | undefined;
  /** Connections closed by the handshake or idle timeout. */
  timedOut = 0;

  private readonly maxConnections: number;
  private readonly maxPerSource: number;

  private constructor(
    private readonly server: net.Server | null,
    options: TcpServerOptions,
  ) {
    super(options);
    this.maxConnections = options.maxConnections ?? 10_000;
    this.maxPerSource = options.maxConnectionsPerAddress ?? DEFAULT_TCP_MAX_CONNECTIONS_PER_ADDRESS;
    this.handshakeTimeoutMs = positive(
      options.handshakeTimeoutMs,
      DEFAULT_TCP_HANDSHAKE_TIMEOUT_MS,
      'handshakeTimeoutMs',
    );
    this.idleTimeoutMs = positive(options.idleTimeoutMs, DEFAULT_TCP_IDLE_TIMEOUT_MS, 'idleTimeoutMs');
    server?.on('connection', (socket) => this.accept(socket));
    server?.on('error', (err) => this.report(err));
    // One timer for all connections; a quarter of the shortest timeout bounds how late a close comes.
    const shortest = Math.min(this.handshakeTimeoutMs || Infinity, this.idleTimeoutMs || Infinity);
    const period = Number.isFinite(shortest) ? Math.max(25, Math.min(shortest / 4, 5_000)) : 5_000;
    this.sweeper = setInterval(() => this.sweep(performance.now()), period);
    this.sweeper.unref();
  }

  /**
   * Adopts a connected socket as a new peer (the listener calls this for every accepted connection;
   * a standalone bind's owner calls it for sockets it accepted itself, e.g. after a TLS handshake).
   * Returns false (and destroys the socket) when the connection limits refuse it.
   */
  accept(socket: net.Socket): boolean {
    const source = rateLimitKey((socket.remoteAddress ?? '').replace(/^::ffff:/, ''));
    const fromSource = this.perSource.get(source) ?? 0;
    if (this.isClosed || this.connections.size >= this.maxConnections || fromSource >= this.maxPerSource) {
      this.counters.rxErrors++;
      socket.destroy();
      return false;
    }
    const ep = new TcpEndpoint(socket, this.transport);
    this.perSource.set(source, fromSource + 1);
    this.sources.set(ep, source);
    this.connections.add(ep);
    this.adopt(ep);
    return true;
  }

  /**
   * A server bind without a listener: peers come only through `accept(socket)`. Its localAddress /
   * localPort are empty; the owner reports its own listener.
   */
  static standalone(options: TcpServerOptions = {}): TcpServerBind {
    positive(options.handshakeTimeoutMs, DEFAULT_TCP_HANDSHAKE_TIMEOUT_MS, 'handshakeTimeoutMs');
    positive(options.idleTimeoutMs, DEFAULT_TCP_IDLE_TIMEOUT_MS, 'idleTimeoutMs');
    return new TcpServerBind(null, options);
  }

  /** Closes connections past their handshake or idle deadline. */
  private sweep(now: number): void {
    for (const ep of this.connections) {
      const expired =
        ep.lastFrameAt < 0
          ? this.handshakeTimeoutMs > 0 && now - ep.connectedAt >= this.handshakeTimeoutMs
          : this.idleTimeoutMs > 0 && now - ep.lastFrameAt >= this.idleTimeoutMs;
      if (!expired) continue;
      this.timedOut++;
      this.counters.rxErrors++;
      ep.socket.destroy();
    }
  }

  /** Listens; rejects with the listen error (EADDRINUSE, EACCES...) when it cannot. */
  static listen(options: TcpServerOptions = {}): Promise<TcpServerBind> {
    // Options are checked before anything listens (the constructor runs in the listen callback).
    try {
      positive(options.handshakeTimeoutMs, DEFAULT_TCP_HANDSHAKE_TIMEOUT_MS, 'handshakeTimeoutMs');
      positive(options.idleTimeoutMs, DEFAULT_TCP_IDLE_TIMEOUT_MS, 'idleTimeoutMs');
      positive(
        options.maxConnectionsPerAddress,
        DEFAULT_TCP_MAX_CONNECTIONS_PER_ADDRESS,
        'maxConnectionsPerAddress',
      );
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise((resolve, reject) => {
      const server = net.createServer({ noDelay: true });
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen({ host: options.host ?? '0.0.0.0', port: options.port ?? 0 }, () => {
        server.off('error', onError);
        resolve(new TcpServerBind(server, options));
      });
    });
  }

  get localAddress(): string {
    const a = this.server?.address();
    return typeof a === 'object' && a !== null ? a.address : '';
  }

  get localPort(): number {
    const a = this.server?.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  protected forget(ep: TcpEndpoint): void {
    this.connections.delete(ep);
    const source = this.sources.get(ep);
    if (source === undefined) return;
    this.sources.delete(ep);
    const n = (this.perSource.get(source) ?? 1) - 1;
    if (n > 0) this.perSource.set(source, n);
    else this.perSource.delete(source);
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.isClosed = true;
    this.handler = null;
    clearInterval(this.sweeper);
    this.closing = new Promise<void>((resolve) => {
      if (this.server) this.server.close(() => resolve());
      else resolve();
      for (const ep of this.connections) ep.socket.destroy();
    }).then(() => {
      this.emit('close');
    });
    return this.closing;
  }
}

export interface TcpClientOptions extends TcpBindOptions {
  host: string;
  port: number;
  /** Give up connecting after this long (default 10 s). */
  timeoutMs?: number;
}

export class TcpClientBind extends TcpBindBase {
  readonly remote: TcpEndpoint;
  private closing: Promise<void> | undefined;

  private constructor(socket: net.Socket, options: TcpBindOptions) {
    super(options);
    this.remote = new TcpEndpoint(socket, this.transport);
    this.adopt(this.remote);
  }

  /** Wraps an already connected socket (a TLS socket after its handshake, or one through a proxy). */
  static fromSocket(socket: net.Socket, options: TcpBindOptions = {}): TcpClientBind {
    return new TcpClientBind(socket, options);
  }

  /** Connects; rejects with the connect error (ECONNREFUSED, ETIMEDOUT...) when it cannot. */
  static connect(options: TcpClientOptions): Promise<TcpClientBind> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: options.host, port: options.port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          Object.assign(new Error(`connect ${options.host}:${options.port} timed out`), {
            code: 'ETIMEDOUT',
          }),
        );
      }, options.timeoutMs ?? 10_000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new TcpClientBind(socket, options));
      });
    });
  }

  get localAddress(): string {
    return (this.remote.socket.localAddress ?? '').replace(/^::ffff:/, '');
  }

  get localPort(): number {
    return this.remote.socket.localPort ?? 0;
  }

  protected forget(_ep: TcpEndpoint): void {
    // The only connection is gone: the bind cannot send any more.
    this.isClosed = true;
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.isClosed = true;
    this.handler = null;
    const s = this.remote.socket;
    this.closing = new Promise<void>((resolve) => {
      if (s.destroyed) resolve();
      else {
        s.once('close', () => resolve());
        s.destroy();
      }
    }).then(() => {
      this.emit('close');
    });
    return this.closing;
  }
}
