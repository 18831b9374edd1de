// UdpBind: the Bind seam over the native batched UDP socket. A server binds its configured port and
// talks to many peers; a client binds port 0 and talks to one node. Endpoints are UdpEndpoint objects.
import { EventEmitter } from 'node:events';
import { ViewTable } from '@corridor/protocol';
import { UdpSocket, type DatagramBatch, type UdpSocketOptions } from '../udp/socket.js';
import { UdpEndpoint } from '../udp/endpoint.js';
import {
  SendSlab,
  type Bind,
  type BindEndpoint,
  type BindEvents,
  type BindStats,
  type ReceiveHandler,
  type ReceivedBatch,
} from './bind.js';

class UdpReceived implements ReceivedBatch {
  batch!: DatagramBatch;
  /**
   * Views of the read slab by position: batch after batch the datagrams of steady traffic sit at the
   * same offsets with the same lengths, so a view object is made once, not per datagram.
   */
  private readonly views = new ViewTable(1024);
  get count(): number {
    return this.batch.count;
  }
  datagram(i: number): Buffer {
    const b = this.batch;
    const off = b.offset(i);
    return this.views.view(b.slab, off, off + b.length(i));
  }
  endpoint(i: number): UdpEndpoint {
    return this.batch.source(i);
  }
  isFrom(i: number, endpoint: BindEndpoint): boolean {
    return endpoint instanceof UdpEndpoint && this.batch.isFrom(i, endpoint);
  }
}

export class UdpBind extends EventEmitter<BindEvents> implements Bind {
  readonly transport = 'udp' as const;
  readonly socket: UdpSocket;
  private readonly received = new UdpReceived();

  /** Opens the socket (see UdpSocketOptions). Throws UdpError with a hint (port in use, privileges...). */
  static open(options: UdpSocketOptions = {}): UdpBind {
    return new UdpBind(UdpSocket.open(options));
  }

  constructor(socket: UdpSocket) {
    super();
    this.socket = socket;
    socket.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    socket.on('writable', () => this.emit('writable'));
    socket.on('close', () => this.emit('close'));
  }

  get localAddress(): string {
    return this.socket.localAddress;
  }

  get localPort(): number {
    return this.socket.localPort;
  }

  get closed(): boolean {
    return this.socket.closed;
  }

  onReceive(handler: ReceiveHandler | null): void {
    if (handler === null) {
      this.socket.onDatagrams(null);
      return;
    }
    const r = this.received;
    this.socket.onDatagrams((batch) => {
      r.batch = batch;
      handler(r);
    });
  }

  createSendSlab(capacity = 64): SendSlab {
    return new SendSlab({ capacity });
  }

  /** Messages for non-UDP endpoints are dropped (counted). */
  send(slab: SendSlab, count: number = slab.count): number {
    return this.socket.sendSlab(slab, count);
  }

  sendTo(data: Uint8Array, endpoint: BindEndpoint): boolean {
    if (!(endpoint instanceof UdpEndpoint)) return false;
    return this.socket.send(data, endpoint);
  }

  closeEndpoint(_endpoint: BindEndpoint): void {
    // Datagrams have no connection to close.
  }

  close(): Promise<void> {
    return this.socket.close();
  }

  stats(): BindStats {
    const s = this.socket.stats();
    return {
      rxPackets: s.rxPackets,
      rxBytes: s.rxBytes,
      rxBatches: s.rxBatches,
      txPackets: s.txPackets,
      txBytes: s.txBytes,
      txDropped: s.txDropped,
      rxErrors: s.rxTruncated + s.rxErrors,
      errors: s.errors,
    };
  }
}
