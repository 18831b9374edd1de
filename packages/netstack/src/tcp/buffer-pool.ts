// BufferPool: byte buffers in power-of-two size classes (MIN_CLASS .. maxSize), recycled between
// connections so a busy stack reuses memory instead of allocating per connection or per burst.
// Idle buffers kept per class are capped (`maxFreePerClass`) and so is their total (`maxIdleBytes`).
// `bytesInUse` is what connections hold right now (the stack reports it as bufferBytes).
//
// Contract: give() only buffers this pool handed out, once each. Storage is NOT zeroed (allocUnsafeSlow
// and recycled buffers hold stale bytes): RingBuffer never exposes a byte it did not write, which the
// ring-buffer property tests check.

export const MIN_CLASS = 16 * 1024;

/** A byte budget shared by pools (the stack's send and receive pools share one). */
export class MemoryBudget {
  used = 0;
  /** Refusals because the budget was spent (the stack reports them). */
  refused = 0;
  /** Set whenever memory is given back (the stack then wakes senders that were refused). */
  freed = false;
  constructor(readonly limit: number) {}
}

export class BufferPool {
  private readonly free = new Map<number, Uint8Array[]>();
  private idleBytes = 0;
  bytesInUse = 0;
  /** Buffers handed out right now. */
  inUse = 0;
  /** Buffers ever allocated (tests and stats). */
  allocated = 0;

  constructor(
    /** The largest buffer (a ring's capacity); need not be a power of two. */
    readonly maxSize: number,
    /** Total bytes handed out by every pool sharing it (idle buffers are not counted). */
    readonly budget: MemoryBudget = new MemoryBudget(Infinity),
    readonly maxFreePerClass = 64,
    readonly maxIdleBytes = 64 * 1024 * 1024,
  ) {}

  /** The size class that holds `n` bytes: a power of two >= MIN_CLASS, capped at maxSize. */
  classFor(n: number): number {
    let c = MIN_CLASS;
    while (c < n && c < this.maxSize) c *= 2;
    return c > this.maxSize ? this.maxSize : c;
  }

  /** A buffer of exactly classFor(n) bytes (uninitialized), or null when the budget is spent. */
  take(n: number): Uint8Array | null {
    const size = this.classFor(n);
    if (this.budget.used + size > this.budget.limit) {
      this.budget.refused++;
      return null;
    }
    this.budget.used += size;
    this.inUse++;
    this.bytesInUse += size;
    const list = this.free.get(size);
    const b = list?.pop();
    if (b !== undefined) {
      this.idleBytes -= size;
      return b;
    }
    this.allocated++;
    const buf = Buffer.allocUnsafeSlow(size);
    return new Uint8Array(buf.buffer, buf.byteOffset, size);
  }

  give(b: Uint8Array): void {
    this.budget.used -= b.length;
    this.budget.freed = true;
    this.inUse--;
    this.bytesInUse -= b.length;
    let list = this.free.get(b.length);
    if (list === undefined) {
      list = [];
      this.free.set(b.length, list);
    }
    if (list.length < this.maxFreePerClass && this.idleBytes + b.length <= this.maxIdleBytes) {
      list.push(b);
      this.idleBytes += b.length;
    }
  }

  /** Idle buffers held for reuse. */
  get idle(): number {
    let n = 0;
    for (const l of this.free.values()) n += l.length;
    return n;
  }
}
