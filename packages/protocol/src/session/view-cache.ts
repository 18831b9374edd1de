/**
 * One-entry cache of a subarray view. The hot path sees the same pooled buffer and packet size over
 * and over; Buffer#subarray allocates a new view object each time (tens of ns plus GC), so each call
 * site keeps the last view and reuses it when (buffer, start, end) match. Views alias the caller's
 * buffer exactly like a fresh subarray would; the cache holds a reference to the last buffer only.
 */
export class ViewCache {
  private buf: Uint8Array | null = null;
  private start = 0;
  private end = 0;
  private v: Buffer | null = null;

  view(buf: Uint8Array, start: number, end: number): Buffer {
    if (buf === this.buf && start === this.start && end === this.end && this.v !== null) return this.v;
    const v =
      buf instanceof Buffer
        ? buf.subarray(start, end)
        : Buffer.from(buf.buffer, buf.byteOffset + start, end - start);
    this.buf = buf;
    this.start = start;
    this.end = end;
    this.v = v;
    return v;
  }
}

/**
 * Many-entry cache of views, keyed by the underlying memory (ArrayBuffer, absolute start, length)
 * rather than by the view object: batch paths see fresh view objects of the same slab positions
 * batch after batch (a TUN read slab, a recvmmsg slab, send slab slots), and a one-entry cache
 * misses whenever the position changes within a batch. Direct-mapped, `size` entries (a power of
 * two); a miss allocates one view and replaces the entry. The returned view aliases exactly the
 * requested bytes, like a fresh subarray; the table keeps references to at most `size` buffers.
 */
export class ViewTable {
  private readonly buffers: (ArrayBufferLike | null)[];
  private readonly starts: Float64Array;
  private readonly lengths: Float64Array;
  private readonly views: (Buffer | null)[];
  private readonly shift: number;

  constructor(size = 1024) {
    if (!Number.isInteger(size) || size < 2 || size > 65_536 || (size & (size - 1)) !== 0)
      throw new RangeError('size must be a power of two in 2..65536');
    this.buffers = new Array<ArrayBufferLike | null>(size).fill(null);
    this.views = new Array<Buffer | null>(size).fill(null);
    this.starts = new Float64Array(size);
    this.lengths = new Float64Array(size);
    this.shift = 32 - Math.log2(size);
  }

  /** A view of `src[start .. end)` (the caller checked the bounds). */
  view(src: Uint8Array, start: number, end: number): Buffer {
    const buffer = src.buffer;
    const abs = src.byteOffset + start;
    const length = end - start;
    const h = Math.imul((abs ^ (length << 20)) | 0, 0x9e3779b1) >>> this.shift;
    if (this.buffers[h] === buffer && this.starts[h] === abs && this.lengths[h] === length)
      return this.views[h] as Buffer;
    const v = Buffer.from(buffer, abs, length);
    this.buffers[h] = buffer;
    this.starts[h] = abs;
    this.lengths[h] = length;
    this.views[h] = v;
    return v;
  }
}
