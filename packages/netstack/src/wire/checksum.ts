// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit
// big-endian words. Sums are kept unfolded in a JS number (safe: a 64 KiB packet adds at most
// 32768 * 0xffff < 2^31 per call) and folded once at the end.
import type { IpAddr } from './address.js';

// DataView reads of big-endian 32-bit words are about twice as fast as byte loads in V8. One view per
// ArrayBuffer is cached: consecutive packets usually share one (a TUN slab, a Buffer pool slab).
let viewBuffer: ArrayBufferLike | null = null;
let view: DataView = new DataView(new ArrayBuffer(0));

function viewOf(buf: Uint8Array): DataView {
  if (buf.buffer !== viewBuffer) {
    viewBuffer = buf.buffer;
    view = new DataView(buf.buffer);
  }
  return view;
}

/** Adds the bytes `buf[off, off+len)` as big-endian 16-bit words to `sum` (odd tail padded with 0). */
export function sumBytes(buf: Uint8Array, off: number, len: number, sum: number): number {
  const dv = viewOf(buf);
  let i = buf.byteOffset + off;
  const end = i + len;
  const end16 = end - 15;
  let s = 0;
  // Four 32-bit words per iteration, each split into its two 16-bit halves; folded when large so
  // the sum stays a small integer.
  while (i < end16) {
    const a = dv.getUint32(i);
    const b = dv.getUint32(i + 4);
    const c = dv.getUint32(i + 8);
    const d = dv.getUint32(i + 12);
    s +=
      (a >>> 16) +
      (a & 0xffff) +
      (b >>> 16) +
      (b & 0xffff) +
      (c >>> 16) +
      (c & 0xffff) +
      (d >>> 16) +
      (d & 0xffff);
    i += 16;
    if (s > 0x3fffffff) s = (s & 0xffff) + (s >>> 16);
  }
  while (i < end - 1) {
    s += dv.getUint16(i);
    i += 2;
  }
  if (i < end) s += dv.getUint8(i) << 8;
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
