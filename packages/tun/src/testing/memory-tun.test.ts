import { describe, expect, it } from 'vitest';
import { createMemoryTunPair } from './memory-tun.js';
import { buildIpv4Udp, parseIpv4Udp } from './packets.js';
import type { PacketBatch, TunDevice } from '../tun-device.js';
import type { TunError } from '../errors.js';

const pkt = (n: number): Uint8Array =>
  buildIpv4Udp({
    src: '198.18.0.1',
    dst: '198.18.0.2',
    srcPort: 1000,
    dstPort: 2000,
    payload: Buffer.from(`p${n}`),
  });
const payloadOf = (p: Uint8Array): string => Buffer.from(parseIpv4Udp(p)?.payload ?? []).toString();
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function collect(dev: TunDevice): string[] {
  const out: string[] = [];
  dev.onPackets((b) => {
    for (let i = 0; i < b.count; i++) out.push(payloadOf(b.packet(i)));
  });
  return out;
}

describe('MemoryTun pair', () => {
  it('delivers what one end writes to the other, in order, both ways', async () => {
    const [a, b] = createMemoryTunPair();
    const atB = collect(b);
    const atA = collect(a);
    expect(a.write(pkt(1))).toBe(true);
    expect(a.writeBatch([pkt(2), pkt(3)])).toBe(2);
    expect(b.write(pkt(9))).toBe(true);
    expect(atB).toEqual([]); // asynchronous, like the kernel
    await tick();
    expect(atB).toEqual(['p1', 'p2', 'p3']);
    expect(atA).toEqual(['p9']);
    expect(a.stats()).toMatchObject({ txPackets: 3, rxPackets: 1 });
    expect(b.stats()).toMatchObject({ rxPackets: 3, rxBatches: 1, txPackets: 1 });
    await Promise.all([a.close(), b.close()]);
  });

  it('skips a rejected packet inside a batch and keeps going', async () => {
    const [a, b] = createMemoryTunPair();
    const got = collect(b);
    expect(a.writeBatch([pkt(1), Uint8Array.from([0, 1, 2]), pkt(2)])).toBe(2);
    await tick();
    expect(got).toEqual(['p1', 'p2']);
    expect(a.stats()).toMatchObject({ txPackets: 2, txErrors: 1, txDropped: 1 });
  });

  it('writes a slab of back-to-back packets', async () => {
    const [a, b] = createMemoryTunPair();
    const got = collect(b);
    const ps = [pkt(1), pkt(22), pkt(333)];
    const slab = Buffer.concat(ps);
    expect(a.writeSlab(slab, Uint32Array.from(ps.map((p) => p.length)))).toBe(3);
    await tick();
    expect(got).toEqual(['p1', 'p22', 'p333']);
  });

  it('rejects a writeSlab layout that overruns the slab or a bad count before writing anything', async () => {
    const [a, b] = createMemoryTunPair();
    const got = collect(b);
    const ps = [pkt(1), pkt(2)];
    const slab = Buffer.concat(ps);
    const invalid = expect.objectContaining({ code: 'CORRIDOR_ERR_TUN_INVALID_ARG' });
    // Second length runs one byte past the end of the slab.
    const overrun = Uint32Array.from([ps[0]!.length, ps[1]!.length + 1]);
    expect(() => a.writeSlab(slab, overrun)).toThrow(invalid);
    for (const count of [3, -1, 1.5, Number.NaN]) {
      expect(() => a.writeSlab(slab, Uint32Array.from(ps.map((p) => p.length)), count)).toThrow(invalid);
    }
    await tick();
    expect(got).toEqual([]);
    expect(a.stats()).toMatchObject({ txPackets: 0, txDropped: 0 });
  });

  it('batches up to batchSize packets per handler call', async () => {
    const [a, b] = createMemoryTunPair({ batchSize: 4 });
    const counts: number[] = [];
    b.onPackets((batch) => counts.push(batch.count));
    for (let i = 0; i < 10; i++) a.write(pkt(i));
    for (let i = 0; i < 4; i++) await tick();
    expect(counts).toEqual([4, 4, 2]);
  });

  it('poisons the slab after the handler returns (views must not be kept)', async () => {
    const [a, b] = createMemoryTunPair();
    let kept: Uint8Array | undefined;
    let copy: Uint8Array | undefined;
    b.onPackets((batch: PacketBatch) => {
      kept = batch.packet(0);
      copy = Uint8Array.from(batch.packet(0));
    });
    a.write(pkt(7));
    await tick();
    expect(payloadOf(copy as Uint8Array)).toBe('p7');
    expect(kept?.[0]).toBe(0xee);
  });

  it('queues while the reader is paused, then refuses with backpressure and emits writable', async () => {
    const [a, b] = createMemoryTunPair({ queueLimit: 8 });
    let writable = 0;
    a.on('writable', () => writable++);
    let accepted = 0;
    for (let i = 0; i < 12; i++) if (a.write(pkt(i))) accepted++;
    expect(accepted).toBe(8);
    expect(a.stats().txDropped).toBe(4);
    expect(b.queued).toBe(8);
    const got = collect(b);
    await tick();
    expect(got).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
    expect(writable).toBe(1);
  });

  it('rejects non-IP packets with an EINVAL error event, and never throws without a listener', async () => {
    const [a] = createMemoryTunPair();
    expect(a.write(Uint8Array.from([0x12, 0, 0, 0]))).toBe(false); // no 'error' listener: counted only
    expect(a.stats().errors).toBe(1);
    expect(a.lastError?.code).toBe('CORRIDOR_ERR_TUN_EINVAL');
    const errors: TunError[] = [];
    a.on('error', (e) => errors.push(e));
    expect(a.write(new Uint8Array(0))).toBe(false);
    expect(errors.map((e) => e.code)).toEqual(['CORRIDOR_ERR_TUN_EINVAL']);
  });

  it('close is idempotent, safe inside a handler, and later calls are no-ops', async () => {
    const [a, b] = createMemoryTunPair();
    let closes = 0;
    b.on('close', () => closes++);
    let seen = 0;
    b.onPackets((batch) => {
      seen += batch.count;
      void b.close();
    });
    a.writeBatch([pkt(1), pkt(2)]);
    await tick();
    a.write(pkt(3));
    const p1 = b.close();
    expect(b.close()).toBe(p1);
    await p1;
    expect(seen).toBe(2);
    expect(closes).toBe(1);
    expect(b.closed).toBe(true);
    expect(b.write(pkt(4))).toBe(false);
    expect(a.write(pkt(5))).toBe(false); // peer gone
    b.onPackets(() => undefined);
  });

  it('iterates packets as copies and ends on close', async () => {
    const [a, b] = createMemoryTunPair();
    a.writeBatch([pkt(1), pkt(2), pkt(3)]);
    const got: string[] = [];
    const reading = (async () => {
      for await (const p of b.packets()) {
        got.push(payloadOf(p));
        if (got.length === 3) setImmediate(() => void b.close());
      }
    })();
    await reading;
    expect(got).toEqual(['p1', 'p2', 'p3']);
  });

  it('pauses the source while the iterator is behind its high-water mark', async () => {
    const [a, b] = createMemoryTunPair({ queueLimit: 10_000 });
    for (let i = 0; i < 100; i++) a.write(pkt(i));
    const it = b.packets({ highWaterMark: 10 });
    await tick();
    await tick();
    expect(b.queued).toBe(100 - 64); // one batch delivered, then the source paused
    const got: string[] = [];
    for (let i = 0; i < 100; i++) {
      const r = await it.next();
      got.push(payloadOf(r.value as Uint8Array));
      if (i % 10 === 0) await tick();
    }
    expect(got[99]).toBe('p99');
    await it.return?.();
  });
});
