import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REPLAY_WINDOW_SIZE, ReplayWindow } from './replay-window.js';

/** Reference model: accept iff unseen, below the limit, and within WINDOW of the highest accepted. */
class NaiveWindow {
  private readonly seen = new Set<number>();
  private max = 0;
  constructor(private readonly limit: number) {}
  accept(c: number): boolean {
    if (c >= this.limit || this.seen.has(c)) return false;
    if (c <= this.max && this.max - c >= REPLAY_WINDOW_SIZE) return false;
    this.seen.add(c);
    this.max = Math.max(this.max, c);
    return true;
  }
}

describe('ReplayWindow', () => {
  it('has a window of at least 2048 packets', () => {
    expect(REPLAY_WINDOW_SIZE).toBeGreaterThanOrEqual(2048);
  });

  it('agrees with a naive Set model on arbitrary counter sequences', () => {
    const counter = fc.oneof(
      fc.integer({ min: 0, max: 300 }),
      fc.integer({ min: 0, max: 20_000 }),
      fc.integer({ min: 2 ** 32 - 5000, max: 2 ** 32 + 5000 }),
      fc.integer({ min: Number.MAX_SAFE_INTEGER - 10_000, max: Number.MAX_SAFE_INTEGER }),
    );
    fc.assert(
      fc.property(fc.array(counter, { maxLength: 400 }), fc.boolean(), (seq, lowLimit) => {
        const limit = lowLimit ? 15_000 : Number.MAX_SAFE_INTEGER;
        const w = new ReplayWindow(limit);
        const model = new NaiveWindow(limit);
        for (const c of seq) {
          const expected = model.accept(c);
          expect(w.wouldAccept(c) || !expected).toBe(true);
          expect(w.accept(c)).toBe(expected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with the model on mostly-increasing sequences with local reordering', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -5000, max: 200 }), { minLength: 1, maxLength: 600 }),
        (steps) => {
          const w = new ReplayWindow();
          const model = new NaiveWindow(Number.MAX_SAFE_INTEGER);
          let base = 10_000;
          for (const s of steps) {
            base = Math.max(0, base + (s > 0 ? s : 0));
            const c = Math.max(0, base + (s < 0 ? s : 0));
            expect(w.accept(c)).toBe(model.accept(c));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('accepts exactly WINDOW - 1 behind the highest counter, not WINDOW', () => {
    const w = new ReplayWindow();
    expect(w.accept(10_000)).toBe(true);
    expect(w.accept(10_000 - REPLAY_WINDOW_SIZE)).toBe(false);
    expect(w.accept(10_000 - REPLAY_WINDOW_SIZE + 1)).toBe(true);
    expect(w.accept(10_000 + 40 * REPLAY_WINDOW_SIZE)).toBe(true);
    expect(w.accept(10_000 + 40 * REPLAY_WINDOW_SIZE - 1)).toBe(true);
  });

  it('wouldAccept does not change state', () => {
    const w = new ReplayWindow();
    expect(w.wouldAccept(5)).toBe(true);
    expect(w.wouldAccept(5)).toBe(true);
    expect(w.accept(5)).toBe(true);
    expect(w.wouldAccept(5)).toBe(false);
    expect(w.accept(5)).toBe(false);
  });
});

describe('ReplayWindow memory', () => {
  it('keeps no ring while every counter is below 32 (an idle session), then expands without losing state', () => {
    const w = new ReplayWindow();
    for (const c of [0, 3, 1, 31, 2]) expect(w.accept(c)).toBe(true);
    expect(w.expanded).toBe(false);
    expect(w.accept(3)).toBe(false);
    expect(w.wouldAccept(30)).toBe(true);
    expect(w.accept(32)).toBe(true);
    expect(w.expanded).toBe(true);
    // What was seen before the expansion is still seen.
    for (const c of [0, 1, 2, 3, 31, 32]) expect(w.accept(c)).toBe(false);
    expect(w.accept(30)).toBe(true);
    w.reset();
    expect(w.expanded).toBe(false);
    expect(w.accept(0)).toBe(true);
  });
});
