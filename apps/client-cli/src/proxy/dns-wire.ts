/**
 * Just enough DNS (RFC 1035, RFC 3596) for the proxy's resolver: an A or AAAA query, and the
 * addresses of the answer to it. Sans-IO; `parseDnsAnswer` takes hostile bytes (the resolver is on
 * the far side of the tunnel, and anyone on the path after the node can forge answers the id does
 * not match), is bounded-checked everywhere, follows compression pointers a bounded number of times
 * and never throws.
 */
import { IpAddr } from '@corridor/netstack';

export const TYPE_A = 1;
export const TYPE_AAAA = 28;
const CLASS_IN = 1;
const MAX_POINTER_HOPS = 16;
const MAX_ANSWERS = 64;

export function buildDnsQuery(id: number, name: string, type: typeof TYPE_A | typeof TYPE_AAAA): Buffer {
  const labels = (name.endsWith('.') ? name.slice(0, -1) : name).split('.');
  const qname = Buffer.alloc(labels.reduce((n, l) => n + 1 + l.length, 1));
  let p = 0;
  for (const l of labels) {
    qname[p++] = l.length;
    p += qname.write(l, p, 'latin1');
  }
  qname[p] = 0;
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id & 0xffff, 0);
  head.writeUInt16BE(0x0100, 2); // RD
  head.writeUInt16BE(1, 4); // QDCOUNT
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(CLASS_IN, 2);
  return Buffer.concat([head, qname, tail]);
}

export type DnsAnswer =
  | { readonly type: 'ok'; readonly addresses: readonly string[]; readonly ttl: number }
  /** The name does not exist (NXDOMAIN) or has no record of the type (NODATA). */
  | { readonly type: 'none'; readonly rcode: number }
  /** Not an answer to our query, or malformed: keep waiting for the real one. */
  | { readonly type: 'ignore'; readonly reason: string }
  /** The server failed (SERVFAIL, REFUSED...) or truncated: try another server. */
  | { readonly type: 'fail'; readonly rcode: number };

/** Skips a (possibly compressed) name at `p`; returns the offset after it in the message, or -1. */
function skipName(b: Uint8Array, p: number): number {
  let hops = 0;
  let end = -1;
  for (;;) {
    if (p >= b.length) return -1;
    const len = b[p]!;
    if (len === 0) return end < 0 ? p + 1 : end;
    if ((len & 0xc0) === 0xc0) {
      if (p + 1 >= b.length || ++hops > MAX_POINTER_HOPS) return -1;
      if (end < 0) end = p + 2;
      p = ((len & 0x3f) << 8) | b[p + 1]!;
      continue;
    }
    if ((len & 0xc0) !== 0) return -1;
    p += 1 + len;
  }
}

const u16 = (b: Uint8Array, p: number) => (b[p]! << 8) | b[p + 1]!;
const u32 = (b: Uint8Array, p: number) =>
  ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;

/**
 * The addresses answering query `id` of `type`. CNAME chains are followed implicitly: every record
 * of the asked type in the answer section counts (the resolver put the chain there).
 */
export function parseDnsAnswer(b: Uint8Array, id: number, type: number): DnsAnswer {
  if (b.length < 12) return { type: 'ignore', reason: 'short' };
  if (u16(b, 0) !== (id & 0xffff)) return { type: 'ignore', reason: 'id' };
  const flags = u16(b, 2);
  if ((flags & 0x8000) === 0) return { type: 'ignore', reason: 'not a response' };
  const rcode = flags & 0x0f;
  if (flags & 0x0200) return { type: 'fail', rcode: -1 }; // truncated: we do not do TCP DNS
  if (rcode === 3) return { type: 'none', rcode };
  if (rcode !== 0) return { type: 'fail', rcode };
  const qd = u16(b, 4);
  const an = Math.min(u16(b, 6), MAX_ANSWERS);
  if (qd !== 1) return { type: 'ignore', reason: 'question count' };
  let p = skipName(b, 12);
  if (p < 0 || p + 4 > b.length) return { type: 'ignore', reason: 'question' };
  if (u16(b, p) !== type) return { type: 'ignore', reason: 'question type' };
  p += 4;
  const addresses: string[] = [];
  let ttl = Infinity;
  for (let i = 0; i < an; i++) {
    p = skipName(b, p);
    if (p < 0 || p + 10 > b.length) break;
    const rtype = u16(b, p);
    const rclass = u16(b, p + 2);
    const rttl = u32(b, p + 4);
    const rdlen = u16(b, p + 8);
    p += 10;
    if (p + rdlen > b.length) break;
    if (rclass === CLASS_IN && rtype === type) {
      if (type === TYPE_A && rdlen === 4) addresses.push(IpAddr.read(4, b, p).toString());
      else if (type === TYPE_AAAA && rdlen === 16) addresses.push(IpAddr.read(6, b, p).toString());
      ttl = Math.min(ttl, rttl);
    }
    p += rdlen;
  }
  if (addresses.length === 0) return { type: 'none', rcode: 0 };
  return { type: 'ok', addresses, ttl: Number.isFinite(ttl) ? ttl : 0 };
}
