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
  /** Assigned IPv6 address as four u32 words (plain fields: no typed array per peer). */
  private v6a = 0;
  private v6b = 0;
  private v6c = 0;
  private v6d = 0;
  private hasV6 = false;

  constructor(ipv4: string | null, ipv6: string | null) {
    this.set(ipv4, ipv6);
  }

  /** Replaces the allowed addresses (text; null or malformed text allows nothing of that family). */
  set(ipv4: string | null, ipv6: string | null): void {
    const a = ipv4 === null ? null : parseIPv4(ipv4);
    this.v4 = a === null ? -1 : u32be(a, 0);
    const b = ipv6 === null ? null : parseIPv6(ipv6);
    this.hasV6 = b !== null;
    this.v6a = b === null ? 0 : u32be(b, 0);
    this.v6b = b === null ? 0 : u32be(b, 4);
    this.v6c = b === null ? 0 : u32be(b, 8);
    this.v6d = b === null ? 0 : u32be(b, 12);
  }

  /** Checks the opened inner packet `buf[offset .. offset + length)`. */
  check(buf: Uint8Array, offset: number, length: number): SourceCheck {
    if (length < 1) return 'notIP';
    const version = buf[offset]! >>> 4;
    if (version === 4) {
      if (length < IPV4_HEADER_BYTES) return 'notIP';
      return u32be(buf, offset + IPV4_SOURCE_OFFSET) === this.v4 ? 'ok' : 'spoofedSource';
    }
    if (version === 6) {
      if (length < IPV6_HEADER_BYTES) return 'notIP';
      const o = offset + IPV6_SOURCE_OFFSET;
      return this.hasV6 &&
        u32be(buf, o) === this.v6a &&
        u32be(buf, o + 4) === this.v6b &&
        u32be(buf, o + 8) === this.v6c &&
        u32be(buf, o + 12) === this.v6d
        ? 'ok'
        : 'spoofedSource';
    }
    return 'notIP';
  }
}
