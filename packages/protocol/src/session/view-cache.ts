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
