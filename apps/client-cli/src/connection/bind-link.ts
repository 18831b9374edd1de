/**
 * Links over the shared binds of @corridor/tun/bind (the only transport implementation: the batched
 * native UDP socket and the framed TCP client). The adapter keeps one SendSlab per link: `reserve()`
 * hands out slot payload areas (FRAME_HEADER_BYTES of headroom stay in front, so TCP frames in
 * place), `flush()` is one `bind.send(slab)`. UDP datagrams from any address but the node's are
 * filtered here without allocating (`isFrom`).
 */
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import {
  TcpClientBind,
  UdpBind,
  UdpEndpoint,
  type Bind,
  type BindEndpoint,
  type ReceivedBatch,
  type SendSlab,
} from '@corridor/tun/bind';
import type { Link, LinkBatch, LinkEvents, LinkTransport } from './link.js';

const UDP_RECEIVE_BUFFER_BYTES = 256 * 1024;

class FilteredBatch implements LinkBatch {
  batch!: ReceivedBatch;
  constructor(private readonly from: BindEndpoint) {}
  get count(): number {
    return this.batch.count;
  }
  message(i: number): Buffer | undefined {
    return this.batch.isFrom(i, this.from) ? this.batch.datagram(i) : undefined;
  }
}

export class BindLink extends EventEmitter<LinkEvents> implements Link {
  private readonly slab: SendSlab;
  private readonly view: FilteredBatch;
  private downSent = false;

  constructor(
    readonly bind: Bind,
    private readonly endpoint: BindEndpoint,
    readonly transport: LinkTransport,
    capacity = 64,
  ) {
    super();
    this.slab = bind.createSendSlab(capacity);
    this.view = new FilteredBatch(endpoint);
    const down = (reason: string) => {
      if (this.downSent) return;
      this.downSent = true;
      this.emit('down', reason);
    };
    bind.on('endpointClosed', (ep) => {
      if (ep === endpoint) down('connection closed by the node or the network');
    });
    bind.on('close', () => down('socket closed'));
    bind.on('error', (e: Error) => {
      // UDP errors (e.g. a momentarily missing route) do not end the link; stream ones (tcp, tls, wss) do.
      if (transport !== 'udp') down(e.message);
    });
  }

  get remote(): string {
    const a = this.endpoint.address;
    return `${a.includes(':') ? `[${a}]` : a}:${this.endpoint.port}`;
  }

  get queued(): number {
    return this.slab.count;
  }

  get dropped(): number {
    return this.bind.stats().txDropped;
  }

  reserve(): Buffer | undefined {
    return this.slab.count < this.slab.capacity ? this.slab.slot(this.slab.count) : undefined;
  }

  commit(length: number): void {
    this.slab.pushTo(length, this.endpoint);
  }

  enqueue(message: Uint8Array): boolean {
    return this.slab.pushCopyTo(message, this.endpoint);
  }

  flush(): number {
    const n = this.slab.count === 0 ? 0 : this.bind.send(this.slab);
    this.slab.clear();
    return n;
  }

  onReceive(handler: ((batch: LinkBatch) => void) | null): void {
    if (handler === null) {
      this.bind.onReceive(null);
      return;
    }
    const view = this.view;
    this.bind.onReceive((batch) => {
      view.batch = batch;
      handler(view);
    });
  }

  close(): Promise<void> {
    this.downSent = true;
    return this.bind.close();
  }
}

export interface NodeAddress {
  /** IP literal (already resolved). */
  readonly ip: string;
  readonly udpPort: number;
  readonly tcpPort: number;
}

/** Opens a UDP socket or a TCP connection to the node. Rejects with the socket error. */
export async function openBindLink(
  transport: LinkTransport,
  node: NodeAddress,
  connectTimeoutMs = 5_000,
): Promise<Link> {
  if (transport === 'udp') {
    const v6 = isIP(node.ip) === 6;
    // GRO reads; a receive buffer sized for latency, not for the socket default of 4 MiB: at 1.5 Gbit/s
    // 4 MiB is ~20 ms of queue in front of every packet (the node agent uses the same budget).
    const bind = UdpBind.open({
      address: v6 ? '::' : '0.0.0.0',
      port: 0,
      batchSize: 64,
      gro: true,
      receiveBufferBytes: UDP_RECEIVE_BUFFER_BYTES,
    });
    return new BindLink(bind, UdpEndpoint.of(node.ip, node.udpPort), 'udp');
  }
  const bind = await TcpClientBind.connect({
    host: node.ip,
    port: node.tcpPort,
    timeoutMs: connectTimeoutMs,
  });
  return new BindLink(bind, bind.remote, 'tcp');
}
