import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ViewTable } from './view-cache.js';

describe('ViewTable', () => {
  it('returns a view of exactly the requested bytes, reused for the same memory position', () => {
    const t = new ViewTable(8);
    const slab = Buffer.alloc(4096);
    const a = t.view(slab, 100, 200);
    expect(a.length).toBe(100);
    a[0] = 42;
    expect(slab[100]).toBe(42);
    // Another view object of the same memory hits the same entry.
    expect(t.view(slab.subarray(50), 50, 150)).toBe(a);
    // Another buffer at the same offsets does not.
    const other = Buffer.alloc(4096);
    const b = t.view(other, 100, 200);
    expect(b).not.toBe(a);
    b[0] = 7;
    expect(slab[100]).toBe(42);
  });

  it('is always right, whatever collides (any sequence of positions and buffers)', () => {
    const bufs = [Buffer.alloc(512), Buffer.alloc(512), Buffer.alloc(1024).subarray(3)];
    bufs.forEach((b, i) => b.fill(i + 1));
    const t = new ViewTable(4);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.nat(500), fc.nat(10)), { maxLength: 200 }),
        (ops) => {
          for (const [bi, start, len] of ops) {
            const src = bufs[bi]!;
            const v = t.view(src, start, start + len);
            expect(v.length).toBe(len);
            expect(v.byteOffset).toBe(src.byteOffset + start);
            expect(v.buffer).toBe(src.buffer);
          }
        },
      ),
    );
  });
});
