/**
 * What the SOCKS5 and HTTP front ends share: dialing through the tunnel, relaying bytes with
 * backpressure, checking credentials, counting.
 *
 * Contract:
 * - `dial(host, port)` resolves names through the tunnel (resolver.ts), then opens a netstack TCP
 *   connection from the tunnel address; resolves with the connected socket or rejects with a
 *   DialError naming what failed (`reason`, one of DIAL_FAILURES, counted per reason) — the front
 *   ends map it to a SOCKS reply code or an HTTP status. Never dials while the tunnel is down.
 * - `relay(local, remote)` pipes both ways. Backpressure is end to end: a local reader that stops
 *   reading stops the pipe, the netstack socket stops reading, its receive buffer fills and the TCP
 *   window to the far end closes; likewise the other way. Memory per connection is bounded by the
 *   streams' high-water marks plus the stack's per-connection buffers. Half-close is carried (FIN
 *   both ways); an error on either side destroys both.
 * - Credentials are compared in constant time (SHA-256 digests, timingSafeEqual).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type net from 'node:net';
import type { Netstack, TcpSocket } from '@corridor/netstack';
import { ResolveError, type TunnelResolver } from './resolver.js';

export const DIAL_TIMEOUT_MS = 20_000;

/** Why a proxied connection could not be opened. Closed list, counted per reason. */
export const DIAL_FAILURES = [
  'tunnelDown',
  'resolveFailed',
  'noDns',
  'refused',
  'timeout',
  'unreachable',
  'netUnreachable',
  'other',
] as const;
export type DialFailure = (typeof DIAL_FAILURES)[number];

/** Why a client was turned away before dialing. Closed list, counted per reason. */
export const REFUSALS = [
  'badRequest',
  'authFailed',
  'unsupported',
  'tooManyClients',
  'handshakeTimeout',
] as const;
export type Refusal = (typeof REFUSALS)[number];

export class DialError extends Error {
  constructor(
    readonly reason: DialFailure,
    message: string,
  ) {
    super(message);
    this.name = 'DialError';
  }
}

export interface ProxyAuth {
  readonly username: string;
  readonly password: string;
}

export interface ProxyCounters {
  /** Proxied TCP connections open now / ever opened / failed to open. */
  active: number;
  total: number;
  failed: number;
  udpActive: number;
  udpTotal: number;
  /** Payload bytes client -> far end, and back. */
  bytesUp: number;
  bytesDown: number;
}

export interface ProxyCoreDeps {
  readonly stack: () => Netstack | null;
  /** True while the tunnel carries traffic. */
  readonly ready: () => boolean;
  readonly resolver: TunnelResolver;
  readonly auth: ProxyAuth | null;
  readonly dialTimeoutMs?: number;
}

const digest = (s: string | Uint8Array) => createHash('sha256').update(s).digest();

export class ProxyCore {
  readonly counters: ProxyCounters = {
    active: 0,
    total: 0,
    failed: 0,
    udpActive: 0,
    udpTotal: 0,
    bytesUp: 0,
    bytesDown: 0,
  };
  readonly dialFailures = Object.fromEntries(DIAL_FAILURES.map((r) => [r, 0])) as Record<DialFailure, number>;
  readonly refusals = Object.fromEntries(REFUSALS.map((r) => [r, 0])) as Record<Refusal, number>;
  /** Local client sockets (front-end connections) open now: bounded by MAX_CLIENTS. */
  clients = 0;
  private readonly userDigest: Buffer | null;
  private readonly passDigest: Buffer | null;

  constructor(readonly deps: ProxyCoreDeps) {
    this.userDigest = deps.auth ? digest(deps.auth.username) : null;
    this.passDigest = deps.auth ? digest(deps.auth.password) : null;
  }

  get authRequired(): boolean {
    return this.deps.auth !== null;
  }

  /** Constant-time check of a username/password pair. True when no auth is configured. */
  checkCredentials(username: Uint8Array | string, password: Uint8Array | string): boolean {
    if (this.userDigest === null || this.passDigest === null) return true;
    const u = timingSafeEqual(digest(username), this.userDigest);
    const p = timingSafeEqual(digest(password), this.passDigest);
    return u && p;
  }

  refuse(reason: Refusal): void {
    this.refusals[reason]++;
  }

  private fail(reason: DialFailure, message: string): DialError {
    this.dialFailures[reason]++;
    this.counters.failed++;
    return new DialError(reason, message);
  }

  async resolve(host: string): Promise<string[]> {
    try {
      return await this.deps.resolver.lookup(host);
    } catch (e) {
      if (e instanceof ResolveError) {
        throw this.fail(e.code === 'ENODNS' ? 'noDns' : 'resolveFailed', e.message);
      }
      throw this.fail('other', (e as Error).message);
    }
  }

  /** Opens a connection through the tunnel to host:port (names resolved through the tunnel). */
  async dial(host: string, port: number): Promise<TcpSocket> {
    if (!this.deps.ready() || this.deps.stack() === null) {
      throw this.fail('tunnelDown', 'the tunnel is not connected (reconnecting)');
    }
    const addresses = await this.resolve(host);
    let last: DialError | undefined;
    // Try the addresses in order (IPv4 first); stop at the first that answers, at most four.
    for (const address of addresses.slice(0, 4)) {
      const ns = this.deps.stack();
      if (ns === null || !this.deps.ready()) {
        throw this.fail('tunnelDown', 'the tunnel went down');
      }
      try {
        const sock = await this.connectOne(ns, address, port);
        this.counters.total++;
        return sock;
      } catch (e) {
        last = e as DialError;
        if (last.reason === 'refused') break; // the host is there and said no
      }
    }
    this.dialFailures[last!.reason]++;
    this.counters.failed++;
    throw last!;
  }

  private connectOne(ns: Netstack, address: string, port: number): Promise<TcpSocket> {
    return new Promise((resolve, reject) => {
      let sock: TcpSocket;
      try {
        sock = ns.connect({ host: address, port, allowHalfOpen: true });
      } catch (e) {
        reject(new DialError('other', `cannot connect to ${address}:${port}: ${(e as Error).message}`));
        return;
      }
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new DialError('timeout', `no answer from ${address}:${port} in ${this.timeoutMs / 1000} s`));
      }, this.timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(sock);
      });
      sock.once('error', (e: Error & { code?: string }) => {
        clearTimeout(timer);
        const where = `${address}:${port}`;
        switch (e.code) {
          case 'ECONNREFUSED':
            reject(new DialError('refused', `${where} refused the connection`));
            break;
          case 'ETIMEDOUT':
            reject(new DialError('timeout', `no answer from ${where}`));
            break;
          case 'EHOSTUNREACH':
            reject(new DialError('unreachable', `${where} is unreachable`));
            break;
          case 'ENETUNREACH':
            reject(new DialError('netUnreachable', `the network of ${where} is unreachable`));
            break;
          default:
            reject(new DialError('other', `connecting to ${where} failed: ${e.message}`));
        }
      });
    });
  }

  private get timeoutMs(): number {
    return this.deps.dialTimeoutMs ?? DIAL_TIMEOUT_MS;
  }

  /**
   * Pipes local <-> remote until both directions are done or either side fails. `head` is data the
   * client sent after its request (before the tunnel connection existed): it goes first.
   */
  relay(local: net.Socket, remote: TcpSocket, head?: Uint8Array): void {
    const c = this.counters;
    c.active++;
    let closed = 0;
    // What the client sent before (its request) is not payload.
    const upBefore = local.bytesRead - local.readableLength;
    const onClose = () => {
      if (++closed < 2) return;
      c.active--;
      c.bytesUp += local.bytesRead - upBefore;
      c.bytesDown += remote.bytesRead;
    };
    const fail = () => {
      local.destroy();
      remote.destroy();
    };
    local.on('error', fail);
    remote.on('error', fail);
    // The client is gone: like close(2) on the far connection (FIN, or RST when data is unread).
    local.on('close', () => {
      remote.destroy();
      onClose();
    });
    remote.on('close', () => {
      if (!local.destroyed && !local.writableEnded) local.end();
      onClose();
    });
    if (head && head.length > 0) {
      c.bytesUp += head.length;
      remote.write(head);
    }
    local.pipe(remote);
    remote.pipe(local);
  }
}
