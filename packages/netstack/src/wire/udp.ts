// UDP header parsing and building (RFC 768; IPv6 rules of RFC 8200 section 8.1).
import type { DropReason } from '../drop-reasons.js';
import { readU16, writeU16 } from './address.js';
import { finishChecksum, sumBytes, verifyChecksum } from './checksum.js';
import { UDP_HEADER_BYTES } from './constants.js';

export class UdpDatagram {
  srcPort = 0;
  dstPort = 0;
  payloadOffset = 0;
  payloadLength = 0;
}

/**
 * Parses the UDP datagram at `buf[off, off+len)`. The UDP length must fit the IP payload (bytes past
 * it are ignored). A zero checksum means "none" for IPv4 and is refused for IPv6. `pseudoSum` is the
 * pseudo-header sum WITHOUT the length (added here from the UDP length field); -1 skips verification.
 */
export function parseUdp(
  buf: Uint8Array,
  off: number,
  len: number,
  pseudoSumNoLength: number,
  isIpv6: boolean,
  out: UdpDatagram,
): 'ok' | DropReason {
  if (len < UDP_HEADER_BYTES) return 'udpShort';
  const ulen = readU16(buf, off + 4);
  if (ulen < UDP_HEADER_BYTES || ulen > len) return 'udpBadLength';
  const stored = readU16(buf, off + 6);
  if (pseudoSumNoLength >= 0) {
    if (stored === 0) {
      if (isIpv6) return 'udpBadChecksum';
    } else if (!verifyChecksum(buf, off, ulen, pseudoSumNoLength + ulen)) {
      return 'udpBadChecksum';
    }
  }
  out.srcPort = readU16(buf, off);
  out.dstPort = readU16(buf, off + 2);
  out.payloadOffset = off + UDP_HEADER_BYTES;
  out.payloadLength = ulen - UDP_HEADER_BYTES;
  return 'ok';
}

/** Writes the 8-byte UDP header at `off` for `payloadLength` bytes that follow (checksum 0 for now). */
export function writeUdpHeader(
  buf: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  payloadLength: number,
): void {
  writeU16(buf, off, srcPort);
  writeU16(buf, off + 2, dstPort);
  writeU16(buf, off + 4, UDP_HEADER_BYTES + payloadLength);
  buf[off + 6] = 0;
  buf[off + 7] = 0;
}

/** Stores the UDP checksum of `buf[off, off+len)`; a computed 0 is sent as 0xffff (RFC 768). */
export function finishUdpChecksum(buf: Uint8Array, off: number, len: number, pseudoSum: number): void {
  buf[off + 6] = 0;
  buf[off + 7] = 0;
  const c = finishChecksum(sumBytes(buf, off, len, pseudoSum));
  writeU16(buf, off + 6, c === 0 ? 0xffff : c);
}
