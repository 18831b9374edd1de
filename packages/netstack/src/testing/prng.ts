// A small seeded PRNG (sfc32) for deterministic simulations: same seed, same run.
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Fills `b` with pseudo-random bytes (usable as a Stack `random` option). */
  fill(b: Uint8Array): void {
    for (let i = 0; i < b.length; i += 4) {
      const v = this.nextU32();
      b[i] = v;
      if (i + 1 < b.length) b[i + 1] = v >>> 8;
      if (i + 2 < b.length) b[i + 2] = v >>> 16;
      if (i + 3 < b.length) b[i + 3] = v >>> 24;
    }
  }
}
