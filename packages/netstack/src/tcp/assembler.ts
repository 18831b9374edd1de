// Assembler: which byte ranges past the contiguous receive point are filled (out-of-order data).
//
// Offsets are relative to RCV.NXT (0 = the next byte the application can get). The caller writes
// segment data into the receive ring at the same offset, so out-of-order data costs no memory beyond
// the receive buffer. At most `maxRanges` disjoint ranges are tracked (smoltcp's contig array idea);
// a segment that would need more is refused (add returns false and nothing changes), so an attacker
// sending many tiny holes cannot grow this structure.
//
// Ranges are kept sorted, disjoint and non-adjacent in a fixed Uint32Array: [start0, end0, ...].

const EMPTY = new Uint32Array(0);

export class Assembler {
  /** Allocated on the first out-of-order segment (most connections never need it). */
  private r: Uint32Array = EMPTY;
  private n = 0;
  /** Index (in ranges) of the range touched last: SACK reports it first (RFC 2018 section 4). */
  private lastTouched = -1;

  constructor(readonly maxRanges = 32) {}

  get rangeCount(): number {
    return this.n;
  }

  get isEmpty(): boolean {
    return this.n === 0;
  }

  clear(): void {
    this.n = 0;
    this.lastTouched = -1;
  }

  /** Start and end (exclusive) of range i, in offsets from RCV.NXT. */
  start(i: number): number {
    return this.r[2 * i] as number;
  }

  end(i: number): number {
    return this.r[2 * i + 1] as number;
  }

  /** Highest filled offset (exclusive), 0 when empty. */
  get highest(): number {
    return this.n === 0 ? 0 : (this.r[2 * this.n - 1] as number);
  }

  /**
   * Marks [offset, offset+len) filled. Returns false, changing nothing, when that would need more than
   * `maxRanges` ranges. len 0 is a no-op that succeeds.
   */
  add(offset: number, len: number): boolean {
    if (len <= 0) return true;
    const s = offset;
    const e = offset + len;
    const r = this.r;
    // First range whose end >= s (may merge), and first range whose start > e (after the merge).
    let i = 0;
    while (i < this.n && (r[2 * i + 1] as number) < s) i++;
    let j = i;
    while (j < this.n && (r[2 * j] as number) <= e) j++;
    if (i === j) {
      // No overlap or adjacency: insert a new range at i.
      if (this.n >= this.maxRanges) return false;
      if (this.r.length === 0) return this.firstRange(s, e);
      r.copyWithin(2 * i + 2, 2 * i, 2 * this.n);
      r[2 * i] = s;
      r[2 * i + 1] = e;
      this.n++;
      this.lastTouched = i;
      return true;
    }
    // Merge ranges i..j-1 with [s, e).
    const ns = Math.min(s, r[2 * i] as number);
    const ne = Math.max(e, r[2 * (j - 1) + 1] as number);
    r[2 * i] = ns;
    r[2 * i + 1] = ne;
    const removed = j - i - 1;
    if (removed > 0) {
      r.copyWithin(2 * i + 2, 2 * j, 2 * this.n);
      this.n -= removed;
    }
    this.lastTouched = i;
    return true;
  }

  private firstRange(s: number, e: number): boolean {
    this.r = new Uint32Array(this.maxRanges * 2);
    this.r[0] = s;
    this.r[1] = e;
    this.n = 1;
    this.lastTouched = 0;
    return true;
  }

  /**
   * When the first range starts at 0, removes it, shifts the others down by its length and returns the
   * length (bytes now contiguous at RCV.NXT). Otherwise 0.
   */
  removeFront(): number {
    if (this.n === 0 || this.r[0] !== 0) return 0;
    const len = this.r[1] as number;
    const r = this.r;
    r.copyWithin(0, 2, 2 * this.n);
    this.n--;
    for (let k = 0; k < 2 * this.n; k++) r[k] = (r[k] as number) - len;
    this.lastTouched = this.lastTouched > 0 ? this.lastTouched - 1 : -1;
    return len;
  }

  /** True when [offset, offset+len) is entirely filled. */
  contains(offset: number, len: number): boolean {
    for (let i = 0; i < this.n; i++) {
      if ((this.r[2 * i] as number) <= offset && (this.r[2 * i + 1] as number) >= offset + len) return true;
    }
    return false;
  }

  /**
   * Writes up to `max` ranges into `out` as [start, end) pairs in SACK order: the most recently touched
   * range first, then the others from the highest down. Returns the number written.
   */
  sackOrder(out: Uint32Array, max: number): number {
    let k = 0;
    const lt = this.lastTouched;
    if (lt >= 0 && lt < this.n && k < max) {
      out[0] = this.r[2 * lt] as number;
      out[1] = this.r[2 * lt + 1] as number;
      k = 1;
    }
    for (let i = this.n - 1; i >= 0 && k < max; i--) {
      if (i === lt) continue;
      out[2 * k] = this.r[2 * i] as number;
      out[2 * k + 1] = this.r[2 * i + 1] as number;
      k++;
    }
    return k;
  }
}
