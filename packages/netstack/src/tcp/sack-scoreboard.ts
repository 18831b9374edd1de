// SackScoreboard: the sender's record of which bytes above SND.UNA the receiver has SACKed (RFC 2018,
// RFC 6675). Ranges are sequence numbers [start, end), sorted, disjoint and non-adjacent, in a fixed
// array of `maxRanges`; a block that would need more is ignored (less information, never more memory).
//
// Contract: add() takes blocks the caller already checked to lie within (SND.UNA, SND.MAX]; advance()
// drops everything below the new SND.UNA.
import { seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';

const EMPTY = new Uint32Array(0);

export class SackScoreboard {
  /** Allocated on the first SACK block (most connections never see one). */
  private r: Uint32Array = EMPTY;
  private n = 0;
  /** Total SACKed bytes currently recorded. */
  sackedBytes = 0;

  constructor(readonly maxRanges = 32) {}

  get rangeCount(): number {
    return this.n;
  }

  get isEmpty(): boolean {
    return this.n === 0;
  }

  start(i: number): number {
    return this.r[2 * i] as number;
  }

  end(i: number): number {
    return this.r[2 * i + 1] as number;
  }

  clear(): void {
    this.n = 0;
    this.sackedBytes = 0;
  }

  /** End of the highest SACKed range (HighSACK + 1); only meaningful when not empty. */
  get highestSacked(): number {
    return this.r[2 * this.n - 1] as number;
  }

  /** Records [left, right); returns the number of bytes newly SACKed. */
  add(left: number, right: number): number {
    if (!seqLt(left, right)) return 0;
    if (this.r.length === 0) this.r = new Uint32Array(this.maxRanges * 2);
    const r = this.r;
    let i = 0;
    while (i < this.n && seqLt(r[2 * i + 1] as number, left)) i++;
    let j = i;
    while (j < this.n && seqLe(r[2 * j] as number, right)) j++;
    if (i === j) {
      if (this.n >= this.maxRanges) return 0;
      r.copyWithin(2 * i + 2, 2 * i, 2 * this.n);
      r[2 * i] = left;
      r[2 * i + 1] = right;
      this.n++;
      const added = seqDiff(right, left);
      this.sackedBytes += added;
      return added;
    }
    let before = 0;
    for (let k = i; k < j; k++) before += seqDiff(r[2 * k + 1] as number, r[2 * k] as number);
    const s = seqLt(left, r[2 * i] as number) ? left : (r[2 * i] as number);
    const e = seqGt(right, r[2 * (j - 1) + 1] as number) ? right : (r[2 * (j - 1) + 1] as number);
    r[2 * i] = s;
    r[2 * i + 1] = e;
    const removed = j - i - 1;
    if (removed > 0) {
      r.copyWithin(2 * i + 2, 2 * j, 2 * this.n);
      this.n -= removed;
    }
    const added = seqDiff(e, s) - before;
    this.sackedBytes += added;
    return added;
  }

  /** Forgets everything below `una` (cumulatively acknowledged). */
  advance(una: number): void {
    const r = this.r;
    let drop = 0;
    while (drop < this.n && seqLe(r[2 * drop + 1] as number, una)) {
      this.sackedBytes -= seqDiff(r[2 * drop + 1] as number, r[2 * drop] as number);
      drop++;
    }
    if (drop > 0) {
      r.copyWithin(0, 2 * drop, 2 * this.n);
      this.n -= drop;
    }
    if (this.n > 0 && seqLt(r[0] as number, una)) {
      this.sackedBytes -= seqDiff(una, r[0] as number);
      r[0] = una;
    }
  }

  isSacked(seq: number): boolean {
    for (let i = 0; i < this.n; i++) {
      if (seqGe(seq, this.r[2 * i] as number) && seqLt(seq, this.r[2 * i + 1] as number)) return true;
    }
    return false;
  }

  /** First sequence number >= from that is not SACKed (may be >= the highest range). */
  nextUnsacked(from: number): number {
    let s = from;
    for (let i = 0; i < this.n; i++) {
      const a = this.r[2 * i] as number;
      const b = this.r[2 * i + 1] as number;
      if (seqLt(s, a)) return s;
      if (seqLt(s, b)) s = b;
    }
    return s;
  }

  /** Start of the first SACKed range above `seq`, or `limit` when there is none below it. */
  nextSackedStart(seq: number, limit: number): number {
    for (let i = 0; i < this.n; i++) {
      const a = this.r[2 * i] as number;
      if (seqGt(a, seq)) return seqLt(a, limit) ? a : limit;
    }
    return limit;
  }

  /**
   * RFC 6675 IsLost as a boundary: unSACKed bytes below the returned sequence number are lost (at least
   * `dupThresh` SACKed ranges or more than (dupThresh - 1) * mss SACKed bytes lie above them). Returns
   * `una` when nothing counts as lost.
   */
  lossBoundary(una: number, mss: number, dupThresh: number): number {
    let acc = 0;
    const limit = (dupThresh - 1) * mss;
    for (let i = this.n - 1; i >= 0; i--) {
      acc += seqDiff(this.r[2 * i + 1] as number, this.r[2 * i] as number);
      if (acc > limit || this.n - i >= dupThresh) return this.r[2 * i] as number;
    }
    return una;
  }

  /** SACKed bytes within [from, to). */
  sackedIn(from: number, to: number): number {
    let total = 0;
    for (let i = 0; i < this.n; i++) {
      const a = this.r[2 * i] as number;
      const b = this.r[2 * i + 1] as number;
      const s = seqGt(a, from) ? a : from;
      const e = seqLt(b, to) ? b : to;
      if (seqLt(s, e)) total += seqDiff(e, s);
    }
    return total;
  }
}
