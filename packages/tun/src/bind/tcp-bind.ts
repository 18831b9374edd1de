// TCP binds: the protocol's fallback transport. Each message travels as one frame, `u16 big-endian
// length || message` (FrameDecoder / FRAME_HEADER_BYTES from @corridor/protocol), frames back to back.
//
//   TcpServerBind — listens; every accepted connection is one TcpEndpoint (a peer). A connection that
//     sends a bad frame (empty, oversize) is destroyed and counted; 'endpointClosed' tells the owner to
//     forget the endpoint. Connections beyond `maxConnections` are refused at accept.
//   TcpClientBind — one connection to a node; `remote` is its only endpoint.
//
// Ownership: received frames are views into Node's chunk (or a reassembly buffer) valid only during the
// handler call, as for every Bind. Sends copy the framed messages into one Buffer per peer per send()
// call before writing, so the caller's slab is free again when send() returns. A peer whose socket has
// more than `maxBufferedBytes` queued gets its messages dropped (counted) instead of growing memory.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { FRAME_HEADER_BYTES, FrameDecoder } from '@corridor/protocol';
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

/** One TCP connection, i.e. one peer. */
export class TcpEndpoint implements BindEndpoint {
  readonly transport = 'tcp' as const;
  readonly id = nextConnectionId++;
  readonly address: string;
  readonly port: number;
  readonly key: string;
  readonly decoder = new FrameDecoder();
  constructor(readonly socket: net.Socket) {
    this.address = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    this.port = socket.remotePort ?? 0;
    this.key = `tcp#${this.id} ${this.address.includes(':') ? `[${this.address}]` : this.address}:${this.port}`;
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
}

abstract class TcpBindBase extends EventEmitter<BindEvents> implements Bind {
  readonly transport = 'tcp' as const;
  protected handler: ReceiveHandler | null = null;
  protected readonly counters = newBindStats();
  protected isClosed = false;
  private readonly received = new TcpReceived();
  protected readonly maxBuffered: number;

  constructor(options: TcpBindOptions) {
    super();
    this.maxBuffered = options.maxBufferedBytes ?? 4 << 20;
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
      if (r.value.length === 0 || this.handler === null) return;
      const rec = this.received;
      rec.frames = r.value;
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
    let sent = 0;
    let i = 0;
    while (i < count) {
      const ep = slab.endpoint(i);
      // A run of messages to the same connection becomes one write.
      let j = i + 1;
      let bytes = slab.length(i) + FRAME_HEADER_BYTES;
      while (j < count && slab.endpoint(j) === ep) {
        bytes += slab.length(j) + FRAME_HEADER_BYTES;
        j++;
      }
      if (
        this.isClosed ||
        !(ep instanceof TcpEndpoint) ||
        ep.socket.destroyed ||
        !ep.socket.writable ||
        ep.socket.writableLength + bytes > this.maxBuffered
      ) {
        this.counters.txDropped += j - i;
        i = j;
        continue;
      }
      const out = Buffer.allocUnsafe(bytes);
      let off = 0;
      for (let k = i; k < j; k++) {
        const len = slab.length(k);
        const start = slab.offset(k);
        out[off] = len >>> 8;
        out[off + 1] = len & 0xff;
        slab.slab.copy(out, off + FRAME_HEADER_BYTES, start, start + len);
        off += len + FRAME_HEADER_BYTES;
        this.counters.txBytes += len;
      }
      ep.socket.write(out);
      this.counters.txPackets += j - i;
      sent += j - i;
      i = j;
    }
    return sent;
  }

  sendTo(data: Uint8Array, endpoint: BindEndpoint): boolean {
    if (data.length === 0 || data.length > 65535) return false;
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
  /** SO_REUSEPORT-like sharing is not offered; one listener per port. */
}

export class TcpServerBind extends TcpBindBase {
  private readonly connections = new Set<TcpEndpoint>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: net.Server,
    options: TcpServerOptions,
  ) {
    super(options);
    const max = options.maxConnections ?? 10_000;
    server.on('connection', (socket) => {
      if (this.isClosed || this.connections.size >= max) {
        this.counters.rxErrors++;
        socket.destroy();
        return;
      }
      const ep = new TcpEndpoint(socket);
      this.connections.add(ep);
      this.adopt(ep);
    });
    server.on('error', (err) => this.report(err));
  }

  /** Listens; rejects with the listen error (EADDRINUSE, EACCES...) when it cannot. */
  static listen(options: TcpServerOptions = {}): Promise<TcpServerBind> {
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
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.address : '';
  }

  get localPort(): number {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  protected forget(ep: TcpEndpoint): void {
    this.connections.delete(ep);
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.isClosed = true;
    this.handler = null;
    this.closing = new Promise<void>((resolve) => {
      this.server.close(() => resolve());
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

  private constructor(socket: net.Socket, options: TcpClientOptions) {
    super(options);
    this.remote = new TcpEndpoint(socket);
    this.adopt(this.remote);
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
