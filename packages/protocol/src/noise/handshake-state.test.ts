import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateX25519KeyPair } from '../keys.js';
import { HandshakeState } from './handshake-state.js';

function ikPair() {
  const i = generateX25519KeyPair();
  const r = generateX25519KeyPair();
  return {
    r,
    initiator: new HandshakeState({
      pattern: 'IK',
      initiator: true,
      prologue: Buffer.from('p'),
      staticPrivateKey: i.privateKey,
      remoteStaticPublicKey: r.publicKey,
    }),
    responder: new HandshakeState({
      pattern: 'IK',
      initiator: false,
      prologue: Buffer.from('p'),
      staticPrivateKey: r.privateKey,
    }),
    i,
  };
}

describe('HandshakeState (IK)', () => {
  it('round-trips random payloads and agrees on keys and hash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 600 }), (p1, p2) => {
        const { initiator, responder, i } = ikPair();
        const m1 = initiator.writeMessage(p1);
        expect(m1.ok).toBe(true);
        if (!m1.ok) return;
        const r1 = responder.readMessage(m1.value);
        expect(r1.ok && r1.value.equals(Buffer.from(p1))).toBe(true);
        expect(responder.remoteStaticPublicKey()?.equals(i.publicKey)).toBe(true);
        const m2 = responder.writeMessage(p2);
        if (!m2.ok) throw new Error('write failed');
        const r2 = initiator.readMessage(m2.value);
        expect(r2.ok && r2.value.equals(Buffer.from(p2))).toBe(true);
        expect(initiator.handshakeHash().equals(responder.handshakeHash())).toBe(true);
        const a = initiator.splitKeys();
        const b = responder.splitKeys();
        expect(
          a.ok && b.ok && a.value.send.equals(b.value.receive) && a.value.receive.equals(b.value.send),
        ).toBe(true);
      }),
      { numRuns: 30 },
    );
  });

  it('rejects any single-bit flip of message 1', () => {
    const { initiator, r } = ikPair();
    const m1 = initiator.writeMessage(Buffer.from('payload'));
    if (!m1.ok) throw new Error('write failed');
    for (let bit = 0; bit < m1.value.length * 8; bit++) {
      const m = Buffer.from(m1.value);
      m[bit >> 3] = m[bit >> 3]! ^ (1 << (bit & 7));
      const responder = new HandshakeState({
        pattern: 'IK',
        initiator: false,
        prologue: Buffer.from('p'),
        staticPrivateKey: r.privateKey,
      });
      expect(responder.readMessage(m).ok).toBe(false);
    }
  });

  it('enforces turns and never throws on random input', () => {
    const { initiator, responder } = ikPair();
    expect(responder.writeMessage(Buffer.alloc(0))).toEqual({ ok: false, error: 'wrongTurn' });
    expect(initiator.readMessage(Buffer.alloc(100))).toEqual({ ok: false, error: 'wrongTurn' });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const { responder: fresh } = ikPair();
        const r = fresh.readMessage(bytes);
        expect(r.ok).toBe(false);
      }),
      { numRuns: 100 },
    );
  });

  it('a clone reads independently of the original', () => {
    const { initiator, responder } = ikPair();
    const m1 = initiator.writeMessage(Buffer.alloc(0));
    if (!m1.ok) throw new Error('write failed');
    expect(responder.readMessage(m1.value).ok).toBe(true);
    const m2 = responder.writeMessage(Buffer.from('x'));
    if (!m2.ok) throw new Error('write failed');
    const clone = initiator.clone();
    const bad = Buffer.from(m2.value);
    bad[40] = bad[40]! ^ 1;
    expect(clone.readMessage(bad).ok).toBe(false);
    expect(initiator.readMessage(m2.value).ok).toBe(true);
  });
});
