/**
 * The HTTPS front on loopback with real TLS 1.3: tunnels over the TLS framing and over WebSocket
 * reach the binds; everything else reaches the fallback web server (or the built-in 404/400 page).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, createWebSocketStream } from 'ws';
import {
  INITIATION_MIN_BYTES,
  MESSAGE_INITIATION,
  generateX25519KeyPair,
  mac1Key,
  verifyMac1,
  writeMac1,
} from '@corridor/protocol';
import { TcpClientBind, type Bind, type BindEndpoint, type ReceivedBatch } from '@corridor/tun/bind';
import { TlsFront, type TlsFrontOptions } from '../../src/transports/tls-front.js';

let dir: string;
let cert: Buffer;
let key: Buffer;
let fallbackSite: http.Server;
let fallbackPort: number;
const node = generateX25519KeyPair();
const mac1 = mac1Key(node.publicKey);
const cleanups: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'front-test-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=node.example',
      '-addext',
      'subjectAltName=DNS:node.example',
    ],
    { stdio: 'pipe' },
  );
  cert = readFileSync(path.join(dir, 'cert.pem'));
  key = readFileSync(path.join(dir, 'key.pem'));
  fallbackSite = http.createServer((req, res) => {
    res
      .writeHead(200, { 'Content-Type': 'text/html' })
      .end(`<h1>The fallback site</h1> ${req.method} ${req.url}`);
  });
  await new Promise<void>((r) => fallbackSite.listen(0, '127.0.0.1', r));
  fallbackPort = (fallbackSite.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await new Promise((r) => fallbackSite.close(r));
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function front(over: Partial<TlsFrontOptions> = {}): Promise<TlsFront> {
  const f = await TlsFront.listen({
    host: '127.0.0.1',
    port: 0,
    cert,
    key,
    tlsFraming: true,
    wssPath: '/ws',
    fallback: { host: '127.0.0.1', port: fallbackPort },
    padding: 'off',
    acceptsInitiation: (m) => verifyMac1(m, mac1),
    sniffTimeoutMs: 300,
    ...over,
  });
  cleanups.push(() => f.close());
  return f;
}

/** An initiation-shaped message with a valid mac1 (the front checks only structure and mac1). */
function initiation(): Buffer {
  const m = Buffer.alloc(INITIATION_MIN_BYTES + 8, 7);
  m[0] = MESSAGE_INITIATION;
  m[1] = 0x21;
  writeMac1(m, mac1);
  return m;
}

function firstMessage(bind: Bind): Promise<{ data: Buffer; transport: string; from: BindEndpoint }> {
  return new Promise((resolve) =>
    bind.onReceive((b: ReceivedBatch) =>
      resolve({ data: Buffer.from(b.datagram(0)), transport: b.endpoint(0).transport, from: b.endpoint(0) }),
    ),
  );
}

function tlsConnect(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'node.example', ca: cert });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
    cleanups.push(() => void s.destroy());
  });
}

/** Sends `request` raw over TLS and returns everything the server answered until it closed. */
async function rawExchange(port: number, request: Buffer | string | null, waitMs = 3000): Promise<string> {
  const s = await tlsConnect(port);
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  if (request !== null) s.write(request);
  await new Promise<void>((r) => {
    const t = setTimeout(r, waitMs);
    s.once('close', () => {
      clearTimeout(t);
      r();
    });
  });
  return Buffer.concat(chunks).toString('latin1');
}

describe('TlsFront', () => {
  it('TLS framing: a framed initiation opens a tunnel; replies go back the same way (TLS 1.3)', async () => {
    const f = await front();
    const got = firstMessage(f.tlsBind!);
    const s = await tlsConnect(f.localPort);
    expect(s.getProtocol()).toBe('TLSv1.3');
    const client = TcpClientBind.fromSocket(s, { label: 'tls' });
    cleanups.push(() => client.close());
    const reply = firstMessage(client);
    expect(client.sendTo(initiation(), client.remote)).toBe(true);
    const first = await got;
    expect(first.data.equals(initiation())).toBe(true);
    expect(first.transport).toBe('tls');
    // The node answers through the bind.
    expect(f.tlsBind!.sendTo(Buffer.alloc(40, 9), first.from)).toBe(true);
    expect((await reply).data.equals(Buffer.alloc(40, 9))).toBe(true);
    expect(f.stats().tunnel).toBe(1);
  });

  it('WebSocket: an upgrade on the path carries the framed stream in binary messages', async () => {
    const f = await front();
    const got = firstMessage(f.wssBind!);
    const s = await tlsConnect(f.localPort);
    const ws = new WebSocket(`wss://node.example:${f.localPort}/ws`, { createConnection: () => s });
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    const stream = createWebSocketStream(ws);
    const sock = Object.assign(stream, {
      remoteAddress: '127.0.0.1',
      remotePort: f.localPort,
      setNoDelay: () => sock,
    });
    const client = TcpClientBind.fromSocket(sock as unknown as net.Socket, {
      label: 'wss',
      padding: 'buckets',
    });
    cleanups.push(() => client.close());
    expect(client.sendTo(initiation(), client.remote)).toBe(true);
    const first = await got;
    expect(first.data.equals(initiation())).toBe(true);
    expect(first.transport).toBe('wss');
    expect(f.stats().websocket).toBe(1);
    // The client padded: the padding frame was dropped by the node's bind.
    await new Promise((r) => setTimeout(r, 50));
    expect(f.wssBind!.paddingReceived).toBe(1);
  });

  it('an active prober gets the fallback site: plain GET, the wss path without upgrade, junk, silence', async () => {
    const f = await front();
    const page = await rawExchange(
      f.localPort,
      'GET / HTTP/1.1\r\nHost: node.example\r\nConnection: close\r\n\r\n',
    );
    expect(page).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(page).toContain('<h1>The fallback site</h1> GET /');
    const ws = await rawExchange(
      f.localPort,
      'GET /ws HTTP/1.1\r\nHost: node.example\r\nConnection: close\r\n\r\n',
    );
    expect(ws).toContain('The fallback site</h1> GET /ws');
    // Junk: the fallback server gets it and answers like a web server does (400), not us.
    const junk = await rawExchange(
      f.localPort,
      Buffer.from([0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5, 13, 10, 13, 10]),
    );
    expect(junk).toMatch(/^HTTP\/1\.1 400/);
    // A frame that is not a valid initiation (wrong key) goes there too.
    const other = Buffer.alloc(INITIATION_MIN_BYTES + 8, 1);
    other[0] = MESSAGE_INITIATION;
    other[1] = 1;
    const framed = Buffer.concat([Buffer.from([0, other.length]), other]);
    expect(await rawExchange(f.localPort, framed)).toMatch(/^HTTP\/1\.1 400/);
    // Silence: after the sniff timeout the connection is spliced; the request then reaches the site.
    const s = await tlsConnect(f.localPort);
    await new Promise((r) => setTimeout(r, 500));
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.write('GET /late HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await new Promise((r) => s.once('close', r));
    expect(Buffer.concat(chunks).toString()).toContain('GET /late');
    const st = f.stats();
    expect(st.fallback.http).toBe(2);
    expect(st.fallback.notHttp).toBe(1);
    expect(st.fallback.badFrame).toBe(1);
    expect(st.fallback.timeout).toBe(1);
    expect(st.tunnel + st.websocket).toBe(0);
  });

  it('without a fallback it answers like a generic web server: 404 for HTTP, 400 for junk', async () => {
    const f = await front({ fallback: null });
    const page = await rawExchange(f.localPort, 'GET / HTTP/1.1\r\nHost: node.example\r\n\r\n');
    expect(page).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(page).toContain('Server: nginx');
    expect(page).toContain('<h1>404 Not Found</h1>');
    const junk = await rawExchange(f.localPort, 'hello there\r\n');
    expect(junk).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
  });

  it('the fallback server being down still looks like a web server', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const f = await front({ fallback: { host: '127.0.0.1', port } });
    const page = await rawExchange(f.localPort, 'GET / HTTP/1.1\r\nHost: node.example\r\n\r\n');
    expect(page).toMatch(/^HTTP\/1\.1 404 Not Found/);
  });
});
