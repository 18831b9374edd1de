// RingBuffer: the byte store behind a TCP send or receive buffer.
//
// `capacity` is the most it ever holds (the window we advertise, the send buffer limit); the storage
// behind it grows on demand in power-of-two steps from the pool and goes back to the pool whenever the
// buffer becomes empty (and nothing is stored past its end), so an idle connection holds no data
// memory and a small flow never holds a full-size buffer. The size it last needed is remembered, so a
// bulk flow that drains its buffer between segments does not grow it again step by step.
//
// Besides appending (write) the receive side writes out-of-order data past the end (writeAt) and later
// makes it part of the buffer (commit); the send side reads at any offset (peek) to build
// retransmissions. Nothing here allocates per call except when storage grows.
import type { BufferPool } from './buffer-pool.js';

export class RingBuffer {
  private buf: Uint8Array | null = null;
  /** Storage size (buf.length), 0 without storage. */
  private size = 0;
  private head = 0;
  private len = 0;
  /** Highest offset from head written so far (covers writeAt past the end). */
  private hi = 0;
  /** True while bytes written with writeAt() past the end may still be committed. */
  private holdsBeyondEnd = false;
  /** Storage size to start with next time (what this buffer needed last). */
  private hint = 0;

  constructor(
    private readonly pool: BufferPool,
    /** Bytes it can hold. */
    readonly capacity: number = pool.maxSize,
  ) {}

  /** Bytes stored. */
  get length(): number {
    return this.len;
  }

  get free(): number {
    return this.capacity - this.len;
  }

  /** Storage currently held (bytes; 0 when none). */
  get storageBytes(): number {
    return this.size;
  }

  get hasStorage(): boolean {
    return this.buf !== null;
  }

  /**
   * Makes sure storage covers offsets [0, end) from the head; null when the pool's memory budget
   * cannot provide it (the caller then stores nothing).
   */
  private ensure(end: number): Uint8Array | null {
    if (this.buf !== null && end <= this.size) return this.buf;
    let next = this.pool.take(Math.max(end, this.hint));
    if (next === null && this.hint > end) next = this.pool.take(end); // the hint is only a wish
    if (next === null) return null;
    const old = this.buf;
    if (old !== null) {
      // Unwrap everything written so far (including out-of-order bytes past the end) to offset 0.
      const n = this.hi;
      const first = Math.min(n, this.size - this.head);
      next.set(old.subarray(this.head, this.head + first), 0);
      if (first < n) next.set(old.subarray(0, n - first), first);
      this.pool.give(old);
    }
    this.buf = next;
    this.size = next.length;
    this.head = 0;
    if (this.size > this.hint) this.hint = this.size;
    return next;
  }

  /**
   * Appends up to `free` bytes of src[off, off+n); returns the number appended (fewer, possibly 0,
   * when the memory budget cannot grow the storage).
   */
  write(src: Uint8Array, off: number, n: number): number {
    let count = Math.min(n, this.capacity - this.len);
    if (count <= 0) return 0;
    if (this.buf === null || this.len + count > this.size) {
      if (this.ensure(this.len + count) === null) {
        // Budget spent: use what the current storage still holds.
        count = Math.min(count, this.size - this.len);
        if (count <= 0) return 0;
      }
    }
    this.copyIn(this.len, src, off, count);
    this.len += count;
    return count;
  }

  /**
   * Writes src[off, off+n) at `offset` bytes past the current end, without changing the length (the
   * assembler tracks it). The caller keeps offset + n <= free. Returns false, storing nothing, when
   * the memory budget cannot grow the storage.
   */
  writeAt(offset: number, src: Uint8Array, off: number, n: number): boolean {
    if (n <= 0) return true;
    if (this.ensure(this.len + offset + n) === null) return false;
    this.copyIn(this.len + offset, src, off, n);
    this.holdsBeyondEnd = true;
    return true;
  }

  /** Makes n bytes past the end (written with writeAt) part of the buffer. */
  commit(n: number): void {
    this.len += n;
  }

  /** false once nothing is stored past the end any more (assembler empty or cleared). */
  set beyondEnd(v: boolean) {
    this.holdsBeyondEnd = v;
    if (!v) {
      this.hi = this.len;
      this.releaseIfEmpty();
    }
  }

  /** Copies into storage that ensure() already provided for [0, at + n). */
  private copyIn(at: number, src: Uint8Array, off: number, n: number): void {
    const end = at + n;
    const buf = this.buf as Uint8Array;
    if (end > this.hi) this.hi = end;
    const size = this.size;
    let pos = this.head + at;
    if (pos >= size) pos -= size;
    const first = Math.min(n, size - pos);
    buf.set(src.subarray(off, off + first), pos);
    if (first < n) buf.set(src.subarray(off + first, off + n), 0);
  }

  /** Copies n bytes starting `offset` bytes after the head into dst at dstOff (no consumption). */
  peek(offset: number, dst: Uint8Array, dstOff: number, n: number): void {
    if (n <= 0 || this.buf === null) return;
    const buf = this.buf;
    const size = this.size;
    let pos = this.head + offset;
    if (pos >= size) pos -= size;
    const first = Math.min(n, size - pos);
    dst.set(buf.subarray(pos, pos + first), dstOff);
    if (first < n) dst.set(buf.subarray(0, n - first), dstOff + first);
  }

  /** Drops n bytes from the head. */
  consume(n: number): void {
    if (n <= 0) return;
    if (n > this.len) n = this.len;
    this.len -= n;
    this.hi -= n;
    this.head += n;
    if (this.head >= this.size) this.head -= this.size;
    // Bytes stored past the end (writeAt) stay where they are relative to the new head.
    if (this.len === 0) this.releaseIfEmpty();
  }

  /** Copies up to n bytes from the head into dst and consumes them; returns the count. */
  read(dst: Uint8Array, dstOff: number, n: number): number {
    const count = Math.min(n, this.len);
    this.peek(0, dst, dstOff, count);
    this.consume(count);
    return count;
  }

  /** Releases the storage (connection closed); later writes take fresh storage. */
  release(): void {
    this.len = 0;
    this.head = 0;
    this.hi = 0;
    this.holdsBeyondEnd = false;
    this.hint = 0;
    if (this.buf !== null) {
      this.pool.give(this.buf);
      this.buf = null;
      this.size = 0;
    }
  }

  private releaseIfEmpty(): void {
    if (this.len === 0 && !this.holdsBeyondEnd && this.buf !== null) {
      this.pool.give(this.buf);
      this.buf = null;
      this.size = 0;
      this.head = 0;
      this.hi = 0;
    }
  }
}
