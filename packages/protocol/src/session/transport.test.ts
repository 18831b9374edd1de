import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Keypair } from './keypair.js';
import {
  openData,
  sealData,
  TRANSPORT_BUFFER_TOO_SMALL,
  TRANSPORT_DECRYPT_FAILED,
  TRANSPORT_EXPIRED,
  TRANSPORT_REPLAY,
} from './transport.js';

function pair(limit?: number): [Keypair, Keypair] {
  const k1 = Buffer.alloc(32, 1);
  const k2 = Buffer.alloc(32, 2);
  const base = { createdAt: 0, rejectAfterMessages: limit };
  return [
    new Keypair({ ...base, sendKey: k1, receiveKey: k2, localIndex: 10, remoteIndex: 20, isInitiator: true }),
    new Keypair({
      ...base,
      sendKey: k2,
      receiveKey: k1,
      localIndex: 20,
      remoteIndex: 10,
      isInitiator: false,
    }),
  ];
}

describe('data messages', () => {
  it('seal/open round-trips with the documented header layout', () => {
    const [a, b] = pair();
    a.sendCounter = 2 ** 40 + 3;
    const out = Buffer.alloc(100);
    const n = sealData(a, Buffer.from('hello'), out);
    expect(n).toBe(16 + 5 + 16);
    expect(out[0]).toBe(4);
    expect(out[1]! | out[2]! | out[3]!).not.toBe(0); // salt: random, never all zero
    expect(out.subarray(4, 16).toString('hex')).toBe('14000000' + '0300000000010000');
    const plain = Buffer.alloc(5);
    expect(openData(b, out.subarray(0, n), plain)).toBe(5);
    expect(plain.toString()).toBe('hello');
    expect(openData(b, out.subarray(0, n), plain)).toBe(TRANSPORT_REPLAY);
  });

  it('never throws on random bytes and authenticates before touching the replay window', () => {
    const [, b] = pair();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const r = openData(b, bytes, Buffer.alloc(256));
        expect(r < 0).toBe(true);
      }),
      { numRuns: 500 },
    );
    // Forged packets with high counters did not move the window: counter 0 is still fresh.
    const [a2, b2] = pair();
    const out = Buffer.alloc(64);
    const n = sealData(a2, Buffer.from('x'), out);
    const forged = Buffer.from(out.subarray(0, n));
    forged.writeUInt32LE(1_000_000, 8);
    expect(openData(b2, forged, Buffer.alloc(8))).toBe(TRANSPORT_DECRYPT_FAILED);
    expect(openData(b2, out.subarray(0, n), Buffer.alloc(8))).toBe(1);
  });

  it('enforces buffer sizes and the message-count limit', () => {
    const [a, b] = pair(3);
    expect(sealData(a, Buffer.alloc(10), Buffer.alloc(41))).toBe(TRANSPORT_BUFFER_TOO_SMALL);
    const msgs = [0, 1, 2].map(() => {
      const o = Buffer.alloc(33);
      expect(sealData(a, Buffer.from('z'), o)).toBe(33);
      return o;
    });
    expect(sealData(a, Buffer.from('z'), Buffer.alloc(33))).toBe(TRANSPORT_EXPIRED);
    for (const m of msgs) expect(openData(b, m, Buffer.alloc(1))).toBe(1);
    const late = Buffer.from(msgs[0]!);
    late.writeUInt32LE(3, 8);
    expect(openData(b, late, Buffer.alloc(1))).toBe(TRANSPORT_EXPIRED);
    a.wipe();
    expect(sealData(a, Buffer.from('z'), Buffer.alloc(33))).toBe(TRANSPORT_EXPIRED);
    expect(a.sendKey.equals(Buffer.alloc(32))).toBe(true);
  });
});
