/**
 * A fake node whose "internet" is a second userspace stack: inner packets the client sends through
 * the tunnel are fed to `world` (a Netstack accepting connections to ANY address, like the real
 * internet behind a NATting node), and whatever `world` sends goes back through the tunnel. Runs on
 * real time (the proxy's stack and the world's use real timers), over FakeLinks.
 *
 * Services of the world: TCP echo on port 7, a byte source on port 19 (`<n>\n` asks for n bytes),
 * a "who am I" on port 80 (answers the source address it sees), UDP echo on port 7 (any address),
 * DNS on the gateway 10.8.0.1:53 with `records` (A / AAAA), refused on port 9 (nothing listens).
 */
import { ResponderTunnel, type ResponderPeer } from '@corridor/protocol';
import { exampleTunnelParams } from '@corridor/protocol/testing';
import { Netstack, type TcpSocket } from '@corridor/netstack';
import type { TunnelParams } from '@corridor/protocol';
import { FakeNode, type FakeLink } from './fake-node.js';

export const realClock = {
  get now() {
    return performance.now();
  },
  get wall() {
    return Date.now();
  },
};

function qname(q: Buffer): string {
  const labels: string[] = [];
  for (let p = 12; p < q.length && q[p] !== 0; p += 1 + q[p]!)
    labels.push(q.toString('latin1', p + 1, p + 1 + q[p]!));
  return labels.join('.');
}

export function dnsReply(
  q: Buffer,
  records: Record<string, { a?: string[]; aaaa?: string[] }>,
): Buffer | null {
  if (q.length < 17) return null;
  let p = 12;
  const labels: string[] = [];
  while (p < q.length && q[p] !== 0) {
    const n = q[p]!;
    labels.push(q.subarray(p + 1, p + 1 + n).toString('latin1'));
    p += 1 + n;
  }
  const qEnd = p + 5;
  if (qEnd > q.length) return null;
  const type = q.readUInt16BE(p + 1);
  const name = labels.join('.').toLowerCase();
  const rec = records[name];
  const addrs = type === 1 ? (rec?.a ?? []) : type === 28 ? (rec?.aaaa ?? []) : [];
  const head = Buffer.from(q.subarray(0, qEnd));
  head.writeUInt16BE(0x8180 | (rec ? 0 : 3), 2);
  head.writeUInt16BE(addrs.length, 6);
  const answers = addrs.map((a) => {
    const rr = Buffer.alloc(12 + (type === 1 ? 4 : 16));
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(30, 6);
    rr.writeUInt16BE(type === 1 ? 4 : 16, 10);
    if (type === 1) a.split('.').forEach((o, i) => (rr[12 + i] = Number(o)));
    else {
      const full = a.includes('::')
        ? (() => {
            const [h, t] = a.split('::');
            const hs = h ? h.split(':') : [];
            const ts = t ? t.split(':') : [];
            return [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
          })()
        : a.split(':');
      full.forEach((g: string, i: number) => rr.writeUInt16BE(parseInt(g, 16), 12 + i * 2));
    }
    return rr;
  });
  return Buffer.concat([head, ...answers]);
}

export class FakeInternetNode extends FakeNode {
  readonly world: Netstack;
  dnsQueries: string[] = [];
  /** Sockets the world accepted (for backpressure checks). */
  readonly accepted: TcpSocket[] = [];
  private peer: ResponderPeer | null = null;
  private link: FakeLink | null = null;
  private readonly wout = Buffer.alloc(4096);

  constructor(
    readonly records: Record<string, { a?: string[]; aaaa?: string[] }> = {},
    params: Partial<TunnelParams> = {},
  ) {
    super(realClock as unknown as { now: number; wall: number });
    const self = this as unknown as { responder: ResponderTunnel };
    // Same responder as FakeNode's, but handing out `params`.
    self.responder = new ResponderTunnel({
      staticKeys: this.keys,
      clock: () => performance.now(),
      wallClock: () => Date.now(),
      authorize: () => ({ ok: true, params: exampleTunnelParams(params) }),
    });
    this.world = new Netstack({
      addresses: ['10.8.0.1', 'fd00:8::1'],
      mtu: 1420,
      sink: (packet) => this.fromWorld(packet),
    });
    const any = this.world.listenAny({ deferred: true });
    any.on('request', (req) => {
      if (req.localPort === 9) req.reject('reset');
      else this.serve(req.accept());
    });
    const dns = this.world.bindUdp({ port: 53, address: '10.8.0.1' });
    dns.on('message', (msg, rinfo) => {
      this.dnsQueries.push(qname(msg));
      const reply = dnsReply(msg, this.records);
      if (reply) dns.send(reply, rinfo.port, rinfo.address);
    });
    this.world.listenAnyUdp().on('flow', (flow) => {
      if (flow.localPort !== 7) return;
      flow.on('message', (m: Buffer) => flow.send(Buffer.concat([Buffer.from(`${flow.remoteAddress}:`), m])));
    });
  }

  private serve(s: TcpSocket): void {
    this.accepted.push(s);
    s.on('error', () => undefined);
    if (s.localPort === 7) s.pipe(s);
    else if (s.localPort === 80) s.end(`${s.remoteAddress}\n`);
    else if (s.localPort === 19) {
      let line = '';
      s.on('data', (d: Buffer) => {
        line += d.toString('latin1');
        const nl = line.indexOf('\n');
        if (nl < 0) return;
        let left = Number(line.slice(0, nl));
        s.removeAllListeners('data');
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        const pump = () => {
          while (left > 0) {
            const n = Math.min(left, chunk.length);
            left -= n;
            if (!s.write(chunk.subarray(0, n))) {
              s.once('drain', pump);
              return;
            }
          }
          s.end();
        };
        pump();
      });
    } else if (s.localPort === 8080) {
      // An origin web server: answers with the request head it got.
      let head = '';
      s.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        const body = head.slice(0, head.indexOf('\r\n\r\n'));
        s.end(
          `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
    } else s.destroy();
  }

  override deliverToNode(link: FakeLink, messages: Buffer[]): void {
    if (this.blocked.has(link.transport) || this.paused) return;
    setImmediate(() => {
      const replies: Buffer[] = [];
      const out = Buffer.alloc(4096);
      for (const msg of messages) {
        if (msg[0] === 1) this.initiations.push({ transport: link.transport, ticket: '' });
        const r = this.responder.decapsulate(
          msg,
          { ip: '198.18.0.2', port: 40000 + link.id },
          out,
          performance.now(),
        );
        if (r.type === 'writeToNetwork') replies.push(Buffer.from(r.data));
        else if (r.type === 'writeToTun') {
          this.peer = r.peer;
          this.link = link;
          this.world.input(r.data);
        }
        if ((r.type === 'writeToNetwork' || r.type === 'done') && r.peer) {
          this.peer = r.peer;
          this.link = link;
        }
      }
      if (replies.length > 0 && !this.blocked.has(link.transport) && !this.paused) link.deliver(replies);
    });
  }

  private fromWorld(packet: Uint8Array): void {
    const peer = this.peer;
    const link = this.link;
    if (!peer || !link || link.closed || this.paused) return;
    const e = this.responder.encapsulate(peer, packet, this.wout, performance.now());
    if (e.type === 'writeToNetwork') {
      const copy = Buffer.from(e.data);
      setImmediate(() => link.deliver([copy]));
    }
  }
}
