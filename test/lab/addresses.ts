// The lab's address plan (pure: no I/O). Every address the lab hands out lies in the ranges the
// network-safety rule allows, and none in the machine's own 192.0.2.0/24 or fd00::/64:
//
//   pool       IPv4 link                          IPv6 link                    who
//   infra      198.18.<i>.0/24       (i 1..255)   2001:db8:18:<i>::/64         controller, clients, lb, proxy
//   region r   198.19.<16r+j>.0/24   (j 0..15)    2001:db8:19:<16r+j>::/64     nodes (hosts with a region)
//   internet   198.51.100.<16k>/28   (k 0..15)    2001:db8:100:<k>::/64        web hosts, resolver
//              203.0.113.<16k'>/28   (k 16..31)   2001:db8:113:<k'>::/64
//
// Each host has one link to the backbone router: the router holds the first address (.1 / ::1), the
// host the second (.2 / ::2). A region r owns 198.19.<16r>.0/20 and 2001:db8:19:<16r>::/60, which is
// what the region-locked web host treats as its "geo-IP database". fd00::/8 is left to the tunnels.

export type AddressPool = 'infra' | 'region' | 'internet';

/** The ranges the lab may use (BRIEF's network-safety rule); checked by the address tests. */
export const LAB_RANGES = {
  linksV4: '198.18.0.0/15',
  internetV4: ['198.51.100.0/24', '203.0.113.0/24'],
  v6: '2001:db8::/32',
} as const;

export const MAX_INFRA_HOSTS = 255;
export const MAX_REGIONS = 15;
export const MAX_HOSTS_PER_REGION = 16;
export const MAX_INTERNET_HOSTS = 32;

/** Regions with a fixed number, so "eu" has the same prefix in every lab; others are numbered after. */
export const WELL_KNOWN_REGIONS: Readonly<Record<string, number>> = { eu: 1, us: 2, asia: 3 };

export interface LinkAddressing {
  /** The host's IPv4 address on its link. */
  v4: string;
  /** The router's IPv4 address on that link: the host's default gateway. */
  gateway4: string;
  /** The link's IPv4 subnet, e.g. 198.18.3.0/24. */
  subnet4: string;
  prefix4: number;
  v6: string;
  gateway6: string;
  subnet6: string;
  prefix6: number;
}

/** Formats eight 16-bit groups as RFC 5952 text (lower case, longest zero run of 2+ compressed). */
export function formatIPv6(groups: readonly number[]): string {
  if (groups.length !== 8) throw new RangeError('an IPv6 address has 8 groups');
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Formats 16 bytes (e.g. from a packet) as RFC 5952 text. */
export function formatIPv6Bytes(bytes: Uint8Array, offset = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++)
    groups.push(((bytes[offset + 2 * i] ?? 0) << 8) | (bytes[offset + 2 * i + 1] ?? 0));
  return formatIPv6(groups);
}

function link(v4Net: [number, number, number, number], prefix4: number, v6Net: number[]): LinkAddressing {
  const [a, b, c, d] = v4Net;
  const v6 = (last: number) => formatIPv6([...v6Net, 0, 0, 0, last]);
  return {
    v4: `${a}.${b}.${c}.${d + 2}`,
    gateway4: `${a}.${b}.${c}.${d + 1}`,
    subnet4: `${a}.${b}.${c}.${d}/${prefix4}`,
    prefix4,
    v6: v6(2),
    gateway6: v6(1),
    subnet6: `${v6(0)}/64`,
    prefix6: 64,
  };
}

/** Link of the i-th host (1-based) without a region. */
export function infraLink(i: number): LinkAddressing {
  if (!Number.isInteger(i) || i < 1 || i > MAX_INFRA_HOSTS)
    throw new RangeError(`infra host index ${i} out of 1..255`);
  return link([198, 18, i, 0], 24, [0x2001, 0xdb8, 0x18, i]);
}

/** Link of the j-th host (0-based) in region number r. */
export function regionLink(r: number, j: number): LinkAddressing {
  if (!Number.isInteger(r) || r < 1 || r > MAX_REGIONS)
    throw new RangeError(`region number ${r} out of 1..15`);
  if (!Number.isInteger(j) || j < 0 || j >= MAX_HOSTS_PER_REGION) {
    throw new RangeError(`host index ${j} in region ${r} out of 0..15`);
  }
  const third = 16 * r + j;
  return link([198, 19, third, 0], 24, [0x2001, 0xdb8, 0x19, third]);
}

/** Link of the k-th (0-based) internet host: web hosts, the resolver. */
export function internetLink(k: number): LinkAddressing {
  if (!Number.isInteger(k) || k < 0 || k >= MAX_INTERNET_HOSTS)
    throw new RangeError(`internet host index ${k} out of 0..31`);
  return k < 16
    ? link([198, 51, 100, 16 * k], 28, [0x2001, 0xdb8, 0x100, k])
    : link([203, 0, 113, 16 * (k - 16)], 28, [0x2001, 0xdb8, 0x113, k - 16]);
}

/** The prefixes a region owns (the region-locked web host's geo-IP database). */
export function regionPrefixes(r: number): { v4: string; v6: string } {
  if (!Number.isInteger(r) || r < 1 || r > MAX_REGIONS)
    throw new RangeError(`region number ${r} out of 1..15`);
  return { v4: `198.19.${16 * r}.0/20`, v6: `${formatIPv6([0x2001, 0xdb8, 0x19, 16 * r, 0, 0, 0, 0])}/60` };
}

/** "http://198.51.100.2:8080/x" or "http://[2001:db8:100::2]/x". */
export function urlFor(address: string, path = '/', port = 80): string {
  const hostPart = address.includes(':') ? `[${address}]` : address;
  const p = path.startsWith('/') ? path : `/${path}`;
  return `http://${hostPart}${port === 80 ? '' : `:${port}`}${p}`;
}

/** Parses IPv6 text (with "::" and an optional dotted IPv4 tail) into 8 groups, or undefined. */
export function parseIPv6(text: string): number[] | undefined {
  if (text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let tail: number[] = [];
  let s = text;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    s = s.slice(0, lastColon + 1); // ends with ':'; keep a "::", drop a single separator
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0] ?? '');
  const rest = halves.length === 2 ? parse(halves[1] ?? '') : [];
  if (!head || !rest) return undefined;
  const explicit = head.length + rest.length + tail.length;
  if (halves.length === 1) return explicit === 8 ? [...head, ...tail] : undefined;
  if (explicit > 7) return undefined;
  return [...head, ...new Array<number>(8 - explicit).fill(0), ...rest, ...tail];
}

/** Parses dotted-quad IPv4 text into 4 bytes, or undefined. */
export function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}
