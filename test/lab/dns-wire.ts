// DNS wire format for the lab resolver (RFC 1035, sans-IO). Contract:
// - parseQuery takes untrusted bytes and never throws: it returns a tagged result; a failure carries
//   the query id when the header was readable, so the server can answer FORMERR.
// - It allocates nothing proportional to attacker-chosen lengths: names are bounded (255 bytes,
//   labels of 63) and compression pointers are refused in the question (queries never need them).
// - buildResponse copies the question bytes as received (case included: 0x20 randomisation keeps
//   working) and points every answer's name at it (0xc00c).
import { formatIPv6Bytes, parseIPv4, parseIPv6 } from './addresses.js';

export const DNS_HEADER_LEN = 12;
export const DNS_MAX_NAME_LEN = 255;
export const DNS_MAX_LABEL_LEN = 63;
/** Largest answer sent over UDP to a client that offered no EDNS buffer size (RFC 1035 4.2.1). */
export const DNS_UDP_MAX = 512;

export const DNS_TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
  ANY: 255,
} as const;
export const DNS_CLASS_IN = 1;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type RcodeName = keyof typeof RCODE;

export const DNS_PARSE_ERRORS = [
  'short-header',
  'is-response',
  'bad-opcode',
  'no-question',
  'truncated-question',
  'compressed-name',
  'bad-label',
  'name-too-long',
] as const;
export type DnsParseError = (typeof DNS_PARSE_ERRORS)[number];

export interface DnsQuestion {
  id: number;
  /** Recursion desired, copied into the answer. */
  rd: boolean;
  opcode: number;
  /** Lower case, dot-separated, no trailing dot ("" for the root). */
  name: string;
  qtype: number;
  qclass: number;
  /** The question section as received (name + type + class). */
  questionBytes: Uint8Array;
}

export type ParsedQuery =
  | { ok: true; query: DnsQuestion }
  | { ok: false; reason: DnsParseError; id?: number; opcode?: number; rd?: boolean };

export function parseQuery(buf: Uint8Array): ParsedQuery {
  if (buf.length < DNS_HEADER_LEN) return { ok: false, reason: 'short-header' };
  const id = (buf[0]! << 8) | buf[1]!;
  const flags = (buf[2]! << 8) | buf[3]!;
  const opcode = (flags >> 11) & 0xf;
  const rd = (flags & 0x0100) !== 0;
  if (flags & 0x8000) return { ok: false, reason: 'is-response' };
  if (opcode !== 0) return { ok: false, reason: 'bad-opcode', id, opcode, rd };
  const qdcount = (buf[4]! << 8) | buf[5]!;
  if (qdcount < 1) return { ok: false, reason: 'no-question', id, opcode, rd };
  const labels: string[] = [];
  let off = DNS_HEADER_LEN;
  let nameLen = 1;
  for (;;) {
    if (off >= buf.length) return { ok: false, reason: 'truncated-question', id, opcode, rd };
    const len = buf[off]!;
    if (len === 0) {
      off++;
      break;
    }
    if ((len & 0xc0) !== 0) return { ok: false, reason: 'compressed-name', id, opcode, rd };
    nameLen += len + 1;
    if (nameLen > DNS_MAX_NAME_LEN) return { ok: false, reason: 'name-too-long', id, opcode, rd };
    if (off + 1 + len > buf.length) return { ok: false, reason: 'truncated-question', id, opcode, rd };
    let label = '';
    for (let i = off + 1; i < off + 1 + len; i++) {
      const c = buf[i]!;
      // Host names only: letters, digits, '-', '_' (no dots or bytes that would alias another name).
      const ok =
        (c >= 0x30 && c <= 0x39) ||
        (c >= 0x41 && c <= 0x5a) ||
        (c >= 0x61 && c <= 0x7a) ||
        c === 0x2d ||
        c === 0x5f;
      if (!ok) return { ok: false, reason: 'bad-label', id, opcode, rd };
      label += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
    }
    labels.push(label);
    off += 1 + len;
  }
  if (off + 4 > buf.length) return { ok: false, reason: 'truncated-question', id, opcode, rd };
  const qtype = (buf[off]! << 8) | buf[off + 1]!;
  const qclass = (buf[off + 2]! << 8) | buf[off + 3]!;
  off += 4;
  return {
    ok: true,
    query: {
      id,
      rd,
      opcode,
      name: labels.join('.'),
      qtype,
      qclass,
      questionBytes: buf.slice(DNS_HEADER_LEN, off),
    },
  };
}

export interface DnsAnswer {
  type: number;
  ttl: number;
  /** RDATA bytes (4 for A, 16 for AAAA). */
  data: Uint8Array;
}

export function aRecord(address: string, ttl: number): DnsAnswer {
  const b = parseIPv4(address);
  if (!b) throw new RangeError(`not an IPv4 address: ${address}`);
  return { type: DNS_TYPE.A, ttl, data: Uint8Array.from(b) };
}

export function aaaaRecord(address: string, ttl: number): DnsAnswer {
  const g = parseIPv6(address);
  if (!g) throw new RangeError(`not an IPv6 address: ${address}`);
  return { type: DNS_TYPE.AAAA, ttl, data: Uint8Array.from(g.flatMap((x) => [x >> 8, x & 0xff])) };
}

/** A response to `q`: header (QR, AA, RD copied), the question as received, then the answers. */
export function buildResponse(
  q: Pick<DnsQuestion, 'id' | 'rd' | 'opcode' | 'questionBytes'>,
  rcode: number,
  answers: readonly DnsAnswer[] = [],
  authoritative = true,
  truncated = false,
): Uint8Array {
  const size = DNS_HEADER_LEN + q.questionBytes.length + answers.reduce((n, a) => n + 12 + a.data.length, 0);
  const out = new Uint8Array(size);
  const flags =
    0x8000 |
    ((q.opcode & 0xf) << 11) |
    (authoritative ? 0x0400 : 0) |
    (truncated ? 0x0200 : 0) |
    (q.rd ? 0x0100 : 0) |
    (rcode & 0xf);
  put16(out, 0, q.id);
  put16(out, 2, flags);
  put16(out, 4, q.questionBytes.length > 0 ? 1 : 0);
  put16(out, 6, answers.length);
  out.set(q.questionBytes, DNS_HEADER_LEN);
  let off = DNS_HEADER_LEN + q.questionBytes.length;
  for (const a of answers) {
    put16(out, off, 0xc000 | DNS_HEADER_LEN);
    put16(out, off + 2, a.type);
    put16(out, off + 4, DNS_CLASS_IN);
    put16(out, off + 6, (a.ttl >>> 16) & 0xffff);
    put16(out, off + 8, a.ttl & 0xffff);
    put16(out, off + 10, a.data.length);
    out.set(a.data, off + 12);
    off += 12 + a.data.length;
  }
  return out;
}

/** A header-only error answer for a query whose question could not be read. */
export function buildErrorResponse(id: number, opcode: number, rd: boolean, rcode: number): Uint8Array {
  return buildResponse({ id, rd, opcode, questionBytes: new Uint8Array(0) }, rcode, [], false);
}

function put16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

/** Text name of a query type for logs ("A", "AAAA", "TYPE99"). */
export function typeName(qtype: number): string {
  for (const [k, v] of Object.entries(DNS_TYPE)) if (v === qtype) return k;
  return `TYPE${qtype}`;
}

/** Builds a query (used by tests and the resolver's self-check). */
export function buildQuery(id: number, name: string, qtype: number): Uint8Array {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  const parts: number[] = [];
  for (const l of labels) parts.push(l.length, ...Buffer.from(l, 'ascii'));
  parts.push(0, qtype >> 8, qtype & 0xff, 0, DNS_CLASS_IN);
  const out = new Uint8Array(DNS_HEADER_LEN + parts.length);
  put16(out, 0, id);
  put16(out, 2, 0x0100);
  put16(out, 4, 1);
  out.set(parts, DNS_HEADER_LEN);
  return out;
}

export interface ParsedAnswer {
  rcode: number;
  id: number;
  aa: boolean;
  answers: { type: number; ttl: number; address: string }[];
}

/** Parses a response built by buildResponse (tests only; answers must use the 0xc00c pointer). */
export function parseResponse(buf: Uint8Array): ParsedAnswer | undefined {
  if (buf.length < DNS_HEADER_LEN) return undefined;
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const qd = view.readUInt16BE(4);
  const an = view.readUInt16BE(6);
  let off = DNS_HEADER_LEN;
  for (let i = 0; i < qd; i++) {
    while (off < view.length && view[off] !== 0) off += 1 + view[off]!;
    off += 5;
  }
  const answers: ParsedAnswer['answers'] = [];
  for (let i = 0; i < an; i++) {
    if (off + 12 > view.length) return undefined;
    const type = view.readUInt16BE(off + 2);
    const ttl = view.readUInt32BE(off + 6);
    const len = view.readUInt16BE(off + 10);
    const data = view.subarray(off + 12, off + 12 + len);
    if (data.length !== len) return undefined;
    const address =
      type === DNS_TYPE.A
        ? Array.from(data).join('.')
        : type === DNS_TYPE.AAAA && len === 16
          ? formatIPv6Bytes(data)
          : data.toString('hex');
    answers.push({ type, ttl, address });
    off += 12 + len;
  }
  return { id: view.readUInt16BE(0), rcode: view[3]! & 0xf, aa: (view[2]! & 0x04) !== 0, answers };
}
