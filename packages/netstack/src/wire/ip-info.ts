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

  /** Source is multicast, (v4) limited broadcast, or unspecified: never a valid unicast sender. */
  srcIsMartian(): boolean {
    if (this.family === 4) {
      const w = this.src3;
      return w === 0 || w >>> 28 === 0xe || w === 0xffffffff;
    }
    return this.src0 >>> 24 === 0xff || (this.src0 | this.src1 | this.src2 | this.src3) === 0;
  }

  dstIsMulticastOrBroadcast(): boolean {
    if (this.family === 4) {
      const w = this.dst3;
      return w >>> 28 === 0xe || w === 0xffffffff;
    }
    return this.dst0 >>> 24 === 0xff;
  }
}
