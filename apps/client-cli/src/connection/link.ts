/**
 * The engine's view of a transport to one node (the seam between the connection engine and the
 * shared binds of @corridor/tun/bind; see bind-link.ts for the adapter). A Link is one UDP socket
 * or one TCP connection to the node.
 *
 * Send side: `reserve()` hands out the payload area of the next outgoing slot (a view the engine
 * seals a packet straight into), `commit(length)` queues it, `enqueue(bytes)` queues a copy of a
 * message the engine does not hold in a slot (handshake messages), and `flush()` sends everything
 * queued as ONE batch (one sendmmsg, one TCP write) and empties the queue. Returns messages sent.
 * Views from `reserve()` are valid until the next `flush()`.
 *
 * Receive side: the handler gets one call per batch; `message(i)` is a view valid only during that
 * call (decrypting in place is fine), or undefined for a message that did not come from the node.
 *
 * 'down' is emitted once when the link can no longer carry messages (TCP connection closed, socket
 * error); the engine then reconnects. `close()` is idempotent.
 */
import type { EventEmitter } from 'node:events';

/** udp, tcp, and the HTTPS front's tls and wss (transports/stream-links.ts). */
export type LinkTransport = 'udp' | 'tcp' | 'tls' | 'wss';

export interface LinkBatch {
  readonly count: number;
  message(i: number): Buffer | undefined;
}

export interface LinkEvents {
  down: [reason: string];
}

export interface Link extends EventEmitter<LinkEvents> {
  readonly transport: LinkTransport;
  /** Where the node is, as shown to the user (`198.51.100.7:51820`). */
  readonly remote: string;
  /** Payload area of the next free slot, or undefined when the queue is full (flush first). */
  reserve(): Buffer | undefined;
  commit(length: number): void;
  enqueue(message: Uint8Array): boolean;
  flush(): number;
  /** Queued, not yet flushed. */
  readonly queued: number;
  onReceive(handler: ((batch: LinkBatch) => void) | null): void;
  close(): Promise<void>;
  /** Messages the transport dropped (full socket, slow peer), for status. */
  readonly dropped: number;
}

/** Opens a link of a transport to the node (resolved address). Rejects with the socket error. */
export type LinkFactory = (transport: LinkTransport) => Promise<Link>;
