import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BufferPool, MemoryBudget, MIN_CLASS } from './buffer-pool.js';
import { RingBuffer } from './ring-buffer.js';

/** A pool whose buffers come back full of 0xEE: reading a byte never written shows up as 0xEE. */
class PoisonPool extends BufferPool {
  override take(n: number): Uint8Array | null {
    const b = super.take(n);
    b?.fill(0xee);
    return b;
  }
}

type Op =
  | { k: 'write'; n: number }
  | { k: 'ooo'; off: number; n: number }
  | { k: 'commit' }
  | { k: 'consume'; n: number }
  | { k: 'peek'; off: number; n: number };

describe('RingBuffer', () => {
  it('behaves like a byte array model and never exposes unwritten bytes (property)', () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ k: fc.constant('write' as const), n: fc.integer({ min: 0, max: 50_000 }) }),
      fc.record({
        k: fc.constant('ooo' as const),
        off: fc.integer({ min: 1, max: 20_000 }),
        n: fc.integer({ min: 1, max: 5000 }),
      }),
      fc.record({ k: fc.constant('commit' as const) }),
      fc.record({ k: fc.constant('consume' as const), n: fc.integer({ min: 0, max: 60_000 }) }),
      fc.record({
        k: fc.constant('peek' as const),
        off: fc.nat(70_000),
        n: fc.integer({ min: 0, max: 3000 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const pool = new PoisonPool(100_000);
        const r = new RingBuffer(pool, 100_000);
        let model: number[] = [];
        // Out-of-order bytes written past the end: offset -> byte (relative to the end).
        let beyond = new Map<number, number>();
        let counter = 1;
        const next = (): number => (counter = (counter * 7 + 3) % 251) + 1; // never 0xEE (238)? keep < 253
        for (const o of ops) {
          if (o.k === 'write') {
            if (beyond.size > 0) continue; // the TCB never appends in order while holding gaps
            const src = Uint8Array.from({ length: o.n }, next);
            const n = r.write(src, 0, o.n);
            expect(n).toBe(Math.min(o.n, 100_000 - model.length));
            model.push(...src.subarray(0, n));
          } else if (o.k === 'ooo') {
            if (model.length + o.off + o.n > 100_000) continue;
            const src = Uint8Array.from({ length: o.n }, next);
            r.writeAt(o.off, src, 0, o.n);
            for (let i = 0; i < o.n; i++) beyond.set(o.off + i, src[i] as number);
          } else if (o.k === 'commit') {
            // Commit the contiguous prefix [0, k) of the beyond-end bytes that exists from offset 0...
            // here: fill a gap-free front by committing only when offset 0.. exists.
            let k = 0;
            while (beyond.has(k)) k++;
            if (k === 0) continue;
            r.commit(k);
            for (let i = 0; i < k; i++) model.push(beyond.get(i) as number);
            const rest = new Map<number, number>();
            for (const [off, v] of beyond) if (off >= k) rest.set(off - k, v);
            beyond = rest;
            r.beyondEnd = beyond.size > 0;
          } else if (o.k === 'consume') {
            r.consume(o.n);
            model = model.slice(Math.min(o.n, model.length));
            if (model.length === 0 && beyond.size === 0) expect(r.hasStorage).toBe(false);
          } else {
            const n = Math.max(0, Math.min(o.n, model.length - o.off));
            const dst = new Uint8Array(n);
            r.peek(o.off, dst, 0, n);
            expect([...dst]).toEqual(model.slice(o.off, o.off + n));
          }
          expect(r.length).toBe(model.length);
          // Everything readable is what was written: read it all without consuming.
          const all = new Uint8Array(r.length);
          r.peek(0, all, 0, all.length);
          expect([...all]).toEqual(model);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('holds no storage while empty and grows in power-of-two steps', () => {
    const pool = new BufferPool(1 << 20);
    const r = new RingBuffer(pool);
    expect(r.hasStorage).toBe(false);
    r.write(new Uint8Array(10), 0, 10);
    expect(r.storageBytes).toBe(MIN_CLASS);
    r.write(new Uint8Array(MIN_CLASS), 0, MIN_CLASS);
    expect(r.storageBytes).toBe(2 * MIN_CLASS);
    r.consume(r.length);
    expect(r.hasStorage).toBe(false);
    expect(pool.bytesInUse).toBe(0);
    // The size it needed last is where it starts next time.
    r.write(new Uint8Array(10), 0, 10);
    expect(r.storageBytes).toBe(2 * MIN_CLASS);
    r.release();
    expect(pool.bytesInUse).toBe(0);
  });

  it('stops at the shared memory budget instead of growing past it', () => {
    const budget = new MemoryBudget(3 * MIN_CLASS);
    const pool = new BufferPool(1 << 20, budget);
    const a = new RingBuffer(pool);
    const b = new RingBuffer(pool);
    expect(a.write(new Uint8Array(MIN_CLASS), 0, MIN_CLASS)).toBe(MIN_CLASS);
    expect(b.write(new Uint8Array(100), 0, 100)).toBe(100);
    // Growing a to the next class (32 KiB while holding 16 KiB) would pass the budget.
    expect(a.write(new Uint8Array(10), 0, 10)).toBe(0);
    // b still fills what it holds, but cannot grow either.
    expect(b.write(new Uint8Array(MIN_CLASS), 0, MIN_CLASS)).toBe(MIN_CLASS - 100);
    expect(b.writeAt(0, new Uint8Array(10), 0, 10)).toBe(false);
    expect(budget.used).toBe(2 * MIN_CLASS);
    expect(budget.refused).toBeGreaterThan(0);
    a.release();
    expect(b.write(new Uint8Array(10), 0, 10)).toBe(10); // grows into what a released
    expect(budget.used).toBe(2 * MIN_CLASS);
  });

  it('caps writes at capacity', () => {
    const r = new RingBuffer(new BufferPool(1000), 1000);
    expect(r.write(new Uint8Array(1500), 0, 1500)).toBe(1000);
    expect(r.free).toBe(0);
    expect(r.write(new Uint8Array(1), 0, 1)).toBe(0);
  });
});
