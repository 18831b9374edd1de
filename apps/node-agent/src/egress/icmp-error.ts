/**
 * ICMP/ICMPv6 destination-unreachable messages the userspace egress sends back into the tunnel when it
 * refuses a packet (egress policy: administratively prohibited, like nftables' `reject with icmpx
 * admin-prohibited` in kernel mode) or cannot deliver it (host unreachable). Sans-IO: builds into a
 * caller's buffer from the refused packet, never throws, returns the length (0 = nothing to send:
 * the offending packet is itself an ICMP error, a fragment tail, multicast, or too short to quote).
 */

export type UnreachableKind = 'prohibited' | 'host' | 'port';

const ICMP4_UNREACH = 3;
const ICMP6_UNREACH = 1;

function sum16(buf: Uint8Array, off: number, len: number, acc: number): number {
  let s = acc;
  for (let i = 0; i + 1 < len; i += 2) s += (buf[off + i]! << 8) | buf[off + i + 1]!;
  if (len & 1) s += buf[off + len - 1]! << 8;
  return s;
}

function fold(s: number): number {
  let x = s;
  while (x > 0xffff) x = (x & 0xffff) + (x >>> 16);
  return ~x & 0xffff;
}

/**
 * Builds the unreachable message about `pkt[off, off+len)` from `source` (4 or 16 bytes: the node's
 * gateway address of that family) into `out` (>= 1280 bytes). Returns its length or 0.
 */
export function buildUnreachable(
  pkt: Uint8Array,
  off: number,
  len: number,
  kind: UnreachableKind,
  source: Uint8Array,
  out: Uint8Array,
): number {
  if (len < 1) return 0;
  const version = pkt[off]! >> 4;
  if (version === 4) {
    if (len < 20 || source.length !== 4) return 0;
    const ihl = (pkt[off]! & 15) * 4;
    if (ihl < 20 || ihl > len) return 0;
    const proto = pkt[off + 9]!;
    const fragOff = ((pkt[off + 6]! & 0x1f) << 8) | pkt[off + 7]!;
    if (fragOff !== 0) return 0; // RFC 1812: only about the first fragment
    if (pkt[off + 16]! >= 224) return 0; // multicast / broadcast destination
    if (proto === 1 && len > ihl) {
      const t = pkt[off + ihl]!;
      if (t !== 8 && t !== 13 && t !== 15 && t !== 17) return 0; // never an error about an error
    }
    const quote = Math.min(len, 576 - 28);
    const total = 28 + quote;
    out[0] = 0x45;
    out[1] = 0;
    out[2] = total >> 8;
    out[3] = total & 255;
    out[4] = 0;
    out[5] = 0;
    out[6] = 0x40; // DF
    out[7] = 0;
    out[8] = 64;
    out[9] = 1;
    out[10] = 0;
    out[11] = 0;
    out.set(source, 12);
    out.set(pkt.subarray(off + 12, off + 16), 16); // back to the sender
    const hs = fold(sum16(out, 0, 20, 0));
    out[10] = hs >> 8;
    out[11] = hs & 255;
    out[20] = ICMP4_UNREACH;
    out[21] = kind === 'prohibited' ? 13 : kind === 'port' ? 3 : 1;
    out[22] = 0;
    out[23] = 0;
    out[24] = 0;
    out[25] = 0;
    out[26] = 0;
    out[27] = 0;
    out.set(pkt.subarray(off, off + quote), 28);
    const cs = fold(sum16(out, 20, 8 + quote, 0));
    out[22] = cs >> 8;
    out[23] = cs & 255;
    return total;
  }
  if (version === 6) {
    if (len < 40 || source.length !== 16) return 0;
    if (pkt[off + 24] === 0xff) return 0; // multicast destination
    if (pkt[off + 6] === 58 && len > 40 && pkt[off + 40]! < 128) return 0; // an ICMPv6 error
    const quote = Math.min(len, 1280 - 48);
    const icmpLen = 8 + quote;
    out[0] = 0x60;
    out[1] = 0;
    out[2] = 0;
    out[3] = 0;
    out[4] = icmpLen >> 8;
    out[5] = icmpLen & 255;
    out[6] = 58;
    out[7] = 64;
    out.set(source, 8);
    out.set(pkt.subarray(off + 8, off + 24), 24);
    out[40] = ICMP6_UNREACH;
    out[41] = kind === 'prohibited' ? 1 : kind === 'port' ? 4 : 3;
    out[42] = 0;
    out[43] = 0;
    out[44] = 0;
    out[45] = 0;
    out[46] = 0;
    out[47] = 0;
    out.set(pkt.subarray(off, off + quote), 48);
    // Pseudo-header: source, destination, upper-layer length, next header.
    let s = sum16(out, 8, 32, 0);
    s += icmpLen >>> 16;
    s += icmpLen & 0xffff;
    s += 58;
    s = sum16(out, 40, icmpLen, s);
    const cs = fold(s);
    out[42] = cs >> 8;
    out[43] = cs & 255;
    return 40 + icmpLen;
  }
  return 0;
}
