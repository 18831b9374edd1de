// TCP header parsing and building (RFC 9293) with the options we speak: MSS, window scale
// (RFC 7323), timestamps (RFC 7323), SACK-permitted and SACK blocks (RFC 2018).
//
// parseTcp fills a reused TcpSegment (no allocation per segment) and never throws. Option parsing is
// bounded by the data offset (at most 40 option bytes); malformed options are refused as a whole
// ('tcpBadOffset'), unknown options are skipped by their length byte.
import type { DropReason } from '../drop-reasons.js';
import { readU16, readU32, writeU16, writeU32 } from './address.js';
import { finishChecksum, sumBytes, verifyChecksum } from './checksum.js';
import {
  TCP_HEADER_BYTES,
  TCP_MAX_SACK_BLOCKS,
  TCPOPT_EOL,
  TCPOPT_MSS,
  TCPOPT_NOP,
  TCPOPT_SACK,
  TCPOPT_SACK_PERMITTED,
  TCPOPT_TIMESTAMP,
  TCPOPT_WSCALE,
} from './constants.js';

export class TcpSegment {
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  urgent = 0;
  headerLength = 0;
  /** Offset of the payload in the packet buffer. */
  payloadOffset = 0;
  payloadLength = 0;
  // Options (present flags are reset by every parse)
  mss = 0; // 0 = absent
  wscale = -1; // -1 = absent
  sackPermitted = false;
  hasTimestamp = false;
  tsVal = 0;
  tsEcr = 0;
  sackCount = 0;
  /** SACK blocks as [left0, right0, left1, right1, ...], `sackCount` of them. */
  readonly sack = new Uint32Array(TCP_MAX_SACK_BLOCKS * 2);
}

/**
 * Parses the TCP segment at `buf[off, off+len)`. `pseudoSum` is the pseudo-header sum of the enclosing
 * IP packet; pass -1 to skip checksum verification (tests of the parser itself).
 */
export function parseTcp(
  buf: Uint8Array,
  off: number,
  len: number,
  pseudoSum: number,
  seg: TcpSegment,
): 'ok' | DropReason {
  if (len < TCP_HEADER_BYTES) return 'tcpShort';
  const hl = ((buf[off + 12] as number) >>> 4) * 4;
  if (hl < TCP_HEADER_BYTES || hl > len) return 'tcpBadOffset';
  if (pseudoSum >= 0 && !verifyChecksum(buf, off, len, pseudoSum)) return 'tcpBadChecksum';
  seg.srcPort = readU16(buf, off);
  seg.dstPort = readU16(buf, off + 2);
  seg.seq = readU32(buf, off + 4);
  seg.ack = readU32(buf, off + 8);
  seg.flags = buf[off + 13] as number;
  seg.window = readU16(buf, off + 14);
  seg.urgent = readU16(buf, off + 18);
  seg.headerLength = hl;
  seg.payloadOffset = off + hl;
  seg.payloadLength = len - hl;
  seg.mss = 0;
  seg.wscale = -1;
  seg.sackPermitted = false;
  seg.hasTimestamp = false;
  seg.tsVal = 0;
  seg.tsEcr = 0;
  seg.sackCount = 0;
  let i = off + TCP_HEADER_BYTES;
  const end = off + hl;
  while (i < end) {
    const kind = buf[i] as number;
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return 'tcpBadOffset';
    const olen = buf[i + 1] as number;
    if (olen < 2 || i + olen > end) return 'tcpBadOffset';
    switch (kind) {
      case TCPOPT_MSS:
        if (olen === 4) seg.mss = readU16(buf, i + 2);
        break;
      case TCPOPT_WSCALE:
        if (olen === 3) seg.wscale = buf[i + 2] as number;
        break;
      case TCPOPT_SACK_PERMITTED:
        if (olen === 2) seg.sackPermitted = true;
        break;
      case TCPOPT_TIMESTAMP:
        if (olen === 10) {
          seg.hasTimestamp = true;
          seg.tsVal = readU32(buf, i + 2);
          seg.tsEcr = readU32(buf, i + 6);
        }
        break;
      case TCPOPT_SACK: {
        const n = (olen - 2) >>> 3;
        if ((olen - 2) % 8 === 0) {
          for (let b = 0; b < n && seg.sackCount < TCP_MAX_SACK_BLOCKS; b++) {
            seg.sack[seg.sackCount * 2] = readU32(buf, i + 2 + b * 8);
            seg.sack[seg.sackCount * 2 + 1] = readU32(buf, i + 6 + b * 8);
            seg.sackCount++;
          }
        }
        break;
      }
      default:
        break;
    }
    i += olen;
  }
  return 'ok';
}

/** What to put in an outgoing segment's header; one reused object per stack. */
export class TcpHeaderOut {
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  // Options: SYN options when mss > 0; timestamps when hasTimestamp; SACK blocks when sackCount > 0.
  mss = 0;
  wscale = -1;
  sackPermitted = false;
  hasTimestamp = false;
  tsVal = 0;
  tsEcr = 0;
  sackCount = 0;
  readonly sack = new Uint32Array(TCP_MAX_SACK_BLOCKS * 2);

  reset(): void {
    this.flags = 0;
    this.mss = 0;
    this.wscale = -1;
    this.sackPermitted = false;
    this.hasTimestamp = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.sackCount = 0;
  }
}

/** Bytes of options writeTcpHeader will emit for `h` (a multiple of 4, at most 40). */
export function tcpOptionsLength(h: TcpHeaderOut): number {
  let n = 0;
  if (h.mss > 0) n += 4;
  if (h.sackPermitted && !h.hasTimestamp) n += 4; // NOP NOP SACK_PERM
  if (h.hasTimestamp) n += 12; // (SACK_PERM or NOP NOP) TS
  if (h.wscale >= 0) n += 4; // NOP WSCALE
  if (h.sackCount > 0) {
    const room = 40 - n - 4;
    const blocks = Math.min(h.sackCount, Math.floor(room / 8));
    if (blocks > 0) n += 4 + blocks * 8; // NOP NOP SACK
  }
  return n;
}

/**
 * Writes the TCP header with options at `off` (checksum left 0; see finishTcpChecksum). Returns the
 * header length. Option layout follows Linux: MSS, SACK_PERM + TS (or NOP NOP TS), NOP WSCALE, then
 * NOP NOP SACK blocks, as many as fit.
 */
export function writeTcpHeader(buf: Uint8Array, off: number, h: TcpHeaderOut): number {
  const hl = TCP_HEADER_BYTES + tcpOptionsLength(h);
  writeU16(buf, off, h.srcPort);
  writeU16(buf, off + 2, h.dstPort);
  writeU32(buf, off + 4, h.seq);
  writeU32(buf, off + 8, h.ack);
  buf[off + 12] = (hl / 4) << 4;
  buf[off + 13] = h.flags;
  writeU16(buf, off + 14, h.window);
  buf[off + 16] = 0;
  buf[off + 17] = 0;
  buf[off + 18] = 0;
  buf[off + 19] = 0;
  let i = off + TCP_HEADER_BYTES;
  if (h.mss > 0) {
    buf[i] = TCPOPT_MSS;
    buf[i + 1] = 4;
    writeU16(buf, i + 2, h.mss);
    i += 4;
  }
  if (h.hasTimestamp) {
    if (h.sackPermitted) {
      buf[i] = TCPOPT_SACK_PERMITTED;
      buf[i + 1] = 2;
    } else {
      buf[i] = TCPOPT_NOP;
      buf[i + 1] = TCPOPT_NOP;
    }
    buf[i + 2] = TCPOPT_TIMESTAMP;
    buf[i + 3] = 10;
    writeU32(buf, i + 4, h.tsVal);
    writeU32(buf, i + 8, h.tsEcr);
    i += 12;
  } else if (h.sackPermitted) {
    buf[i] = TCPOPT_NOP;
    buf[i + 1] = TCPOPT_NOP;
    buf[i + 2] = TCPOPT_SACK_PERMITTED;
    buf[i + 3] = 2;
    i += 4;
  }
  if (h.wscale >= 0) {
    buf[i] = TCPOPT_NOP;
    buf[i + 1] = TCPOPT_WSCALE;
    buf[i + 2] = 3;
    buf[i + 3] = h.wscale;
    i += 4;
  }
  const end = off + hl;
  if (h.sackCount > 0 && i + 12 <= end) {
    const blocks = (end - i - 4) >>> 3;
    buf[i] = TCPOPT_NOP;
    buf[i + 1] = TCPOPT_NOP;
    buf[i + 2] = TCPOPT_SACK;
    buf[i + 3] = 2 + blocks * 8;
    i += 4;
    for (let b = 0; b < blocks; b++) {
      writeU32(buf, i, h.sack[b * 2] as number);
      writeU32(buf, i + 4, h.sack[b * 2 + 1] as number);
      i += 8;
    }
  }
  return hl;
}

/** Computes and stores the checksum of the TCP segment at `buf[off, off+len)`. */
export function finishTcpChecksum(buf: Uint8Array, off: number, len: number, pseudoSum: number): void {
  buf[off + 16] = 0;
  buf[off + 17] = 0;
  writeU16(buf, off + 16, finishChecksum(sumBytes(buf, off, len, pseudoSum)));
}
