// UDP endpoints in the binary form the addon uses (family, port, 4 address words, IPv6 scope id), so
// the packet path compares and stores peers' addresses without building strings.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

/**
 * Words per datagram in the receive and send meta arrays (mirror of META_WORDS in native/udp_linux.c):
 * offset, length, port, family (4|6), 4 address words, IPv6 scope id (interface index; 0 = none).
 */
export const META_WORDS = 9;

/** Interface index of an IPv6 zone: a number, or an interface name of this network namespace. */
function zoneIndex(zone: string): number {
  if (/^\d+$/.test(zone)) {
    const n = Number(zone);
    if (n <= 0xffffffff) return n;
  } else if (/^[A-Za-z0-9_.-]{1,15}$/.test(zone) && zone !== '.' && zone !== '..') {
    try {
      const n = Number(readFileSync(`/sys/class/net/${zone}/ifindex`, 'utf8').trim());
      if (Number.isInteger(n) && n > 0) return n;
    } catch {
      // no such interface: reported below
    }
  }
  throw new RangeError(`unknown IPv6 zone ${JSON.stringify(zone)} (an interface name or index)`);
}

const scratch = new Uint32Array(4);
const scratchBytes = new Uint8Array(scratch.buffer);

function formatWords(family: 4 | 6, a0: number, a1: number, a2: number, a3: number): string {
  scratch[0] = a0;
  scratch[1] = a1;
  scratch[2] = a2;
  scratch[3] = a3;
  const b = scratchBytes;
  if (family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push((((b[i] as number) << 8) | (b[i + 1] as number)).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (parts[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return parts.join(':');
  const head = parts.slice(0, best).join(':');
  const tail = parts.slice(best + bestLen).join(':');
  return `${head}::${tail}`;
}

/**
 * An immutable UDP address. `address` is the canonical text (IPv4 dotted, IPv6 RFC 5952 with `%<index>`
 * for a scoped (link-local) address, v4-mapped IPv6 reported as IPv4); `key` ("198.18.0.2:40000",
 * "[2001:db8::1]:51820", "[fe80::2%3]:51820") identifies it in maps. The scope id is part of the
 * identity: the same link-local address on two links is two peers, and replies go out by the link the
 * scope names.
 */
export class UdpEndpoint {
  /** The transport this endpoint belongs to (lets a UdpEndpoint stand for a Bind endpoint). */
  readonly transport = 'udp' as const;
  private text: string | undefined;

  constructor(
    readonly family: 4 | 6,
    readonly port: number,
    readonly a0: number,
    readonly a1: number,
    readonly a2: number,
    readonly a3: number,
    /** IPv6 scope id (interface index) of a link-local address; 0 otherwise. */
    readonly scopeId = 0,
  ) {}

  /**
   * Parses an IP literal and port; an IPv6 literal may carry a zone (`fe80::1%eth0`, `fe80::1%3`).
   * Throws RangeError on bad input (configuration, not packets).
   */
  static of(input: string, port: number): UdpEndpoint {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad UDP port ${port}`);
    const v = isIP(input);
    if (v === 0) throw new RangeError(`not an IP address: ${JSON.stringify(input)}`);
    const percent = v === 6 ? input.indexOf('%') : -1;
    const address = percent < 0 ? input : input.slice(0, percent);
    const scopeId = percent < 0 ? 0 : zoneIndex(input.slice(percent + 1));
    const words = new Uint32Array(4);
    const bytes = new Uint8Array(words.buffer);
    if (v === 4) {
      address.split('.').forEach((p, i) => (bytes[i] = Number(p)));
      return new UdpEndpoint(4, port, words[0] as number, 0, 0, 0);
    }
    const [head = '', tail] = address.split('::');
    const expand = (s: string): number[] => {
      if (s === '') return [];
      const out: number[] = [];
      for (const part of s.split(':')) {
        if (part.includes('.')) {
          const q = part.split('.').map(Number);
          out.push(((q[0] as number) << 8) | (q[1] as number), ((q[2] as number) << 8) | (q[3] as number));
        } else out.push(parseInt(part, 16));
      }
      return out;
    };
    const h = expand(head);
    const t = tail === undefined ? [] : expand(tail);
    const groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
    groups.forEach((g, i) => {
      bytes[2 * i] = g >> 8;
      bytes[2 * i + 1] = g & 0xff;
    });
    // v4-mapped: the addon reports these as IPv4, so normalise here too.
    if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
      return new UdpEndpoint(4, port, words[3] as number, 0, 0, 0);
    }
    return new UdpEndpoint(
      6,
      port,
      words[0] as number,
      words[1] as number,
      words[2] as number,
      words[3] as number,
      scopeId,
    );
  }

  /** Reads the endpoint of entry `i` of a meta array. */
  static fromMeta(meta: Uint32Array, i: number): UdpEndpoint {
    const b = i * META_WORDS;
    return new UdpEndpoint(
      meta[b + 3] === 6 ? 6 : 4,
      meta[b + 2] as number,
      meta[b + 4] as number,
      meta[b + 5] as number,
      meta[b + 6] as number,
      meta[b + 7] as number,
      meta[b + 8] as number,
    );
  }

  get address(): string {
    if (this.text === undefined) {
      const text = formatWords(this.family, this.a0, this.a1, this.a2, this.a3);
      this.text = this.scopeId === 0 ? text : `${text}%${this.scopeId}`;
    }
    return this.text;
  }

  get key(): string {
    return this.family === 4 ? `${this.address}:${this.port}` : `[${this.address}]:${this.port}`;
  }

  toString(): string {
    return this.key;
  }

  /** Same address and port as entry `i` of a meta array (no allocation). */
  matchesMeta(meta: Uint32Array, i: number): boolean {
    const b = i * META_WORDS;
    return (
      meta[b + 2] === this.port &&
      meta[b + 3] === this.family &&
      meta[b + 4] === this.a0 &&
      meta[b + 5] === this.a1 &&
      meta[b + 6] === this.a2 &&
      meta[b + 7] === this.a3 &&
      meta[b + 8] === this.scopeId
    );
  }

  equals(other: UdpEndpoint): boolean {
    return (
      other.port === this.port &&
      other.family === this.family &&
      other.a0 === this.a0 &&
      other.a1 === this.a1 &&
      other.a2 === this.a2 &&
      other.a3 === this.a3 &&
      other.scopeId === this.scopeId
    );
  }

  /** Writes port, family, address and scope into entry `i` of a meta array. */
  writeMeta(meta: Uint32Array, i: number): void {
    const b = i * META_WORDS;
    meta[b + 2] = this.port;
    meta[b + 3] = this.family;
    meta[b + 4] = this.a0;
    meta[b + 5] = this.a1;
    meta[b + 6] = this.a2;
    meta[b + 7] = this.a3;
    meta[b + 8] = this.scopeId;
  }
}
