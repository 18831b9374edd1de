/**
 * The client side of the HTTPS-front transports without root: the proxy reply parser on hostile
 * bytes, the per-network memory of `auto`, and TLS verification (pin, CA, name) on loopback, also
 * through a small HTTP CONNECT proxy.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_PROXY_REPLY_BYTES,
  connectThroughProxy,
  parseConnectResponse,
  parseProxyUrl,
} from '../../../src/connection/transports/http-connect.js';
import {
  NetworkMemory,
  autoOrder,
  defaultRouteOf,
  networkKey,
} from '../../../src/connection/transports/network-memory.js';
import { dialTls } from '../../../src/connection/transports/tls-dial.js';

let dir: string;
let cert: Buffer;
let key: Buffer;
let fingerprint: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vpnctl-transports-'));
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
  fingerprint = new X509Certificate(cert).fingerprint256;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parseConnectResponse', () => {
  it('accepts a 2xx reply head, refuses others with the status, and waits for a whole head', () => {
    const ok = Buffer.from('HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\nEXTRA');
    expect(parseConnectResponse(ok)).toEqual({ kind: 'ok', headLength: ok.length - 5 });
    expect(parseConnectResponse(ok.subarray(0, 20))).toEqual({ kind: 'more' });
    expect(parseConnectResponse(Buffer.from('HTTP/1.0 403 Filtered\r\n\r\n'))).toEqual({
      kind: 'refused',
      status: 403,
      reason: 'Filtered',
    });
    expect(parseConnectResponse(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'))).toEqual({ kind: 'malformed' });
    expect(parseConnectResponse(Buffer.from('garbage'))).toEqual({ kind: 'malformed' });
    const endless = Buffer.concat([
      Buffer.from('HTTP/1.1 200 OK\r\nX: '),
      Buffer.alloc(MAX_PROXY_REPLY_BYTES, 0x61),
    ]);
    expect(parseConnectResponse(endless)).toEqual({ kind: 'malformed' });
  });

  it('never throws on hostile bytes', () => {
    for (let i = 0; i < 2000; i++) {
      const n = Math.floor(Math.random() * 300);
      const b = Buffer.alloc(n);
      for (let k = 0; k < n; k++) b[k] = Math.floor(Math.random() * 256);
      if (i % 3 === 0) Buffer.from('HTTP/1.1 ').copy(b);
      if (i % 5 === 0 && n > 4) Buffer.from('\r\n\r\n').copy(b, n - 4);
      const r = parseConnectResponse(b);
      expect(['more', 'ok', 'refused', 'malformed']).toContain(r.kind);
    }
  });

  it('parses only plain http:// proxy URLs', () => {
    expect(parseProxyUrl('http://proxy.lab:3128')).toEqual({ host: 'proxy.lab', port: 3128 });
    expect(parseProxyUrl('http://[2001:db8::1]:8080/')).toEqual({ host: '2001:db8::1', port: 8080 });
    expect(parseProxyUrl('http://p')).toEqual({ host: 'p', port: 80 });
    for (const bad of ['https://p:1', 'socks5://p:1', 'http://u:p@p:1', 'http://p:1/x', 'p:3128', ''])
      expect(parseProxyUrl(bad), bad).toBeNull();
  });
});

describe('network memory', () => {
  const route = (gw: string, iface = 'wlan0') =>
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
    `${iface}\t0010A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0\n` +
    `${iface}\t00000000\t${gw}\t0003\t0\t0\t600\t00000000\t0\t0\t0\n`;

  it('keys a network by its default route (gateway + interface), hashed; none without one', () => {
    expect(defaultRouteOf(route('0101A8C0'))).toEqual({ gateway: '192.168.1.1', iface: 'wlan0' });
    expect(networkKey(route('0101A8C0'))).toMatch(/^[0-9a-f]{16}$/);
    expect(networkKey(route('0101A8C0'))).not.toBe(networkKey(route('0201A8C0')));
    expect(networkKey(route('0101A8C0'))).not.toBe(networkKey(route('0101A8C0', 'eth0')));
    expect(networkKey('Iface\tDestination\n')).toBe('none');
    expect(networkKey('\u0000garbage\n\n x y z')).toBe('none');
  });

  it('tries the remembered transport first, per network; the file is 0600 and a bad file is ignored', async () => {
    let routes = route('0101A8C0');
    const file = path.join(dir, 'state', 'transports.json');
    const memory = new NetworkMemory(file, async () => routes);
    expect(await memory.recall()).toBeNull();
    expect(autoOrder(null)).toEqual(['udp', 'tcp', 'tls', 'wss']);
    await memory.remember('wss');
    expect(await memory.recall()).toBe('wss');
    expect(autoOrder('wss')).toEqual(['wss', 'udp', 'tcp', 'tls']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain('192.168');
    routes = route('0201A8C0'); // another network: nothing remembered there
    expect(await memory.recall()).toBeNull();
    await memory.remember('tcp');
    routes = route('0101A8C0');
    expect(await memory.recall()).toBe('wss');
    writeFileSync(file, '{"version":1,"networks":{"zz":{"transport":"quic"}}');
    expect(await memory.recall()).toBeNull();
  });
});

describe('dialTls', () => {
  let server: tls.Server;
  let port: number;
  beforeAll(async () => {
    server = tls.createServer({ cert, key, minVersion: 'TLSv1.3' }, (s) => s.end('hi'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise((r) => server.close(r)));
  const base = { host: '127.0.0.1', proxy: null, timeoutMs: 3000 } as const;

  it('connects with the right pin or CA + name, refuses a wrong pin, CA or name', async () => {
    const pinned = await dialTls({
      ...base,
      port,
      serverName: null,
      trust: { kind: 'pin', fingerprint256: fingerprint },
    });
    expect(pinned.getProtocol()).toBe('TLSv1.3');
    pinned.destroy();
    const viaCa = await dialTls({
      ...base,
      port,
      serverName: 'node.example',
      trust: { kind: 'ca', ca: cert },
    });
    viaCa.destroy();
    const wrong = fingerprint.replace(/^../, fingerprint.startsWith('00') ? '11' : '00');
    await expect(
      dialTls({ ...base, port, serverName: null, trust: { kind: 'pin', fingerprint256: wrong } }),
    ).rejects.toMatchObject({ code: 'CORRIDOR_ERR_TLS_PIN_MISMATCH' });
    await expect(
      dialTls({ ...base, port, serverName: 'other.example', trust: { kind: 'ca', ca: cert } }),
    ).rejects.toThrow(/other\.example|altnames/i);
    const otherCa = Buffer.from(tls.rootCertificates[0]!);
    await expect(
      dialTls({ ...base, port, serverName: 'node.example', trust: { kind: 'ca', ca: otherCa } }),
    ).rejects.toThrow(/self.signed|certificate/i);
  });

  it('goes through an HTTP CONNECT proxy, and names a refusing proxy', async () => {
    const seen: string[] = [];
    const proxy = net.createServer((c) => {
      c.once('data', (head: Buffer) => {
        const line = head.toString().split('\r\n')[0]!;
        seen.push(line);
        const m = /^CONNECT 127\.0\.0\.1:(\d+) HTTP\/1\.1$/.exec(line);
        if (!m || Number(m[1]) !== port) {
          c.end('HTTP/1.1 403 Forbidden\r\n\r\n');
          return;
        }
        const up = net.connect(Number(m[1]), '127.0.0.1', () => {
          c.write('HTTP/1.1 200 Connection established\r\n\r\n');
          c.pipe(up).pipe(c);
        });
        up.on('error', () => c.destroy());
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const pport = (proxy.address() as net.AddressInfo).port;
    try {
      const s = await dialTls({
        ...base,
        port,
        serverName: null,
        trust: { kind: 'pin', fingerprint256: fingerprint },
        proxy: { host: '127.0.0.1', port: pport },
      });
      const text = await new Promise<string>((r) => s.once('data', (d: Buffer) => r(d.toString())));
      expect(text).toBe('hi');
      s.destroy();
      expect(seen).toEqual([`CONNECT 127.0.0.1:${port} HTTP/1.1`]);
      await expect(
        connectThroughProxy({ host: '127.0.0.1', port: pport }, '127.0.0.1', 1, 3000),
      ).rejects.toThrow(/refused CONNECT 127\.0\.0\.1:1: 403 Forbidden/);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });
});
