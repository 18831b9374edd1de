// ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) messages: echo and the errors that matter to TCP and UDP.
// parseIcmp fills a reused IcmpMessage; for errors it also locates the quoted ("invoking") packet's
// addresses and transport ports so the stack can find the flow without allocating.
import type { DropReason } from '../drop-reasons.js';
import { readU16, readU32, writeU16 } from './address.js';
import { finishChecksum, sumBytes, verifyChecksum } from './checksum.js';
import {
  ICMP_DEST_UNREACH,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_HEADER_BYTES,
  ICMP_PARAMETER_PROBLEM,
  ICMP_SOURCE_QUENCH,
  ICMP_TIME_EXCEEDED,
  ICMPV6_DEST_UNREACH,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_TIME_EXCEEDED,
  IPV4_HEADER_BYTES,
  IPV6_HEADER_BYTES,
} from './constants.js';

export type IcmpKind = 'echoRequest' | 'echoReply' | 'error' | 'other';

export class IcmpMessage {
  kind: IcmpKind = 'other';
  type = 0;
  code = 0;
  /** Echo identifier and sequence number (echo messages). */
  id = 0;
  seqNo = 0;
  /** Echo data / the quoted packet: offset into the packet and length. */
  dataOffset = 0;
  dataLength = 0;
  /** Errors: the MTU field (IPv4 "fragmentation needed" / ICMPv6 Packet Too Big); 0 otherwise. */
  mtu = 0;
  // Errors: the quoted packet (our own earlier packet) — family, protocol, addresses and ports.
  quotedProtocol = 0;
  quotedSrcOffset = 0;
  quotedDstOffset = 0;
  quotedSrcPort = 0;
  quotedDstPort = 0;
  /** TCP: the quoted sequence number (RFC 5927 check); 0 for other protocols. */
  quotedSeq = 0;
}

function isV4Error(type: number): boolean {
  return (
    type === ICMP_DEST_UNREACH ||
    type === ICMP_TIME_EXCEEDED ||
    type === ICMP_PARAMETER_PROBLEM ||
    type === ICMP_SOURCE_QUENCH
  );
}

function isV6Error(type: number): boolean {
  return (
    type === ICMPV6_DEST_UNREACH ||
    type === ICMPV6_PACKET_TOO_BIG ||
    type === ICMPV6_TIME_EXCEEDED ||
    type === ICMPV6_PARAMETER_PROBLEM
  );
}

/**
 * Parses the ICMP message at `buf[off, off+len)`. `pseudoSum` is the IPv6 pseudo-header sum (ICMPv6
 * checksums cover it) or 0 for ICMPv4; -1 skips verification. For errors, at least the quoted IP header
 * and 8 bytes of its transport header must be present (RFC 792 minimum), else 'icmpShort'.
 */
export function parseIcmp(
  buf: Uint8Array,
  off: number,
  len: number,
  isIpv6: boolean,
  pseudoSum: number,
  m: IcmpMessage,
): 'ok' | DropReason {
  if (len < ICMP_HEADER_BYTES) return 'icmpShort';
  if (pseudoSum >= 0 && !verifyChecksum(buf, off, len, pseudoSum)) return 'icmpBadChecksum';
  const type = buf[off] as number;
  m.type = type;
  m.code = buf[off + 1] as number;
  m.id = readU16(buf, off + 4);
  m.seqNo = readU16(buf, off + 6);
  m.dataOffset = off + ICMP_HEADER_BYTES;
  m.dataLength = len - ICMP_HEADER_BYTES;
  m.mtu = 0;
  m.quotedProtocol = 0;
  m.quotedSeq = 0;
  const echoReq = isIpv6 ? ICMPV6_ECHO_REQUEST : ICMP_ECHO_REQUEST;
  const echoRep = isIpv6 ? ICMPV6_ECHO_REPLY : ICMP_ECHO_REPLY;
  if (type === echoReq) {
    m.kind = 'echoRequest';
    return 'ok';
  }
  if (type === echoRep) {
    m.kind = 'echoReply';
    return 'ok';
  }
  if (!(isIpv6 ? isV6Error(type) : isV4Error(type))) {
    m.kind = 'other';
    return 'ok';
  }
  m.kind = 'error';
  if (isIpv6) {
    if (type === ICMPV6_PACKET_TOO_BIG) m.mtu = readU32(buf, off + 4);
    const q = m.dataOffset;
    if (m.dataLength < IPV6_HEADER_BYTES + 8) return 'icmpShort';
    if ((buf[q] as number) >>> 4 !== 6) return 'icmpShort';
    // Only a quoted packet whose transport header directly follows the fixed header is matched.
    m.quotedProtocol = buf[q + 6] as number;
    m.quotedSrcOffset = q + 8;
    m.quotedDstOffset = q + 24;
    const t = q + IPV6_HEADER_BYTES;
    m.quotedSrcPort = readU16(buf, t);
    m.quotedDstPort = readU16(buf, t + 2);
    m.quotedSeq = readU32(buf, t + 4);
    return 'ok';
  }
  if (type === ICMP_DEST_UNREACH) m.mtu = readU16(buf, off + 6);
  const q = m.dataOffset;
  if (m.dataLength < IPV4_HEADER_BYTES + 8) return 'icmpShort';
  const vihl = buf[q] as number;
  const ihl = (vihl & 0x0f) * 4;
  if (vihl >>> 4 !== 4 || ihl < IPV4_HEADER_BYTES || m.dataLength < ihl + 8) return 'icmpShort';
  m.quotedProtocol = buf[q + 9] as number;
  m.quotedSrcOffset = q + 12;
  m.quotedDstOffset = q + 16;
  const t = q + ihl;
  m.quotedSrcPort = readU16(buf, t);
  m.quotedDstPort = readU16(buf, t + 2);
  m.quotedSeq = readU32(buf, t + 4);
  return 'ok';
}

/** Writes an ICMP header (type, code, 4 rest-of-header bytes as two 16-bit words) at `off`. */
export function writeIcmpHeader(
  buf: Uint8Array,
  off: number,
  type: number,
  code: number,
  word1: number,
  word2: number,
): void {
  buf[off] = type;
  buf[off + 1] = code;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  writeU16(buf, off + 4, word1);
  writeU16(buf, off + 6, word2);
}

/** Stores the ICMP checksum over `buf[off, off+len)` (+ the IPv6 pseudo-header sum, 0 for IPv4). */
export function finishIcmpChecksum(buf: Uint8Array, off: number, len: number, pseudoSum: number): void {
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  writeU16(buf, off + 2, finishChecksum(sumBytes(buf, off, len, pseudoSum)));
}
