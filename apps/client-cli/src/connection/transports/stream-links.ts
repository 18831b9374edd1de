/**
 * Links over the node's HTTPS front: `tls` (the TCP framing straight over TLS) and `wss` (the same
 * framing inside binary WebSocket messages on an HTTPS path). Both are TcpClientBinds over a
 * verified TLS socket (tls-dial.ts), optionally through an HTTP CONNECT proxy, and reuse BindLink.
 */
import type net from 'node:net';
import type { PaddingMode } from '@corridor/protocol';
import { TcpClientBind } from '@corridor/tun/bind';
import { WebSocket, createWebSocketStream } from 'ws';
import { BindLink } from '../bind-link.js';
import type { Link } from '../link.js';
import type { ProxyUrl } from './http-connect.js';
import { dialTls, TlsDialError, type TlsTrust } from './tls-dial.js';

export interface FrontAddress {
  /** The node's address (resolved IP). */
  readonly ip: string;
  readonly port: number;
  /** SNI / Host name, or null (IP literal, no SNI). */
  readonly serverName: string | null;
  readonly wssPath: string;
  readonly trust: TlsTrust;
  readonly proxy: ProxyUrl | null;
  readonly padding: PaddingMode;
}

export async function openTlsLink(a: FrontAddress, timeoutMs: number): Promise<Link> {
  const socket = await dialTls({
    host: a.ip,
    port: a.port,
    serverName: a.serverName,
    trust: a.trust,
    proxy: a.proxy,
    timeoutMs,
    // Offered like a browser would: a TLS flow without ALPN is flagged by nDPI as "TLS (probably)
    // Not Carrying HTTPS".
    alpn: ['http/1.1'],
  });
  const bind = TcpClientBind.fromSocket(socket, { label: 'tls', padding: a.padding });
  return new BindLink(bind, bind.remote, 'tls');
}

export async function openWssLink(a: FrontAddress, timeoutMs: number): Promise<Link> {
  const socket = await dialTls({
    host: a.ip,
    port: a.port,
    serverName: a.serverName,
    trust: a.trust,
    proxy: a.proxy,
    timeoutMs,
    alpn: ['http/1.1'],
  });
  const hostPart = a.serverName ?? (a.ip.includes(':') ? `[${a.ip}]` : a.ip);
  const url = `wss://${hostPart}${a.port === 443 ? '' : `:${a.port}`}${a.wssPath}`;
  const ws = new WebSocket(url, {
    createConnection: () => socket,
    perMessageDeflate: false,
    handshakeTimeout: timeoutMs,
    maxPayload: 1 << 17,
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      reject(
        new TlsDialError(
          `the node answered the WebSocket upgrade on ${a.wssPath} with HTTP ${res.statusCode}`,
          'EWSUPGRADE',
        ),
      );
    });
    ws.once('error', (e) => {
      socket.destroy();
      reject(e);
    });
  });
  ws.removeAllListeners('error');
  // The WebSocket as a byte stream (one binary message per write) under the TCP framing.
  const stream = createWebSocketStream(ws);
  ws.once('close', () => stream.destroy());
  stream.on('error', () => stream.destroy());
  const socketLike = Object.assign(stream, {
    remoteAddress: socket.remoteAddress ?? a.ip,
    remotePort: socket.remotePort ?? a.port,
    localAddress: socket.localAddress,
    localPort: socket.localPort,
    setNoDelay: () => socketLike,
  }) as unknown as net.Socket;
  const bind = TcpClientBind.fromSocket(socketLike, { label: 'wss', padding: a.padding });
  return new BindLink(bind, bind.remote, 'wss');
}
