/**
 * A minimal tunnel client for tests (the vpnctl data path is issue 10's): an InitiatorTunnel between a
 * TunDevice (kernel TUN or MemoryTun) and a Bind (UDP, TCP or memory). It retransmits initiations and
 * sends keepalives from one timer, and exposes the parameters the node assigned.
 */
import {
  InitiatorTunnel,
  type TunnelParams,
  type X25519KeyPair,
  type X25519PublicKey,
} from '@corridor/protocol';
import type { TunDevice } from '@corridor/tun';
import type { Bind, BindEndpoint } from '@corridor/tun/bind';

export interface TestClientOptions {
  tun: TunDevice | null;
  bind: Bind;
  node: BindEndpoint;
  nodeKey: X25519PublicKey;
  keys: X25519KeyPair;
  ticket: Uint8Array;
  requestIPv6?: boolean;
  /** Called for each decrypted packet when there is no TUN. */
  onPacket?: (packet: Buffer) => void;
}

export class TestClient {
  readonly tunnel: InitiatorTunnel;
  params: TunnelParams | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly out = Buffer.alloc(70000);
  private readonly outTun = Buffer.alloc(70000);
  private waiters: ((p: TunnelParams) => void)[] = [];
  lastError: string | null = null;
  readonly received: Buffer[] = [];

  constructor(private readonly o: TestClientOptions) {
    this.tunnel = new InitiatorTunnel({
      staticKeys: o.keys,
      nodeStaticPublicKey: o.nodeKey,
      ticket: o.ticket,
      options: { requestIPv6: o.requestIPv6 ?? true, requestedMtu: 0 },
    });
    this.listen(o.bind);
    o.tun?.onPackets((batch) => {
      for (let i = 0; i < batch.count; i++) this.sendPacket(batch.packet(i));
    });
  }

  private listen(bind: Bind): void {
    bind.onReceive((batch) => {
      for (let i = 0; i < batch.count; i++) this.fromNetwork(batch.datagram(i));
    });
  }

  /**
   * Roams: from now on sends and receives through `bind` (another socket: a new source address or
   * port, as after a network change) and tells the node with a keepalive. Returns the old bind (the
   * caller closes it).
   */
  rebind(bind: Bind): Bind {
    const old = this.o.bind;
    old.onReceive(null);
    this.o.bind = bind;
    this.listen(bind);
    this.sendPacket(Buffer.alloc(0));
    return old;
  }

  private fromNetwork(d: Buffer): void {
    const r = this.tunnel.decapsulate(d, this.outTun);
    if (r.type === 'handshakeComplete') {
      this.params = r.params;
      this.o.bind.sendTo(r.data, this.o.node);
      for (const w of this.waiters.splice(0)) w(r.params);
    } else if (r.type === 'writeToTun') {
      if (this.o.tun) this.o.tun.write(r.data);
      else {
        const copy = Buffer.from(r.data);
        this.received.push(copy);
        this.o.onPacket?.(copy);
      }
    } else if (r.type === 'writeToNetwork') {
      this.o.bind.sendTo(r.data, this.o.node);
    } else if (r.type === 'error') this.lastError = r.reason;
  }

  sendPacket(packet: Uint8Array): boolean {
    const r = this.tunnel.encapsulate(packet, this.out);
    if (r.type === 'writeToNetwork') return this.o.bind.sendTo(r.data, this.o.node);
    return false;
  }

  /** Sends the initiation and resolves with the tunnel parameters (rejects after `timeoutMs`). */
  connect(timeoutMs = 5000): Promise<TunnelParams> {
    const p = new Promise<TunnelParams>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`no handshake within ${timeoutMs} ms (last error: ${this.lastError})`)),
        timeoutMs,
      );
      this.waiters.push((params) => {
        clearTimeout(t);
        resolve(params);
      });
    });
    const init = this.tunnel.connect();
    if (init.type === 'writeToNetwork') this.o.bind.sendTo(init.data, this.o.node);
    this.timer ??= setInterval(() => {
      const r = this.tunnel.updateTimers();
      if (r.type === 'writeToNetwork') this.o.bind.sendTo(r.data, this.o.node);
    }, 200);
    return p;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.tunnel.close();
  }
}

/** An IPv4 ICMP echo request (checksums filled in). */
export function icmpEcho(
  src: string,
  dst: string,
  id: number,
  seq: number,
  payload = Buffer.from('corridor-ping'),
): Buffer {
  const p = Buffer.alloc(28 + payload.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64;
  p[9] = 1;
  src.split('.').forEach((x, i) => (p[12 + i] = Number(x)));
  dst.split('.').forEach((x, i) => (p[16 + i] = Number(x)));
  p.writeUInt16BE(checksum(p, 0, 20), 10);
  p[20] = 8;
  p.writeUInt16BE(id, 24);
  p.writeUInt16BE(seq, 26);
  payload.copy(p, 28);
  p.writeUInt16BE(checksum(p, 20, p.length), 22);
  return p;
}

export function checksum(b: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2)
    sum += ((b[i] as number) << 8) | (i + 1 < end ? (b[i + 1] as number) : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
