// Batched UDP socket on loopback (no root needed: loopback only, in the calling namespace).
import { afterEach, describe, expect, it } from 'vitest';
import {
  DatagramSlab,
  META_WORDS,
  UdpEndpoint,
  UdpError,
  UdpSocket,
  isUdpAvailable,
  type DatagramBatch,
} from './index.js';

const skip = isUdpAvailable()
  ? undefined
  : 'the UDP addon is not built (pnpm --filter @corridor/tun run build:native)';
if (skip) console.warn(`[@corridor/tun] skipping UDP socket tests: ${skip}`);

const open: UdpSocket[] = [];
function sock(options: Parameters<typeof UdpSocket.open>[0] = {}): UdpSocket {
  const s = UdpSocket.open({ address: '127.0.0.1', ...options });
  open.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

interface Seen {
  data: Buffer;
  from: string;
}

/** Collects copies of received datagrams until `n` arrived. */
function collect(s: UdpSocket, n: number, onBatch?: (b: DatagramBatch) => void): Promise<Seen[]> {
  const seen: Seen[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.length}/${n} datagrams arrived`)), 5000);
    s.onDatagrams((batch) => {
      onBatch?.(batch);
      for (let i = 0; i < batch.count; i++)
        seen.push({ data: Buffer.from(batch.datagram(i)), from: batch.source(i).key });
      if (seen.length >= n) {
        clearTimeout(timer);
        resolve(seen);
      }
    });
  });
}

describe.skipIf(skip !== undefined)('UdpSocket (loopback)', () => {
  it('sends a slab of datagrams in one call and receives them in batches with their source', async () => {
    const a = sock({ gro: false });
    const b = sock({ gro: false });
    const to = UdpEndpoint.of('127.0.0.1', b.localPort);
    const slab = new DatagramSlab({ capacity: 50 });
    for (let i = 0; i < 50; i++) {
      const n = 1 + ((i * 37) % 1200);
      slab.next()!.fill(i, 0, n);
      slab.push(n, to);
    }
    const got = collect(b, 50);
    expect(a.sendSlab(slab)).toBe(50);
    const seen = await got;
    expect(seen.map((s) => s.data.length)).toEqual(
      Array.from({ length: 50 }, (_, i) => 1 + ((i * 37) % 1200)),
    );
    expect(seen.every((s, i) => s.data.every((x) => x === i))).toBe(true);
    expect(new Set(seen.map((s) => s.from))).toEqual(new Set([`127.0.0.1:${a.localPort}`]));
    const st = a.stats();
    expect(st.txPackets).toBe(50);
    expect(st.txSyscalls).toBeLessThanOrEqual(2);
    expect(b.stats().rxBatches).toBeLessThan(50);
  });

  it('sends runs of equal-size datagrams to one destination as GSO messages and splits GRO reads back', async () => {
    const a = sock({ gro: false });
    const b = sock({ gro: true });
    const c = sock({ gro: false });
    expect(a.gsoEnabled).toBe(true);
    const slab = new DatagramSlab({ capacity: 64 });
    const toB = UdpEndpoint.of('127.0.0.1', b.localPort);
    const toC = UdpEndpoint.of('127.0.0.1', c.localPort);
    for (let i = 0; i < 40; i++) {
      const n = i === 39 ? 500 : 1000; // the last, shorter one still belongs to the run
      const slot = slab.next()!;
      slot.fill(0, 0, n);
      slot.writeUInt32BE(i, 0);
      slab.push(n, toB);
    }
    for (let i = 0; i < 20; i++) {
      const slot = slab.next()!;
      slot.writeUInt32BE(1000 + i, 0);
      slab.push(800, toC);
    }
    const gotB = collect(b, 40);
    const gotC = collect(c, 20);
    expect(a.sendSlab(slab)).toBe(60);
    const seenB = await gotB;
    const seenC = await gotC;
    expect(seenB.map((s) => s.data.readUInt32BE(0))).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(seenB.map((s) => s.data.length)).toEqual([...new Array(39).fill(1000), 500]);
    expect(seenC.map((s) => s.data.readUInt32BE(0))).toEqual(Array.from({ length: 20 }, (_, i) => 1000 + i));
    expect(seenC.every((s) => s.data.length === 800)).toBe(true);
    const st = a.stats();
    expect(st.txGsoMessages).toBeGreaterThanOrEqual(2);
    expect(st.txSyscalls).toBe(1);
    if (b.groEnabled) expect(b.stats().rxGroSegments).toBeGreaterThan(0);
  });

  it('talks IPv6 and reports IPv4 senders to a dual-stack socket as IPv4', async () => {
    const v6 = sock({ address: '::', gro: false });
    const a4 = sock({ gro: false });
    const a6 = sock({ address: '::1', gro: false });
    const got = collect(v6, 2);
    expect(a4.send(Buffer.from('four'), UdpEndpoint.of('127.0.0.1', v6.localPort))).toBe(true);
    expect(a6.send(Buffer.from('six'), UdpEndpoint.of('::1', v6.localPort))).toBe(true);
    const seen = await got;
    expect(seen.map((s) => [s.data.toString(), s.from]).sort()).toEqual(
      [
        ['four', `127.0.0.1:${a4.localPort}`],
        ['six', `[::1]:${a6.localPort}`],
      ].sort(),
    );
  });

  it('compares sources without allocating and keeps the endpoint bytes exact', async () => {
    const a = sock({ gro: false });
    const b = sock({ gro: false });
    const ep = UdpEndpoint.of('127.0.0.1', a.localPort);
    const other = UdpEndpoint.of('127.0.0.1', a.localPort + 1);
    let matched = 0;
    let mismatched = 0;
    const got = collect(b, 1, (batch) => {
      if (batch.isFrom(0, ep)) matched++;
      if (batch.isFrom(0, other)) mismatched++;
      expect(batch.source(0).equals(ep)).toBe(true);
    });
    a.send(Buffer.from('x'), UdpEndpoint.of('127.0.0.1', b.localPort));
    await got;
    expect([matched, mismatched]).toEqual([1, 0]);
    expect(UdpEndpoint.of('::ffff:198.18.0.1', 5).key).toBe('198.18.0.1:5');
    expect(UdpEndpoint.of('2001:db8::0:1', 5).address).toBe('2001:db8::1');
  });

  it('keeps the IPv6 zone of a link-local endpoint as part of its identity', () => {
    const byIndex = UdpEndpoint.of('fe80::2%1', 51820);
    expect(byIndex).toMatchObject({ family: 6, scopeId: 1, address: 'fe80::2%1', key: '[fe80::2%1]:51820' });
    expect(UdpEndpoint.of('fe80::2%lo', 51820).equals(byIndex)).toBe(true); // lo is interface 1
    expect(UdpEndpoint.of('fe80::2%2', 51820).equals(byIndex)).toBe(false);
    expect(UdpEndpoint.of('fe80::2', 51820).equals(byIndex)).toBe(false);
    expect(() => UdpEndpoint.of('fe80::2%no-such-if0', 51820)).toThrow(/unknown IPv6 zone/);
    const meta = new Uint32Array(2 * META_WORDS);
    byIndex.writeMeta(meta, 1);
    expect(UdpEndpoint.fromMeta(meta, 1).equals(byIndex)).toBe(true);
    expect(byIndex.matchesMeta(meta, 1)).toBe(true);
    meta[META_WORDS + 8] = 2;
    expect(byIndex.matchesMeta(meta, 1)).toBe(false);
  });

  it('drops datagrams longer than the receive slot and counts them', async () => {
    const a = sock({ gro: false });
    const b = sock({ gro: false, maxDatagramBytes: 512 });
    const got = collect(b, 1);
    const to = UdpEndpoint.of('127.0.0.1', b.localPort);
    a.send(Buffer.alloc(1000, 1), to);
    a.send(Buffer.alloc(100, 2), to);
    const seen = await got;
    expect(seen[0]!.data.length).toBe(100);
    expect(b.stats().rxTruncated).toBe(1);
  });

  it('names the problem when the port is taken, and shares it with reusePort', () => {
    const a = sock({ gro: false });
    let err: unknown;
    try {
      sock({ port: a.localPort });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UdpError);
    expect(err).toMatchObject({ code: 'CORRIDOR_ERR_UDP_EADDRINUSE', syscall: 'bind' });
    expect(String((err as Error).message)).toContain('already in use');
    const r1 = sock({ reusePort: true });
    const r2 = sock({ reusePort: true, port: r1.localPort });
    expect(r2.localPort).toBe(r1.localPort);
    expect(() => sock({ address: 'not-an-ip' })).toThrow(/not an IP address/);
  });

  it('never throws for unreachable destinations: counts and reports them', async () => {
    const a = sock({ gro: false });
    const errors: UdpError[] = [];
    a.on('error', (e) => errors.push(e));
    expect(a.send(Buffer.from('x'), UdpEndpoint.of('::1', 9))).toBe(false);
    expect(a.stats()).toMatchObject({ txErrors: 1, txDropped: 1 });
    expect(errors[0]?.code).toBe('CORRIDOR_ERR_UDP_EAFNOSUPPORT');
  });

  it('reports every refused datagram of a slab once, and nothing stale afterwards', () => {
    const a = sock({ gro: false });
    const b = sock({ gro: false });
    const errors: UdpError[] = [];
    a.on('error', (e) => errors.push(e));
    const slab = new DatagramSlab({ capacity: 4 });
    for (let i = 0; i < 3; i++) slab.pushCopy(Buffer.from('x'), UdpEndpoint.of('::1', 9));
    slab.pushCopy(Buffer.from('y'), UdpEndpoint.of('127.0.0.1', b.localPort));
    expect(a.sendSlab(slab)).toBe(1);
    expect(errors.map((e) => e.code)).toEqual(new Array(3).fill('CORRIDOR_ERR_UDP_EAFNOSUPPORT'));
    slab.clear();
    slab.pushCopy(Buffer.from('z'), UdpEndpoint.of('127.0.0.1', b.localPort));
    expect(a.sendSlab(slab)).toBe(1);
    expect(errors).toHaveLength(3);
    expect(a.stats()).toMatchObject({ txErrors: 3, errors: 3, txDropped: 3 });
  });

  it('refuses slab layouts outside the slab before sending anything', () => {
    const a = sock({ gro: false });
    const slab = new DatagramSlab({ capacity: 2 });
    slab.push(10, UdpEndpoint.of('127.0.0.1', 9));
    slab.meta[1] = 1 << 20;
    expect(() => a.sendSlab(slab)).toThrow(UdpError);
    expect(a.stats().txPackets).toBe(0);
    expect(() => a.sendSlab(slab, 3)).toThrow(/count/);
  });

  it('close() is idempotent; afterwards sends are dropped and no handler runs', async () => {
    const a = sock({ gro: false });
    let closes = 0;
    a.on('close', () => closes++);
    a.onDatagrams(() => {
      throw new Error('no handler after close');
    });
    const p1 = a.close();
    const p2 = a.close();
    expect(p1).toBe(p2);
    await p1;
    expect(closes).toBe(1);
    expect(a.send(Buffer.from('x'), UdpEndpoint.of('127.0.0.1', 9))).toBe(false);
    expect(a.stats().txDropped).toBe(1);
    a.onDatagrams(() => undefined); // no-op
  });
});
