// The Bind seam (wireguard-go `conn.Bind`): how a tunnel endpoint moves protocol messages over a
// transport, independent of which one. Implementations:
//   UdpBind        — the batched native UDP socket (@corridor/tun/udp): server (many peers) and client.
//   TcpServerBind  — listens; one connection per peer; messages as length-prefixed frames.
//   TcpClientBind  — dials one node over TCP (the fallback transport that looks like ordinary HTTPS).
//   MemoryBind     — in-memory network for tests (lossy / reordering / duplicating, hostile to misuse).
//
// Contract (all implementations):
// - Receive: `onReceive(handler)` gets ONE call per batch. `batch.datagram(i)` is a view valid ONLY during
//   that synchronous call (the memory is reused or, in MemoryBind, scribbled over right after it
//   returns): consume in place (decrypt in place is fine) or copy. `batch.endpoint(i)` returns an
//   endpoint object the caller may keep (to send replies, for roaming); `batch.isFrom(i, ep)` compares
//   without allocating.
// - Send: fill a SendSlab from `createSendSlab()` (slot payload areas, `push(length, endpoint)`), then
//   `send(slab)`: the bind copies everything it needs before returning, so the slab may be refilled at
//   once. Returns how many messages went out; the rest were dropped and counted (backpressure: a full
//   socket or a slow TCP peer). Never throws for network conditions, only for a slab layout bug.
// - Errors are counted and emitted as 'error' when someone listens; never thrown on the packet path.
// - `close()` is idempotent; afterwards sends return 0 and no handler is called.
import type { EventEmitter } from 'node:events';
import { FRAME_HEADER_BYTES } from '@corridor/protocol';
import { DatagramSlab } from '../udp/socket.js';
import { META_WORDS, type UdpEndpoint } from '../udp/endpoint.js';

/** 'tls' is the TCP framing over TLS; 'wss' one message per binary WebSocket message over TLS. */
export type Transport = 'udp' | 'tcp' | 'tls' | 'wss' | 'memory';

/** A peer as a bind sees it. Stable objects: keep them to reply; compare with `batch.isFrom`. */
export interface BindEndpoint {
  readonly transport: Transport;
  /** Remote IP address (text). */
  readonly address: string;
  readonly port: number;
  /** Unique text form, for maps and logs (`198.18.0.2:40000`, `tcp#12 198.18.0.2:40000`). */
  readonly key: string;
}

export interface ReceivedBatch {
  readonly count: number;
  /** Message i; a view valid only during the handler call. */
  datagram(i: number): Buffer;
  /** Who sent message i (a keepable object; may allocate for UDP). */
  endpoint(i: number): BindEndpoint;
  /** Whether message i came from `endpoint` (no allocation). */
  isFrom(i: number, endpoint: BindEndpoint): boolean;
}

export type ReceiveHandler = (batch: ReceivedBatch) => void;

export interface BindStats {
  rxPackets: number;
  rxBytes: number;
  rxBatches: number;
  txPackets: number;
  txBytes: number;
  /** Messages not sent: transport full, peer gone, closed. */
  txDropped: number;
  /** Bad input from the network: oversize/empty TCP frames, truncated datagrams. */
  rxErrors: number;
  /** Errors counted (and emitted when someone listens). */
  errors: number;
}

export interface BindEvents {
  /** A transport error (socket-level). Never thrown. */
  error: [Error];
  /** A connection-oriented peer went away (TCP): forget it as a reply address. */
  endpointClosed: [BindEndpoint];
  /** Sends were dropped because the transport was full and it accepts again. */
  writable: [];
  close: [];
}

export interface Bind extends EventEmitter<BindEvents> {
  readonly transport: Transport;
  /** Where this bind listens (server) or its local socket (client). */
  readonly localAddress: string;
  readonly localPort: number;
  onReceive(handler: ReceiveHandler | null): void;
  createSendSlab(capacity?: number): SendSlab;
  send(slab: SendSlab, count?: number): number;
  /** One message (copied). Prefer send() with a slab for more than one. */
  sendTo(data: Uint8Array, endpoint: BindEndpoint): boolean;
  /** Connection-oriented binds drop the connection; datagram binds ignore it. */
  closeEndpoint(endpoint: BindEndpoint): void;
  close(): Promise<void>;
  readonly closed: boolean;
  stats(): BindStats;
}

/**
 * Outgoing messages for a Bind: a DatagramSlab whose slots keep FRAME_HEADER_BYTES of headroom (so a
 * TCP bind frames in place) and that remembers each message's endpoint object.
 */
export class SendSlab extends DatagramSlab {
  readonly endpoints: (BindEndpoint | undefined)[];

  constructor(options: { capacity?: number; slotBytes?: number } = {}) {
    super({ ...options, headroom: FRAME_HEADER_BYTES });
    this.endpoints = new Array<BindEndpoint | undefined>(this.capacity).fill(undefined);
  }

  /** Records the message written at the start of the next slot's payload area, for `endpoint`. */
  pushTo(length: number, endpoint: BindEndpoint): boolean {
    const i = this.count;
    if (i >= this.capacity) return false;
    if (endpoint.transport === 'udp') {
      if (!this.push(length, endpoint as UdpEndpoint)) return false;
    } else {
      const b = i * META_WORDS;
      this.meta[b] = i * this.stride + this.headroom;
      this.meta[b + 1] = length;
      this.meta[b + 2] = 0;
      this.meta[b + 3] = 0;
      this.count = i + 1;
    }
    this.endpoints[i] = endpoint;
    return true;
  }

  /** Copies `data` into the next slot for `endpoint`. */
  pushCopyTo(data: Uint8Array, endpoint: BindEndpoint): boolean {
    const slot = this.next();
    if (slot === undefined || data.length > slot.length) return false;
    slot.set(data);
    return this.pushTo(data.length, endpoint);
  }

  endpoint(i: number): BindEndpoint | undefined {
    return this.endpoints[i];
  }

  override clear(): void {
    // Endpoint references are overwritten by the next pushes; clearing them is not needed for safety.
    this.count = 0;
  }
}

export function newBindStats(): BindStats {
  return {
    rxPackets: 0,
    rxBytes: 0,
    rxBatches: 0,
    txPackets: 0,
    txBytes: 0,
    txDropped: 0,
    rxErrors: 0,
    errors: 0,
  };
}
