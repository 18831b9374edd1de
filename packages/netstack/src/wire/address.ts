// IP addresses as four 32-bit words, one shape for both families so that the connection table, the
// checksum code and the TCB stay monomorphic. IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d):
// w0 = w1 = 0, w2 = 0xffff, w3 = the address. Words are unsigned (>>> 0).
//
// Parsing text (`parseIp`) returns undefined on bad input instead of throwing; formatting is canonical
// (RFC 5952 for IPv6: lowercase, longest run of zero groups compressed, leftmost on a tie).

export type IpFamily = 4 | 6;

export class IpAddr {
  constructor(
    readonly family: IpFamily,
    readonly w0: number,
    readonly w1: number,
    readonly w2: number,
    readonly w3: number,
  ) {}

  static v4(word: number): IpAddr {
    return new IpAddr(4, 0, 0, 0xffff, word >>> 0);
  }

  static v6(w0: number, w1: number, w2: number, w3: number): IpAddr {
    return new IpAddr(6, w0 >>> 0, w1 >>> 0, w2 >>> 0, w3 >>> 0);
  }

  /** Reads an address of `family` from packet bytes (4 or 16 bytes at `off`). Caller checked bounds. */
  static read(family: IpFamily, buf: Uint8Array, off: number): IpAddr {
    if (family === 4) return IpAddr.v4(readU32(buf, off));
    return IpAddr.v6(readU32(buf, off), readU32(buf, off + 4), readU32(buf, off + 8), readU32(buf, off + 12));
  }

  equals(o: IpAddr): boolean {
    return (
      this.w3 === o.w3 && this.w2 === o.w2 && this.w1 === o.w1 && this.w0 === o.w0 && this.family === o.family
    );
  }

  /** Same address as the words (family implied by the words for mapped addresses). */
  equalsWords(family: IpFamily, w0: number, w1: number, w2: number, w3: number): boolean {
    return this.w3 === w3 && this.w2 === w2 && this.w1 === w1 && this.w0 === w0 && this.family === family;
  }

  get isUnspecified(): boolean {
    return this.family === 4 ? this.w3 === 0 : (this.w0 | this.w1 | this.w2 | this.w3) === 0;
  }

  /** Multicast, broadcast (v4 limited broadcast) or the unspecified address: never a TCP peer. */
  get isMulticastOrBroadcast(): boolean {
    if (this.family === 4) return this.w3 >>> 28 === 0xe || this.w3 === 0xffffffff;
    return this.w0 >>> 24 === 0xff;
  }

  get isLoopback(): boolean {
    if (this.family === 4) return this.w3 >>> 24 === 127;
    return this.w0 === 0 && this.w1 === 0 && this.w2 === 0 && this.w3 === 1;
  }

  /** Writes the 4 or 16 address bytes at `off`. */
  write(buf: Uint8Array, off: number): void {
    if (this.family === 4) {
      writeU32(buf, off, this.w3);
      return;
    }
    writeU32(buf, off, this.w0);
    writeU32(buf, off + 4, this.w1);
    writeU32(buf, off + 8, this.w2);
    writeU32(buf, off + 12, this.w3);
  }

  toString(): string {
    return formatIp(this);
  }
}

export function readU32(buf: Uint8Array, off: number): number {
  return (
    (((buf[off] as number) << 24) |
      ((buf[off + 1] as number) << 16) |
      ((buf[off + 2] as number) << 8) |
      (buf[off + 3] as number)) >>>
    0
  );
}

export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = v >>> 16;
  buf[off + 2] = v >>> 8;
  buf[off + 3] = v;
}

export function readU16(buf: Uint8Array, off: number): number {
  return ((buf[off] as number) << 8) | (buf[off + 1] as number);
}

export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 8;
  buf[off + 1] = v;
}

const V4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseV4Word(text: string): number | undefined {
  const m = V4_RE.exec(text);
  if (!m) return undefined;
  let w = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] as string;
    if (part.length > 1 && part[0] === '0') return undefined; // no octal-looking forms
    const n = Number(part);
    if (n > 255) return undefined;
    w = (w << 8) | n;
  }
  return w >>> 0;
}

/** Parses dotted IPv4 or RFC 4291 IPv6 text (incl. `::` and a trailing dotted quad). undefined if bad. */
export function parseIp(text: string): IpAddr | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 45) return undefined;
  if (!text.includes(':')) {
    const w = parseV4Word(text);
    return w === undefined ? undefined : IpAddr.v4(w);
  }
  const groups = parseV6Groups(text);
  if (!groups) return undefined;
  const w = (i: number): number => (((groups[i] as number) << 16) | (groups[i + 1] as number)) >>> 0;
  return IpAddr.v6(w(0), w(2), w(4), w(6));
}

function parseV6Groups(text: string): number[] | undefined {
  let head = text;
  let tail = '';
  const dbl = text.indexOf('::');
  if (dbl !== -1) {
    if (text.indexOf('::', dbl + 1) !== -1) return undefined;
    head = text.slice(0, dbl);
    tail = text.slice(dbl + 2);
  }
  const parsePart = (part: string, allowV4: boolean): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as string;
      if (allowV4 && i === items.length - 1 && item.includes('.')) {
        const v4 = parseV4Word(item);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return undefined;
      out.push(parseInt(item, 16));
    }
    return out;
  };
  const h = parsePart(head, dbl === -1);
  const t = parsePart(tail, true);
  if (!h || !t) return undefined;
  if (dbl === -1) return h.length === 8 ? h : undefined;
  if (h.length + t.length > 7) return undefined;
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

export function formatIp(a: IpAddr): string {
  if (a.family === 4) {
    const w = a.w3;
    return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;
  }
  const g = [
    a.w0 >>> 16,
    a.w0 & 0xffff,
    a.w1 >>> 16,
    a.w1 & 0xffff,
    a.w2 >>> 16,
    a.w2 & 0xffff,
    a.w3 >>> 16,
    a.w3 & 0xffff,
  ];
  // Longest run of zero groups (length >= 2), leftmost on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** Address text in the family's canonical form, or undefined when it is not an address. */
export function normalizeIp(text: string): string | undefined {
  const a = parseIp(text);
  return a ? formatIp(a) : undefined;
}
