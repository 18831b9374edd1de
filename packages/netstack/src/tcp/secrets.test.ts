// SipHash, RFC 6528 ISNs and SYN cookies.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIp } from '../wire/address.js';
import { generateIsn } from './isn.js';
import { SipKey, sipHashBytes, sipHashWords32 } from './siphash.js';
import {
  checkSynCookie,
  cookieOptionsFromTsEcr,
  cookieTsVal,
  createSynCookie,
  MSS_TABLE,
  SYN_COOKIE_PERIOD_MS,
} from './syn-cookie.js';

const key = new SipKey(Uint8Array.from({ length: 16 }, (_, i) => i));
const hex = (o: Uint32Array): string =>
  o[0]!.toString(16).padStart(8, '0') + o[1]!.toString(16).padStart(8, '0');

describe('SipHash-2-4', () => {
  it('matches the reference vectors of the SipHash paper', () => {
    // Appendix A: key 00..0f, message 00..0e -> a129ca6149be45e5; empty message -> 726fdb47dd0e0e31.
    expect(
      hex(
        sipHashBytes(
          key,
          Uint8Array.from({ length: 15 }, (_, i) => i),
        ),
      ),
    ).toBe('a129ca6149be45e5');
    expect(hex(sipHashBytes(key, new Uint8Array(0)))).toBe('726fdb47dd0e0e31');
    // Reference vector 8 (message 00..07, one full block): 0x93f5f5799a932462, little-endian bytes
    // 62 24 93 9a 79 f5 f5 93.
    expect(
      hex(
        sipHashBytes(
          key,
          Uint8Array.from({ length: 8 }, (_, i) => i),
        ),
      ),
    ).toBe('93f5f5799a932462');
  });

  it('the word form equals the byte form on the same little-endian bytes (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 12 }), (ws) => {
        const words = Uint32Array.from(ws);
        const bytes = new Uint8Array(words.buffer.slice(0));
        expect(sipHashWords32(key, words, words.length)).toBe(sipHashBytes(key, bytes)[1]);
      }),
    );
  });
});

const A = parseIp('10.8.0.12')!;
const B = parseIp('198.51.100.7')!;

describe('ISN (RFC 6528)', () => {
  it('differs per 4-tuple and per key, and grows with the 4 µs clock for one tuple', () => {
    const k2 = new SipKey(new Uint8Array(16).fill(9));
    const i1 = generateIsn(key, A, 40000, B, 443, 1000);
    expect(generateIsn(key, A, 40001, B, 443, 1000)).not.toBe(i1);
    expect(generateIsn(k2, A, 40000, B, 443, 1000)).not.toBe(i1);
    const later = generateIsn(key, A, 40000, B, 443, 2000);
    expect((later - i1) >>> 0).toBe(250_000); // 1000 ms of 4 µs ticks
  });
});

describe('SYN cookies', () => {
  it('validate for the same tuple within two periods and encode the MSS (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 100, max: 65535 }),
        fc.integer({ min: 0, max: 1e9 }),
        (isn, mss, now) => {
          const c = createSynCookie(key, A, 80, B, 5555, isn, mss, now);
          const got = checkSynCookie(key, A, 80, B, 5555, isn, c, now + SYN_COOKIE_PERIOD_MS - 1);
          const expected = [...MSS_TABLE].filter((m) => m <= mss).pop() ?? MSS_TABLE[0];
          expect(got).toBe(expected);
          expect(checkSynCookie(key, A, 81, B, 5555, isn, c, now)).toBe(0);
          expect(checkSynCookie(key, A, 80, B, 5555, (isn + 1) >>> 0, c, now)).toBe(0);
          expect(checkSynCookie(key, A, 80, B, 5555, isn, (c ^ 1) >>> 0, now)).toBe(0);
          expect(checkSynCookie(key, A, 80, B, 5555, isn, c, now + 3 * SYN_COOKIE_PERIOD_MS)).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('carry window scale and SACK-permitted in the timestamp', () => {
    for (const [ws, sack] of [
      [7, true],
      [0, false],
      [-1, true],
      [14, false],
    ] as const) {
      const ts = cookieTsVal(123456789, ws, sack);
      expect(cookieOptionsFromTsEcr(ts)).toEqual({ wscale: ws, sackPermitted: sack });
    }
  });
});
