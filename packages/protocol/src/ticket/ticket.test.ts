import fc from 'fast-check';
import sodium from 'sodium-native';
import { describe, expect, it } from 'vitest';
import {
  formatPublicKey,
  generateEd25519KeyPair,
  generateX25519KeyPair,
  type Ed25519PublicKey,
  type X25519PublicKey,
} from '../keys.js';
import {
  NODE_ID_MAX_LENGTH,
  TICKET_MAX_BYTES,
  TICKET_MIN_BYTES,
  TICKET_SIGNATURE_DOMAIN,
  TICKET_VERSION,
  ticketSize,
} from './format.js';
import {
  decodeTicket,
  parseTicketSigningKeys,
  signTicket,
  verifyTicket,
  type TicketClaims,
  type TicketRejectReason,
  type TicketSigningKey,
  type TicketVerifyOptions,
} from './ticket.js';

const signer1 = { keyId: 1, ...generateEd25519KeyPair() };
const signer2 = { keyId: 0xfffffffe, ...generateEd25519KeyPair() };
/** A key record valid for all of time (the period checks have their own tests). */
const always = (publicKey: Ed25519PublicKey): TicketSigningKey => ({
  publicKey,
  notBeforeMs: 0,
  notAfterMs: Number.POSITIVE_INFINITY,
});
const keys = new Map<number, TicketSigningKey>([
  [signer1.keyId, always(signer1.publicKey)],
  [signer2.keyId, always(signer2.publicKey)],
]);
const client = generateX25519KeyPair();
const T0 = 1_790_000_000; // unix seconds

function claims(overrides: Partial<TicketClaims> = {}): TicketClaims {
  return {
    ticketId: '0b9c6f8e-1a2b-4c3d-8e4f-5a6b7c8d9e0f',
    userId: '11111111-2222-4333-8444-555555555555',
    deviceId: 'aaaaaaaa-bbbb-4ccc-9ddd-eeeeeeeeeeee',
    nodeId: 'fra-1',
    clientPublicKey: client.publicKey,
    issuedAt: T0,
    expiresAt: T0 + 3600,
    limits: { bandwidthBytesPerSec: 12_500_000, dataQuotaBytes: 0 },
    ...overrides,
  };
}

function options(overrides: Partial<TicketVerifyOptions> = {}): TicketVerifyOptions {
  return { keys, nodeId: 'fra-1', clientPublicKey: client.publicKey, nowMs: (T0 + 60) * 1000, ...overrides };
}

const sign = (c: TicketClaims = claims(), s = signer1) =>
  signTicket(c, { keyId: s.keyId, privateKey: s.privateKey });

function expectReason(bytes: Uint8Array, reason: TicketRejectReason, opts = options()) {
  expect(verifyTicket(bytes, opts)).toEqual({ ok: false, reason });
}

// Arbitraries ----------------------------------------------------------------------------------

const nodeIdArb = fc
  .array(fc.stringMatching(/^[a-z0-9]{1,8}$/), { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join('-'))
  .filter((id) => id.length <= NODE_ID_MAX_LENGTH);
const u53 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const claimsArb: fc.Arbitrary<TicketClaims> = fc
  .record({
    ticketId: fc.uuid(),
    userId: fc.uuid(),
    deviceId: fc.uuid(),
    nodeId: nodeIdArb,
    key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    issuedAt: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 1 }),
    lifetime: fc.integer({ min: 1, max: 10 * 365 * 86400 }),
    bandwidthBytesPerSec: u53,
    dataQuotaBytes: u53,
  })
  .map((r) => ({
    ticketId: r.ticketId,
    userId: r.userId,
    deviceId: r.deviceId,
    nodeId: r.nodeId,
    clientPublicKey: Buffer.from(r.key) as X25519PublicKey,
    issuedAt: r.issuedAt,
    expiresAt: Math.min(r.issuedAt + r.lifetime, Number.MAX_SAFE_INTEGER),
    limits: { bandwidthBytesPerSec: r.bandwidthBytesPerSec, dataQuotaBytes: r.dataQuotaBytes },
  }));

function optionsFor(c: TicketClaims): TicketVerifyOptions {
  return { keys, nodeId: c.nodeId, clientPublicKey: c.clientPublicKey, nowMs: c.issuedAt * 1000 };
}

// Tests ----------------------------------------------------------------------------------------

describe('ticket layout', () => {
  it('has the documented size bounds', () => {
    expect(TICKET_MIN_BYTES).toBe(183);
    expect(TICKET_MAX_BYTES).toBe(214);
    expect(sign(claims({ nodeId: 'a' })).length).toBe(TICKET_MIN_BYTES);
    expect(sign(claims({ nodeId: 'n'.repeat(32) })).length).toBe(TICKET_MAX_BYTES);
  });

  it('puts the fields at the documented offsets', () => {
    const c = claims();
    const t = sign(c);
    const n = c.nodeId.length;
    expect(t.length).toBe(ticketSize(n));
    expect(t[0]).toBe(TICKET_VERSION);
    expect(t.readUInt32BE(1)).toBe(signer1.keyId);
    expect(t.toString('hex', 5, 21)).toBe(c.ticketId.replaceAll('-', ''));
    expect(t.toString('hex', 21, 37)).toBe(c.userId.replaceAll('-', ''));
    expect(t.toString('hex', 37, 53)).toBe(c.deviceId.replaceAll('-', ''));
    expect(t[53]).toBe(n);
    expect(t.toString('ascii', 54, 54 + n)).toBe('fra-1');
    expect(t.subarray(54 + n, 86 + n).equals(client.publicKey)).toBe(true);
    expect(t.readBigUInt64BE(86 + n)).toBe(BigInt(c.issuedAt));
    expect(t.readBigUInt64BE(94 + n)).toBe(BigInt(c.expiresAt));
    expect(t.readBigUInt64BE(102 + n)).toBe(12_500_000n);
    expect(t.readBigUInt64BE(110 + n)).toBe(0n);
    // Signature covers the domain prefix (not on the wire) and every byte before it.
    const message = Buffer.concat([Buffer.from(TICKET_SIGNATURE_DOMAIN), t.subarray(0, 118 + n)]);
    expect(sodium.crypto_sign_verify_detached(t.subarray(118 + n), message, signer1.publicKey)).toBe(true);
  });

  it('is rejected when signed without the domain prefix', () => {
    const t = sign();
    const body = t.subarray(0, t.length - 64);
    sodium.crypto_sign_detached(t.subarray(t.length - 64), body, signer1.privateKey);
    expectReason(t, 'badSignature');
  });
});

describe('known-answer vector (pins the v1 wire format)', () => {
  // Ed25519 is deterministic: this exact byte string must never change for version 1.
  const seed = Buffer.alloc(32, 7);
  const publicKey = Buffer.alloc(32);
  const privateKey = Buffer.alloc(64);
  sodium.crypto_sign_seed_keypair(publicKey, privateKey, seed);
  const vectorClaims: TicketClaims = {
    ticketId: '00112233-4455-6677-8899-aabbccddeeff',
    userId: '10000000-0000-4000-8000-000000000001',
    deviceId: '20000000-0000-4000-8000-000000000002',
    nodeId: 'fra-1',
    clientPublicKey: Buffer.alloc(32, 9) as X25519PublicKey,
    issuedAt: 1_800_000_000,
    expiresAt: 1_800_003_600,
    limits: { bandwidthBytesPerSec: 1_000_000, dataQuotaBytes: 2 ** 40 },
  };
  const hex =
    '01' + // version
    '0000002a' + // keyId 42
    '00112233445566778899aabbccddeeff' + // ticketId
    '10000000000040008000000000000001' + // userId
    '20000000000040008000000000000002' + // deviceId
    '05' + // nodeId length
    '6672612d31' + // "fra-1"
    '09'.repeat(32) + // client public key
    '000000006b49d200' + // issuedAt
    '000000006b49e010' + // expiresAt
    '00000000000f4240' + // bandwidth 1e6
    '0000010000000000' + // quota 2^40
    'c9be5dbfc7b1330c39bc77bb542bfbb67fedfed613acdccd4aaa4cddb6757ddc' +
    '7d9bdd04d4d9c40ed6f29b0891321aee829599a7bf4f8ebff853a111e4414d0f'; // signature

  it('signs to the expected bytes', () => {
    expect(publicKey.toString('hex')).toBe(
      'ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c',
    );
    const ticket = signTicket(vectorClaims, { keyId: 42, privateKey: privateKey as never });
    expect(ticket.toString('hex')).toBe(hex);
  });

  it('verifies the expected bytes', () => {
    const result = verifyTicket(Buffer.from(hex, 'hex'), {
      keys: new Map([[42, always(publicKey as Ed25519PublicKey)]]),
      nodeId: 'fra-1',
      clientPublicKey: Buffer.alloc(32, 9) as X25519PublicKey,
      nowMs: 1_800_000_000_000,
    });
    expect(result).toEqual({ ok: true, claims: vectorClaims, keyId: 42 });
  });
});

describe('signTicket / decodeTicket', () => {
  it('round-trips random claims and verifies them', () => {
    fc.assert(
      fc.property(claimsArb, (c) => {
        const t = sign(c);
        const decoded = decodeTicket(t);
        expect(decoded).toEqual({ ok: true, value: { keyId: signer1.keyId, claims: c } });
        expect(verifyTicket(t, optionsFor(c))).toEqual({ ok: true, claims: c, keyId: signer1.keyId });
      }),
      { numRuns: 300 },
    );
  });

  it('normalizes UUIDs to lowercase and does not alias the input buffer', () => {
    const t = sign(claims({ ticketId: '0B9C6F8E-1A2B-4C3D-8E4F-5A6B7C8D9E0F' }));
    const decoded = decodeTicket(t);
    if (!decoded.ok) throw new Error('decode failed');
    expect(decoded.value.claims.ticketId).toBe('0b9c6f8e-1a2b-4c3d-8e4f-5a6b7c8d9e0f');
    t.fill(0);
    expect(decoded.value.claims.clientPublicKey.equals(client.publicKey)).toBe(true);
  });

  it('decodes a ticket inside a larger buffer (Uint8Array view with an offset)', () => {
    const t = sign();
    const big = new Uint8Array(t.length + 10);
    big.set(t, 5);
    const view = big.subarray(5, 5 + t.length);
    expect(decodeTicket(view).ok).toBe(true);
    expect(verifyTicket(view, options()).ok).toBe(true);
  });

  it.each<[string, Partial<TicketClaims>]>([
    ['ticketId', { ticketId: 'nope' }],
    ['userId', { userId: '' }],
    ['deviceId', { deviceId: '0b9c6f8e1a2b4c3d8e4f5a6b7c8d9e0f' }],
    ['nodeId', { nodeId: 'FRA-1' }],
    ['nodeId', { nodeId: 'a'.repeat(33) }],
    ['nodeId', { nodeId: '' }],
    ['nodeId', { nodeId: 'fra_1' }],
    ['clientPublicKey', { clientPublicKey: Buffer.alloc(31) as X25519PublicKey }],
    ['issuedAt', { issuedAt: 1.5 }],
    ['issuedAt', { issuedAt: -1 }],
    ['expiresAt', { expiresAt: 2 ** 53 }],
    ['expiresAt must be after issuedAt', { expiresAt: T0 }],
    ['limits.bandwidthBytesPerSec', { limits: { bandwidthBytesPerSec: -1, dataQuotaBytes: 0 } }],
    ['limits.dataQuotaBytes', { limits: { bandwidthBytesPerSec: 0, dataQuotaBytes: Number.NaN } }],
  ])('signTicket throws a clear TypeError for a bad %s', (field, overrides) => {
    expect(() => sign(claims(overrides))).toThrow(new RegExp(`signTicket: ${field.replace('.', '\\.')}`));
  });

  it('signTicket rejects a bad signer', () => {
    expect(() => signTicket(claims(), { keyId: -1, privateKey: signer1.privateKey })).toThrow(
      /keyId must be a u32/,
    );
    expect(() => signTicket(claims(), { keyId: 2 ** 32, privateKey: signer1.privateKey })).toThrow(/u32/);
    expect(() => signTicket(claims(), { keyId: 1, privateKey: signer1.publicKey as never })).toThrow(
      /privateKey/,
    );
  });

  it('reports typed decode errors', () => {
    const t = sign();
    const n = 5;
    const mutate = (f: (b: Buffer) => void) => {
      const copy = Buffer.from(t);
      f(copy);
      return copy;
    };
    expect(decodeTicket('not bytes' as never)).toEqual({ ok: false, error: 'notBytes' });
    expect(decodeTicket(new Uint8Array(0))).toEqual({ ok: false, error: 'tooShort' });
    expect(decodeTicket(new Uint8Array(TICKET_MAX_BYTES + 1))).toEqual({ ok: false, error: 'tooLong' });
    expect(decodeTicket(mutate((b) => (b[0] = 2)))).toEqual({ ok: false, error: 'unsupportedVersion' });
    expect(decodeTicket(mutate((b) => (b[53] = 0)))).toEqual({ ok: false, error: 'badNodeId' });
    expect(decodeTicket(mutate((b) => (b[53] = 33)))).toEqual({ ok: false, error: 'badNodeId' });
    expect(decodeTicket(mutate((b) => (b[53] = 6)))).toEqual({ ok: false, error: 'badLength' });
    expect(decodeTicket(Buffer.concat([t, Buffer.alloc(1)]))).toEqual({ ok: false, error: 'badLength' });
    expect(decodeTicket(mutate((b) => (b[54] = 0x41)))).toEqual({ ok: false, error: 'badNodeId' });
    expect(decodeTicket(mutate((b) => (b[54] = 0x2d)))).toEqual({ ok: false, error: 'badNodeId' });
    expect(decodeTicket(mutate((b) => (b[86 + n] = 0x00_20)))).toEqual({
      ok: false,
      error: 'valueOutOfRange',
    });
    expect(decodeTicket(mutate((b) => b.writeBigUInt64BE(BigInt(T0), 94 + n)))).toEqual({
      ok: false,
      error: 'badTimes',
    });
  });
});

describe('verifyTicket', () => {
  it('accepts a valid ticket', () => {
    const result = verifyTicket(sign(), options());
    expect(result).toEqual({ ok: true, claims: claims(), keyId: signer1.keyId });
  });

  it('reaches every rejection reason', () => {
    const t = sign();
    expectReason(t.subarray(0, t.length - 1), 'malformed');
    expectReason(t, 'unknownKey', options({ keys: new Map() }));
    expectReason(t, 'unknownKey', options({ keys: () => undefined }));
    expectReason(t, 'unknownKey', options({ keys: () => always(Buffer.alloc(31) as Ed25519PublicKey) }));
    const forged = Buffer.from(t);
    forged[forged.length - 1]! ^= 1;
    expectReason(forged, 'badSignature');
    expectReason(t, 'notYetValid', options({ nowMs: (T0 - 31) * 1000 }));
    expectReason(t, 'expired', options({ nowMs: (T0 + 3600 + 30) * 1000 }));
    expectReason(t, 'wrongNode', options({ nodeId: 'fra-2' }));
    expectReason(t, 'wrongClientKey', options({ clientPublicKey: generateX25519KeyPair().publicKey }));
    expectReason(t, 'revoked', options({ isRevoked: (c) => c.ticketId === claims().ticketId }));
    expect(verifyTicket(t, options({ isRevoked: () => false })).ok).toBe(true);
  });

  it('checks in the documented order', () => {
    const t = sign();
    const everythingWrong = options({
      nodeId: 'other',
      clientPublicKey: generateX25519KeyPair().publicKey,
      nowMs: 0,
      isRevoked: () => true,
    });
    const forged = Buffer.from(t);
    forged[forged.length - 1]! ^= 1;
    expectReason(forged, 'badSignature', everythingWrong);
    expectReason(t, 'notYetValid', everythingWrong);
    expectReason(t, 'wrongNode', { ...everythingWrong, nowMs: (T0 + 1) * 1000 });
    expectReason(t, 'wrongClientKey', { ...everythingWrong, nowMs: (T0 + 1) * 1000, nodeId: 'fra-1' });
    let revokedCalls = 0;
    verifyTicket(forged, options({ isRevoked: () => (revokedCalls++, true) }));
    expect(revokedCalls).toBe(0);
  });

  it('applies the clock skew on both ends of the window', () => {
    const t = sign();
    const at = (s: number, skew?: number) =>
      verifyTicket(t, options({ nowMs: s * 1000, clockSkewSeconds: skew }));
    expect(at(T0 - 30).ok).toBe(true);
    expect(at(T0 - 30.001)).toEqual({ ok: false, reason: 'notYetValid' });
    expect(at(T0 + 3600 + 29.999).ok).toBe(true);
    expect(at(T0 + 3600 + 30)).toEqual({ ok: false, reason: 'expired' });
    expect(at(T0 - 1, 0)).toEqual({ ok: false, reason: 'notYetValid' });
    expect(at(T0, 0).ok).toBe(true);
    expect(at(T0 + 3600, 0)).toEqual({ ok: false, reason: 'expired' });
    expect(at(T0 - 100, 120).ok).toBe(true);
    expect(at(T0 - 1, Number.NaN)).toEqual({ ok: false, reason: 'notYetValid' });
    expect(at(T0 - 1, -5)).toEqual({ ok: false, reason: 'notYetValid' });
  });

  it('fails closed on a non-finite clock', () => {
    // The signing key's period is checked first, and fails closed the same way.
    expectReason(sign(), 'keyNotYetValid', options({ nowMs: Number.NaN }));
    expectReason(sign(), 'keyExpired', options({ nowMs: Number.POSITIVE_INFINITY }));
    expectReason(sign(), 'expired', options({ nowMs: Number.MAX_VALUE }));
  });

  it('supports key rotation: the key id selects the key', () => {
    const t1 = sign(claims(), signer1);
    const t2 = sign(claims(), signer2);
    expect(verifyTicket(t1, options())).toMatchObject({ ok: true, keyId: signer1.keyId });
    expect(verifyTicket(t2, options())).toMatchObject({ ok: true, keyId: signer2.keyId });
    // Old key retired: only the new one is trusted.
    const onlyNew = new Map([[signer2.keyId, always(signer2.publicKey)]]);
    expectReason(t1, 'unknownKey', options({ keys: onlyNew }));
    expect(verifyTicket(t2, options({ keys: onlyNew })).ok).toBe(true);
    // A key id mapped to a different key fails the signature.
    expectReason(
      t1,
      'badSignature',
      options({ keys: new Map([[signer1.keyId, always(signer2.publicKey)]]) }),
    );
    // Lookup by function receives the ticket's key id.
    const seen: number[] = [];
    verifyTicket(t2, options({ keys: (id) => (seen.push(id), keys.get(id)) }));
    expect(seen).toEqual([signer2.keyId]);
  });
});

describe('signing key validity (rotation)', () => {
  const HOUR = 3_600_000;
  const now = (T0 + 60) * 1000;
  const record = (notBeforeMs: number, notAfterMs: number) =>
    new Map([[signer1.keyId, { publicKey: signer1.publicKey, notBeforeMs, notAfterMs }]]);

  it('a rotated-out key stops verifying, a not-yet-valid key does not verify yet', () => {
    const t = sign();
    expect(verifyTicket(t, options({ keys: record(now - HOUR, now + HOUR) })).ok).toBe(true);
    expectReason(t, 'keyExpired', options({ keys: record(now - 2 * HOUR, now - HOUR) }));
    expectReason(t, 'keyNotYetValid', options({ keys: record(now + HOUR, now + 2 * HOUR) }));
    // The clock skew applies to the key's period as to the ticket's.
    expect(verifyTicket(t, options({ keys: record(now - HOUR, now - 29_000) })).ok).toBe(true);
    expectReason(t, 'keyExpired', options({ keys: record(now - HOUR, now - 30_000) }));
    expect(verifyTicket(t, options({ keys: record(now + 30_000, now + HOUR) })).ok).toBe(true);
    expectReason(t, 'keyNotYetValid', options({ keys: record(now + 30_001, now + HOUR) }));
    // Broken records fail closed.
    expectReason(t, 'keyExpired', options({ keys: record(now - HOUR, Number.NaN) }));
    expectReason(t, 'keyNotYetValid', options({ keys: record(Number.NaN, now + HOUR) }));
  });

  it('builds the key records from the control-plane signing key list', () => {
    const list = [
      {
        keyId: signer1.keyId,
        publicKey: formatPublicKey('ed25519pub', signer1.publicKey),
        notBefore: new Date(now - HOUR).toISOString(),
        notAfter: new Date(now - HOUR / 2).toISOString(),
      },
      {
        keyId: signer2.keyId,
        publicKey: formatPublicKey('ed25519pub', signer2.publicKey),
        notBefore: new Date(now - HOUR).toISOString(),
        notAfter: new Date(now + HOUR).toISOString(),
      },
    ];
    const parsed = parseTicketSigningKeys(list);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(parsed.value.get(signer2.keyId)).toEqual({
      publicKey: signer2.publicKey,
      notBeforeMs: now - HOUR,
      notAfterMs: now + HOUR,
    });
    expectReason(sign(claims(), signer1), 'keyExpired', options({ keys: parsed.value }));
    expect(verifyTicket(sign(claims(), signer2), options({ keys: parsed.value })).ok).toBe(true);
    for (const bad of [
      { publicKey: 'ed25519pub:nope' },
      { publicKey: formatPublicKey('x25519pub', client.publicKey) },
      { notBefore: 'yesterday' },
      { notAfter: '' },
      { keyId: -1 },
      { keyId: 2 ** 32 },
    ]) {
      const r = parseTicketSigningKeys([{ ...list[1]!, ...bad }]);
      expect(r.ok, JSON.stringify(bad)).toBe(false);
    }
    const dup = parseTicketSigningKeys([list[1]!, list[1]!]);
    expect(dup.ok).toBe(false);
  });
});

describe('hostile input', () => {
  const valid = sign(claims({ nodeId: 'node-7' }));
  const opts = options({ nodeId: 'node-7' });

  it('random bytes never throw and never verify', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (bytes) => {
        expect(verifyTicket(bytes, opts).ok).toBe(false);
        decodeTicket(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('random bytes with a plausible header never throw and never verify', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 32 }),
        fc.uint8Array({ minLength: 300, maxLength: 300 }),
        (n, noise) => {
          const bytes = Buffer.from(noise.subarray(0, ticketSize(n)));
          bytes[0] = TICKET_VERSION;
          bytes.writeUInt32BE(signer1.keyId, 1);
          bytes[53] = n;
          bytes.fill('a', 54, 54 + n);
          expect(verifyTicket(bytes, options({ nodeId: 'a'.repeat(n) })).ok).toBe(false);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('single and multiple bit flips of a valid ticket never verify', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 7 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (flips) => {
          const bytes = Buffer.from(valid);
          for (const [i, bit] of flips) bytes[i]! ^= 1 << bit;
          fc.pre(!bytes.equals(valid)); // an even number of flips of one bit cancels out
          expect(verifyTicket(bytes, opts).ok).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('truncations and extensions never verify', () => {
    fc.assert(
      fc.property(fc.nat(valid.length - 1), fc.uint8Array({ minLength: 1, maxLength: 64 }), (cut, extra) => {
        expect(verifyTicket(valid.subarray(0, cut), opts)).toEqual({ ok: false, reason: 'malformed' });
        expect(verifyTicket(Buffer.concat([valid, extra]), opts)).toEqual({ ok: false, reason: 'malformed' });
      }),
    );
  });

  it('a ticket for one node is never accepted by another', () => {
    fc.assert(
      fc.property(claimsArb, nodeIdArb, (c, other) => {
        fc.pre(other !== c.nodeId);
        expect(verifyTicket(sign(c), { ...optionsFor(c), nodeId: other })).toEqual({
          ok: false,
          reason: 'wrongNode',
        });
      }),
      { numRuns: 100 },
    );
  });
});
