// IpInfo: what the IP parsers learn about one packet, written into a reused object (no allocation
// per packet). Addresses are kept as four words each in the IpAddr layout (IPv4 mapped).
import { IpAddr, type IpFamily } from './address.js';

export class IpInfo {
  family: IpFamily = 4;
  src0 = 0;
  src1 = 0;
  src2 = 0;
  src3 = 0;
  dst0 = 0;
  dst1 = 0;
  dst2 = 0;
  dst3 = 0;
  /** Upper-layer protocol (after IPv6 extension headers). */
  protocol = 0;
  /** Offset of the field that holds `protocol` (9 for IPv4; IPv6: 6 or in the last extension header). */
  protocolFieldOffset = 0;
  ttl = 0;
  /** Offset of the upper-layer header from the start of the packet. */
  payloadOffset = 0;
  /** Upper-layer bytes (trailing padding beyond the IP length excluded). */
  payloadLength = 0;
  /** Offset of the source address in the packet (12 for IPv4, 8 for IPv6). */
  srcOffset = 0;
  /** Offset of the destination address in the packet. */
  dstOffset = 0;
  // Fragments (IPv4 MF/offset, or an IPv6 fragment header)
  isFragment = false;
  fragmentId = 0;
  /** Byte offset of this fragment's data in the original datagram. */
  fragmentOffset = 0;
  moreFragments = false;

  srcAddr(): IpAddr {
    return this.family === 4 ? IpAddr.v4(this.src3) : IpAddr.v6(this.src0, this.src1, this.src2, this.src3);
  }

  dstAddr(): IpAddr {
    return this.family === 4 ? IpAddr.v4(this.dst3) : IpAddr.v6(this.dst0, this.dst1, this.dst2, this.dst3);
  }

  srcEquals(a: IpAddr): boolean {
    return a.equalsWords(this.family, this.src0, this.src1, this.src2, this.src3);
  }

  dstEquals(a: IpAddr): boolean {
    return a.equalsWords(this.family, this.dst0, this.dst1, this.dst2, this.dst3);
  }

  /**
   * Source is never a valid unicast sender on a link (Linux's martian sources): multicast, (v4)
   * limited broadcast, "this network" 0.0.0.0/8 and loopback 127.0.0.0/8; (v6) multicast, the
   * unspecified address, loopback ::1 and IPv4-mapped ::ffff:0:0/96 (RFC 4291 2.5.3, 2.5.5.2).
   */
  srcIsMartian(): boolean {
    if (this.family === 4) {
      const w = this.src3;
      const top = w >>> 24;
      return top === 0 || top === 127 || w >>> 28 === 0xe || w === 0xffffffff;
    }
    return this.src0 >>> 24 === 0xff || isV6Unroutable(this.src0, this.src1, this.src2, this.src3);
  }

  dstIsMulticastOrBroadcast(): boolean {
    if (this.family === 4) {
      const w = this.dst3;
      return w >>> 28 === 0xe || w === 0xffffffff;
    }
    return this.dst0 >>> 24 === 0xff;
  }

  /**
   * A destination no packet arriving from a link may have unless it is one of our own addresses
   * (Linux's martian destinations): (v4) 0.0.0.0/8 and loopback 127.0.0.0/8; (v6) the unspecified
   * address, loopback ::1 and IPv4-mapped addresses (which a userspace egress would dial as IPv4,
   * e.g. ::ffff:127.0.0.1). Accept-any listeners must never take these: they would reach the node's
   * own loopback services.
   */
  dstIsMartian(): boolean {
    if (this.family === 4) {
      const top = this.dst3 >>> 24;
      return top === 0 || top === 127;
    }
    return isV6Unroutable(this.dst0, this.dst1, this.dst2, this.dst3);
  }
}

/** ::, ::1 or ::ffff:0:0/96. */
function isV6Unroutable(w0: number, w1: number, w2: number, w3: number): boolean {
  if (w0 !== 0 || w1 !== 0) return false;
  if (w2 === 0xffff) return true;
  return w2 === 0 && (w3 === 0 || w3 === 1);
}
