import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aeadOpen, aeadSeal, hash, hkdf, hmac, writeNonce, x25519, x25519Base } from './primitives.js';

describe('BLAKE2b primitives', () => {
  it('hash is BLAKE2b-512 of the concatenated parts', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 4 }), (parts) => {
        const expected = createHash('blake2b512').update(Buffer.concat(parts)).digest();
        expect(hash(...parts).equals(expected)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('hmac is RFC 2104 HMAC-BLAKE2b (matches OpenSSL), including keys longer than a block', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 300 }), (key, data) => {
        const expected = createHmac('blake2b512', key).update(data).digest();
        expect(hmac(key, data).equals(expected)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('hkdf follows the Noise definition', () => {
    const ck = Buffer.alloc(64, 7);
    const ikm = Buffer.from('input key material');
    const temp = createHmac('blake2b512', ck).update(ikm).digest();
    const o1 = createHmac('blake2b512', temp)
      .update(Buffer.from([1]))
      .digest();
    const o2 = createHmac('blake2b512', temp)
      .update(Buffer.concat([o1, Buffer.from([2])]))
      .digest();
    const o3 = createHmac('blake2b512', temp)
      .update(Buffer.concat([o2, Buffer.from([3])]))
      .digest();
    const [a, b, c] = hkdf(ck, ikm, 3);
    expect([a.equals(o1), b.equals(o2), c.equals(o3)]).toEqual([true, true, true]);
  });
});

describe('X25519 and ChaChaPoly', () => {
  it('refuses low-order points instead of producing an all-zero secret', () => {
    const out = Buffer.alloc(32);
    expect(x25519(out, Buffer.alloc(32, 9), Buffer.alloc(32))).toBe(false);
    expect(x25519(out, Buffer.alloc(32, 9), Buffer.alloc(31))).toBe(false);
    const pub = Buffer.alloc(32);
    x25519Base(pub, Buffer.alloc(32, 5));
    expect(x25519(out, Buffer.alloc(32, 9), pub)).toBe(true);
  });

  it('writes the Noise nonce layout: 4 zero bytes then the counter little-endian', () => {
    const n = Buffer.alloc(12, 0xff);
    writeNonce(n, 2 ** 40 + 0x0102);
    expect(n.toString('hex')).toBe('00000000' + '0201000000010000');
  });

  it('seal/open round-trips in place and fails on tampering', () => {
    const key = Buffer.alloc(32, 1);
    const nonce = Buffer.alloc(12);
    const buf = Buffer.alloc(64 + 16);
    buf.fill(3, 0, 64);
    aeadSeal(buf, key, nonce, null, buf.subarray(0, 64));
    const copy = Buffer.from(buf);
    expect(aeadOpen(copy.subarray(0, 64), key, nonce, null, copy)).toBe(true);
    expect(copy.subarray(0, 64).equals(Buffer.alloc(64, 3))).toBe(true);
    buf[5] = buf[5]! ^ 1;
    expect(aeadOpen(Buffer.alloc(64), key, nonce, null, buf)).toBe(false);
  });
});
