import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './ip.js';
import {
  decodeInitiationPayload,
  decodeTunnelParams,
  encodeInitiationPayload,
  encodeTunnelParams,
  type TunnelParams,
} from './payload.js';
import { MAX_DNS_SERVERS, MAX_PACKET_BYTES, MAX_TICKET_BYTES } from './wire.js';

const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => formatIPv4(b));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIPv6(b));
const u53 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

const params: fc.Arbitrary<TunnelParams> = fc.record({
  clientIPv4: ipv4,
  clientIPv4Prefix: fc.integer({ min: 0, max: 32 }),
  gatewayIPv4: ipv4,
  clientIPv6: fc.option(ipv6, { nil: null }),
  clientIPv6Prefix: fc.integer({ min: 0, max: 128 }),
  mtu: fc.integer({ min: 576, max: MAX_PACKET_BYTES }),
  dnsServers: fc.array(fc.oneof(ipv4, ipv6), { maxLength: MAX_DNS_SERVERS }),
  keepaliveSeconds: fc.integer({ min: 1, max: 65535 }),
  bandwidthBytesPerSecond: u53,
  dataQuotaBytes: u53,
});

describe('IP text', () => {
  it('round-trips IPv4 and IPv6 (canonical RFC 5952 text)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        expect(parseIPv6(formatIPv6(b))).toEqual(new Uint8Array(b));
        expect(parseIPv4(formatIPv4(b))).toEqual(new Uint8Array(b.subarray(0, 4)));
      }),
    );
    expect(formatIPv6(parseIPv6('2001:db8:0:0:1:0:0:1')!)).toBe('2001:db8::1:0:0:1');
    expect(formatIPv6(parseIPv6('::')!)).toBe('::');
    for (const bad of [
      '1.2.3',
      '256.1.1.1',
      '01.2.3.4',
      '1:2:3',
      ':::',
      '1::2::3',
      'g::1',
      '1:2:3:4:5:6:7:8:9',
    ]) {
      expect(parseIPv4(bad) ?? parseIPv6(bad)).toBeNull();
    }
  });
});

describe('initiation payload', () => {
  it('round-trips and rejects oversize tickets', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: MAX_TICKET_BYTES }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.boolean(),
        fc.integer({ min: 0, max: MAX_PACKET_BYTES }),
        (ticket, ts, v6, mtu) => {
          const p = {
            ticket: Buffer.from(ticket),
            timestamp: Buffer.from(ts),
            options: { requestIPv6: v6, requestedMtu: mtu },
          };
          const enc = encodeInitiationPayload(p);
          expect(enc.ok).toBe(true);
          if (!enc.ok) return;
          expect(decodeInitiationPayload(enc.value)).toEqual({ ok: true, value: p });
        },
      ),
      { numRuns: 100 },
    );
    const big = {
      ticket: Buffer.alloc(MAX_TICKET_BYTES + 1),
      timestamp: Buffer.alloc(12),
      options: { requestIPv6: false, requestedMtu: 0 },
    };
    expect(encodeInitiationPayload(big)).toEqual({ ok: false, error: 'ticketTooLarge' });
  });

  it('decoders never throw on random bytes and never trust the length field', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (b) => {
        const r = decodeInitiationPayload(b);
        if (r.ok) {
          expect(r.value.ticket.length).toBeLessThanOrEqual(MAX_TICKET_BYTES);
          expect(b.length).toBe(18 + r.value.ticket.length);
        }
        decodeTunnelParams(b);
      }),
      { numRuns: 1000 },
    );
    const claimsHuge = Buffer.alloc(18);
    claimsHuge[0] = 1;
    claimsHuge.writeUInt16LE(65535, 16);
    expect(decodeInitiationPayload(claimsHuge)).toEqual({ ok: false, error: 'ticketTooLarge' });
  });
});

function exampleParams(): TunnelParams {
  return {
    clientIPv4: '10.8.0.2',
    clientIPv4Prefix: 24,
    gatewayIPv4: '10.8.0.1',
    clientIPv6: null,
    clientIPv6Prefix: 0,
    mtu: 1420,
    dnsServers: ['1.1.1.1'],
    keepaliveSeconds: 25,
    bandwidthBytesPerSecond: 0,
    dataQuotaBytes: 0,
  };
}

describe('tunnel parameters (response payload)', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(params, (p) => {
        const enc = encodeTunnelParams(p);
        expect(enc.ok).toBe(true);
        if (!enc.ok) return;
        const expected = { ...p, clientIPv6Prefix: p.clientIPv6 === null ? 0 : p.clientIPv6Prefix };
        expect(decodeTunnelParams(enc.value)).toEqual({ ok: true, value: expected });
      }),
      { numRuns: 200 },
    );
  });

  it('a node-assigned keepalive is never 0 (off): encoder and decoder refuse it', () => {
    const good = exampleParams();
    expect(good.keepaliveSeconds).toBeGreaterThan(0);
    expect(encodeTunnelParams({ ...good, keepaliveSeconds: 0 })).toEqual({ ok: false, error: 'badPayload' });
    const enc = encodeTunnelParams(good);
    if (!enc.ok) throw new Error('encode failed');
    const zero = Buffer.from(enc.value);
    zero.writeUInt16LE(0, 30);
    expect(decodeTunnelParams(zero)).toEqual({ ok: false, error: 'badPayload' });
    zero.writeUInt16LE(1, 30);
    expect(decodeTunnelParams(zero).ok).toBe(true);
  });

  it('caps the MTU at the largest inner packet the data path carries (MAX_PACKET_BYTES)', () => {
    expect(MAX_PACKET_BYTES).toBe(65_475);
    const good = exampleParams();
    const enc = (mtu: number) => encodeTunnelParams({ ...good, mtu });
    expect(enc(MAX_PACKET_BYTES).ok).toBe(true);
    for (const mtu of [MAX_PACKET_BYTES + 1, 65_535]) {
      expect(enc(mtu)).toEqual({ ok: false, error: 'badPayload' });
    }
    const bytes = enc(MAX_PACKET_BYTES);
    if (!bytes.ok) throw new Error('encode failed');
    const m = Buffer.from(bytes.value);
    expect(decodeTunnelParams(m).ok).toBe(true);
    m.writeUInt16LE(MAX_PACKET_BYTES + 1, 28);
    expect(decodeTunnelParams(m)).toEqual({ ok: false, error: 'badPayload' });
    // The MTU a client requests is bounded the same way (0 = no preference).
    const request = (requestedMtu: number) =>
      encodeInitiationPayload({
        ticket: Buffer.from('t'),
        timestamp: Buffer.alloc(12),
        options: { requestIPv6: false, requestedMtu },
      });
    expect(request(0).ok).toBe(true);
    expect(request(MAX_PACKET_BYTES).ok).toBe(true);
    expect(request(MAX_PACKET_BYTES + 1)).toEqual({ ok: false, error: 'badPayload' });
    const req = request(MAX_PACKET_BYTES);
    if (!req.ok) throw new Error('encode failed');
    const r = Buffer.from(req.value);
    r.writeUInt16LE(65_535, 2);
    expect(decodeInitiationPayload(r)).toEqual({ ok: false, error: 'badPayload' });
  });

  it('refuses invalid parameters and mutated encodings without throwing', () => {
    const good: TunnelParams = {
      clientIPv4: '10.8.0.2',
      clientIPv4Prefix: 24,
      gatewayIPv4: '10.8.0.1',
      clientIPv6: null,
      clientIPv6Prefix: 0,
      mtu: 1420,
      dnsServers: ['1.1.1.1'],
      keepaliveSeconds: 25,
      bandwidthBytesPerSecond: 0,
      dataQuotaBytes: 0,
    };
    for (const bad of [
      { clientIPv4: '10.8.0' },
      { mtu: 100 },
      { clientIPv4Prefix: 33 },
      { dnsServers: ['1.1.1.1', '1.1.1.2', '1.1.1.3', '1.1.1.4', '1.1.1.5'] },
      { dataQuotaBytes: 2 ** 60 },
      { clientIPv6: 'nope' },
    ]) {
      expect(encodeTunnelParams({ ...good, ...bad }).ok).toBe(false);
    }
    const enc = encodeTunnelParams(good);
    if (!enc.ok) throw new Error('encode failed');
    fc.assert(
      fc.property(
        fc.nat(enc.value.length - 1),
        fc.integer({ min: 0, max: 255 }),
        fc.nat(enc.value.length + 3),
        (i, v, cut) => {
          const m = Buffer.concat([enc.value, Buffer.alloc(3)]).subarray(0, cut);
          if (i < m.length) m[i] = v;
          decodeTunnelParams(m);
        },
      ),
      { numRuns: 500 },
    );
  });
});
