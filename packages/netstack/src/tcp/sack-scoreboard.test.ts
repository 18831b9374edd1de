import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SackScoreboard } from './sack-scoreboard.js';
import { seqAdd } from './seq.js';

describe('SackScoreboard', () => {
  it('matches a bitmap model across wrap-around, with advance() (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.array(
          fc.oneof(
            fc.tuple(fc.nat(400), fc.integer({ min: 1, max: 40 })),
            fc.nat(50).map((n) => -n - 1),
          ),
          { maxLength: 60 },
        ),
        (base, ops) => {
          const sb = new SackScoreboard(64);
          let una = 0; // offsets relative to base
          const model = new Set<number>();
          for (const op of ops) {
            if (typeof op === 'number') {
              una += -op - 1;
              sb.advance(seqAdd(base, una));
              for (const x of [...model]) if (x < una) model.delete(x);
            } else {
              const [off, len] = op;
              const l = una + off;
              const added = sb.add(seqAdd(base, l), seqAdd(base, l + len));
              let fresh = 0;
              for (let i = l; i < l + len; i++)
                if (!model.has(i)) {
                  model.add(i);
                  fresh++;
                }
              expect(added).toBe(fresh);
            }
            expect(sb.sackedBytes).toBe(model.size);
            for (let probe = una; probe < una + 450; probe += 7) {
              expect(sb.isSacked(seqAdd(base, probe))).toBe(model.has(probe));
            }
            // nextUnsacked is the first offset >= from not in the model.
            let f = una;
            while (model.has(f)) f++;
            expect(sb.nextUnsacked(seqAdd(base, una))).toBe(seqAdd(base, f));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('IsLost boundary: holes below 3 SACKed ranges or more than 2 MSS of SACKed bytes are lost', () => {
    const sb = new SackScoreboard();
    const mss = 1000;
    sb.add(2000, 3000);
    expect(sb.lossBoundary(0, mss, 3)).toBe(0); // 1 MSS sacked above: not yet
    sb.add(4000, 5000);
    expect(sb.lossBoundary(0, mss, 3)).toBe(0); // 2 MSS: not more than 2 MSS
    sb.add(6000, 6001);
    expect(sb.lossBoundary(0, mss, 3)).toBe(2000); // three ranges above [0, 2000)
    const big = new SackScoreboard();
    big.add(5000, 8001); // more than 2 MSS in one range
    expect(big.lossBoundary(0, mss, 3)).toBe(5000);
    expect(big.sackedIn(0, 6000)).toBe(1000);
    expect(big.nextSackedStart(0, 9000)).toBe(5000);
    expect(big.nextSackedStart(0, 3000)).toBe(3000);
  });

  it('ignores blocks beyond its fixed capacity instead of growing', () => {
    const sb = new SackScoreboard(2);
    sb.add(10, 20);
    sb.add(30, 40);
    expect(sb.add(50, 60)).toBe(0);
    expect(sb.rangeCount).toBe(2);
    expect(sb.add(20, 30)).toBe(10); // merges
    expect(sb.rangeCount).toBe(1);
  });
});
