/**
 * Cryptokey routing on receive (WireGuard's allowed-IPs check, node side): an inner packet that
 * authenticated for a session is delivered only when its IP source is an address the node assigned
 * to that session. Anything else — another client's address, an internet address, a link-local
 * address, a non-IP blob or a packet too short for its IP header — is refused, so one client can
 * never inject packets in the name of another or of the node's own networks.
 *
 * Per packet cost: a version nibble, a length check and a 4- or 16-byte compare; no allocation.
 */
import { parseIPv4, parseIPv6 } from '../handshake/ip.js';

export const IPV4_HEADER_BYTES = 20;
export const IPV6_HEADER_BYTES = 40;
const IPV4_SOURCE_OFFSET = 12;
const IPV6_SOURCE_OFFSET = 8;

export type SourceCheck = 'ok' | 'spoofedSource' | 'notIP';

function u32be(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export class AllowedSources {
  /** Assigned IPv4 address as a u32, or -1 when none is usable. */
  private v4 = -1;
  /** Assigned IPv6 address as four u32 words, or null. */
  private v6: Uint32Array | null = null;

  constructor(ipv4: string | null, ipv6: string | null) {
    this.set(ipv4, ipv6);
  }

  /** Replaces the allowed addresses (text; null or malformed text allows nothing of that family). */
  set(ipv4: string | null, ipv6: string | null): void {
    const a = ipv4 === null ? null : parseIPv4(ipv4);
    this.v4 = a === null ? -1 : u32be(a, 0);
    const b = ipv6 === null ? null : parseIPv6(ipv6);
    this.v6 = b === null ? null : Uint32Array.of(u32be(b, 0), u32be(b, 4), u32be(b, 8), u32be(b, 12));
  }

  /** Checks the first `length` bytes of `packet` (an opened inner packet). */
  check(packet: Uint8Array, length: number): SourceCheck {
    if (length < 1) return 'notIP';
    const version = packet[0]! >>> 4;
    if (version === 4) {
      if (length < IPV4_HEADER_BYTES) return 'notIP';
      return u32be(packet, IPV4_SOURCE_OFFSET) === this.v4 ? 'ok' : 'spoofedSource';
    }
    if (version === 6) {
      if (length < IPV6_HEADER_BYTES) return 'notIP';
      const v6 = this.v6;
      if (v6 === null) return 'spoofedSource';
      for (let i = 0; i < 4; i++) {
        if (u32be(packet, IPV6_SOURCE_OFFSET + 4 * i) !== v6[i]) return 'spoofedSource';
      }
      return 'ok';
    }
    return 'notIP';
  }
}
