// TCP sequence-number arithmetic modulo 2^32 (RFC 9293 section 3.4; RFC 1982 style comparisons).
// Values are unsigned 32-bit numbers; a comparison looks at the signed 32-bit difference, so it is
// meaningful for numbers less than 2^31 apart.

/** a < b in sequence space. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** a + n as an unsigned 32-bit sequence number (n may be negative). */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The signed distance a - b (in -2^31 .. 2^31-1). */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** lo <= x < hi in sequence space (an empty range when lo == hi). */
export function seqInRange(x: number, lo: number, hi: number): boolean {
  return (x - lo) >>> 0 < (hi - lo) >>> 0;
}

export function seqMax(a: number, b: number): number {
  return seqGt(a, b) ? a : b;
}

export function seqMin(a: number, b: number): number {
  return seqLt(a, b) ? a : b;
}
