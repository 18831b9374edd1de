// UDP for the Node-style API: UdpSocket (a bound port, like a dgram socket), UdpFlowSocket (one
// accept-any flow: a remote talking to an original destination) and UdpAnyServer ('flow' per new
// flow). 'message' hands out Buffers the application owns. Sends are synchronous and return false
// when the datagram cannot be sent (too large for the MTU, closed).
import { EventEmitter } from 'node:events';
import type { UdpAnyHandler, UdpAnyListener, UdpEndpoint, UdpFlow, UdpHandler } from '../udp/udp-socket.js';
import { SocketError } from './errors.js';
import type { Netstack } from './netstack.js';

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

export interface UdpSocketEvents {
  message: [Buffer, RemoteInfo];
  error: [SocketError];
  close: [];
}

export class UdpSocket extends EventEmitter<UdpSocketEvents> implements UdpHandler {
  private closed = false;

  /** @internal */
  constructor(
    private readonly ns: Netstack,
    private readonly ep: UdpEndpoint,
  ) {
    super();
    ep.handler = this;
    ep.owner = this;
  }

  address(): { address: string; port: number } {
    return { address: this.ep.local?.toString() ?? '0.0.0.0', port: this.ep.port };
  }

  onUdpEvents(): void {
    const err = this.ep.takeError();
    if (err) this.emit('error', new SocketError(err, 'send'));
    let r;
    while ((r = this.ep.receive()) !== undefined) {
      const buf = Buffer.from(r.data.buffer, r.data.byteOffset, r.data.length);
      this.emit('message', buf, {
        address: r.remote.toString(),
        family: r.remote.family === 4 ? 'IPv4' : 'IPv6',
        port: r.remotePort,
        size: buf.length,
      });
    }
  }

  /** Sends one datagram; false when it could not be sent. */
  send(msg: Uint8Array | string, port: number, address: string): boolean {
    if (this.closed) return false;
    const data = typeof msg === 'string' ? Buffer.from(msg) : msg;
    return this.ns.stack.udpSend(this.ep, data, address, port);
  }

  close(cb?: () => void): void {
    if (this.closed) return;
    this.closed = true;
    this.ns.stack.unbindUdp(this.ep);
    queueMicrotask(() => {
      this.emit('close');
      cb?.();
    });
  }
}

export interface UdpFlowEvents {
  message: [Buffer];
  error: [SocketError];
  close: [];
}

/** One accept-any UDP flow; closes itself (emitting 'close') after the stack's flow idle timeout. */
export class UdpFlowSocket extends EventEmitter<UdpFlowEvents> implements UdpHandler {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The original destination. */
  readonly localAddress: string;
  readonly localPort: number;
  readonly family: 'IPv4' | 'IPv6';
  private closedFlag = false;

  /** @internal */
  constructor(
    private readonly ns: Netstack,
    private readonly flow: UdpFlow,
  ) {
    super();
    flow.handler = this;
    flow.owner = this;
    this.remoteAddress = flow.remote.toString();
    this.remotePort = flow.remotePort;
    this.localAddress = flow.local.toString();
    this.localPort = flow.localPort;
    this.family = flow.remote.family === 4 ? 'IPv4' : 'IPv6';
  }

  onUdpEvents(): void {
    const err = this.flow.takeError();
    if (err) this.emit('error', new SocketError(err, 'send', this.remoteAddress, this.remotePort));
    let r;
    while ((r = this.flow.receive()) !== undefined) {
      this.emit('message', Buffer.from(r.data.buffer, r.data.byteOffset, r.data.length));
    }
    if (this.flow.closed && !this.closedFlag) {
      this.closedFlag = true;
      this.emit('close');
    }
  }

  /** Replies to the remote (from the original destination). */
  send(msg: Uint8Array | string): boolean {
    if (this.closedFlag) return false;
    return this.ns.stack.flowSend(this.flow, typeof msg === 'string' ? Buffer.from(msg) : msg);
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.ns.stack.closeFlow(this.flow);
    queueMicrotask(() => this.emit('close'));
  }
}

export interface UdpAnyServerEvents {
  flow: [UdpFlowSocket];
  close: [];
}

export class UdpAnyServer extends EventEmitter<UdpAnyServerEvents> implements UdpAnyHandler {
  private closedFlag = false;

  /** @internal */
  constructor(
    private readonly ns: Netstack,
    private readonly listener: UdpAnyListener,
  ) {
    super();
    listener.handler = this;
    listener.owner = this;
  }

  onNewFlows(l: UdpAnyListener): void {
    let f;
    while ((f = l.accept()) !== undefined) {
      const s = new UdpFlowSocket(this.ns, f);
      this.emit('flow', s);
      // Datagrams that arrived with the flow's first packet.
      s.onUdpEvents();
    }
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.ns.stack.closeUdpListener(this.listener);
    queueMicrotask(() => this.emit('close'));
  }
}
