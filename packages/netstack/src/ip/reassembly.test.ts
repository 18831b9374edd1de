import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode } from '../testing/packets.js';
import { IpAddr } from '../wire/address.js';
import { IPPROTO_UDP } from '../wire/constants.js';
import { IpInfo } from '../wire/ip-info.js';
import { parseIpv4, writeIpv4Header } from '../wire/ipv4.js';
import { parseIpv6, writeIpv6Header } from '../wire/ipv6.js';
import { Reassembler } from './reassembly.js';

const SRC4 = IpAddr.v4(0x0a000001);
const DST4 = IpAddr.v4(0x0a000002);
const SRC6 = IpAddr.v6(0xfd000000, 0, 0, 1);
const DST6 = IpAddr.v6(0xfd000000, 0, 0, 2);

/** An IPv4 fragment of a UDP datagram's bytes `data` at `off`. */
function frag4(data: Uint8Array, off: number, len: number, more: boolean, id = 7): Uint8Array {
  const p = new Uint8Array(20 + len);
  writeIpv4Header(p, 0, SRC4, DST4, IPPROTO_UDP, len, 64, id, false);
  p[6] = (more ? 0x20 : 0) | ((off / 8) >>> 8);
  p[7] = (off / 8) & 0xff;
  p[10] = 0;
  p[11] = 0;
  // recompute header checksum
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (p[i]! << 8) | p[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  p[10] = c >>> 8;
  p[11] = c & 0xff;
  p.set(data.subarray(off, off + len), 20);
  return p;
}

function frag6(data: Uint8Array, off: number, len: number, more: boolean, id = 9): Uint8Array {
  const p = new Uint8Array(48 + len);
  writeIpv6Header(p, 0, SRC6, DST6, 44, 8 + len, 64, 0);
  p[40] = IPPROTO_UDP;
  p[42] = off >>> 8;
  p[43] = (off & 0xf8) | (more ? 1 : 0);
  p[44] = id >>> 24;
  p[45] = id >>> 16;
  p[46] = id >>> 8;
  p[47] = id;
  p.set(data.subarray(off, off + len), 48);
  return p;
}

/** A UDP datagram (header + payload) whose checksum is valid for the v4 or v6 addresses. */
function udpBytes(size: number, v6: boolean): Uint8Array {
  const payload = Uint8Array.from({ length: size }, (_, i) => (i * 13) & 0xff);
  const full = new Uint8Array(8 + size);
  full[0] = 0x13;
  full[1] = 0x88;
  full[2] = 0x00;
  full[3] = 0x35;
  full[4] = (8 + size) >>> 8;
  full[5] = (8 + size) & 0xff;
  full.set(payload, 8);
  // checksum 0 = none is only valid on IPv4; compute a real one for both.
  const src = v6 ? SRC6 : SRC4;
  const dst = v6 ? DST6 : DST4;
  let s = 0;
  const add = (b: Uint8Array): void => {
    for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  };
  const a = new Uint8Array(v6 ? 16 : 4);
  src.write(a, 0);
  add(a);
  dst.write(a, 0);
  add(a);
  s += IPPROTO_UDP + full.length;
  add(full);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff || 0xffff;
  full[6] = c >>> 8;
  full[7] = c & 0xff;
  return full;
}

function feed(r: Reassembler, pkt: Uint8Array, now = 0) {
  const info = new IpInfo();
  const res = (pkt[0]! >>> 4 === 4 ? parseIpv4 : parseIpv6)(pkt, pkt.length, info);
  expect(res).toBe('ok');
  return r.add(pkt, info, now);
}

describe('Reassembler', () => {
  for (const v6 of [false, true]) {
    it(`IPv${v6 ? 6 : 4}: any order, with exact duplicates, reassembles the datagram (property)`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 9, max: 6000 }),
          fc.integer({ min: 1, max: 30 }),
          fc.nat(),
          fc.boolean(),
          (size, chunk8, seed, dup) => {
            const data = udpBytes(size, v6);
            const chunk = chunk8 * 8;
            const frags: Uint8Array[] = [];
            for (let off = 0; off < data.length; off += chunk) {
              const len = Math.min(chunk, data.length - off);
              const more = off + len < data.length;
              frags.push(v6 ? frag6(data, off, len, more) : frag4(data, off, len, more));
            }
            // Deterministic shuffle.
            let x = seed | 1;
            for (let i = frags.length - 1; i > 0; i--) {
              x = (x * 1103515245 + 12345) & 0x7fffffff;
              const j = x % (i + 1);
              [frags[i], frags[j]] = [frags[j]!, frags[i]!];
            }
            if (dup && frags.length > 1) frags.splice(1, 0, frags[0]!);
            const r = new Reassembler({
              maxBytes: 1 << 20,
              maxDatagrams: 8,
              maxFragments: 1024,
              timeoutMs: 1000,
            });
            let complete: Uint8Array | undefined;
            for (const f of frags) {
              const res = feed(r, f);
              if (res.kind === 'complete') complete = res.packet;
            }
            expect(complete).toBeDefined();
            const d = decode(complete!);
            expect(d.udp!.payload).toEqual(data.subarray(8));
            expect(r.datagramsInProgress).toBe(0);
            expect(r.bytesHeld).toBe(0);
          },
        ),
        { numRuns: 100 },
      );
    });
  }

  it('drops the whole datagram on an overlap (RFC 5722)', () => {
    const data = udpBytes(100, false);
    const r = new Reassembler();
    expect(feed(r, frag4(data, 0, 48, true)).kind).toBe('pending');
    expect(feed(r, frag4(data, 40, 48, true))).toMatchObject({ kind: 'drop', reason: 'fragmentInvalid' });
    expect(r.datagramsInProgress).toBe(0);
  });

  it('refuses non-final fragments that are not a multiple of 8 bytes, and data past 64 KiB', () => {
    const data = new Uint8Array(70000);
    const r = new Reassembler();
    expect(feed(r, frag4(data, 0, 20, true))).toMatchObject({ kind: 'drop', reason: 'fragmentInvalid' });
    expect(feed(r, frag4(data, 65528, 16, false))).toMatchObject({ kind: 'drop', reason: 'fragmentInvalid' });
  });

  it('holds memory proportional to bytes received, evicts the oldest when full, and expires', () => {
    const r = new Reassembler({ maxBytes: 4000, maxDatagrams: 3, maxFragments: 16, timeoutMs: 100 });
    const data = new Uint8Array(60000);
    // A fragment far into a huge datagram costs only its own bytes.
    expect(feed(r, frag4(data, 56000, 800, true, 1)).kind).toBe('pending');
    expect(r.bytesHeld).toBe(800);
    for (let id = 2; id <= 6; id++) feed(r, frag4(data, 0, 800, true, id), id);
    expect(r.datagramsInProgress).toBeLessThanOrEqual(3);
    expect(r.bytesHeld).toBeLessThanOrEqual(4000);
    expect(r.evicted).toBeGreaterThan(0);
    expect(r.nextDeadline()).toBeLessThan(Infinity);
    expect(r.expire(1000)).toBeGreaterThan(0);
    expect(r.datagramsInProgress).toBe(0);
    expect(r.bytesHeld).toBe(0);
  });

  it('bounds fragments per datagram', () => {
    const r = new Reassembler({ maxBytes: 1 << 20, maxDatagrams: 4, maxFragments: 4, timeoutMs: 100 });
    const data = new Uint8Array(1000);
    for (let i = 0; i < 4; i++) expect(feed(r, frag4(data, i * 16, 8, true)).kind).toBe('pending');
    expect(feed(r, frag4(data, 200, 8, true))).toMatchObject({ kind: 'drop', reason: 'fragmentMemoryLimit' });
  });
});

describe('Reassembler against hostile fragment sets (review-14)', () => {
  for (const v6 of [false, true]) {
    it(`IPv${v6 ? 6 : 4}: a fragment beyond the final length that arrived first drops the datagram instead of throwing`, () => {
      // [0,8) + [100,108) + final [16,24): no overlap, and the byte count equals the total (24) while
      // [8,16) is missing and [100,108) lies past the end. Building this "datagram" used to throw a
      // RangeError out of input().
      const data = new Uint8Array(200);
      const f = v6 ? frag6 : frag4;
      const r = new Reassembler();
      expect(feed(r, f(data, 0, 8, true)).kind).toBe('pending');
      expect(feed(r, f(data, 100, 8, true)).kind).toBe('pending');
      expect(feed(r, f(data, 16, 8, false))).toMatchObject({ kind: 'drop', reason: 'fragmentInvalid' });
      expect(r.datagramsInProgress).toBe(0);
      expect(r.bytesHeld).toBe(0);
    });
  }

  it('random fragment sets of one datagram never throw, and anything completed tiles it exactly (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            off8: fc.integer({ min: 0, max: 40 }),
            len8: fc.integer({ min: 0, max: 6 }),
            more: fc.boolean(),
            tail: fc.integer({ min: 0, max: 7 }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        fc.boolean(),
        (frags, v6) => {
          const data = Uint8Array.from({ length: 512 }, (_, i) => 1 + (i % 251));
          const r = new Reassembler();
          for (const x of frags) {
            const len = x.len8 * 8 + (x.more ? 0 : x.tail);
            const pkt = (v6 ? frag6 : frag4)(data, x.off8 * 8, len, x.more);
            const info = new IpInfo();
            if ((v6 ? parseIpv6 : parseIpv4)(pkt, pkt.length, info) !== 'ok' || !info.isFragment) continue;
            const res = r.add(pkt, info, 0);
            if (res.kind === 'complete') {
              // No hole may survive: the rebuilt payload is exactly the original bytes.
              const hl = v6 ? 40 : 20;
              expect(res.packet.subarray(hl)).toEqual(data.subarray(0, res.packet.length - hl));
            }
          }
          expect(r.bytesHeld).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
