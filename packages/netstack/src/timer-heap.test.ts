import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TimerHeap, type TimerItem } from './timer-heap.js';

interface Item extends TimerItem {
  id: number;
}

describe('TimerHeap', () => {
  it('pops in key order under random schedule/rekey/remove (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom('schedule', 'rekey', 'remove', 'pop'),
            fc.nat(19),
            fc.integer({ min: 0, max: 1000 }),
          ),
          { maxLength: 200 },
        ),
        (ops) => {
          const heap = new TimerHeap<Item>();
          const items: Item[] = Array.from({ length: 20 }, (_, id) => ({
            id,
            heapKey: Infinity,
            heapIndex: -1,
          }));
          const model = new Map<number, number>();
          for (const [op, i, key] of ops) {
            const it = items[i]!;
            if (op === 'schedule') {
              heap.schedule(it, key);
              const cur = model.get(i);
              if (cur === undefined || key < cur) model.set(i, key);
            } else if (op === 'rekey') {
              heap.rekey(it, key);
              model.set(i, key);
            } else if (op === 'remove') {
              heap.remove(it);
              model.delete(i);
            } else {
              const p = heap.pop();
              if (model.size === 0) expect(p).toBeUndefined();
              else {
                const min = Math.min(...model.values());
                expect(model.get(p!.id)).toBe(min); // popped items get their key reset to Infinity
                model.delete(p!.id);
              }
            }
            expect(heap.size).toBe(model.size);
            expect(heap.minKey).toBe(model.size === 0 ? Infinity : Math.min(...model.values()));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('resets the key of removed items so a later schedule re-queues them', () => {
    const heap = new TimerHeap<Item>();
    const a: Item = { id: 1, heapKey: Infinity, heapIndex: -1 };
    heap.schedule(a, 10);
    heap.remove(a);
    expect(a.heapKey).toBe(Infinity);
    heap.schedule(a, 50);
    expect(heap.minKey).toBe(50);
  });
});
