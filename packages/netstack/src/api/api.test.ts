// The Node-style API over the deterministic simulation: streams, backpressure, errors, servers,
// the accept-any request flow and UDP sockets.
import { describe, expect, it } from 'vitest';
import { SimNetwork, type LinkOptions } from '../testing/sim.js';
import type { SocketError } from './errors.js';
import type { ConnectionRequest } from './servers.js';
import type { TcpSocket } from './tcp-socket.js';

function pair(seed: number, link: LinkOptions = { delayMs: 5 }, tcp = {}) {
  const net = new SimNetwork(seed);
  const a = net.addNetstack('a', { addresses: ['10.0.0.1', 'fd00::1'], tcp }, link);
  const b = net.addNetstack('b', { addresses: ['10.0.0.2', 'fd00::2'], tcp }, link);
  return { net, a: a.netstack, b: b.netstack };
}

const data = (n: number, seed = 1): Buffer => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};

function collect(s: TcpSocket): {
  chunks: Buffer[];
  ended: boolean;
  closed: boolean;
  error: SocketError | null;
} {
  const st = { chunks: [] as Buffer[], ended: false, closed: false, error: null as SocketError | null };
  s.on('data', (d: Buffer) => st.chunks.push(d));
  s.on('end', () => (st.ended = true));
  s.on('close', () => (st.closed = true));
  s.on('error', (e: SocketError) => (st.error = e));
  return st;
}

describe('TcpSocket', () => {
  it('echoes 2 MB through pipe() over a lossy link (IPv4 and IPv6)', async () => {
    for (const host of ['10.0.0.2', 'fd00::2']) {
      const { net, a, b } = pair(3, { delayMs: 5, loss: 0.05, reorder: 0.02 });
      b.listen({ port: 7 }, (s) => s.pipe(s));
      const c = a.connect({ host, port: 7 });
      const st = collect(c);
      const payload = data(2_000_000);
      c.end(payload);
      expect(await net.run(() => st.closed, 600_000)).toBe(true);
      expect(Buffer.concat(st.chunks).equals(payload)).toBe(true);
      expect(c.remoteAddress).toBe(host);
      expect(c.remoteFamily).toBe(host.includes(':') ? 'IPv6' : 'IPv4');
      expect(st.error).toBeNull();
    }
  });

  it('write() applies backpressure end to end: a writer that honours it stalls while the reader is paused', async () => {
    const { net, a, b } = pair(4, { delayMs: 5 }, { sendBufferSize: 64 * 1024, recvBufferSize: 64 * 1024 });
    let server!: TcpSocket;
    b.listen({ port: 9 }, (s) => {
      server = s;
      s.pause(); // read nothing for now
    });
    const c = a.connect({ host: '10.0.0.2', port: 9 });
    await net.run(() => server !== undefined, 1000);
    const chunk = data(16 * 1024);
    let written = 0;
    let blocked = 0;
    const pump = (): void => {
      while (written < 4_000_000) {
        written += chunk.length;
        if (!c.write(chunk)) {
          blocked++;
          return;
        }
      }
      c.end();
    };
    c.on('drain', pump);
    pump();
    await net.run(() => false, 3000);
    // What a paused reader can absorb: our send buffer + stream high-water marks + its receive ring.
    const stalledAt = written;
    expect(blocked).toBeGreaterThan(0);
    expect(stalledAt).toBeLessThan(300 * 1024);
    await net.run(() => false, 3000);
    expect(written).toBe(stalledAt); // still stalled, no unbounded buffering anywhere
    let got = 0;
    server.on('data', (d: Buffer) => (got += d.length));
    server.resume();
    await net.run(() => written >= 4_000_000 && got === written, 60_000);
    expect(got).toBe(written);
  });

  it('a paused reader closes the TCP window instead of buffering without bound', async () => {
    const { net, a, b } = pair(5, { delayMs: 5 }, { recvBufferSize: 65536 });
    let server!: TcpSocket;
    b.listen({ port: 9 }, (s) => {
      server = s;
      s.pause();
    });
    const c = a.connect({ host: '10.0.0.2', port: 9 });
    c.write(data(4_000_000));
    await net.run(() => false, 3000);
    // Stream buffer (high-water mark) + the receive ring: bounded, far below the 4 MB sent.
    expect(server.readableLength + server.connection!.readableLength).toBeLessThan(65536 + 2 * 65536);
    expect(c.connection!.sndWnd).toBe(0);
  });

  it('half-close: allowHalfOpen keeps our side writable after the peer ends; the default ends it', async () => {
    const { net, a, b } = pair(6);
    b.listen({ port: 80, allowHalfOpen: true }, (s) => {
      const parts: Buffer[] = [];
      s.on('data', (d: Buffer) => parts.push(d));
      s.on('end', () => s.end(Buffer.concat([Buffer.from('re:'), ...parts])));
    });
    const c = a.connect({ host: '10.0.0.2', port: 80, allowHalfOpen: true });
    const st = collect(c);
    c.end('question');
    await net.run(() => st.closed, 10_000);
    expect(Buffer.concat(st.chunks).toString()).toBe('re:question');
    // Default (allowHalfOpen false): the server's end() ends the client's writable side too.
    b.listen({ port: 81 }, (s) => s.end('bye'));
    const d = a.connect({ host: '10.0.0.2', port: 81 });
    const sd = collect(d);
    await net.run(() => sd.closed, 10_000);
    expect(Buffer.concat(sd.chunks).toString()).toBe('bye');
    expect(d.writableEnded).toBe(true);
  });

  it('errors: ECONNREFUSED, ECONNRESET (peer resetAndDestroy), ETIMEDOUT, ECONNABORTED on close', async () => {
    const { net, a, b } = pair(7, { delayMs: 5 }, { synRetries: 1 });
    const refused = collect(a.connect({ host: '10.0.0.2', port: 1 }));
    b.listen({ port: 2 }, (s) => s.once('data', () => s.resetAndDestroy()));
    const r = a.connect({ host: '10.0.0.2', port: 2 });
    const reset = collect(r);
    r.write('x');
    const timedOut = collect(a.connect({ host: '203.0.113.1', port: 80 }));
    await net.run(() => refused.closed && reset.closed && timedOut.closed, 60_000);
    expect(refused.error?.code).toBe('ECONNREFUSED');
    expect(refused.error?.syscall).toBe('connect');
    expect(reset.error?.code).toBe('ECONNRESET');
    expect(timedOut.error?.code).toBe('ETIMEDOUT');
    expect(refused.error?.message).toMatch(/nothing listens/);
    const open = collect(a.connect({ host: '10.0.0.2', port: 2 }));
    await net.run(() => false, 100);
    a.close();
    await net.run(() => open.closed, 100);
    expect(open.error?.code).toBe('ECONNABORTED');
  });

  it('destroy() with unread data sends RST, as a kernel socket does', async () => {
    const { net, a, b } = pair(8);
    b.listen({ port: 3 }, (s) => {
      s.pause();
      setImmediate(() => s.destroy());
    });
    const c = a.connect({ host: '10.0.0.2', port: 3 });
    const st = collect(c);
    c.write(data(5000));
    await net.run(() => st.closed, 10_000);
    expect(st.error?.code).toBe('ECONNRESET');
  });

  it('server.close() stops accepting; existing sockets live on; ports are validated', async () => {
    const { net, a, b } = pair(9);
    let accepted = 0;
    const srv = b.listen({ port: 80 }, (s) => {
      accepted++;
      s.pipe(s);
    });
    const c1 = a.connect({ host: '10.0.0.2', port: 80 });
    const st1 = collect(c1);
    // (Connections still queued when a server closes are reset, as the kernel does.)
    await net.run(() => accepted === 1, 1000);
    expect(() => b.listen({ port: 80 })).toThrow(
      expect.objectContaining({ code: 'CORRIDOR_ERR_NETSTACK_ADDRESS_IN_USE' }),
    );
    srv.close();
    const c2 = collect(a.connect({ host: '10.0.0.2', port: 80 }));
    c1.end('still here');
    await net.run(() => c2.closed && st1.closed, 10_000);
    expect(c2.error?.code).toBe('ECONNREFUSED');
    expect(Buffer.concat(st1.chunks).toString()).toBe('still here');
    expect(() => a.connect({ host: 'not-an-ip', port: 80 })).toThrow(
      expect.objectContaining({ code: 'CORRIDOR_ERR_NETSTACK_INVALID_ADDRESS' }),
    );
  });
});

describe('accept-any (tun2socks / userspace egress shape)', () => {
  it('request -> look at the original destination -> accept or reject', async () => {
    const { net, a, b } = pair(10);
    const any = b.listenAny({ deferred: true });
    const seen: string[] = [];
    any.on('request', (req) => {
      seen.push(`${req.localAddress}:${req.localPort} from ${req.remoteAddress}`);
      if (req.localPort === 25) {
        req.reject('prohibited');
        return;
      }
      // "Dial out" (here: a fixed answer), then complete the handshake.
      const s = req.accept();
      s.end(`hello ${req.localAddress}:${req.localPort}`);
    });
    const ok = collect(a.connect({ host: '198.51.100.7', port: 443 }));
    const blocked = collect(a.connect({ host: '198.51.100.7', port: 25 }));
    await net.run(() => ok.closed && blocked.closed, 10_000);
    expect(Buffer.concat(ok.chunks).toString()).toBe('hello 198.51.100.7:443');
    expect(blocked.error?.code).toBe('EHOSTUNREACH');
    expect(seen.sort()).toEqual(['198.51.100.7:25 from 10.0.0.1', '198.51.100.7:443 from 10.0.0.1']);
  });

  it('accept() of a request that expired meanwhile gives a socket failing once with ECONNABORTED (review)', async () => {
    const { net, a, b } = pair(13, { delayMs: 5 }, { requestTimeoutMs: 1000, synRetries: 0 });
    const any = b.listenAny({ deferred: true });
    let req: ConnectionRequest | undefined;
    any.on('request', (r) => (req = r)); // the "upstream dial" takes longer than the request lives
    collect(a.connect({ host: '198.51.100.7', port: 443 }));
    await net.run(() => req !== undefined, 1000);
    await net.run(() => !req!.pending, 5000);
    const s = req!.accept();
    const errors: unknown[] = [];
    s.on('error', (e) => errors.push(e));
    const st = collect(s);
    await net.run(() => st.closed, 1000);
    expect(errors.length).toBe(1);
    expect(errors[0]).toMatchObject({ name: 'SocketError', code: 'ECONNABORTED' });
  });

  it('without deferral it emits connected sockets whose local side is the original destination', async () => {
    const { net, a, b } = pair(11);
    const any = b.listenAny();
    let local = '';
    any.on('connection', (s) => {
      local = `${s.localAddress}:${s.localPort}`;
      s.pipe(s);
    });
    const c = a.connect({ host: '2001:db8::5', port: 8443 });
    const st = collect(c);
    c.end('ping');
    await net.run(() => st.closed, 10_000);
    expect(local).toBe('2001:db8::5:8443');
    expect(Buffer.concat(st.chunks).toString()).toBe('ping');
  });
});

describe('UDP sockets', () => {
  it('bindUdp exchanges datagrams; listenAnyUdp gives flows with the original destination', async () => {
    const { net, a, b } = pair(12);
    const echo = b.bindUdp({ port: 53 });
    echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from('>'), m]), r.port, r.address));
    const anyUdp = b.listenAnyUdp();
    anyUdp.on('flow', (f) =>
      f.on('message', (m) => f.send(`${f.localAddress}:${f.localPort}:${m.toString()}`)),
    );
    const sock = a.bindUdp();
    const got: string[] = [];
    sock.on('message', (m, r) => got.push(`${r.address}:${r.port}=${m.toString()}`));
    sock.send('q', 53, '10.0.0.2');
    sock.send('x', 5353, '198.51.100.9');
    await net.run(() => got.length === 2, 2000);
    expect(got.sort()).toEqual(['10.0.0.2:53=>q', '198.51.100.9:5353=198.51.100.9:5353:x']);
    sock.close();
    expect(sock.send('late', 53, '10.0.0.2')).toBe(false);
  });
});
