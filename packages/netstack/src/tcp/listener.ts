// TcpListener: passive opens for one port (one local address or all), or for any address and port
// (accept-any, what tun2socks and a userspace egress need: the local side of each accepted connection
// is the original destination).
//
// Ordinary mode: SYN -> SYN-RECEIVED (counted half-open) -> ESTABLISHED -> queue -> accept().
// Deferred mode (accept-any with a request handler): each SYN becomes a held request in the queue
// BEFORE any SYN-ACK is sent; the application accept()s it, looks at the original destination, dials
// out, and then calls stack.acceptRequest(tcb) (SYN-ACK goes out) or stack.rejectRequest(tcb, how)
// (RST, ICMP unreachable, or silence). Undecided requests are reset after requestTimeoutMs.
// Both queues are bounded (synBacklog half-open, acceptBacklog queued); beyond that SYN cookies answer
// (stateless) or the SYN is dropped, per the stack's synCookies setting. A deferred listener never
// uses cookies (a cookie SYN-ACK would answer before the application decided): its excess SYNs are
// dropped and the clients retransmit.
import type { IpAddr } from '../wire/address.js';
import type { Tcb } from './tcb.js';

export interface ListenerHandler {
  /** Connections (or requests, in deferred mode) wait in the queue: call accept(). */
  onListenerEvents(listener: TcpListener): void;
}

export class TcpListener {
  handler: ListenerHandler | null = null;
  owner: unknown = null;
  closed = false;
  dirty = false;
  /** Established connections (ordinary) or requests (deferred) not yet accept()ed. */
  readonly queue: Tcb[] = [];
  /** SYN-RECEIVED connections of this listener. */
  halfOpen = 0;

  constructor(
    /** Accept-any: every address and port not claimed by a more specific listener. */
    readonly any: boolean,
    /** Local address, or null for every local address (ignored for accept-any). */
    readonly address: IpAddr | null,
    readonly port: number,
    /** Hold SYN-ACKs until the application decides (accept-any with a request handler). */
    readonly deferred: boolean,
  ) {}

  /** The next queued connection or request, or undefined. */
  accept(): Tcb | undefined {
    const t = this.queue.shift();
    if (t) t.accepted = true;
    return t;
  }
}
