// RingBuffer: the byte store behind a TCP send or receive buffer.
//
// Storage is taken from a BufferPool on the first write and given back whenever the buffer becomes
// empty (and nothing is stored past its end), so an idle connection holds no data memory at all.
// Besides appending (write) the receive side writes out-of-order data past the end (writeAt) and later
// makes it part of the buffer (commit); the send side reads at any offset (peek) to build
// retransmissions. Nothing here allocates per call.
import type { BufferPool } from './buffer-pool.js';

export class RingBuffer {
  private buf: Uint8Array | null = null;
  private head = 0;
  private len = 0;
  /** True while bytes written with writeAt() past the end may still be committed. */
  private holdsBeyondEnd = false;

  constructor(
    private readonly pool: BufferPool,
    /** Bytes it can hold (the pool's buffer size). */
    readonly capacity: number = pool.size,
  ) {}

  /** Bytes stored. */
  get length(): number {
    return this.len;
  }

  get free(): number {
    return this.capacity - this.len;
  }

  /** Whether storage is currently held (for memory accounting in tests and stats). */
  get hasStorage(): boolean {
    return this.buf !== null;
  }

  private storage(): Uint8Array {
    if (this.buf === null) {
      this.buf = this.pool.take();
      this.head = 0;
    }
    return this.buf;
  }

  /** Appends up to `free` bytes of src[off, off+n); returns the number appended. */
  write(src: Uint8Array, off: number, n: number): number {
    const count = Math.min(n, this.capacity - this.len);
    if (count <= 0) return 0;
    this.copyIn(this.len, src, off, count);
    this.len += count;
    return count;
  }

  /**
   * Writes src[off, off+n) at `offset` bytes past the current end, without changing the length (the
   * assembler tracks it). The caller keeps offset + n <= free.
   */
  writeAt(offset: number, src: Uint8Array, off: number, n: number): void {
    if (n <= 0) return;
    this.copyIn(this.len + offset, src, off, n);
    this.holdsBeyondEnd = true;
  }

  /** Makes n bytes past the end (written with writeAt) part of the buffer. */
  commit(n: number): void {
    this.len += n;
  }

  /** false once nothing is stored past the end any more (assembler empty or cleared). */
  set beyondEnd(v: boolean) {
    this.holdsBeyondEnd = v;
    if (!v) this.releaseIfEmpty();
  }

  private copyIn(at: number, src: Uint8Array, off: number, n: number): void {
    const buf = this.storage();
    const cap = this.capacity;
    let pos = this.head + at;
    if (pos >= cap) pos -= cap;
    const first = Math.min(n, cap - pos);
    buf.set(src.subarray(off, off + first), pos);
    if (first < n) buf.set(src.subarray(off + first, off + n), 0);
  }

  /** Copies n bytes starting `offset` bytes after the head into dst at dstOff (no consumption). */
  peek(offset: number, dst: Uint8Array, dstOff: number, n: number): void {
    if (n <= 0 || this.buf === null) return;
    const buf = this.buf;
    const cap = this.capacity;
    let pos = this.head + offset;
    if (pos >= cap) pos -= cap;
    const first = Math.min(n, cap - pos);
    dst.set(buf.subarray(pos, pos + first), dstOff);
    if (first < n) dst.set(buf.subarray(0, n - first), dstOff + first);
  }

  /** Drops n bytes from the head. */
  consume(n: number): void {
    if (n <= 0) return;
    if (n > this.len) n = this.len;
    this.len -= n;
    this.head += n;
    if (this.head >= this.capacity) this.head -= this.capacity;
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
    this.holdsBeyondEnd = false;
    if (this.buf !== null) {
      this.pool.give(this.buf);
      this.buf = null;
    }
  }

  private releaseIfEmpty(): void {
    if (this.len === 0 && !this.holdsBeyondEnd && this.buf !== null) {
      this.pool.give(this.buf);
      this.buf = null;
      this.head = 0;
    }
  }
}
