// BufferPool: fixed-size byte buffers recycled between connections, so a busy stack reuses memory
// instead of allocating a buffer per connection or per burst. At most `maxFree` idle buffers are kept;
// `inUse` counts buffers handed out (the stack's data-memory bound is inUse * size).
//
// Contract: give() only buffers this pool handed out, once each; the pool overwrites nothing, so a
// buffer comes back with stale bytes (RingBuffer never reads bytes it did not write).

export class BufferPool {
  private readonly free: Uint8Array[] = [];
  inUse = 0;
  /** Buffers ever allocated (tests and stats). */
  allocated = 0;

  constructor(
    readonly size: number,
    readonly maxFree = 64,
  ) {}

  take(): Uint8Array {
    this.inUse++;
    const b = this.free.pop();
    if (b !== undefined) return b;
    this.allocated++;
    return new Uint8Array(this.size);
  }

  give(b: Uint8Array): void {
    this.inUse--;
    if (this.free.length < this.maxFree) this.free.push(b);
  }

  get idle(): number {
    return this.free.length;
  }
}
