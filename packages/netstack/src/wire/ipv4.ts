// IPv4 header parsing and building (RFC 791). Parsers never throw: they return 'ok' or a DropReason.
import type { DropReason } from '../drop-reasons.js';
import { readU16, readU32, writeU16, type IpAddr } from './address.js';
import { finishChecksum, sumBytes, verifyChecksum } from './checksum.js';
import { IPV4_FLAG_DF, IPV4_FLAG_MF, IPV4_FRAGMENT_OFFSET_MASK, IPV4_HEADER_BYTES } from './constants.js';
import type { IpInfo } from './ip-info.js';

/**
 * Parses the IPv4 header of `buf[0, len)` into `info`. Checks version, IHL, total length (trailing
 * bytes beyond it are ignored) and the header checksum. Options are skipped, not interpreted.
 */
export function parseIpv4(buf: Uint8Array, len: number, info: IpInfo): 'ok' | DropReason {
  if (len < IPV4_HEADER_BYTES) return 'ipShort';
  const vihl = buf[0] as number;
  if (vihl >>> 4 !== 4) return 'ipBadVersion';
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < IPV4_HEADER_BYTES || ihl > len) return 'ipBadHeaderLength';
  const total = readU16(buf, 2);
  if (total < ihl || total > len) return 'ipBadTotalLength';
  if (!verifyChecksum(buf, 0, ihl, 0)) return 'ipBadChecksum';
  const frag = readU16(buf, 6);
  info.family = 4;
  info.src0 = 0;
  info.src1 = 0;
  info.src2 = 0xffff;
  info.src3 = readU32(buf, 12);
  info.dst0 = 0;
  info.dst1 = 0;
  info.dst2 = 0xffff;
  info.dst3 = readU32(buf, 16);
  info.srcOffset = 12;
  info.dstOffset = 16;
  info.ttl = buf[8] as number;
  info.protocol = buf[9] as number;
  info.protocolFieldOffset = 9;
  info.payloadOffset = ihl;
  info.payloadLength = total - ihl;
  info.fragmentOffset = (frag & IPV4_FRAGMENT_OFFSET_MASK) * 8;
  info.moreFragments = (frag & IPV4_FLAG_MF) !== 0;
  info.isFragment = info.moreFragments || info.fragmentOffset !== 0;
  info.fragmentId = readU16(buf, 4);
  return 'ok';
}

/**
 * Writes a 20-byte IPv4 header (no options) at `off` with a correct header checksum. `payloadLength`
 * is the number of bytes following the header.
 */
export function writeIpv4Header(
  buf: Uint8Array,
  off: number,
  src: IpAddr,
  dst: IpAddr,
  protocol: number,
  payloadLength: number,
  ttl: number,
  id: number,
  dontFragment: boolean,
): void {
  buf[off] = 0x45;
  buf[off + 1] = 0;
  writeU16(buf, off + 2, IPV4_HEADER_BYTES + payloadLength);
  writeU16(buf, off + 4, id & 0xffff);
  writeU16(buf, off + 6, dontFragment ? IPV4_FLAG_DF : 0);
  buf[off + 8] = ttl;
  buf[off + 9] = protocol;
  buf[off + 10] = 0;
  buf[off + 11] = 0;
  src.write(buf, off + 12);
  dst.write(buf, off + 16);
  writeU16(buf, off + 10, finishChecksum(sumBytes(buf, off, IPV4_HEADER_BYTES, 0)));
}
