// UDP endpoints and flows of the engine. Both queue received datagrams (copies, bounded in count and
// bytes per endpoint/flow: a full queue drops with 'udpQueueFull') until the application takes them;
// the Stack tells the handler from poll() that datagrams wait.
//
//   UdpEndpoint: a bound port (one local address or all), like a dgram socket: receive() and
//     stack.udpSend(endpoint, ...) to any destination.
//   UdpFlow: one remote address:port talking to one local address:port that was accepted by the
//     accept-any UDP listener (userspace egress, tun2socks): `local` is the original destination.
//     A flow expires after `idleMs` without traffic in either direction.
import type { FlowEntry } from '../flow-table.js';
import type { IpAddr } from '../wire/address.js';

export interface UdpDatagramRecord {
  /** The payload (a copy the application owns). */
  readonly data: Uint8Array;
  readonly remote: IpAddr;
  readonly remotePort: number;
  /** The destination address the datagram was sent to (for endpoints bound to all addresses). */
  readonly local: IpAddr;
}

export interface UdpHandler {
  /** Datagrams are queued (`receive()`), or an ICMP error arrived (`error` set). */
  onUdpEvents(source: UdpEndpoint | UdpFlow): void;
}

export type UdpError = 'ECONNREFUSED' | 'EHOSTUNREACH' | 'ENETUNREACH';

class DatagramQueue {
  readonly items: UdpDatagramRecord[] = [];
  head = 0;
  bytes = 0;

  constructor(
    readonly maxCount: number,
    readonly maxBytes: number,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  push(r: UdpDatagramRecord): boolean {
    if (this.length >= this.maxCount || this.bytes + r.data.length > this.maxBytes) return false;
    this.items.push(r);
    this.bytes += r.data.length;
    return true;
  }

  shift(): UdpDatagramRecord | undefined {
    if (this.head >= this.items.length) return undefined;
    const r = this.items[this.head] as UdpDatagramRecord;
    this.items[this.head] = undefined as unknown as UdpDatagramRecord;
    this.head++;
    this.bytes -= r.data.length;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return r;
  }

  clear(): void {
    this.items.length = 0;
    this.head = 0;
    this.bytes = 0;
  }
}

abstract class UdpBase {
  handler: UdpHandler | null = null;
  owner: unknown = null;
  closed = false;
  dirty = false;
  /** Set by an ICMP error for this endpoint/flow; cleared by takeError(). */
  error: UdpError | null = null;
  protected readonly queue: DatagramQueue;

  constructor(maxCount: number, maxBytes: number) {
    this.queue = new DatagramQueue(maxCount, maxBytes);
  }

  get queuedDatagrams(): number {
    return this.queue.length;
  }

  /** The next queued datagram, or undefined. */
  receive(): UdpDatagramRecord | undefined {
    return this.queue.shift();
  }

  takeError(): UdpError | null {
    const e = this.error;
    this.error = null;
    return e;
  }

  /** Engine side: queue a datagram; false when the queue is full. */
  enqueue(r: UdpDatagramRecord): boolean {
    return this.queue.push(r);
  }

  protected clearQueue(): void {
    this.queue.clear();
  }
}

export class UdpEndpoint extends UdpBase {
  constructor(
    /** Local address, or null for every local address. */
    readonly local: IpAddr | null,
    readonly port: number,
    maxCount: number,
    maxBytes: number,
  ) {
    super(maxCount, maxBytes);
  }

  /** Engine side: the endpoint is unbound. */
  dispose(): void {
    this.closed = true;
    this.clearQueue();
  }
}

export class UdpFlow extends UdpBase implements FlowEntry {
  tableNext: UdpFlow | null = null;
  tableHash = 0;
  inTable = false;
  heapKey = Infinity;
  heapIndex = -1;
  lastActivity: number;
  /** Handed to the application by the accept-any listener. */
  accepted = false;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly local: IpAddr,
    readonly localPort: number,
    readonly remote: IpAddr,
    readonly remotePort: number,
    readonly idleMs: number,
    now: number,
    maxCount: number,
    maxBytes: number,
  ) {
    super(maxCount, maxBytes);
    this.lastActivity = now;
  }

  get expiresAt(): number {
    return this.lastActivity + this.idleMs;
  }

  dispose(): void {
    this.closed = true;
    this.clearQueue();
  }
}

export interface UdpAnyHandler {
  /** New flows wait in the listener's queue (`accept()`). */
  onNewFlows(listener: UdpAnyListener): void;
}

export class UdpAnyListener {
  handler: UdpAnyHandler | null = null;
  owner: unknown = null;
  closed = false;
  dirty = false;
  readonly pending: UdpFlow[] = [];

  constructor(readonly maxPending: number) {}

  /** The next new flow, or undefined. */
  accept(): UdpFlow | undefined {
    const f = this.pending.shift();
    if (f) f.accepted = true;
    return f;
  }
}
