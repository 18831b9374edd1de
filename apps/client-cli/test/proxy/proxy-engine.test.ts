/**
 * The proxy engine against an in-memory tunnel: the real ConnectionEngine driving the proxy's
 * NetstackDevice, over fake links to a fake node (a real ResponderTunnel) whose "internet" is a second
 * userspace stack (test/helpers/fake-internet.ts). Real local sockets on 127.0.0.1, real time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateX25519KeyPair, InitiatorTunnel, type TunnelParams } from '@corridor/protocol';
import { ConnectionEngine } from '../../src/connection/engine.js';
import { parseListenAddress } from '../../src/proxy/listeners.js';
import { ProxyEngine } from '../../src/proxy/proxy-engine.js';
import type { ProxyAuth } from '../../src/proxy/proxy-core.js';
import { FakeInternetNode } from '../helpers/fake-internet.js';
import { ticketFor } from '../helpers/fake-node.js';
import { open, socksRequest, socksUdp } from '../helpers/socks-client.js';

interface Rig {
  node: FakeInternetNode;
  engine: ConnectionEngine;
  proxy: ProxyEngine;
  socks: number;
  http: number;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function rig(
  opts: { auth?: ProxyAuth; params?: Partial<TunnelParams>; stack?: Record<string, unknown> } = {},
): Promise<Rig> {
  const node = new FakeInternetNode(
    {
      'web.test': { a: ['198.51.100.80'], aaaa: ['2001:db8::80'] },
      'v6only.test': { aaaa: ['2001:db8::80'] },
    },
    opts.params ?? {},
  );
  const tunnel = new InitiatorTunnel({
    staticKeys: generateX25519KeyPair(),
    nodeStaticPublicKey: node.keys.publicKey,
    ticket: ticketFor(Date.now() + 3_600_000),
    options: { requestIPv6: true, requestedMtu: 0 },
  });
  let engine: ConnectionEngine | null = null;
  const proxy = new ProxyEngine({
    auth: opts.auth ?? null,
    ready: () => engine?.state === 'connected',
    dialTimeoutMs: 5_000,
    ...(opts.stack ? { stack: opts.stack } : {}),
  });
  engine = new ConnectionEngine(
    {
      tun: proxy.device,
      tunnel,
      openLink: (t) => node.openLink(t),
      renewTicket: async () => ({
        ticket: ticketFor(Date.now() + 3_600_000),
        expiresAtMs: Date.now() + 3_600_000,
      }),
      onParams: (p, prev) => void proxy.applyParams(p, prev),
    },
    { transport: 'udp', ticketExpiresAtMs: Date.now() + 3_600_000, backoffBaseMs: 2_000 },
  );
  const e = engine;
  cleanups.push(async () => {
    await proxy.close();
    await e.close();
    node.world.close();
  });
  await engine.start(true);
  const socks = Number(
    (await proxy.listeners.listen('socks', parseListenAddress('--socks', '127.0.0.1:0'))).split(':')[1],
  );
  const http = Number(
    (await proxy.listeners.listen('http', parseListenAddress('--http', '127.0.0.1:0'))).split(':')[1],
  );
  return { node, engine, proxy, socks, http };
}

describe('vpnctl proxy engine over an in-memory tunnel', () => {
  it('SOCKS5 CONNECT by name: resolved through the tunnel, the far end sees the tunnel address', async () => {
    const r = await rig();
    const c = await socksRequest(r.socks, 1, 'web.test', 80);
    expect(c.rep).toBe(0);
    expect(c.bound.host).toBe('10.8.0.12'); // BND: our tunnel-side address
    expect((await c.r.rest()).toString()).toBe('10.8.0.12\n');
    expect(r.node.dnsQueries).toContain('web.test');
    expect(r.proxy.resolver.queries).toBeGreaterThan(0);
    expect(r.proxy.core.counters.total).toBe(1);
  });

  it('SOCKS5 CONNECT by address: 2 MiB echoed back exactly, both directions at once', async () => {
    const r = await rig();
    const c = await socksRequest(r.socks, 1, '198.51.100.80', 7);
    expect(c.rep).toBe(0);
    const data = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 11)) & 0xff;
    c.sock.write(data);
    const back = await c.r.read(data.length, 30_000);
    expect(back.equals(data)).toBe(true);
    c.sock.end();
    await c.r.rest();
    await until(() => r.proxy.core.counters.active === 0);
    expect(r.proxy.core.counters.bytesUp).toBe(data.length);
    expect(r.proxy.core.counters.bytesDown).toBe(data.length);
  }, 60_000);

  it('failures get the right SOCKS5 reply and are counted per reason', async () => {
    const r = await rig();
    expect((await socksRequest(r.socks, 1, '198.51.100.80', 9)).rep).toBe(5); // refused
    expect((await socksRequest(r.socks, 1, 'nothing.test', 80)).rep).toBe(4); // no such name
    expect((await socksRequest(r.socks, 2, '198.51.100.80', 80)).rep).toBe(7); // BIND: not supported
    expect(r.proxy.core.dialFailures.refused).toBe(1);
    expect(r.proxy.core.dialFailures.resolveFailed).toBe(1);
    expect(r.proxy.core.counters.failed).toBe(2);
  });

  it('username/password: required when configured, compared exactly', async () => {
    const r = await rig({ auth: { username: 'alice', password: 's3cret' } });
    expect((await socksRequest(r.socks, 1, '198.51.100.80', 80)).rep).toBe(-1); // no-auth not offered
    expect((await socksRequest(r.socks, 1, '198.51.100.80', 80, { user: 'alice', pass: 's3creT' })).rep).toBe(
      -2,
    );
    expect((await socksRequest(r.socks, 1, '198.51.100.80', 80, { user: 'alic', pass: 's3cret' })).rep).toBe(
      -2,
    );
    const ok = await socksRequest(r.socks, 1, '198.51.100.80', 80, { user: 'alice', pass: 's3cret' });
    expect(ok.rep).toBe(0);
    expect((await ok.r.rest()).toString()).toBe('10.8.0.12\n');
    expect(r.proxy.core.refusals.authFailed).toBe(3);

    const noAuth = await open(r.http);
    noAuth.sock.write('CONNECT 198.51.100.80:80 HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await noAuth.r.rest()).toString()).toMatch(/^HTTP\/1.1 407 .*\r\nProxy-Authenticate: Basic/s);
    const withAuth = await open(r.http);
    withAuth.sock.write(
      `CONNECT 198.51.100.80:80 HTTP/1.1\r\nProxy-Authorization: Basic ${Buffer.from('alice:s3cret').toString('base64')}\r\n\r\n`,
    );
    expect((await withAuth.r.rest()).toString()).toBe(
      'HTTP/1.1 200 Connection Established\r\n\r\n10.8.0.12\n',
    );
  });

  it('UDP ASSOCIATE: datagrams by name and by address go out from the tunnel address and come back', async () => {
    const r = await rig();
    const a = await socksRequest(r.socks, 3, '0.0.0.0', 0);
    expect(a.rep).toBe(0);
    expect(a.bound.host).toBe('127.0.0.1');
    const echo = await socksUdp(a.bound, { host: 'web.test', port: 7 }, Buffer.from('hello'));
    expect(echo).toMatchObject({ from: '198.51.100.80', port: 7 });
    expect(echo.data.toString()).toBe('10.8.0.12:hello');
    expect(r.proxy.core.counters.udpActive).toBe(1);
    a.sock.end();
    await until(() => r.proxy.core.counters.udpActive === 0);
  });

  it('HTTP CONNECT tunnels; an absolute-URI request is forwarded in origin form without proxy headers', async () => {
    const r = await rig();
    const c = await open(r.http);
    c.sock.write('CONNECT web.test:7 HTTP/1.1\r\nHost: web.test:7\r\n\r\nearly bytes');
    expect((await c.r.read(39 + 11)).toString()).toBe(
      'HTTP/1.1 200 Connection Established\r\n\r\nearly bytes',
    );
    c.sock.end();

    const g = await open(r.http);
    g.sock.write(
      'GET http://web.test:8080/a/b?c=d HTTP/1.1\r\nHost: web.test:8080\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\nX-Mine: 1\r\n\r\n',
    );
    const res = (await g.r.rest()).toString();
    expect(res).toMatch(/^HTTP\/1.1 200 OK/);
    const head = res.slice(res.indexOf('\r\n\r\n') + 4);
    expect(head).toContain('GET /a/b?c=d HTTP/1.1\r\nHost: web.test:8080\r\n');
    expect(head).toContain('X-Mine: 1');
    expect(head).toContain('Connection: close');
    expect(head).not.toMatch(/Proxy-/i);

    const bad = await open(r.http);
    bad.sock.write('CONNECT 198.51.100.80:9 HTTP/1.1\r\n\r\n');
    expect((await bad.r.rest()).toString()).toMatch(/^HTTP\/1.1 502 Bad Gateway\r\n[\s\S]*refused/);
    const https = await open(r.http);
    https.sock.write('GET https://web.test/ HTTP/1.1\r\n\r\n');
    expect((await https.r.rest()).toString()).toMatch(/^HTTP\/1.1 501 /);
  });

  it('IPv6: names with only AAAA records work when the node gives the tunnel an IPv6 address', async () => {
    const r = await rig({ params: { clientIPv6: 'fd00:8::12', clientIPv6Prefix: 64 } });
    const c = await socksRequest(r.socks, 1, 'v6only.test', 80);
    expect(c.rep).toBe(0);
    expect((await c.r.rest()).toString()).toBe('fd00:8::12\n');
    // Without IPv6 in the tunnel the same name has no usable address.
    const r4 = await rig();
    expect((await socksRequest(r4.socks, 1, 'v6only.test', 80)).rep).toBe(4);
  });

  it('backpressure: a local client that stops reading stops the far sender (bounded memory), then gets every byte', async () => {
    const r = await rig({ stack: { tcp: { recvBufferSize: 256 * 1024, sendBufferSize: 256 * 1024 } } });
    const total = 24 * 1024 * 1024;
    const c = await socksRequest(r.socks, 1, '198.51.100.80', 19);
    expect(c.rep).toBe(0);
    c.sock.pause();
    c.sock.removeAllListeners('data');
    c.sock.write(`${total}\n`);
    const far = () => r.node.accepted.at(-1)!;
    await until(() => r.node.accepted.length > 0 && far().bytesWritten > 0);
    const sentByFar = () => far().bytesWritten - far().writableLength;
    // The far sender stalls: two samples 500 ms apart show (almost) no progress, within 20 s.
    let last = -1;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const now = sentByFar();
      if (last >= 0 && now - last < 64 * 1024) break;
      if (Date.now() > deadline) throw new Error(`the far sender never stalled (${now} bytes sent)`);
      last = now;
      await new Promise((res) => setTimeout(res, 500));
    }
    // What left the far end is bounded by the buffers on the way (stack windows, stream high-water
    // marks, the local socket's kernel buffers), far below the 24 MiB asked for.
    expect(sentByFar()).toBeLessThan(8 * 1024 * 1024);
    // The proxy's own stack holds at most its receive window for the stalled connection.
    expect(r.proxy.netstack!.stats().bufferBytes).toBeLessThanOrEqual(1024 * 1024);
    let got = 0;
    c.sock.on('data', (d: Buffer) => (got += d.length));
    c.sock.resume();
    await until(() => got === total, 60_000);
    expect(got).toBe(total);
  }, 90_000);

  it('while the tunnel is down, new requests are refused at once (network unreachable / 503)', async () => {
    const r = await rig();
    r.node.links.at(-1)!.takeDown('test');
    await until(() => r.engine.state === 'reconnecting');
    const t0 = Date.now();
    expect((await socksRequest(r.socks, 1, '198.51.100.80', 80)).rep).toBe(3);
    const h = await open(r.http);
    h.sock.write('CONNECT 198.51.100.80:80 HTTP/1.1\r\n\r\n');
    expect((await h.r.rest()).toString()).toMatch(/^HTTP\/1.1 503 /);
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(r.proxy.core.dialFailures.tunnelDown).toBe(2);
    // ... and it works again once the engine reconnected (same address: the stack is kept).
    const stack = r.proxy.netstack;
    await until(() => r.engine.state === 'connected', 20_000);
    expect(r.proxy.netstack).toBe(stack);
    const c = await socksRequest(r.socks, 1, '198.51.100.80', 80);
    expect(c.rep).toBe(0);
    expect((await c.r.rest()).toString()).toBe('10.8.0.12\n');
  }, 30_000);
});

describe('hostile local clients', () => {
  it('random bytes on both proxy ports: each connection is answered or closed, the proxy keeps serving', async () => {
    const r = await rig();
    let seed = 0x2545f491;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
    for (let i = 0; i < 60; i++) {
      const port = i % 2 === 0 ? r.socks : r.http;
      const { sock, r: reader } = await open(port);
      const prefix =
        i % 4 === 0 ? Buffer.from([5, 1, 0]) : i % 4 === 1 ? Buffer.from('CONNECT ') : Buffer.alloc(0);
      const junk = Buffer.from(Array.from({ length: 1 + rnd() * 9 }, rnd));
      sock.write(Buffer.concat([prefix, junk, i % 3 === 0 ? Buffer.from('\r\n\r\n') : Buffer.alloc(0)]));
      sock.end(); // half-close: the proxy must still answer or close, never hang or crash
      await reader.rest(20_000);
    }
    // An oversized negotiation is cut off, not buffered.
    const big = await open(r.socks);
    big.sock.write(Buffer.concat([Buffer.from([5, 255]), Buffer.alloc(4096, 1)]));
    const answer = await big.r.rest();
    expect(answer.length).toBeLessThanOrEqual(2);
    const huge = await open(r.http);
    huge.sock.write(`GET http://web.test/ HTTP/1.1\r\nX: ${'a'.repeat(20_000)}`);
    expect((await huge.r.rest()).toString()).toMatch(/^HTTP\/1.1 431 /);
    // Still serving.
    const c = await socksRequest(r.socks, 1, '198.51.100.80', 80);
    expect(c.rep).toBe(0);
    expect((await c.r.rest()).toString()).toBe('10.8.0.12\n');
    expect(r.proxy.core.refusals.badRequest).toBeGreaterThan(10);
    await until(() => r.proxy.core.clients === 0);
  }, 60_000);
});

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
