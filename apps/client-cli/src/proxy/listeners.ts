/**
 * The local listening sockets of `vpnctl proxy`: a SOCKS5 and/or an HTTP proxy port.
 *
 * - Addresses are `PORT`, `HOST:PORT` or `[IPv6]:PORT`; the host must be a numeric address (no name
 *   is ever resolved locally). Loopback only, unless `allowRemote` is set AND credentials are
 *   configured: an open proxy on a LAN address would hand the tunnel to anyone there.
 * - Listen failures become UserErrors with CORRIDOR_ERR_PROXY_LISTEN and a hint (port in use, a
 *   privileged port, an address this machine does not have).
 * - At most MAX_CLIENTS local connections at once (all front ends); more are closed at once and
 *   counted ('tooManyClients'). `close()` stops listening and destroys every client connection.
 */
import net from 'node:net';
import { parseIp } from '@corridor/netstack';
import { CLI_ERROR_CODES, UsageError, UserError } from '../errors.js';
import { handleHttpClient } from './http-session.js';
import type { ProxyCore } from './proxy-core.js';
import { handleSocksClient } from './socks-session.js';

export const MAX_CLIENTS = 4096;

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
  /** As given back to the user: `127.0.0.1:1080`, `[::1]:1080`. */
  readonly text: string;
}

/** Parses a listen address; throws UsageError naming the flag. */
export function parseListenAddress(flag: string, value: string): ListenAddress {
  let host = '127.0.0.1';
  let portText = value;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(value);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
  } else if (value.includes(':')) {
    const i = value.lastIndexOf(':');
    host = value.slice(0, i);
    portText = value.slice(i + 1);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new UsageError(`${flag}: '${value}' is not HOST:PORT (e.g. 127.0.0.1:1080)`);
  }
  if (net.isIP(host) === 0) {
    throw new UsageError(`${flag}: '${host}' is not a numeric address (e.g. 127.0.0.1 or [::1])`);
  }
  const port = Number(portText);
  return { host, port, text: net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}` };
}

export function isLoopback(host: string): boolean {
  return parseIp(host)?.isLoopback === true || host === '::ffff:127.0.0.1';
}

export type FrontEnd = 'socks' | 'http';

export class ProxyListeners {
  private readonly servers: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();
  /** Where each front end actually listens (port 0 resolved). */
  readonly bound: Partial<Record<FrontEnd, string>> = {};

  constructor(private readonly core: ProxyCore) {}

  async listen(kind: FrontEnd, addr: ListenAddress): Promise<string> {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (sock) =>
      this.accept(kind, sock),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: addr.host, port: addr.port, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      throw listenError(kind, addr, e as NodeJS.ErrnoException);
    }
    server.on('error', () => undefined);
    this.servers.push(server);
    const a = server.address() as net.AddressInfo;
    const text = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    this.bound[kind] = text;
    return text;
  }

  private accept(kind: FrontEnd, sock: net.Socket): void {
    if (this.core.clients >= MAX_CLIENTS) {
      this.core.refuse('tooManyClients');
      sock.destroy();
      return;
    }
    this.core.clients++;
    this.sockets.add(sock);
    sock.once('close', () => {
      this.core.clients--;
      this.sockets.delete(sock);
    });
    if (kind === 'socks') handleSocksClient(this.core, sock);
    else handleHttpClient(this.core, sock);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

function listenError(kind: FrontEnd, addr: ListenAddress, e: NodeJS.ErrnoException): UserError {
  const flag = kind === 'socks' ? '--socks' : '--http';
  const what = `the ${kind === 'socks' ? 'SOCKS5' : 'HTTP'} proxy cannot listen on ${addr.text}`;
  switch (e.code) {
    case 'EADDRINUSE':
      return new UserError(
        CLI_ERROR_CODES.PROXY_LISTEN,
        `${what}: the port is in use`,
        `pick a free port with ${flag} ${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:PORT (see \`ss -ltnp\`), or stop the program using it`,
      );
    case 'EACCES':
      return new UserError(
        CLI_ERROR_CODES.PROXY_LISTEN,
        `${what}: permission denied (ports below 1024 need privileges)`,
        `use a port above 1023 with ${flag}`,
      );
    case 'EADDRNOTAVAIL':
      return new UserError(
        CLI_ERROR_CODES.PROXY_LISTEN,
        `${what}: this machine has no such address`,
        `use 127.0.0.1 or ::1 with ${flag}`,
      );
    default:
      return new UserError(
        CLI_ERROR_CODES.PROXY_LISTEN,
        `${what}: ${e.code ?? e.message}`,
        `try another address with ${flag}`,
        { cause: e },
      );
  }
}
