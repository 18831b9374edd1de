import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Assembler } from './assembler.js';

/** Reference model: a set of filled offsets. */
function ranges(model: Set<number>): [number, number][] {
  const xs = [...model].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const x of xs) {
    const last = out[out.length - 1];
    if (last && last[1] === x) last[1] = x + 1;
    else out.push([x, x + 1]);
  }
  return out;
}

function asList(a: Assembler): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < a.rangeCount; i++) out.push([a.start(i), a.end(i)]);
  return out;
}

describe('Assembler (out-of-order receive ranges)', () => {
  it('merges, fills holes and hands out the contiguous front', () => {
    const a = new Assembler(4);
    expect(a.add(10, 5)).toBe(true);
    expect(a.add(20, 5)).toBe(true);
    expect(asList(a)).toEqual([
      [10, 15],
      [20, 25],
    ]);
    expect(a.add(15, 5)).toBe(true); // bridges both
    expect(asList(a)).toEqual([[10, 25]]);
    expect(a.removeFront()).toBe(0);
    expect(a.add(0, 10)).toBe(true);
    expect(a.removeFront()).toBe(25);
    expect(a.isEmpty).toBe(true);
  });

  it('refuses, unchanged, a segment that would need more than maxRanges ranges', () => {
    const a = new Assembler(2);
    a.add(10, 1);
    a.add(20, 1);
    expect(a.add(30, 1)).toBe(false);
    expect(asList(a)).toEqual([
      [10, 11],
      [20, 21],
    ]);
    expect(a.add(11, 9)).toBe(true); // merging needs no new range
    expect(asList(a)).toEqual([[10, 21]]);
  });

  it('matches a set model under random adds and front removals (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.tuple(fc.nat(200), fc.integer({ min: 0, max: 30 })), fc.constant(null)), {
          maxLength: 80,
        }),
        (ops) => {
          const a = new Assembler(8);
          let model = new Set<number>();
          for (const op of ops) {
            if (op === null) {
              const front = ranges(model)[0];
              const n = a.removeFront();
              if (front && front[0] === 0) {
                expect(n).toBe(front[1]);
                model = new Set([...model].filter((x) => x >= front[1]).map((x) => x - front[1]));
              } else expect(n).toBe(0);
              continue;
            }
            const [off, len] = op;
            const next = new Set(model);
            for (let i = off; i < off + len; i++) next.add(i);
            const ok = a.add(off, len);
            if (ranges(next).length <= 8) {
              expect(ok).toBe(true);
              model = next;
            } else {
              expect(ok).toBe(false);
            }
            expect(asList(a)).toEqual(ranges(model));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reports the most recently touched range first in SACK order', () => {
    const a = new Assembler(8);
    a.add(10, 1);
    a.add(30, 1);
    a.add(20, 1);
    const out = new Uint32Array(8);
    expect(a.sackOrder(out, 4)).toBe(3);
    expect([...out.subarray(0, 6)]).toEqual([20, 21, 30, 31, 10, 11]);
    expect(a.sackOrder(out, 2)).toBe(2);
  });
});
