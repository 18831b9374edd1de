import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AEAD_BACKEND, aeadBackends, aeadOpen, aeadSeal } from './aead.js';

const { sodium, native } = aeadBackends();

describe('transport AEAD', () => {
  it('uses the OpenSSL addon when it is built (pnpm install builds it)', () => {
    expect(AEAD_BACKEND).toBe(native ? native.backend() : 'sodium');
    if (process.env.CORRIDOR_AEAD !== 'sodium') expect(AEAD_BACKEND).toMatch(/^openssl-/);
  });

  it.skipIf(native === null)('the raw (ChaCha20_ctr32 + Poly1305) and EVP paths of the addon agree', () => {
    const n = native!;
    const before = n.backend();
    try {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          fc.uint8Array({ maxLength: 3000 }),
          fc.nat(),
          (key, msg, lo) => {
            const out: Buffer[] = [];
            for (const raw of [true, false]) {
              n.setRaw(raw);
              const sealed = Buffer.alloc(msg.length + 16);
              n.seal(key, lo, 3, msg, 0, msg.length, sealed, 0);
              const back = Buffer.alloc(msg.length);
              expect(n.open(key, lo, 3, sealed, 0, sealed.length, back, 0)).toBe(msg.length);
              expect(back.equals(Buffer.from(msg))).toBe(true);
              out.push(sealed);
            }
            expect(out[0]!.equals(out[1]!)).toBe(true);
          },
        ),
        { numRuns: 100 },
      );
    } finally {
      n.setRaw(before === 'openssl-raw');
    }
  });

  it('both backends produce the same ciphertext and open each other, at any offsets', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 2000 }),
        fc.nat({ max: 0xffffffff }),
        fc.nat({ max: 0x1fffff }),
        fc.nat({ max: 40 }),
        fc.nat({ max: 40 }),
        (key, msg, lo, hi, so, dof) => {
          const src = Buffer.alloc(so + msg.length);
          src.set(msg, so);
          const a = Buffer.alloc(dof + msg.length + 16);
          const b = Buffer.alloc(dof + msg.length + 16);
          expect(aeadSeal(key, lo, hi, src, so, msg.length, a, dof)).toBe(msg.length + 16);
          expect(sodium.seal(key, lo, hi, src, so, msg.length, b, dof)).toBe(msg.length + 16);
          expect(a.equals(b)).toBe(true);
          const back = Buffer.alloc(msg.length + 3);
          expect(sodium.open(key, lo, hi, a, dof, msg.length + 16, back, 3)).toBe(msg.length);
          expect(back.subarray(3).equals(Buffer.from(msg))).toBe(true);
          back.fill(0);
          expect(aeadOpen(key, lo, hi, b, dof, msg.length + 16, back, 3)).toBe(msg.length);
          expect(back.subarray(3).equals(Buffer.from(msg))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses a changed byte, tag, counter or key (-1), in place and not', () => {
    const key = Buffer.alloc(32, 9);
    const msg = Buffer.from('corridor transport payload '.repeat(20));
    const sealed = Buffer.alloc(msg.length + 16);
    aeadSeal(key, 7, 0, msg, 0, msg.length, sealed, 0);
    const out = Buffer.alloc(msg.length);
    for (const at of [0, 100, msg.length - 1, msg.length, msg.length + 15]) {
      const bad = Buffer.from(sealed);
      bad[at] = (bad[at] as number) ^ 0x40;
      expect(aeadOpen(key, 7, 0, bad, 0, bad.length, out, 0)).toBe(-1);
    }
    expect(aeadOpen(key, 8, 0, sealed, 0, sealed.length, out, 0)).toBe(-1);
    expect(aeadOpen(key, 7, 1, sealed, 0, sealed.length, out, 0)).toBe(-1);
    expect(aeadOpen(Buffer.alloc(32, 8), 7, 0, sealed, 0, sealed.length, out, 0)).toBe(-1);
    // In place: seal over the plaintext, open over the ciphertext.
    const buf = Buffer.alloc(msg.length + 16);
    msg.copy(buf);
    aeadSeal(key, 7, 0, buf, 0, msg.length, buf, 0);
    expect(buf.equals(sealed)).toBe(true);
    expect(aeadOpen(key, 7, 0, buf, 0, buf.length, buf, 0)).toBe(msg.length);
    expect(buf.subarray(0, msg.length).equals(msg)).toBe(true);
  });

  it.skipIf(native === null)(
    'the addon throws (never reads or writes out of bounds) for ranges outside the arrays',
    () => {
      const n = native!;
      const key = Buffer.alloc(32);
      const src = Buffer.alloc(100);
      const dst = Buffer.alloc(116);
      expect(() => n.seal(key, 0, 0, src, 1, 100, dst, 0)).toThrow(/outside/);
      expect(() => n.seal(key, 0, 0, src, 0, 100, dst, 1)).toThrow(/outside/);
      expect(() => n.open(key, 0, 0, dst, 0, 15, src, 0)).toThrow(/tag/);
      expect(() => n.open(key, 0, 0, dst, 0, 117, src, 0)).toThrow(/outside/);
      expect(() => n.seal(Buffer.alloc(31), 0, 0, src, 0, 10, dst, 0)).toThrow(/32 bytes/);
    },
  );
});
