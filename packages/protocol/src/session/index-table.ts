/**
 * Receiver index -> owner map (a node serves many clients). Indexes are random non-zero u32s so they
 * reveal nothing about the number of sessions; collisions are retried. Bounded by `capacity`.
 */
import { sodium } from '../crypto/sodium.js';

export class IndexTable<T> {
  private readonly map = new Map<number, T>();

  constructor(private readonly capacity = 1 << 20) {}

  /** Allocates a fresh index for `owner`; null when the table is full. */
  allocate(owner: T): number | null {
    if (this.map.size >= this.capacity) return null;
    for (;;) {
      const index = sodium.randombytes_random() >>> 0;
      if (index === 0 || this.map.has(index)) continue;
      this.map.set(index, owner);
      return index;
    }
  }

  get(index: number): T | undefined {
    return this.map.get(index);
  }

  release(index: number): void {
    this.map.delete(index);
  }

  get size(): number {
    return this.map.size;
  }
}
