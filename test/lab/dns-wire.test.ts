// The resolver's DNS codec, without root: queries as glibc sends them parse; answers carry the
// question as received and well-formed records; hostile bytes never throw.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  aaaaRecord,
  aRecord,
  buildErrorResponse,
  buildQuery,
  buildResponse,
  DNS_PARSE_ERRORS,
  DNS_TYPE,
  parseQuery,
  parseResponse,
  RCODE,
  typeName,
} from './dns-wire.js';

function withHeader(question: number[], flags = 0x0100, qdcount = 1): Uint8Array {
  return Uint8Array.from([0x12, 0x34, flags >> 8, flags & 0xff, 0, qdcount, 0, 0, 0, 0, 0, 0, ...question]);
}

describe('DNS wire format', () => {
  it('parses a query (case folded) and answers it with the question bytes as received', () => {
    const q = buildQuery(0xbeef, 'WeB.Lab', DNS_TYPE.AAAA);
    const parsed = parseQuery(q);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.query).toMatchObject({
      id: 0xbeef,
      rd: true,
      name: 'web.lab',
      qtype: DNS_TYPE.AAAA,
      qclass: 1,
    });
    const resp = buildResponse(parsed.query, RCODE.NOERROR, [
      aaaaRecord('2001:db8:100:1::2', 5),
      aRecord('198.51.100.18', 7),
    ]);
    // The question section is copied verbatim (0x20 case randomisation keeps working).
    expect(Buffer.from(resp.subarray(12, 12 + parsed.query.questionBytes.length))).toEqual(
      Buffer.from(q.subarray(12)),
    );
    expect(resp[2]! & 0x80).toBe(0x80); // QR
    expect(resp[2]! & 0x04).toBe(0x04); // AA
    expect(resp[2]! & 0x01).toBe(0x01); // RD copied
    expect(parseResponse(resp)).toEqual({
      id: 0xbeef,
      rcode: 0,
      aa: true,
      answers: [
        { type: DNS_TYPE.AAAA, ttl: 5, address: '2001:db8:100:1::2' },
        { type: DNS_TYPE.A, ttl: 7, address: '198.51.100.18' },
      ],
    });
  });

  it('parses the root name and names of the maximal length, and refuses one byte more', () => {
    const root = parseQuery(withHeader([0, 0, 1, 0, 1]));
    expect(root.ok && root.query.name).toBe('');
    // 4 labels of 63 + lengths + root = 4 * 64 + 1 = 257 > 255; 3 labels of 63 + one of 61 = 255.
    const label = (n: number) => [n, ...Array<number>(n).fill(0x61)];
    const max = parseQuery(
      withHeader([...label(63), ...label(63), ...label(63), ...label(61), 0, 0, 1, 0, 1]),
    );
    expect(max.ok).toBe(true);
    const over = parseQuery(
      withHeader([...label(63), ...label(63), ...label(63), ...label(62), 0, 0, 1, 0, 1]),
    );
    expect(over).toEqual({ ok: false, reason: 'name-too-long', id: 0x1234, opcode: 0, rd: true });
  });

  it.each<[string, Uint8Array, string]>([
    ['a runt', Uint8Array.from([1, 2, 3]), 'short-header'],
    ['a response', withHeader([0, 0, 1, 0, 1], 0x8100), 'is-response'],
    ['another opcode', withHeader([0, 0, 1, 0, 1], 0x2100), 'bad-opcode'],
    ['no question', withHeader([], 0x0100, 0), 'no-question'],
    ['a cut name', withHeader([3, 0x61, 0x62]), 'truncated-question'],
    ['a cut type', withHeader([1, 0x61, 0, 0]), 'truncated-question'],
    ['a compression pointer', withHeader([0xc0, 0x0c, 0, 1, 0, 1]), 'compressed-name'],
    ['a dot inside a label', withHeader([3, 0x61, 0x2e, 0x62, 0, 0, 1, 0, 1]), 'bad-label'],
    ['a NUL inside a label', withHeader([2, 0x61, 0x00, 0, 0, 1, 0, 1]), 'bad-label'],
  ])('refuses %s with a typed reason', (_what, bytes, reason) => {
    const r = parseQuery(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe(reason);
  });

  it('sets TC on a truncated answer', () => {
    const parsed = parseQuery(buildQuery(1, 'many.lab', DNS_TYPE.A));
    if (!parsed.ok) throw new Error('query did not parse');
    const r = buildResponse(parsed.query, RCODE.NOERROR, [], true, true);
    expect(r[2]! & 0x02).toBe(0x02);
    expect(r[7]).toBe(0); // no answers
  });

  it('builds header-only error answers that keep the id', () => {
    const r = buildErrorResponse(0x1234, 2, true, RCODE.NOTIMP);
    expect(Array.from(r)).toEqual([0x12, 0x34, 0x80 | (2 << 3) | 0x01, RCODE.NOTIMP, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('never throws on random or mutated input, and only returns declared reasons', () => {
    const seed = buildQuery(7, 'client1.lab', DNS_TYPE.A);
    for (let i = 0; i < 20_000; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = randomBytes(i % 80);
      } else {
        bytes = Uint8Array.from(seed);
        const flips = 1 + (i % 4);
        for (let f = 0; f < flips; f++) bytes[(i * 7 + f * 13) % bytes.length] = randomBytes(1)[0]!;
        bytes = bytes.subarray(0, bytes.length - (i % 5));
      }
      const r = parseQuery(bytes);
      if (!r.ok) expect(DNS_PARSE_ERRORS).toContain(r.reason);
      else expect(r.query.name.length).toBeLessThanOrEqual(255);
    }
  });

  it('names query types for the log', () => {
    expect(typeName(DNS_TYPE.AAAA)).toBe('AAAA');
    expect(typeName(99)).toBe('TYPE99');
  });
});
