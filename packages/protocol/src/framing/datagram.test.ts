import { describe, expect, it } from 'vitest';
import { DATA_MAX_BYTES, INITIATION_MAX_BYTES, RESPONSE_MAX_BYTES } from '../handshake/wire.js';
import {
  MAX_DATAGRAM_BYTES,
  MAX_FRAME_PAYLOAD_BYTES,
  MAX_WIRE_MESSAGE_BYTES,
  MIN_WIRE_MESSAGE_BYTES,
} from './constants.js';
import { checkDatagram } from './datagram.js';

describe('checkDatagram', () => {
  it('accepts MIN_WIRE_MESSAGE_BYTES..MAX_DATAGRAM_BYTES bytes as a view over the same memory', () => {
    const bytes = new Uint8Array(40);
    const r = checkDatagram(bytes.subarray(2, 35));
    if (!r.ok) throw new Error('rejected');
    expect(r.value.length).toBe(33);
    expect(r.value.buffer).toBe(bytes.buffer);
    expect(r.value.byteOffset).toBe(2);
    expect(checkDatagram(new Uint8Array(MAX_DATAGRAM_BYTES)).ok).toBe(true);
  });

  it('rejects empty and oversize datagrams, and non-bytes, without throwing', () => {
    expect(checkDatagram(new Uint8Array(0))).toEqual({ ok: false, error: 'empty' });
    expect(checkDatagram(new Uint8Array(MAX_DATAGRAM_BYTES + 1))).toEqual({ ok: false, error: 'oversize' });
    expect(checkDatagram('x' as never)).toEqual({ ok: false, error: 'empty' });
  });

  it('rejects datagrams shorter than the smallest protocol message', () => {
    for (let n = 1; n < MIN_WIRE_MESSAGE_BYTES; n++) {
      expect(checkDatagram(new Uint8Array(n))).toEqual({ ok: false, error: 'undersize' });
    }
    expect(checkDatagram(new Uint8Array(MIN_WIRE_MESSAGE_BYTES)).ok).toBe(true);
  });

  it('fits the largest IPv4 UDP payload', () => {
    expect(MAX_DATAGRAM_BYTES).toBe(65_535 - 20 - 8);
  });
});

describe('framing limits vs the largest protocol message', () => {
  it('every data message the transport can seal fits one datagram and one frame', () => {
    expect(DATA_MAX_BYTES).toBeLessThanOrEqual(MAX_DATAGRAM_BYTES);
    expect(DATA_MAX_BYTES).toBeLessThanOrEqual(MAX_FRAME_PAYLOAD_BYTES);
    expect(INITIATION_MAX_BYTES).toBeLessThanOrEqual(MAX_WIRE_MESSAGE_BYTES);
    expect(RESPONSE_MAX_BYTES).toBeLessThanOrEqual(MAX_WIRE_MESSAGE_BYTES);
  });
});
