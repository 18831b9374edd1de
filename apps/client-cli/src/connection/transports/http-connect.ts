/**
 * HTTP CONNECT through a proxy (`--proxy http://host:port`): the only way out of some networks.
 * `parseConnectResponse` is the sans-IO part (hostile bytes from the proxy: bounded, never throws);
 * `connectThroughProxy` does the socket work and resolves with a raw TCP socket to the target, the
 * proxy's reply consumed (bytes after the reply head are put back on the socket).
 */
import net from 'node:net';

/** Largest proxy reply head we read before giving up. */
export const MAX_PROXY_REPLY_BYTES = 8192;

export type ConnectResponse =
  | { readonly kind: 'more' }
  | { readonly kind: 'ok'; readonly headLength: number }
  | { readonly kind: 'refused'; readonly status: number; readonly reason: string }
  | { readonly kind: 'malformed' };

const HEAD_END = Buffer.from('\r\n\r\n');

export function parseConnectResponse(buf: Uint8Array): ConnectResponse {
  if (!(buf instanceof Uint8Array)) return { kind: 'malformed' };
  const b = Buffer.from(buf.buffer, buf.byteOffset, Math.min(buf.length, MAX_PROXY_REPLY_BYTES + 4));
  const end = b.indexOf(HEAD_END);
  if (end < 0) {
    if (b.length >= 5 && !b.subarray(0, 5).equals(Buffer.from('HTTP/'))) return { kind: 'malformed' };
    return b.length > MAX_PROXY_REPLY_BYTES ? { kind: 'malformed' } : { kind: 'more' };
  }
  if (end > MAX_PROXY_REPLY_BYTES) return { kind: 'malformed' };
  const statusLine = b.subarray(0, b.indexOf('\r\n')).toString('latin1');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (m === null) return { kind: 'malformed' };
  const status = Number(m[1]);
  if (status >= 200 && status < 300) return { kind: 'ok', headLength: end + HEAD_END.length };
  return { kind: 'refused', status, reason: (m[2] ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 80) };
}

export interface ProxyUrl {
  readonly host: string;
  readonly port: number;
}

/** Parses `http://host:port` (no credentials, no path); null when it is something else. */
export function parseProxyUrl(text: string): ProxyUrl | null {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' || u.username || u.password || (u.pathname !== '/' && u.pathname !== ''))
    return null;
  if (u.search || u.hash) return null;
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: u.port ? Number(u.port) : 80 };
}

function authority(host: string, port: number): string {
  return `${net.isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

export class ProxyError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Opens a tunnel to `host:port` through the proxy. Rejects with a ProxyError naming what failed. */
export function connectThroughProxy(
  proxy: ProxyUrl,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: proxy.host, port: proxy.port, noDelay: true });
    let buffered = Buffer.alloc(0);
    const fail = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    const timer = setTimeout(
      () =>
        fail(
          new ProxyError(
            `the proxy ${authority(proxy.host, proxy.port)} did not answer in time`,
            'ETIMEDOUT',
          ),
        ),
      timeoutMs,
    );
    socket.once('error', (e: NodeJS.ErrnoException) =>
      fail(
        new ProxyError(
          `cannot reach the proxy ${authority(proxy.host, proxy.port)}: ${e.code ?? e.message}`,
          e.code ?? 'EPROXY',
        ),
      ),
    );
    socket.once('connect', () => {
      const target = authority(host, port);
      socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    });
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const r = parseConnectResponse(buffered);
      if (r.kind === 'more') return;
      socket.off('data', onData);
      if (r.kind === 'ok') {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.pause();
        const rest = buffered.subarray(r.headLength);
        if (rest.length > 0) socket.unshift(rest);
        resolve(socket);
      } else if (r.kind === 'refused') {
        fail(
          new ProxyError(
            `the proxy refused CONNECT ${authority(host, port)}: ${r.status} ${r.reason}`,
            'EPROXYREFUSED',
          ),
        );
      } else {
        fail(new ProxyError('the proxy answered something that is not HTTP', 'EPROXYPROTO'));
      }
    };
    socket.on('data', onData);
  });
}
