/** IP prefixes for routing decisions: parse, validate (network address only), contain, compare. */
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '@corridor/protocol';

export interface Prefix {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly length: number;
  /** Canonical text `addr/len`. */
  readonly text: string;
}

export function parseAddress(text: string): { family: 4 | 6; bytes: Uint8Array } | null {
  const v4 = parseIPv4(text);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIPv6(text);
  if (v6) return { family: 6, bytes: v6 };
  return null;
}

function masked(bytes: Uint8Array, length: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, length - i * 8));
    out[i]! &= (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

const fmt = (family: 4 | 6, b: Uint8Array) => (family === 4 ? formatIPv4(b) : formatIPv6(b));

export type PrefixResult = { ok: true; prefix: Prefix } | { ok: false; error: string };

/** Parses `addr/len` (or a bare address = host route). Host bits must be zero. */
export function parsePrefix(text: string): PrefixResult {
  const [addr, len, extra] = text.trim().split('/');
  if (extra !== undefined || addr === undefined)
    return { ok: false, error: `'${text}' is not a CIDR such as 10.0.0.0/8` };
  const a = parseAddress(addr);
  if (!a) return { ok: false, error: `'${text}' is not a CIDR such as 10.0.0.0/8` };
  const max = a.family === 4 ? 32 : 128;
  const length = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (!(length >= 0 && length <= max))
    return { ok: false, error: `'${text}': the prefix length must be 0..${max}` };
  const net = masked(a.bytes, length);
  if (!net.every((b, i) => b === a.bytes[i])) {
    return { ok: false, error: `'${text}' has host bits set; did you mean ${fmt(a.family, net)}/${length}?` };
  }
  return {
    ok: true,
    prefix: { family: a.family, bytes: net, length, text: `${fmt(a.family, net)}/${length}` },
  };
}

export function prefixOf(text: string): Prefix {
  const r = parsePrefix(text);
  if (!r.ok) throw new RangeError(r.error);
  return r.prefix;
}

/** Whether `prefix` contains the address `addr` (text). */
export function contains(prefix: Prefix, addr: string): boolean {
  const a = parseAddress(addr);
  if (!a || a.family !== prefix.family) return false;
  const m = masked(a.bytes, prefix.length);
  return m.every((b, i) => b === prefix.bytes[i]);
}

export function familyOf(addr: string): 4 | 6 | 0 {
  return parseAddress(addr)?.family ?? 0;
}

/** `addr/32` or `addr/128`. */
export function hostPrefix(addr: string): string {
  return `${addr}/${familyOf(addr) === 6 ? 128 : 32}`;
}
