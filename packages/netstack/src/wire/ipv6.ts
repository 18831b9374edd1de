// IPv6 header parsing and building (RFC 8200). The extension-header walk is bounded (at most
// IPV6_MAX_EXTENSION_HEADERS headers, each checked against the packet length) and never throws.
import type { DropReason } from '../drop-reasons.js';
import { readU16, readU32, writeU16, writeU32, type IpAddr } from './address.js';
import {
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ROUTING,
  IPV6_FRAGMENT_HEADER_BYTES,
  IPV6_HEADER_BYTES,
} from './constants.js';
import type { IpInfo } from './ip-info.js';

export const IPV6_MAX_EXTENSION_HEADERS = 8;

/**
 * Parses the IPv6 header and extension headers of `buf[0, len)` into `info`. Hop-by-hop and
 * destination options are skipped; a routing header with segments left is refused (we are not a
 * router); a fragment header fills the fragment fields and ends the walk (the rest is reassembled
 * first). Jumbograms (payload length 0) are refused.
 */
export function parseIpv6(buf: Uint8Array, len: number, info: IpInfo): 'ok' | DropReason {
  if (len < IPV6_HEADER_BYTES) return 'ipShort';
  if ((buf[0] as number) >>> 4 !== 6) return 'ipBadVersion';
  const payloadLength = readU16(buf, 4);
  if (payloadLength === 0 || IPV6_HEADER_BYTES + payloadLength > len) return 'ipBadTotalLength';
  const end = IPV6_HEADER_BYTES + payloadLength;
  info.family = 6;
  info.src0 = readU32(buf, 8);
  info.src1 = readU32(buf, 12);
  info.src2 = readU32(buf, 16);
  info.src3 = readU32(buf, 20);
  info.dst0 = readU32(buf, 24);
  info.dst1 = readU32(buf, 28);
  info.dst2 = readU32(buf, 32);
  info.dst3 = readU32(buf, 36);
  info.srcOffset = 8;
  info.dstOffset = 24;
  info.ttl = buf[7] as number;
  info.isFragment = false;
  info.moreFragments = false;
  info.fragmentOffset = 0;
  info.fragmentId = 0;
  let next = buf[6] as number;
  let nextField = 6;
  let off = IPV6_HEADER_BYTES;
  for (let n = 0; ; n++) {
    if (
      next !== IPPROTO_HOPOPTS &&
      next !== IPPROTO_ROUTING &&
      next !== IPPROTO_DSTOPTS &&
      next !== IPPROTO_FRAGMENT
    ) {
      break;
    }
    if (n >= IPV6_MAX_EXTENSION_HEADERS) return 'ipv6TooManyExtensionHeaders';
    if (next === IPPROTO_HOPOPTS && n !== 0) return 'ipv6BadExtensionHeader';
    if (off + 8 > end) return 'ipv6BadExtensionHeader';
    if (next === IPPROTO_FRAGMENT) {
      const fo = readU16(buf, off + 2);
      info.isFragment = true;
      info.fragmentOffset = fo & 0xfff8;
      info.moreFragments = (fo & 1) !== 0;
      info.fragmentId = readU32(buf, off + 4);
      next = buf[off] as number;
      nextField = off;
      off += IPV6_FRAGMENT_HEADER_BYTES;
      // An atomic fragment (offset 0, no more fragments; RFC 6946) is processed as a whole packet.
      if (info.fragmentOffset === 0 && !info.moreFragments) {
        info.isFragment = false;
        continue;
      }
      break;
    }
    const hlen = ((buf[off + 1] as number) + 1) * 8;
    if (off + hlen > end) return 'ipv6BadExtensionHeader';
    if (next === IPPROTO_ROUTING && (buf[off + 3] as number) !== 0) return 'ipv6RoutingHeader';
    next = buf[off] as number;
    nextField = off;
    off += hlen;
  }
  info.protocol = next;
  info.protocolFieldOffset = nextField;
  info.payloadOffset = off;
  info.payloadLength = end - off;
  return 'ok';
}

/** Writes a 40-byte IPv6 header at `off` (traffic class 0, flow label `flowLabel`). */
export function writeIpv6Header(
  buf: Uint8Array,
  off: number,
  src: IpAddr,
  dst: IpAddr,
  nextHeader: number,
  payloadLength: number,
  hopLimit: number,
  flowLabel: number,
): void {
  writeU32(buf, off, (0x60000000 | (flowLabel & 0xfffff)) >>> 0);
  writeU16(buf, off + 4, payloadLength);
  buf[off + 6] = nextHeader;
  buf[off + 7] = hopLimit;
  src.write(buf, off + 8);
  dst.write(buf, off + 24);
}
