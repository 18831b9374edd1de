import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { finishChecksum, foldSum, sumBytes, verifyChecksum } from './checksum.js';

/** RFC 1071 reference: plain 16-bit big-endian word loop with end-around carry. */
function reference(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i += 2) {
    const hi = b[off + i] as number;
    const lo = i + 1 < len ? (b[off + i + 1] as number) : 0;
    s += (hi << 8) | lo;
    s = (s & 0xffff) + (s >>> 16);
  }
  return ~s & 0xffff;
}

describe('Internet checksum', () => {
  it('matches the RFC 1071 reference on random data, offsets and odd lengths (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(7), (data, skew) => {
        const off = Math.min(skew, data.length);
        const len = data.length - off;
        expect(finishChecksum(sumBytes(data, off, len, 0))).toBe(reference(data, off, len));
      }),
      { numRuns: 300 },
    );
  });

  it('RFC 1071 section 3 example', () => {
    const b = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(foldSum(sumBytes(b, 0, 8, 0))).toBe(0xddf2);
  });

  it('a stored checksum verifies, and any single flipped bit is caught (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 200 }), fc.nat(), fc.nat(7), (data, pos, bit) => {
        const b = Uint8Array.from(data);
        b[0] = 0;
        b[1] = 0;
        const c = finishChecksum(sumBytes(b, 0, b.length, 0));
        b[0] = c >>> 8;
        b[1] = c & 0xff;
        expect(verifyChecksum(b, 0, b.length, 0)).toBe(true);
        const i = pos % b.length;
        b[i] = (b[i] as number) ^ (1 << bit);
        expect(verifyChecksum(b, 0, b.length, 0)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('folds sums larger than 32 bits', () => {
    expect(foldSum(0x1_0000_0000)).toBe(1);
    expect(foldSum(0xffff * 100000)).toBeLessThanOrEqual(0xffff);
  });
});
