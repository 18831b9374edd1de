/**
 * The egress policy: which destinations clients may reach through the node, in both egress modes.
 * Clients must not reach the node itself, its own networks or metadata services unless the operator
 * allows them (`egressAllow`); `egressDeny` names built-in groups and/or CIDRs (default: `default`,
 * every built-in group).
 *
 * Evaluation order (the same in the nftables chain of kernel mode, see renderPolicyRules in
 * kernel/netfilter.ts, and in `EgressPolicy.check` of userspace mode):
 *   1. `egressAllow` CIDRs                                  → allowed
 *   2. a gateway address (the node inside the tunnel): ICMP echo → allowed (the node answers),
 *      anything else                                        → refused 'nodeAddress'
 *   3. the client subnets                                   → allowed here (client isolation decides)
 *   4. deny entries in the order of EGRESS_REFUSAL_REASONS  → refused with that reason
 *   5. everything else                                      → allowed
 *
 * Addresses are compared as int32 words (IPv4: one word; IPv6: four), never as strings: the userspace
 * packet path checks every packet it hands to its stack without allocating. `check*` never throw.
 * The documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) and the
 * benchmarking range 198.18.0.0/15 are NOT denied by default: they are not the node's private networks
 * (the test lab's "internet" lives there).
 */
import { isIP } from 'node:net';
import os from 'node:os';
import type { Ipv4Subnet, Ipv6Subnet } from '../config.js';

/** 16 bytes of a valid IPv6 text address (isIP checked by the caller; dotted IPv4 tails handled). */
function ipv6Bytes(text: string): Buffer {
  const out = Buffer.alloc(16);
  let t = text;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (v4) {
    const p = v4[1]!.split('.').map(Number);
    t =
      t.slice(0, -v4[1]!.length) +
      `${((p[0]! << 8) | p[1]!).toString(16)}:${((p[2]! << 8) | p[3]!).toString(16)}`;
  }
  const [head = '', tail] = t.split('::');
  const h = head === '' ? [] : head.split(':');
  const tl = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...new Array<string>(Math.max(0, 8 - h.length - tl.length)).fill('0'), ...tl];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) || 0, 2 * i));
  return out;
}

/** Why a destination was refused. Closed: add here (and to the groups), never ad hoc. */
export const EGRESS_REFUSAL_REASONS = [
  'nodeAddress',
  'metadata',
  'loopback',
  'linkLocal',
  'nodeNetwork',
  'private',
  'sharedAddress',
  'multicast',
  'reserved',
  'operator',
] as const;
export type EgressRefusalReason = (typeof EGRESS_REFUSAL_REASONS)[number];

/** Built-in deny groups (names as written in `egressDeny`), each with its refusal reason. */
export const DENY_GROUPS: Readonly<
  Record<string, { reason: EgressRefusalReason; cidrs: readonly string[]; help: string }>
> = {
  metadata: {
    reason: 'metadata',
    cidrs: ['169.254.169.254/32', '169.254.170.2/32', 'fd00:ec2::254/128'],
    help: 'cloud metadata services',
  },
  loopback: { reason: 'loopback', cidrs: ['127.0.0.0/8', '::1/128'], help: 'loopback' },
  'link-local': { reason: 'linkLocal', cidrs: ['169.254.0.0/16', 'fe80::/10'], help: 'link-local' },
  // Filled at start from the node's interfaces (its own addresses and their subnets).
  node: { reason: 'nodeNetwork', cidrs: [], help: "the node's own addresses and interface subnets" },
  private: {
    reason: 'private',
    cidrs: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
    help: 'RFC 1918 and unique local (ULA) addresses',
  },
  shared: { reason: 'sharedAddress', cidrs: ['100.64.0.0/10'], help: 'carrier-grade NAT space (RFC 6598)' },
  multicast: { reason: 'multicast', cidrs: ['224.0.0.0/4', 'ff00::/8'], help: 'multicast' },
  reserved: {
    reason: 'reserved',
    cidrs: ['0.0.0.0/8', '192.0.0.0/24', '240.0.0.0/4', '::/128', '::ffff:0:0/96', '64:ff9b:1::/48'],
    help: 'unspecified, IETF protocol assignments, class E and broadcast, IPv4-mapped IPv6',
  },
};

/** The groups `default` stands for. */
export const DEFAULT_DENY_GROUPS = Object.keys(DENY_GROUPS);

export interface Cidr {
  readonly family: 4 | 6;
  /** Network words (IPv4: [addr]; IPv6: four big-endian words), masked, int32. */
  readonly words: Int32Array;
  readonly masks: Int32Array;
  readonly prefix: number;
  readonly text: string;
}

/** Parses `a.b.c.d/n`, `x::y/n` or a bare address (a /32 or /128). Null when it is not one. */
export function parseCidr(text: string): Cidr | null {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addr = slash < 0 ? t : t.slice(0, slash);
  const fam = isIP(addr);
  if (fam === 0) return null;
  const max = fam === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > max) return null;
  }
  const n = fam === 4 ? 1 : 4;
  const words = new Int32Array(n);
  const masks = new Int32Array(n);
  if (fam === 4) {
    const parts = addr.split('.').map(Number);
    words[0] = (parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]! | 0;
  } else {
    const b = ipv6Bytes(addr);
    for (let i = 0; i < 4; i++) words[i] = b.readInt32BE(i * 4);
  }
  for (let i = 0; i < n; i++) {
    const bits = Math.max(0, Math.min(32, prefix - i * 32));
    masks[i] = bits === 0 ? 0 : bits === 32 ? -1 : (-1 << (32 - bits)) | 0;
    words[i] = (words[i]! & masks[i]!) | 0;
  }
  const net =
    fam === 4
      ? `${(words[0]! >>> 24) & 255}.${(words[0]! >>> 16) & 255}.${(words[0]! >>> 8) & 255}.${words[0]! & 255}`
      : formatWords6(words);
  return { family: fam as 4 | 6, words, masks, prefix, text: `${net}/${prefix}` };
}

function formatWords6(w: Int32Array): string {
  const b = Buffer.alloc(16);
  for (let i = 0; i < 4; i++) b.writeInt32BE(w[i]!, i * 4);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Longest zero run → '::' (nft and humans both read it).
  let best = -1;
  let len = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > len) {
      best = i;
      len = j - i;
    }
    i = j > i ? j : i + 1;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + len).join(':')}`;
}

/** Whether `c` contains the IPv4 address `a` (int32). */
export function contains4(c: Cidr, a: number): boolean {
  return c.family === 4 && ((a ^ c.words[0]!) & c.masks[0]!) === 0;
}

/** Whether `c` contains the IPv6 address given as four int32 words. */
export function contains6(c: Cidr, w0: number, w1: number, w2: number, w3: number): boolean {
  if (c.family !== 6) return false;
  const m = c.masks;
  const w = c.words;
  return (
    ((w0 ^ w[0]!) & m[0]!) === 0 &&
    ((w1 ^ w[1]!) & m[1]!) === 0 &&
    ((w2 ^ w[2]!) & m[2]!) === 0 &&
    ((w3 ^ w[3]!) & m[3]!) === 0
  );
}

export interface DenyEntry {
  readonly reason: EgressRefusalReason;
  readonly cidr: Cidr;
}

export interface PolicySpec {
  /** `egressDeny` tokens: `default`, group names, CIDRs (validated by parsePolicyLists). */
  readonly deny: readonly string[];
  /** `egressAllow` CIDRs. */
  readonly allow: readonly string[];
}

/** Validates `egressDeny`/`egressAllow` values; returns one problem per bad token. */
export function policyListProblems(deny: readonly string[], allow: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of deny) {
    if (d === 'default' || d === 'none' || d in DENY_GROUPS) continue;
    if (parseCidr(d) === null)
      out.push(
        `egress deny entry '${d}': expected a CIDR, 'default', 'none' or a group (${Object.keys(DENY_GROUPS).join(', ')})`,
      );
  }
  if (deny.includes('none') && deny.length > 1)
    out.push(`egress deny 'none' cannot be combined with other entries`);
  for (const a of allow) if (parseCidr(a) === null) out.push(`egress allow entry '${a}': expected a CIDR`);
  return out;
}

/** The node's own addresses and interface subnets (kernel mode skips its TUN), from os.networkInterfaces. */
export function nodeNetworks(skipInterface: string | null = null): string[] {
  const out = new Set<string>();
  for (const [name, list] of Object.entries(os.networkInterfaces())) {
    if (name === skipInterface || name === 'lo') continue;
    for (const a of list ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80')) continue; // link-local group
      out.add(`${a.address}/${a.family === 'IPv4' ? 32 : 128}`);
      if (a.cidr) {
        const c = parseCidr(a.cidr);
        if (c) out.add(c.text);
      }
    }
  }
  return [...out];
}

export interface PolicyContext {
  readonly subnet4: Ipv4Subnet;
  readonly subnet6: Ipv6Subnet | null;
  /** CIDRs of the `node` group (nodeNetworks() at start; tests pass their own). */
  readonly nodeNetworks: readonly string[];
}

/** Tagged verdict of a check: 0 = allowed, else the index into EGRESS_REFUSAL_REASONS plus one. */
export type Verdict = number;
export const ALLOWED: Verdict = 0;

export class EgressPolicy {
  readonly allow: readonly Cidr[];
  readonly deny: readonly DenyEntry[];
  readonly client4: Cidr;
  readonly client6: Cidr | null;
  readonly gateway4: number;
  readonly gateway6: Int32Array | null;
  /** Refusals by reason (userspace mode counts here; kernel mode reads nftables counters). */
  readonly refused = Object.fromEntries(EGRESS_REFUSAL_REASONS.map((r) => [r, 0])) as Record<
    EgressRefusalReason,
    number
  >;
  private readonly allow4: Cidr[];
  private readonly allow6: Cidr[];
  private readonly deny4: DenyEntry[];
  private readonly deny6: DenyEntry[];

  constructor(spec: PolicySpec, ctx: PolicyContext) {
    this.allow = spec.allow.map((a) => parseCidr(a)).filter((c): c is Cidr => c !== null);
    const deny: DenyEntry[] = [];
    const tokens = new Set(spec.deny.flatMap((t) => (t === 'default' ? DEFAULT_DENY_GROUPS : [t])));
    const groups = Object.entries(DENY_GROUPS).filter(([name]) => tokens.has(name));
    // Sorted by reason order so the most specific reason wins (metadata before link-local, ...).
    const nodeOn = tokens.has('node');
    const nodeCidrs = ctx.nodeNetworks.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== null);
    const isHost = (c: Cidr) => c.prefix === (c.family === 4 ? 32 : 128);
    for (const reason of EGRESS_REFUSAL_REASONS) {
      // The node group: its own addresses count as 'nodeAddress', their subnets as 'nodeNetwork'.
      if (nodeOn && reason === 'nodeAddress')
        for (const c of nodeCidrs) if (isHost(c)) deny.push({ reason, cidr: c });
      if (nodeOn && reason === 'nodeNetwork')
        for (const c of nodeCidrs) if (!isHost(c)) deny.push({ reason, cidr: c });
      for (const [name, g] of groups) {
        if (g.reason !== reason || name === 'node') continue;
        for (const c of g.cidrs) {
          const p = parseCidr(c);
          if (p) deny.push({ reason, cidr: p });
        }
      }
      if (reason === 'operator') {
        for (const t of tokens) {
          if (t in DENY_GROUPS || t === 'none') continue;
          const p = parseCidr(t);
          if (p) deny.push({ reason: 'operator', cidr: p });
        }
      }
    }
    this.deny = deny;
    this.client4 = parseCidr(`${ctx.subnet4.network}/${ctx.subnet4.prefix}`)!;
    this.client6 = ctx.subnet6 ? parseCidr(`${ctx.subnet6.network}/${ctx.subnet6.prefix}`) : null;
    this.gateway4 = parseCidr(ctx.subnet4.gateway)!.words[0]!;
    this.gateway6 = ctx.subnet6 ? parseCidr(ctx.subnet6.gateway)!.words : null;
    this.allow4 = this.allow.filter((c) => c.family === 4);
    this.allow6 = this.allow.filter((c) => c.family === 6);
    this.deny4 = deny.filter((d) => d.cidr.family === 4);
    this.deny6 = deny.filter((d) => d.cidr.family === 6);
  }

  /** Verdict for an IPv4 destination (int32); `echo` = an ICMP echo request. Counts nothing. */
  check4(dst: number, echo: boolean): Verdict {
    const allow = this.allow4;
    for (let i = 0; i < allow.length; i++) if (contains4(allow[i]!, dst)) return ALLOWED;
    if (dst === this.gateway4) return echo ? ALLOWED : 1; // nodeAddress
    if (contains4(this.client4, dst)) return ALLOWED;
    const deny = this.deny4;
    for (let i = 0; i < deny.length; i++) {
      const d = deny[i]!;
      if (contains4(d.cidr, dst)) return EGRESS_REFUSAL_REASONS.indexOf(d.reason) + 1;
    }
    return ALLOWED;
  }

  /** Verdict for an IPv6 destination given as four int32 words. */
  check6(w0: number, w1: number, w2: number, w3: number, echo: boolean): Verdict {
    const allow = this.allow6;
    for (let i = 0; i < allow.length; i++) if (contains6(allow[i]!, w0, w1, w2, w3)) return ALLOWED;
    const g = this.gateway6;
    if (g !== null && g[0] === w0 && g[1] === w1 && g[2] === w2 && g[3] === w3) return echo ? ALLOWED : 1;
    if (this.client6 !== null && contains6(this.client6, w0, w1, w2, w3)) return ALLOWED;
    const deny = this.deny6;
    for (let i = 0; i < deny.length; i++) {
      const d = deny[i]!;
      if (contains6(d.cidr, w0, w1, w2, w3)) return EGRESS_REFUSAL_REASONS.indexOf(d.reason) + 1;
    }
    return ALLOWED;
  }

  /** Verdict for an address in text form (tests, diagnostics). Unparseable text is refused as reserved. */
  checkText(address: string, echo = false): EgressRefusalReason | 'allowed' {
    const c = parseCidr(address);
    if (c === null || c.prefix !== (c.family === 4 ? 32 : 128)) return 'reserved';
    const v =
      c.family === 4
        ? this.check4(c.words[0]!, echo)
        : this.check6(c.words[0]!, c.words[1]!, c.words[2]!, c.words[3]!, echo);
    return v === ALLOWED ? 'allowed' : EGRESS_REFUSAL_REASONS[v - 1]!;
  }

  /** Counts a refusal (userspace mode). */
  count(v: Verdict): void {
    if (v > 0) this.refused[EGRESS_REFUSAL_REASONS[v - 1]!]++;
  }

  /** Human summary for the start log: groups and counts of entries. */
  describe(): { allow: string[]; deny: Record<string, number> } {
    const deny: Record<string, number> = {};
    for (const d of this.deny) deny[d.reason] = (deny[d.reason] ?? 0) + 1;
    return { allow: this.allow.map((a) => a.text), deny };
  }
}
