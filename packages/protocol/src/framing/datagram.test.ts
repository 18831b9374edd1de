import { describe, expect, it } from 'vitest';
import { MAX_DATAGRAM_BYTES } from './constants.js';
import { checkDatagram } from './datagram.js';

describe('checkDatagram', () => {
  it('accepts 1..MAX_DATAGRAM_BYTES bytes as a view over the same memory', () => {
    const bytes = new Uint8Array(10);
    const r = checkDatagram(bytes.subarray(2, 5));
    if (!r.ok) throw new Error('rejected');
    expect(r.value.length).toBe(3);
    expect(r.value.buffer).toBe(bytes.buffer);
    expect(r.value.byteOffset).toBe(2);
    expect(checkDatagram(new Uint8Array(MAX_DATAGRAM_BYTES)).ok).toBe(true);
  });

  it('rejects empty and oversize datagrams, and non-bytes, without throwing', () => {
    expect(checkDatagram(new Uint8Array(0))).toEqual({ ok: false, error: 'empty' });
    expect(checkDatagram(new Uint8Array(MAX_DATAGRAM_BYTES + 1))).toEqual({ ok: false, error: 'oversize' });
    expect(checkDatagram('x' as never)).toEqual({ ok: false, error: 'empty' });
  });

  it('fits the largest IPv4 UDP payload', () => {
    expect(MAX_DATAGRAM_BYTES).toBe(65_535 - 20 - 8);
  });
});
