// Servers of the Node-style API: TcpServer (listen on a port), AnyServer (the accept-any listener)
// and ConnectionRequest (a deferred accept-any SYN waiting for the application's decision).
import { EventEmitter } from 'node:events';
import type { RejectHow } from '../stack.js';
import type { ListenerHandler, TcpListener } from '../tcp/listener.js';
import { TcpState, type Tcb } from '../tcp/tcb.js';
import type { Netstack } from './netstack.js';
import { SocketError } from './errors.js';
import { TcpSocket, type TcpSocketOptions } from './tcp-socket.js';

export interface TcpServerEvents {
  connection: [TcpSocket];
  close: [];
}

/** A listening port, like net.Server after listen(): 'connection' per accepted socket. */
export class TcpServer extends EventEmitter<TcpServerEvents> implements ListenerHandler {
  private closedFlag = false;

  /** @internal */
  constructor(
    protected readonly ns: Netstack,
    protected readonly listener: TcpListener,
    protected readonly socketOptions: TcpSocketOptions,
  ) {
    super();
    listener.handler = this;
    listener.owner = this;
  }

  get listening(): boolean {
    return !this.closedFlag;
  }

  address(): { address: string; port: number } {
    return {
      address: this.listener.address?.toString() ?? (this.listener.any ? '*' : '0.0.0.0'),
      port: this.listener.port,
    };
  }

  onListenerEvents(l: TcpListener): void {
    let t: Tcb | undefined;
    while ((t = l.accept()) !== undefined) {
      if (t.state === TcpState.CLOSED) {
        t.release();
        continue;
      }
      const s = new TcpSocket(this.ns, t, true, this.socketOptions);
      this.emit('connection', s);
    }
  }

  /** Stops listening; queued connections not yet delivered are reset. Established sockets live on. */
  close(cb?: () => void): this {
    if (!this.closedFlag) {
      this.closedFlag = true;
      this.ns.stack.closeListener(this.listener);
      this.ns.schedulePoll();
      queueMicrotask(() => this.emit('close'));
    }
    if (cb) queueMicrotask(cb);
    return this;
  }
}

/**
 * A SYN to any address:port held before any SYN-ACK went out. Look at the original destination
 * (localAddress/localPort), dial it, then accept() — the handshake completes and the returned socket
 * emits 'connect' — or reject() with a RST (like a closed port), an ICMP unreachable, or silence.
 * Undecided requests are reset after the stack's tcp.requestTimeoutMs.
 */
export class ConnectionRequest {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The original destination. */
  readonly localAddress: string;
  readonly localPort: number;
  readonly family: 'IPv4' | 'IPv6';
  private decided = false;

  /** @internal */
  constructor(
    private readonly ns: Netstack,
    private readonly tcb: Tcb,
    private readonly socketOptions: TcpSocketOptions,
  ) {
    this.remoteAddress = tcb.remote.toString();
    this.remotePort = tcb.remotePort;
    this.localAddress = tcb.local.toString();
    this.localPort = tcb.localPort;
    this.family = tcb.remote.family === 4 ? 'IPv4' : 'IPv6';
  }

  /** Whether the request is still waiting (not decided, not timed out or reset by the peer). */
  get pending(): boolean {
    return !this.decided && this.tcb.state === TcpState.SYN_RECEIVED && this.tcb.held;
  }

  /** Completes the handshake; the socket emits 'connect' when the peer's ACK arrives. */
  accept(): TcpSocket {
    if (this.decided) throw new Error('ConnectionRequest already decided');
    this.decided = true;
    const connected = this.tcb.state >= TcpState.ESTABLISHED;
    const s = new TcpSocket(this.ns, this.tcb, connected, this.socketOptions);
    this.ns.stack.acceptRequest(this.tcb);
    this.ns.schedulePoll();
    if (this.tcb.state === TcpState.CLOSED) {
      // Timed out or reset while the application was deciding.
      // As accept(2) reports a pending connection aborted before it was accepted: ECONNABORTED.
      const err = new SocketError('ECONNABORTED', 'connect', this.remoteAddress, this.remotePort);
      queueMicrotask(() => s.destroy(err));
    }
    return s;
  }

  reject(how: RejectHow = 'reset'): void {
    if (this.decided) return;
    this.decided = true;
    this.ns.stack.rejectRequest(this.tcb, how);
    this.tcb.release();
    this.ns.schedulePoll();
  }
}

export interface AnyServerEvents {
  connection: [TcpSocket];
  request: [ConnectionRequest];
  close: [];
}

/**
 * The accept-any listener. Without `deferred`, every SYN not claimed by a port listener is accepted
 * and emitted as 'connection' (socket.localAddress/localPort = the original destination). With
 * `deferred`, each SYN is emitted as a 'request' first (see ConnectionRequest).
 */
export class AnyServer extends EventEmitter<AnyServerEvents> implements ListenerHandler {
  private closedFlag = false;

  /** @internal */
  constructor(
    private readonly ns: Netstack,
    private readonly listener: TcpListener,
    private readonly socketOptions: TcpSocketOptions,
  ) {
    super();
    listener.handler = this;
    listener.owner = this;
  }

  get deferred(): boolean {
    return this.listener.deferred;
  }

  onListenerEvents(l: TcpListener): void {
    let t: Tcb | undefined;
    while ((t = l.accept()) !== undefined) {
      if (t.state === TcpState.CLOSED) {
        t.release();
        continue;
      }
      if (l.deferred) this.emit('request', new ConnectionRequest(this.ns, t, this.socketOptions));
      else this.emit('connection', new TcpSocket(this.ns, t, true, this.socketOptions));
    }
  }

  close(cb?: () => void): this {
    if (!this.closedFlag) {
      this.closedFlag = true;
      this.ns.stack.closeListener(this.listener);
      this.ns.schedulePoll();
      queueMicrotask(() => this.emit('close'));
    }
    if (cb) queueMicrotask(cb);
    return this;
  }
}
