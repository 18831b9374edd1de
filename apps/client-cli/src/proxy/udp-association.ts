/**
 * A SOCKS5 UDP ASSOCIATE relay (RFC 1928 section 7): a local UDP socket on the proxy's address,
 * talking to one client, and a netstack UDP socket on the tunnel address, talking to the world.
 *
 *   client -> world: datagrams from the client's address only (the TCP control connection's peer; the
 *     first datagram fixes its port unless the request named one); header parsed (fragments dropped),
 *     names resolved through the tunnel, data sent from the tunnel address. While names resolve at
 *     most MAX_PENDING datagrams wait; more are dropped (counted).
 *   world -> client: each datagram gets the header naming its source and goes to the client.
 *
 * Drops are counted per reason (UDP_DROP_REASONS). `close()` (the TCP control connection ended)
 * closes both sockets; idempotent. A new tunnel session (new stack) gets a new tunnel-side socket.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Netstack, UdpSocket } from '@corridor/netstack';
import type { ProxyCore } from './proxy-core.js';
import { buildUdpDatagram, parseUdpDatagram } from './socks5-wire.js';

export const MAX_PENDING = 64;

export const UDP_DROP_REASONS = [
  'notFromClient',
  'malformed',
  'resolveFailed',
  'pendingFull',
  'tunnelDown',
  'sendFailed',
] as const;
export type UdpDropReason = (typeof UDP_DROP_REASONS)[number];

export interface UdpAssociationOptions {
  readonly bindAddress: string;
  readonly clientAddress: string;
  /** 0 = learn from the first datagram. */
  readonly clientPort: number;
}

const normalize = (a: string) => (a.startsWith('::ffff:') ? a.slice(7) : a);

export class UdpAssociation {
  readonly drops = Object.fromEntries(UDP_DROP_REASONS.map((r) => [r, 0])) as Record<UdpDropReason, number>;
  private clientPort: number;
  private tunnelSocket: UdpSocket | null = null;
  private tunnelStack: Netstack | null = null;
  private pending = 0;
  private closed = false;

  private constructor(
    private readonly core: ProxyCore,
    private readonly local: dgram.Socket,
    private readonly clientAddress: string,
    clientPort: number,
  ) {
    this.clientPort = clientPort;
    local.on('message', (msg, rinfo) => this.fromClient(msg, rinfo));
    local.on('error', () => this.close());
    core.counters.udpActive++;
    core.counters.udpTotal++;
  }

  static open(core: ProxyCore, opts: UdpAssociationOptions): Promise<UdpAssociation> {
    const bind = normalize(opts.bindAddress);
    const sock = dgram.createSocket({ type: isIPv6(bind) ? 'udp6' : 'udp4' });
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, bind, () => {
        sock.off('error', reject);
        resolve(new UdpAssociation(core, sock, normalize(opts.clientAddress), opts.clientPort));
      });
    });
  }

  address(): { address: string; port: number } {
    const a = this.local.address();
    return { address: a.address, port: a.port };
  }

  private drop(reason: UdpDropReason): void {
    this.drops[reason]++;
  }

  private socketFor(): UdpSocket | null {
    const ns = this.core.deps.stack();
    if (ns === null || !this.core.deps.ready()) return null;
    if (this.tunnelStack !== ns || this.tunnelSocket === null) {
      this.tunnelSocket?.close();
      const s = ns.bindUdp();
      s.on('error', () => undefined);
      s.on('message', (data, rinfo) => this.toClient(data, rinfo.address, rinfo.port));
      this.tunnelSocket = s;
      this.tunnelStack = ns;
    }
    return this.tunnelSocket;
  }

  private fromClient(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    if (normalize(rinfo.address) !== this.clientAddress) return this.drop('notFromClient');
    if (this.clientPort === 0) this.clientPort = rinfo.port;
    else if (rinfo.port !== this.clientPort) return this.drop('notFromClient');
    const d = parseUdpDatagram(msg);
    if (d.type !== 'ok') return this.drop('malformed');
    const { host, port, kind } = d.value.address;
    const data = d.value.data; // a view into msg, which is ours
    if (kind !== 'domain') {
      this.sendOut(data, host, port);
      return;
    }
    if (this.pending >= MAX_PENDING) return this.drop('pendingFull');
    this.pending++;
    this.core.deps.resolver.lookup(host).then(
      (addresses) => {
        this.pending--;
        this.sendOut(data, addresses[0]!, port);
      },
      () => {
        this.pending--;
        this.drop('resolveFailed');
      },
    );
  }

  private sendOut(data: Uint8Array, address: string, port: number): void {
    if (this.closed) return;
    const s = this.socketFor();
    if (s === null) return this.drop('tunnelDown');
    if (!s.send(data, port, address)) this.drop('sendFailed');
  }

  private toClient(data: Buffer, address: string, port: number): void {
    if (this.closed || this.clientPort === 0) return;
    this.local.send(buildUdpDatagram(address, port, data), this.clientPort, this.clientAddress);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.core.counters.udpActive--;
    this.tunnelSocket?.close();
    this.tunnelSocket = null;
    try {
      this.local.close();
    } catch {
      // already closed
    }
  }
}
