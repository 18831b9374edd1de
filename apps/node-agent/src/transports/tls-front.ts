/**
 * The node's HTTPS front (the `tls` and `wss` transports, default port 443): one TLS 1.3 listener
 * that looks like a web server to anyone who does not open a tunnel.
 *
 * Flow per connection:
 *   1. TLS handshake (Node's TLS, the operator's certificate; TLS 1.3 only). Failed handshakes are
 *      counted ('tlsError').
 *   2. Sniff: the decrypted bytes are buffered (at most SNIFF_MAX_BYTES) and classified by
 *      sniff.ts until it decides or `sniffTimeoutMs` passes.
 *   3a. 'tunnel'    the socket (bytes read so far put back) is adopted by `tlsBind`, a standalone
 *                   TcpServerBind: the ordinary TCP framing, Noise handshake and ticket inside.
 *   3b. 'websocket' the sniffed request head goes to the ws library's upgrade handler (which checks
 *                   the WebSocket handshake and answers 400 when it is wrong); the accepted WebSocket, as a byte stream (one binary message per
 *                   write, the TCP framing inside), is adopted by `wssBind`.
 *   3c. anything else (wrong path, plain GET, junk, nothing within the timeout) is spliced to the
 *                   configured fallback web server (plain TCP `host:port`; the bytes read so far are
 *                   replayed first), so a prober sees that site. Without a fallback, the front answers
 *                   like a generic web server: `404 Not Found` for HTTP, `400 Bad Request` for
 *                   anything else, never a protocol error.
 *
 * Ownership: the binds belong to the front (`binds()` lists them for the engine); `close()` stops the
 * listener, ends spliced connections and closes both binds. Counters: `stats()`, per outcome and per
 * fallback reason (a closed union, FALLBACK_REASONS).
 */
import type http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { TcpServerBind, type Bind } from '@corridor/tun/bind';
import type { PaddingMode } from '@corridor/protocol';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import {
  FALLBACK_REASONS,
  SNIFF_MAX_BYTES,
  looksLikeHttp,
  parseRequestHead,
  sniffFirstBytes,
  type FallbackReason,
} from './sniff.js';

export const DEFAULT_SNIFF_TIMEOUT_MS = 3_000;
/**
 * Connections still being sniffed at once; more are closed at once (a flood of idle TLS connections
 * costs at most this many sockets for the sniff timeout).
 */
export const MAX_PENDING_SNIFFS = 1024;
/** A connection held by the generic responder (no fallback) without a full request is closed then. */
const GENERIC_IDLE_MS = 30_000;

export interface TlsFrontOptions {
  readonly host: string;
  readonly port: number;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Serve the TLS framing (the `tls` transport). */
  readonly tlsFraming: boolean;
  /** HTTPS path of the WebSocket transport, or null (wss off). */
  readonly wssPath: string | null;
  /** Where connections that do not open a tunnel go, or null for the built-in 404 responder. */
  readonly fallback: { readonly host: string; readonly port: number } | null;
  readonly padding: PaddingMode;
  /** Cheap structural + mac1 check of a candidate initiation. */
  readonly acceptsInitiation: (message: Uint8Array) => boolean;
  readonly sniffTimeoutMs?: number;
  readonly maxConnectionsPerAddress?: number;
  readonly log?: (level: 'debug' | 'warn', text: string) => void;
}

export interface TlsFrontStats {
  tunnel: number;
  websocket: number;
  fallback: Record<FallbackReason, number>;
  /** Spliced connections that could not reach the fallback server. */
  fallbackUnreachable: number;
  tlsError: number;
  /** Connections closed at once because MAX_PENDING_SNIFFS were being sniffed. */
  overloaded: number;
}

const NOT_FOUND_BODY =
  '<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';
const BAD_REQUEST_BODY =
  '<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

function genericResponse(status: '404 Not Found' | '400 Bad Request', body: string): string {
  return (
    `HTTP/1.1 ${status}\r\nServer: nginx\r\nDate: ${new Date().toUTCString()}\r\n` +
    `Content-Type: text/html\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

export class TlsFront {
  readonly tlsBind: TcpServerBind | null;
  readonly wssBind: TcpServerBind | null;
  private readonly counters: TlsFrontStats = {
    tunnel: 0,
    websocket: 0,
    fallback: Object.fromEntries(FALLBACK_REASONS.map((r) => [r, 0])) as Record<FallbackReason, number>,
    fallbackUnreachable: 0,
    tlsError: 0,
    overloaded: 0,
  };
  private readonly pending = new Set<net.Socket>();
  private readonly spliced = new Set<net.Socket>();
  private readonly wss: WebSocketServer;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: tls.Server,
    private readonly opts: TlsFrontOptions,
  ) {
    const limits = {
      padding: opts.padding,
      ...(opts.maxConnectionsPerAddress !== undefined
        ? { maxConnectionsPerAddress: opts.maxConnectionsPerAddress }
        : {}),
    };
    this.tlsBind = opts.tlsFraming ? TcpServerBind.standalone({ ...limits, label: 'tls' }) : null;
    this.wssBind = opts.wssPath !== null ? TcpServerBind.standalone({ ...limits, label: 'wss' }) : null;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 17, perMessageDeflate: false });
    server.on('secureConnection', (socket) => this.sniff(socket));
    server.on('tlsClientError', () => {
      this.counters.tlsError++;
    });
  }

  /** Listens; rejects with the listen error (EADDRINUSE, EACCES, a bad certificate...). */
  static listen(opts: TlsFrontOptions): Promise<TlsFront> {
    return new Promise((resolve, reject) => {
      let server: tls.Server;
      try {
        server = tls.createServer({
          cert: opts.cert,
          key: opts.key,
          minVersion: 'TLSv1.3',
          ALPNProtocols: ['http/1.1'],
          // The sniff timeout bounds the first bytes; the TLS handshake itself gets this long.
          handshakeTimeout: 10_000,
        });
      } catch (e) {
        reject(e as Error);
        return;
      }
      const onError = (e: Error) => reject(e);
      server.once('error', onError);
      server.listen({ host: opts.host, port: opts.port }, () => {
        server.off('error', onError);
        resolve(new TlsFront(server, opts));
      });
    });
  }

  get localAddress(): string {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.address : '';
  }

  get localPort(): number {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  /** The binds the engine serves (tls framing and/or wss). */
  binds(): Bind[] {
    return [this.tlsBind, this.wssBind].filter((b): b is TcpServerBind => b !== null);
  }

  stats(): TlsFrontStats {
    return { ...this.counters, fallback: { ...this.counters.fallback } };
  }

  // ---- 2. sniff ---------------------------------------------------------------------------

  private sniff(socket: tls.TLSSocket): void {
    if (this.pending.size >= MAX_PENDING_SNIFFS) {
      this.counters.overloaded++;
      socket.destroy();
      return;
    }
    this.pending.add(socket);
    const chunks: Buffer[] = [];
    let bytes = 0;
    let decided = false;
    const decide = (kind: 'tunnel' | 'websocket' | FallbackReason) => {
      if (decided) return;
      decided = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      this.pending.delete(socket);
      const buffered = Buffer.concat(chunks);
      if (this.closing) {
        socket.destroy();
        return;
      }
      if (kind === 'tunnel') {
        this.counters.tunnel++;
        if (buffered.length > 0) socket.unshift(buffered);
        if (this.tlsBind!.accept(socket)) socket.resume();
      } else if (kind === 'websocket') {
        this.upgrade(socket, buffered);
      } else {
        this.counters.fallback[kind]++;
        this.opts.log?.('debug', `front: ${socket.remoteAddress} -> fallback (${kind})`);
        this.toFallback(socket, buffered);
      }
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      bytes += chunk.length;
      const all = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      if (chunks.length > 1) {
        chunks.length = 0;
        chunks.push(all);
      }
      const r = sniffFirstBytes(all, {
        wssPath: this.opts.wssPath,
        tlsFraming: this.opts.tlsFraming,
        acceptsInitiation: this.opts.acceptsInitiation,
      });
      if (r.kind === 'more') {
        if (bytes > SNIFF_MAX_BYTES) decide('tooLarge');
        return;
      }
      decide(r.kind === 'fallback' ? r.reason : r.kind);
    };
    const onClose = () => {
      decided = true;
      clearTimeout(timer);
      this.pending.delete(socket);
    };
    const timer = setTimeout(() => decide('timeout'), this.opts.sniffTimeoutMs ?? DEFAULT_SNIFF_TIMEOUT_MS);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', () => socket.destroy());
  }

  // ---- 3b. wss ----------------------------------------------------------------------------

  private upgrade(socket: tls.TLSSocket, buffered: Buffer): void {
    const head = parseRequestHead(buffered);
    if (head === null) {
      this.counters.fallback.http++;
      this.toFallback(socket, buffered);
      return;
    }
    this.counters.websocket++;
    const req = { method: head.method, url: head.url, headers: head.headers, socket };
    socket.resume();
    this.wss.handleUpgrade(
      req as unknown as http.IncomingMessage,
      socket,
      buffered.subarray(head.length),
      (ws) => this.adoptWebSocket(ws, socket),
    );
  }

  private adoptWebSocket(ws: WebSocket, raw: net.Socket): void {
    if (this.wssBind === null || this.closing) {
      ws.terminate();
      return;
    }
    // The WebSocket as a byte stream: each write is one binary message; received messages are
    // chunks of the framed stream. The bind wants a net.Socket's addressing and setNoDelay.
    const stream = createWebSocketStream(ws);
    ws.once('close', () => stream.destroy());
    stream.on('error', () => stream.destroy());
    const socketLike = Object.assign(stream, {
      remoteAddress: raw.remoteAddress,
      remotePort: raw.remotePort,
      setNoDelay: () => socketLike,
    }) as unknown as net.Socket;
    this.wssBind.accept(socketLike);
  }

  // ---- 3c. fallback -----------------------------------------------------------------------

  private toFallback(socket: tls.TLSSocket, buffered: Buffer): void {
    const fb = this.opts.fallback;
    if (fb === null) {
      this.genericResponder(socket, buffered);
      return;
    }
    const upstream = net.connect({ host: fb.host, port: fb.port });
    this.spliced.add(socket);
    const end = () => {
      this.spliced.delete(socket);
      socket.destroy();
      upstream.destroy();
    };
    upstream.once('connect', () => {
      if (buffered.length > 0) upstream.write(buffered);
      socket.pipe(upstream);
      upstream.pipe(socket);
      socket.resume();
    });
    upstream.on('error', (e) => {
      if (!upstream.readyState || upstream.connecting) this.counters.fallbackUnreachable++;
      this.opts.log?.('warn', `front: the fallback ${fb.host}:${fb.port} failed: ${e.message}`);
      if (!socket.destroyed && socket.writable && socket.bytesWritten === 0) {
        socket.end(genericResponse('404 Not Found', NOT_FOUND_BODY));
      }
      end();
    });
    upstream.on('close', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  /** No fallback configured: answer like a generic web server, then close. */
  private genericResponder(socket: tls.TLSSocket, buffered: Buffer): void {
    this.spliced.add(socket);
    let seen = buffered;
    const finish = () => {
      clearTimeout(idle);
      this.spliced.delete(socket);
      const reply = looksLikeHttp(seen)
        ? genericResponse('404 Not Found', NOT_FOUND_BODY)
        : genericResponse('400 Bad Request', BAD_REQUEST_BODY);
      socket.end(reply);
      socket.destroySoon();
    };
    const idle = setTimeout(() => {
      this.spliced.delete(socket);
      socket.destroy();
    }, GENERIC_IDLE_MS);
    socket.on('close', () => {
      clearTimeout(idle);
      this.spliced.delete(socket);
    });
    if (seen.length > 0 && (!looksLikeHttp(seen) || seen.includes('\r\n\r\n'))) {
      finish();
      return;
    }
    socket.on('data', (chunk: Buffer) => {
      if (seen.length < SNIFF_MAX_BYTES) seen = Buffer.concat([seen, chunk]);
      if (!looksLikeHttp(seen) || seen.includes('\r\n\r\n') || seen.length >= SNIFF_MAX_BYTES) {
        socket.removeAllListeners('data');
        finish();
      }
    });
    socket.resume();
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      const closed = new Promise<void>((r) => this.server.close(() => r()));
      for (const s of this.pending) s.destroy();
      for (const s of this.spliced) s.destroy();
      this.wss.close();
      await Promise.all(this.binds().map((b) => b.close()));
      await closed;
    })();
    return this.closing;
  }
}
