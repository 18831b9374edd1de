/**
 * A small in-process fake of a node for engine tests (no sockets): a real ResponderTunnel behind
 * fake links. The node checks tickets of the form `ticket:<expiresAtMs>` against its (fake) wall
 * clock, ends a session's data path once its ticket expired (as the real node agent does unless the
 * client re-handshakes with a fresh ticket) and echoes inner IPv4/UDP packets back (swapped
 * addresses and ports). Transports can be blocked (messages vanish), links taken down, the node
 * paused (answers nothing).
 *
 * The fake links are hostile like the real binds' test doubles: received views are scribbled over
 * right after the engine's handler returns, so code that keeps a view fails.
 */
import { EventEmitter } from 'node:events';
import {
  generateX25519KeyPair,
  ResponderTunnel,
  type ResponderPeer,
  type X25519KeyPair,
} from '@corridor/protocol';
import { exampleTunnelParams } from '@corridor/protocol/testing';
import { buildIpv4Udp, parseIpv4Udp } from '@corridor/tun/testing';
import type { Link, LinkBatch, LinkEvents, LinkTransport } from '../../src/connection/link.js';

const SLOT = 2048;

export function ticketFor(expiresAtMs: number): Buffer {
  return Buffer.from(`ticket:${expiresAtMs}`);
}

export class FakeLink extends EventEmitter<LinkEvents> implements Link {
  readonly remote: string;
  private readonly slab: Buffer;
  private readonly lengths: number[] = [];
  private handler: ((b: LinkBatch) => void) | null = null;
  closed = false;
  dropped = 0;
  readonly id: number;

  constructor(
    private readonly node: FakeNode,
    readonly transport: LinkTransport,
    readonly capacity = 64,
  ) {
    super();
    this.slab = Buffer.alloc(SLOT * capacity);
    this.remote = `203.0.113.5:${transport === 'udp' ? 51820 : 443}`;
    this.id = ++node.linkSeq;
  }

  get queued(): number {
    return this.lengths.length;
  }

  reserve(): Buffer | undefined {
    const i = this.lengths.length;
    if (i >= this.capacity) return undefined;
    return this.slab.subarray(i * SLOT, (i + 1) * SLOT);
  }

  commit(length: number): void {
    this.lengths.push(length);
  }

  enqueue(message: Uint8Array): boolean {
    const slot = this.reserve();
    if (!slot) return false;
    slot.set(message);
    this.commit(message.length);
    return true;
  }

  flush(): number {
    const n = this.lengths.length;
    const copies = this.lengths.map((len, i) => Buffer.from(this.slab.subarray(i * SLOT, i * SLOT + len)));
    this.lengths.length = 0;
    this.slab.fill(0xcc); // sent: the slab is free again, and a kept view sees garbage
    if (!this.closed) this.node.deliverToNode(this, copies);
    return n;
  }

  onReceive(handler: ((b: LinkBatch) => void) | null): void {
    this.handler = handler;
  }

  /** Node -> client: one batch; views scribbled after the handler returns. */
  deliver(messages: (Buffer | undefined)[]): void {
    if (this.closed || !this.handler) return;
    const views = messages.map((m) => (m ? Buffer.from(m) : undefined));
    this.handler({ count: views.length, message: (i) => views[i] });
    for (const v of views) v?.fill(0xee);
  }

  takeDown(reason: string): void {
    this.emit('down', reason);
    this.closed = true;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export class FakeNode {
  readonly keys: X25519KeyPair = generateX25519KeyPair();
  readonly responder: ResponderTunnel;
  readonly clock: { now: number; wall: number };
  blocked = new Set<LinkTransport>();
  refuse = new Set<LinkTransport>();
  paused = false;
  linkSeq = 0;
  links: FakeLink[] = [];
  initiations: { transport: LinkTransport; ticket: string }[] = [];
  echoed = 0;
  droppedExpired = 0;
  private readonly expiry = new Map<string, number>();
  private readonly out = Buffer.alloc(4096);

  constructor(clock: { now: number; wall: number }) {
    this.clock = clock;
    this.responder = new ResponderTunnel({
      staticKeys: this.keys,
      clock: () => clock.now,
      wallClock: () => clock.wall,
      authorize: (ticket, clientKey) => {
        const m = /^ticket:(\d+)$/.exec(ticket.toString());
        if (!m || Number(m[1]) <= clock.wall) return { ok: false, reason: 'expired or malformed ticket' };
        this.expiry.set(clientKey.toString('base64url'), Number(m[1]));
        this.initiations[this.initiations.length - 1]!.ticket = ticket.toString();
        return { ok: true, params: exampleTunnelParams() };
      },
    });
  }

  async openLink(transport: LinkTransport): Promise<FakeLink> {
    await new Promise((r) => setImmediate(r));
    if (this.refuse.has(transport))
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const link = new FakeLink(this, transport);
    this.links.push(link);
    return link;
  }

  /** Client -> node, asynchronously like a network. */
  deliverToNode(link: FakeLink, messages: Buffer[]): void {
    if (this.blocked.has(link.transport) || this.paused) return;
    setImmediate(() => {
      const replies: Buffer[] = [];
      for (const msg of messages) {
        if (msg[0] === 1) this.initiations.push({ transport: link.transport, ticket: '' });
        const r = this.responder.decapsulate(
          msg,
          { ip: '198.18.0.2', port: 40000 + link.id },
          this.out,
          this.clock.now,
        );
        if (r.type === 'writeToNetwork') replies.push(Buffer.from(r.data));
        else if (r.type === 'writeToTun') {
          const reply = this.echo(r.peer, r.data);
          if (reply) replies.push(reply);
        }
      }
      if (replies.length > 0 && !this.blocked.has(link.transport) && !this.paused) link.deliver(replies);
    });
  }

  private echo(peer: ResponderPeer, packet: Uint8Array): Buffer | undefined {
    const exp = this.expiry.get(peer.id);
    if (exp === undefined || exp <= this.clock.wall) {
      this.droppedExpired++;
      return undefined;
    }
    const udp = parseIpv4Udp(packet);
    if (!udp) return undefined;
    const reply = buildIpv4Udp({
      src: udp.ip.dst,
      dst: udp.ip.src,
      srcPort: udp.dstPort,
      dstPort: udp.srcPort,
      payload: udp.payload,
    });
    const e = this.responder.encapsulate(peer, reply, this.out, this.clock.now);
    if (e.type !== 'writeToNetwork') return undefined;
    this.echoed++;
    return Buffer.from(e.data);
  }
}
