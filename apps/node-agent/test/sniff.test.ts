import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  INITIATION_MIN_BYTES,
  MESSAGE_INITIATION,
  generateX25519KeyPair,
  mac1Key,
  verifyMac1,
  writeMac1,
} from '@corridor/protocol';
import {
  SNIFF_MAX_BYTES,
  looksLikeHttp,
  sniffFirstBytes,
  type SniffOptions,
} from '../src/transports/sniff.js';

const node = generateX25519KeyPair();
const key = mac1Key(node.publicKey);
const opts: SniffOptions = {
  wssPath: '/ws',
  tlsFraming: true,
  acceptsInitiation: (m) => verifyMac1(m, key),
};

/** A framed initiation-shaped message with a valid mac1 for `k` (not a real handshake: enough here). */
function framedInitiation(k: Uint8Array, length = INITIATION_MIN_BYTES + 8): Buffer {
  const m = Buffer.alloc(length, 7);
  m[0] = MESSAGE_INITIATION;
  m[1] = 0x11;
  writeMac1(m, k);
  const f = Buffer.alloc(2 + length);
  f.writeUInt16BE(length, 0);
  m.copy(f, 2);
  return f;
}

const head = (lines: string[]) => Buffer.from(lines.join('\r\n') + '\r\n\r\n');

describe('sniffFirstBytes', () => {
  it('a framed initiation with a valid mac1 opens a tunnel, also when it arrives byte by byte', () => {
    const f = framedInitiation(key);
    for (let n = 1; n < f.length; n++) expect(sniffFirstBytes(f.subarray(0, n), opts).kind).toBe('more');
    expect(sniffFirstBytes(f, opts).kind).toBe('tunnel');
    // Trailing bytes (the client's next frames) do not matter.
    expect(sniffFirstBytes(Buffer.concat([f, Buffer.alloc(40)]), opts).kind).toBe('tunnel');
  });

  it('an initiation-shaped frame without the node key (a prober guessing the format) goes to the fallback', () => {
    const other = mac1Key(generateX25519KeyPair().publicKey);
    expect(sniffFirstBytes(framedInitiation(other), opts)).toEqual({ kind: 'fallback', reason: 'badFrame' });
    const f = framedInitiation(key);
    f[2] = 4; // a data message first
    expect(sniffFirstBytes(f, opts)).toEqual({ kind: 'fallback', reason: 'badFrame' });
    expect(sniffFirstBytes(Buffer.from([0, 5, 1]), opts)).toEqual({ kind: 'fallback', reason: 'badFrame' });
    expect(sniffFirstBytes(framedInitiation(key), { ...opts, tlsFraming: false }).kind).toBe('fallback');
  });

  it('the WebSocket upgrade on the configured path opens a tunnel; every other request goes to the fallback', () => {
    const upgrade = head([
      'GET /ws?x=1 HTTP/1.1',
      'Host: cdn.example',
      'Connection: Upgrade',
      'Upgrade: WebSocket',
      'Sec-WebSocket-Version: 13',
    ]);
    for (let n = 1; n < upgrade.length; n++)
      expect(sniffFirstBytes(upgrade.subarray(0, n), opts).kind, `${n}`).toBe('more');
    expect(sniffFirstBytes(upgrade, opts).kind).toBe('websocket');
    const fb = { kind: 'fallback', reason: 'http' };
    expect(sniffFirstBytes(head(['GET / HTTP/1.1', 'Host: node']), opts)).toEqual(fb);
    expect(sniffFirstBytes(head(['GET /ws HTTP/1.1', 'Host: node']), opts)).toEqual(fb);
    expect(sniffFirstBytes(head(['GET /wss HTTP/1.1', 'Upgrade: websocket']), opts)).toEqual(fb);
    expect(sniffFirstBytes(head(['POST /ws HTTP/1.1', 'Upgrade: websocket']), opts)).toEqual(fb);
    expect(sniffFirstBytes(head(['GET /ws HTTP/1.0', 'Upgrade: websocket']), opts)).toEqual(fb);
    expect(sniffFirstBytes(upgrade, { ...opts, wssPath: null })).toEqual(fb);
  });

  it('non-HTTP bytes, TLS-in-TLS and oversize heads go to the fallback', () => {
    expect(sniffFirstBytes(Buffer.from([0x16, 3, 1, 0, 200]), opts)).toEqual({
      kind: 'fallback',
      reason: 'notHttp',
    });
    expect(sniffFirstBytes(Buffer.from('hello\r\n'), opts)).toEqual({ kind: 'fallback', reason: 'notHttp' });
    const big = Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nX: '), Buffer.alloc(SNIFF_MAX_BYTES, 0x61)]);
    expect(sniffFirstBytes(big, opts)).toEqual({ kind: 'fallback', reason: 'tooLarge' });
  });

  it('never throws and always decides within SNIFF_MAX_BYTES + 1 bytes, on hostile bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: SNIFF_MAX_BYTES + 64 }), (bytes) => {
        const r = sniffFirstBytes(bytes, opts);
        expect(['more', 'tunnel', 'websocket', 'fallback']).toContain(r.kind);
        if (bytes.length > SNIFF_MAX_BYTES) expect(r.kind).not.toBe('more');
        expect(r.kind).not.toBe('tunnel'); // random bytes never carry a valid mac1
        looksLikeHttp(bytes);
      }),
      { numRuns: 500 },
    );
    const throwing: SniffOptions = {
      ...opts,
      acceptsInitiation: () => {
        throw new Error('boom');
      },
    };
    expect(sniffFirstBytes(framedInitiation(key), throwing).kind).toBe('fallback');
  });
});
