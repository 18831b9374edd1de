// SipHash-2-4 (Aumasson & Bernstein) with 32-bit arithmetic: the keyed hash behind ISNs (RFC 6528),
// SYN cookies and the connection-table hash (so an attacker cannot aim many flows at one bucket).
// 64-bit lanes are kept as (hi, lo) pairs of unsigned 32-bit numbers in a scratch array; nothing is
// allocated per call.

const V = new Uint32Array(8); // v0h v0l v1h v1l v2h v2l v3h v3l

function add(a: number, b: number): void {
  // V[a] += V[b] (64-bit), lanes as index of the hi word.
  const lo = (V[a + 1] as number) + (V[b + 1] as number);
  V[a] = (V[a] as number) + (V[b] as number) + (lo > 0xffffffff ? 1 : 0);
  V[a + 1] = lo;
}

function rotl(a: number, n: number): void {
  const h = V[a] as number;
  const l = V[a + 1] as number;
  if (n === 32) {
    V[a] = l;
    V[a + 1] = h;
  } else if (n < 32) {
    V[a] = (h << n) | (l >>> (32 - n));
    V[a + 1] = (l << n) | (h >>> (32 - n));
  } else {
    const m = n - 32;
    V[a] = (l << m) | (h >>> (32 - m));
    V[a + 1] = (h << m) | (l >>> (32 - m));
  }
}

function xor(a: number, b: number): void {
  V[a] = (V[a] as number) ^ (V[b] as number);
  V[a + 1] = (V[a + 1] as number) ^ (V[b + 1] as number);
}

function round(): void {
  add(0, 2);
  rotl(2, 13);
  xor(2, 0);
  rotl(0, 32);
  add(4, 6);
  rotl(6, 16);
  xor(6, 4);
  add(0, 6);
  rotl(6, 21);
  xor(6, 0);
  add(4, 2);
  rotl(2, 17);
  xor(2, 4);
  rotl(4, 32);
}

/** A SipHash-2-4 key: four 32-bit words k0..k3, the 16 key bytes read little-endian. */
export class SipKey {
  readonly k = new Uint32Array(4);

  constructor(bytes: Uint8Array) {
    if (bytes.length < 16) throw new RangeError('SipKey needs 16 bytes');
    for (let i = 0; i < 4; i++) {
      this.k[i] =
        ((bytes[4 * i] as number) |
          ((bytes[4 * i + 1] as number) << 8) |
          ((bytes[4 * i + 2] as number) << 16) |
          ((bytes[4 * i + 3] as number) << 24)) >>>
        0;
    }
  }
}

function init(key: SipKey): void {
  const k = key.k;
  // k0 = (k[1] hi, k[0] lo), k1 = (k[3], k[2])
  V[0] = (k[1] as number) ^ 0x736f6d65;
  V[1] = (k[0] as number) ^ 0x70736575;
  V[2] = (k[3] as number) ^ 0x646f7261;
  V[3] = (k[2] as number) ^ 0x6e646f6d;
  V[4] = (k[1] as number) ^ 0x6c796765;
  V[5] = (k[0] as number) ^ 0x6e657261;
  V[6] = (k[3] as number) ^ 0x74656462;
  V[7] = (k[2] as number) ^ 0x79746573;
}

function block(hi: number, lo: number): void {
  V[6] = (V[6] as number) ^ hi;
  V[7] = (V[7] as number) ^ lo;
  round();
  round();
  V[0] = (V[0] as number) ^ hi;
  V[1] = (V[1] as number) ^ lo;
}

function finish(): void {
  V[5] = (V[5] as number) ^ 0xff; // v2 ^= 0xff: the low word of lane v2
  round();
  round();
  round();
  round();
}

const OUT = new Uint32Array(2);

/** SipHash-2-4 of `bytes`; returns [hi, lo] of the 64-bit result in a shared array (copy it). */
export function sipHashBytes(key: SipKey, bytes: Uint8Array): Uint32Array {
  init(key);
  const len = bytes.length;
  const full = len - (len % 8);
  const le32 = (o: number): number =>
    ((bytes[o] as number) |
      ((bytes[o + 1] as number) << 8) |
      ((bytes[o + 2] as number) << 16) |
      ((bytes[o + 3] as number) << 24)) >>>
    0;
  for (let i = 0; i < full; i += 8) block(le32(i + 4), le32(i));
  let lo = 0;
  let hi = (len & 0xff) << 24;
  for (let i = full; i < len; i++) {
    const b = bytes[i] as number;
    const s = i - full;
    if (s < 4) lo |= b << (8 * s);
    else hi |= b << (8 * (s - 4));
  }
  block(hi >>> 0, lo >>> 0);
  finish();
  OUT[0] = (V[0] as number) ^ (V[2] as number) ^ (V[4] as number) ^ (V[6] as number);
  OUT[1] = (V[1] as number) ^ (V[3] as number) ^ (V[5] as number) ^ (V[7] as number);
  return OUT;
}

/**
 * SipHash-2-4 of a message of 32-bit words (each pair forms one little-endian 64-bit block: low word
 * first), returning the low 32 bits of the result. `n` words are hashed (n <= words.length).
 */
export function sipHashWords32(key: SipKey, words: Uint32Array, n: number): number {
  init(key);
  let i = 0;
  for (; i + 1 < n; i += 2) block(words[i + 1] as number, words[i] as number);
  const lenBytes = n * 4;
  if (i < n) block(((lenBytes & 0xff) << 24) >>> 0, words[i] as number);
  else block(((lenBytes & 0xff) << 24) >>> 0, 0);
  finish();
  return ((V[1] as number) ^ (V[3] as number) ^ (V[5] as number) ^ (V[7] as number)) >>> 0;
}
