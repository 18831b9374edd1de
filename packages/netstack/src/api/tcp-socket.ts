/**
 * TcpSocket: a net.Socket-like Duplex over one engine connection (Tcb).
 *
 * Contract:
 *   - Writes are copied into the connection's send buffer; a write's callback runs once all of its
 *     bytes were taken, so `write()` returning false and 'drain' give real backpressure (the send
 *     buffer plus writableHighWaterMark is all that is ever queued).
 *   - Reads copy out of the receive buffer into fresh Buffers pushed to the stream, only while the
 *     stream wants data: a consumer that stops reading lets the receive window close (zero window).
 *   - end() sends a FIN after the queued data (half-close; allowHalfOpen as in net.Socket, default
 *     false: the peer's FIN ends our side too). destroy() closes: FIN, or RST when unread data is
 *     left (as a kernel socket does); resetAndDestroy() always sends RST.
 *   - Failures arrive as 'error' with a SocketError (code ECONNREFUSED, ECONNRESET, ETIMEDOUT, ...)
 *     followed by 'close'. Nothing here throws on the packet path.
 *   - All engine events come from the stack's poll(), never from inside packet processing.
 */
import { Duplex } from 'node:stream';
import {
  EV_CLOSED,
  EV_CONNECTED,
  EV_EOF,
  EV_READABLE,
  EV_WRITABLE,
  TcpState,
  type Tcb,
  type TcpHandler,
} from '../tcp/tcb.js';
import { SocketError } from './errors.js';
import type { Netstack } from './netstack.js';

export interface TcpSocketOptions {
  /** Keep the writable side open after the peer's FIN (default false, as net.Socket). */
  allowHalfOpen?: boolean;
  /** Most bytes pushed to the stream per read (default 64 KiB). */
  readChunkSize?: number;
}

interface PendingWrite {
  chunk: Uint8Array;
  offset: number;
  cb: (err?: Error | null) => void;
}

const READ_CHUNK = 65536;

export class TcpSocket extends Duplex implements TcpHandler {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: 'IPv4' | 'IPv6';
  /** For accept-any connections: the original destination address and port. */
  readonly localAddress: string;
  readonly localPort: number;
  connecting: boolean;
  bytesRead = 0;
  bytesWritten = 0;
  private tcb: Tcb | null;
  private reading = false;
  private eofPushed = false;
  private pending: PendingWrite[] = [];
  private readonly allowHalfOpenOpt: boolean;
  private readonly chunkSize: number;
  private idleMs = 0;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private lastActivity = 0;

  /** @internal Created by Netstack.connect / servers; not by users. */
  constructor(
    private readonly ns: Netstack,
    tcb: Tcb,
    connected: boolean,
    options: TcpSocketOptions = {},
  ) {
    super({ allowHalfOpen: true, decodeStrings: true, emitClose: true, autoDestroy: true });
    this.tcb = tcb;
    this.allowHalfOpenOpt = options.allowHalfOpen ?? false;
    this.chunkSize = options.readChunkSize ?? READ_CHUNK;
    this.remoteAddress = tcb.remote.toString();
    this.remotePort = tcb.remotePort;
    this.remoteFamily = tcb.remote.family === 4 ? 'IPv4' : 'IPv6';
    this.localAddress = tcb.local.toString();
    this.localPort = tcb.localPort;
    this.connecting = !connected;
    tcb.handler = this;
    tcb.owner = this;
    this.lastActivity = Date.now();
    // As net.Socket: without allowHalfOpen, our side ends once the peer's data has all been consumed
    // ('end'), not when its FIN arrives — data still on its way through pipes is written first.
    if (!this.allowHalfOpenOpt) {
      this.once('end', () => {
        if (!this.writableEnded) this.end();
      });
    }
  }

  /** The engine connection (diagnostics: state, counters). null after close. */
  get connection(): Tcb | null {
    return this.tcb;
  }

  /** TCP state name ('ESTABLISHED', ...), or 'CLOSED'. */
  get state(): string {
    return this.tcb?.stateName ?? 'CLOSED';
  }

  get pendingWrite(): boolean {
    return this.connecting;
  }

  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress, family: this.remoteFamily, port: this.localPort };
  }

  setNoDelay(noDelay = true): this {
    this.tcb?.setNoDelay(noDelay);
    this.ns.schedulePoll();
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.tcb?.setKeepAlive(enable, initialDelay > 0 ? initialDelay : undefined);
    this.ns.schedulePoll();
    return this;
  }

  /** Emits 'timeout' after `ms` without activity (0 disables), like net.Socket; it does not close. */
  setTimeout(ms: number, cb?: () => void): this {
    this.idleMs = ms;
    if (cb) this.once('timeout', cb);
    this.armIdle();
    return this;
  }

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.idleMs <= 0 || this.destroyed) return;
    const wait = Math.max(0, this.lastActivity + this.idleMs - Date.now());
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (Date.now() - this.lastActivity >= this.idleMs) {
        this.lastActivity = Date.now();
        this.emit('timeout');
      }
      this.armIdle();
    }, wait);
    this.idleTimer.unref?.();
  }

  private touch(): void {
    if (this.idleMs > 0) this.lastActivity = Date.now();
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  /** Sends RST and destroys the socket (net.Socket.resetAndDestroy). */
  resetAndDestroy(): this {
    const tcb = this.tcb;
    if (tcb) {
      tcb.abort();
      this.detach();
      this.ns.schedulePoll();
    }
    this.destroy();
    return this;
  }

  // ------------------------------------------------------------------ engine events

  onTcpEvents(tcb: Tcb, ev: number): void {
    if (ev & EV_CONNECTED) {
      if (this.connecting) {
        this.connecting = false;
        this.emit('connect');
        this.emit('ready');
      }
    }
    if (ev & EV_WRITABLE) this.flushPending();
    if (ev & (EV_READABLE | EV_EOF)) this.pull(false);
    if (ev & EV_CLOSED) this.onClosed(tcb);
  }

  private onClosed(tcb: Tcb): void {
    if (tcb.error !== null) {
      const err = new SocketError(
        tcb.error,
        this.connecting ? 'connect' : 'read',
        this.remoteAddress,
        this.remotePort,
      );
      this.detach();
      this.failPending(err);
      this.destroy(err);
      return;
    }
    // Orderly end: hand over every byte still buffered (ignoring the high-water mark), then EOF.
    this.pull(true);
    if (tcb.finReceived && !this.eofPushed) {
      this.eofPushed = true;
      this.push(null);
    }
    const wasConnecting = this.connecting;
    this.detach();
    this.failPending(() => new SocketError('EPIPE', 'write', this.remoteAddress, this.remotePort));
    if (wasConnecting) {
      // Closed before the handshake completed without an error: the application closed it.
      this.destroy();
      return;
    }
    if (!this.eofPushed) {
      // Closed without the peer's FIN (e.g. FIN-WAIT-2 timeout): no more data will come.
      this.eofPushed = true;
      this.push(null);
    }
    if (this.writableFinished || this.writableEnded) return;
    // Our side can no longer send: end the writable side so the stream can close.
    this.end();
  }

  private detach(): void {
    const tcb = this.tcb;
    if (!tcb) return;
    this.tcb = null;
    tcb.handler = null;
    tcb.owner = null;
    if (tcb.state === TcpState.CLOSED) tcb.release();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  /** Fails queued writes; the error is made only when there are some (an Error captures a stack). */
  private failPending(err: Error | (() => Error)): void {
    const p = this.pending;
    if (p.length === 0) return;
    this.pending = [];
    const e = typeof err === 'function' ? err() : err;
    for (const w of p) w.cb(e);
  }

  // ------------------------------------------------------------------ readable side

  override _read(): void {
    this.reading = true;
    this.pull(false);
  }

  private pull(force: boolean): void {
    const tcb = this.tcb;
    if (!tcb) return;
    // recv() reopens the receive window; the Tcb schedules its own window update.
    while ((this.reading || force) && tcb.readableLength > 0) {
      const n = Math.min(tcb.readableLength, this.chunkSize);
      const buf = Buffer.allocUnsafe(n);
      tcb.recv(buf, 0, n);
      this.bytesRead += n;
      this.touch();
      if (!this.push(buf)) this.reading = false;
    }
    if (tcb.readableLength === 0 && tcb.eof && !this.eofPushed) {
      this.eofPushed = true;
      this.push(null);
    }
  }

  // ------------------------------------------------------------------ writable side

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.queueWrite(chunk, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    if (chunks.length === 1) {
      this.queueWrite((chunks[0] as { chunk: Buffer }).chunk, cb);
      return;
    }
    this.queueWrite(Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  private queueWrite(chunk: Uint8Array, cb: (err?: Error | null) => void): void {
    if (!this.tcb) {
      cb(new SocketError('EPIPE', 'write', this.remoteAddress, this.remotePort));
      return;
    }
    this.pending.push({ chunk, offset: 0, cb });
    this.flushPending();
  }

  private flushPending(): void {
    const tcb = this.tcb;
    if (!tcb) return;
    let wrote = false;
    while (this.pending.length > 0) {
      const w = this.pending[0] as PendingWrite;
      const rest = w.chunk.length - w.offset;
      const n = tcb.send(w.chunk, w.offset, rest);
      if (n > 0) {
        wrote = true;
        w.offset += n;
        this.bytesWritten += n;
        this.touch();
      }
      if (w.offset < w.chunk.length) {
        if (tcb.writableLength === 0 && tcb.sendQueueLength === 0 && n === 0) {
          // Not writable at all any more (shut down or closing).
          this.pending.shift();
          w.cb(new SocketError('EPIPE', 'write', this.remoteAddress, this.remotePort));
          continue;
        }
        break;
      }
      this.pending.shift();
      w.cb();
    }
    void wrote; // send() already scheduled the transmission
  }

  override _final(cb: (err?: Error | null) => void): void {
    const tcb = this.tcb;
    if (tcb) {
      tcb.shutdown();
      this.ns.schedulePoll();
    }
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const tcb = this.tcb;
    if (tcb) {
      // Like close(2) on a kernel socket: FIN after queued data, RST if unread data remains.
      tcb.close();
      this.detach();
      this.ns.schedulePoll();
    }
    this.failPending(err ?? (() => new SocketError('ERR_STREAM_DESTROYED', 'write')));
    cb(err);
  }
}
