import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seqAdd, seqDiff, seqGe, seqGt, seqInRange, seqLe, seqLt, seqMax, seqMin } from './seq.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const delta = fc.integer({ min: -(2 ** 31) + 1, max: 2 ** 31 - 1 });

describe('sequence arithmetic (mod 2^32)', () => {
  it('wraps around', () => {
    expect(seqAdd(0xffffffff, 1)).toBe(0);
    expect(seqLt(0xfffffff0, 0x10)).toBe(true);
    expect(seqGt(0x10, 0xfffffff0)).toBe(true);
    expect(seqDiff(0x10, 0xfffffff0)).toBe(0x20);
    expect(seqInRange(2, 0xfffffffe, 5)).toBe(true);
    expect(seqInRange(5, 0xfffffffe, 5)).toBe(false);
  });

  it('a + d compares to a as d compares to 0, for |d| < 2^31 (property)', () => {
    fc.assert(
      fc.property(u32, delta, (a, d) => {
        const b = seqAdd(a, d);
        expect(seqDiff(b, a)).toBe(d);
        expect(seqLt(a, b)).toBe(d > 0);
        expect(seqGt(a, b)).toBe(d < 0);
        expect(seqLe(a, b)).toBe(d >= 0);
        expect(seqGe(a, b)).toBe(d <= 0);
        expect(seqMax(a, b)).toBe(d >= 0 ? b : a);
        expect(seqMin(a, b)).toBe(d >= 0 ? a : b);
      }),
    );
  });

  it('exactly one of <, ==, > holds; < is antisymmetric (property)', () => {
    fc.assert(
      fc.property(u32, u32, (a, b) => {
        const n = Number(seqLt(a, b)) + Number(a === b) + Number(seqGt(a, b));
        if (((a - b) | 0) === -(2 ** 31)) return; // exactly 2^31 apart: undefined by RFC 1982
        expect(n).toBe(1);
        expect(seqLt(a, b) && seqLt(b, a)).toBe(false);
      }),
    );
  });

  it('seqInRange matches the wrap-aware definition (property)', () => {
    fc.assert(
      fc.property(
        u32,
        fc.integer({ min: 0, max: 1 << 30 }),
        fc.integer({ min: -(1 << 30), max: 1 << 30 }),
        (lo, len, off) => {
          const hi = seqAdd(lo, len);
          const x = seqAdd(lo, off);
          expect(seqInRange(x, lo, hi)).toBe(off >= 0 && off < len);
        },
      ),
    );
  });
});
