// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit
// big-endian words. Sums are kept unfolded in a JS number (safe: a 64 KiB packet adds at most
// 32768 * 0xffff < 2^31 per call) and folded once at the end.
import type { IpAddr } from './address.js';

/** Adds the bytes `buf[off, off+len)` as big-endian 16-bit words to `sum` (odd tail padded with 0). */
export function sumBytes(buf: Uint8Array, off: number, len: number, sum: number): number {
  let i = off;
  const end = off + len;
  const end8 = end - 7;
  let s = 0;
  // Four words per iteration; folded every iteration-block to stay in small-integer range.
  while (i < end8) {
    s +=
      (((buf[i] as number) << 8) | (buf[i + 1] as number)) +
      (((buf[i + 2] as number) << 8) | (buf[i + 3] as number)) +
      (((buf[i + 4] as number) << 8) | (buf[i + 5] as number)) +
      (((buf[i + 6] as number) << 8) | (buf[i + 7] as number));
    i += 8;
    if (s > 0x3fffffff) s = (s & 0xffff) + (s >>> 16);
  }
  while (i < end - 1) {
    s += ((buf[i] as number) << 8) | (buf[i + 1] as number);
    i += 2;
  }
  if (i < end) s += (buf[i] as number) << 8;
  return sum + s;
}

/** Folds an unfolded sum to 16 bits (without complementing). */
export function foldSum(sum: number): number {
  // sum may exceed 32 bits when callers add several large partial sums.
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The value to store in a checksum field for an unfolded sum. */
export function finishChecksum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/** Adds an address (4 or 16 bytes in network order) to a sum. */
export function sumAddress(a: IpAddr, sum: number): number {
  if (a.family === 4) return sum + (a.w3 >>> 16) + (a.w3 & 0xffff);
  return (
    sum +
    (a.w0 >>> 16) +
    (a.w0 & 0xffff) +
    (a.w1 >>> 16) +
    (a.w1 & 0xffff) +
    (a.w2 >>> 16) +
    (a.w2 & 0xffff) +
    (a.w3 >>> 16) +
    (a.w3 & 0xffff)
  );
}

/** Pseudo-header sum for TCP/UDP/ICMPv6 (RFC 793 / RFC 8200 section 8.1). */
export function pseudoHeaderSum(src: IpAddr, dst: IpAddr, protocol: number, length: number): number {
  let s = sumAddress(src, 0);
  s = sumAddress(dst, s);
  return s + protocol + (length >>> 16) + (length & 0xffff);
}

/** Pseudo-header sum straight from the address bytes of a packet (no IpAddr allocation). */
export function pseudoHeaderSumRaw(
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  addrLen: number,
  protocol: number,
  length: number,
): number {
  let s = sumBytes(buf, srcOff, addrLen, 0);
  s = sumBytes(buf, dstOff, addrLen, s);
  return s + protocol + (length >>> 16) + (length & 0xffff);
}

/**
 * True when the bytes including their stored checksum field sum to 0xffff (valid). `sum` carries the
 * pseudo-header when there is one.
 */
export function verifyChecksum(buf: Uint8Array, off: number, len: number, sum: number): boolean {
  return foldSum(sumBytes(buf, off, len, sum)) === 0xffff;
}
