import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  constantTimeEqual,
  formatPublicKey,
  generateEd25519KeyPair,
  generateX25519KeyPair,
  parseEd25519PublicKey,
  parseX25519PublicKey,
  wipe,
  x25519PrivateKeyFromBytes,
  x25519PublicFromPrivate,
  type X25519PublicKey,
} from './keys.js';

describe('key text forms', () => {
  it('round-trips public keys and refuses the other kind', () => {
    const x = generateX25519KeyPair();
    const e = generateEd25519KeyPair();
    const xt = formatPublicKey('x25519pub', x.publicKey);
    const et = formatPublicKey('ed25519pub', e.publicKey);
    const px = parseX25519PublicKey(xt);
    const pe = parseEd25519PublicKey(et);
    expect(px.ok && px.value.equals(x.publicKey)).toBe(true);
    expect(pe.ok && pe.value.equals(e.publicKey)).toBe(true);
    expect(parseX25519PublicKey(et).ok).toBe(false);
    expect(parseEd25519PublicKey(xt).ok).toBe(false);
  });

  it('parsers never throw on arbitrary or mutated text and accept only 32-byte keys', () => {
    const base = formatPublicKey('x25519pub', generateX25519KeyPair().publicKey);
    const mutated = fc
      .tuple(fc.nat(), fc.string({ minLength: 0, maxLength: 3 }), fc.nat(60))
      .map(([i, ins, cut]) =>
        (base.slice(0, i % base.length) + ins + base.slice(i % base.length)).slice(0, cut + 10),
      );
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), mutated, fc.anything()), (text) => {
        const rx = parseX25519PublicKey(text as string);
        const re = parseEd25519PublicKey(text as string);
        if (rx.ok) expect(rx.value.length).toBe(32);
        if (re.ok) expect(re.value.length).toBe(32);
      }),
      { numRuns: 500 },
    );
  });
});

describe('secrets', () => {
  it('compares in constant time with length and emptiness checks', () => {
    const a = Buffer.alloc(32, 7);
    expect(constantTimeEqual(a, Buffer.alloc(32, 7))).toBe(true);
    expect(constantTimeEqual(a, Buffer.alloc(31, 7))).toBe(false);
    expect(constantTimeEqual(Buffer.alloc(0), Buffer.alloc(0))).toBe(false);
    const b = Buffer.from(a);
    b[31] = b[31]! ^ 1;
    expect(constantTimeEqual(a, b)).toBe(false);
  });

  it('never renders private keys and wipes them in place', () => {
    const kp = generateX25519KeyPair();
    expect(JSON.stringify({ k: kp.privateKey })).toBe('{"k":"[secret]"}');
    expect(inspect(kp.privateKey)).toBe('<secret key>');
    const copy = x25519PrivateKeyFromBytes(kp.privateKey);
    expect(copy.ok && x25519PublicFromPrivate(copy.value).equals(kp.publicKey as X25519PublicKey)).toBe(true);
    expect(x25519PrivateKeyFromBytes(Buffer.alloc(31)).ok).toBe(false);
    wipe(kp.privateKey);
    expect(kp.privateKey.equals(Buffer.alloc(32))).toBe(true);
  });
});
