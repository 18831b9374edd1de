import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MIN_WIRE_MESSAGE_BYTES } from './constants.js';
import {
  MESSAGE_PADDING,
  PADDING_BUCKETS,
  isPaddingMessage,
  paddingMessageBytes,
  writePaddingMessage,
} from './padding.js';

describe('size padding', () => {
  it('rounds message + padding frame up to a bucket, never with a padding message below the minimum', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70_000 }), fc.constantFrom(2, 4, 6), (wire, overhead) => {
        const pad = paddingMessageBytes(wire, overhead);
        if (pad === 0) {
          // Already exactly on a bucket (or a multiple of the largest).
          const largest = PADDING_BUCKETS.at(-1)!;
          expect(PADDING_BUCKETS.includes(wire) || wire % largest === 0).toBe(true);
          return;
        }
        expect(pad).toBeGreaterThanOrEqual(MIN_WIRE_MESSAGE_BYTES);
        const total = wire + overhead + pad;
        const largest = PADDING_BUCKETS.at(-1)!;
        expect(PADDING_BUCKETS.includes(total) || total % largest === 0).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('maps every small data frame of one bucket to the same wire size', () => {
    // 60- and 100-byte frames both cost 128 bytes with their padding frame.
    expect(60 + 2 + paddingMessageBytes(60, 2)).toBe(128);
    expect(90 + 2 + paddingMessageBytes(90, 2)).toBe(128);
    // 100 + 34 > 128: the next bucket.
    expect(100 + 2 + paddingMessageBytes(100, 2)).toBe(256);
  });

  it('refuses nonsense sizes without throwing', () => {
    for (const v of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(paddingMessageBytes(v, 2)).toBe(0);
    }
  });

  it('writes a recognisable padding message, and recognises only that type', () => {
    const out = Buffer.alloc(64, 0xaa);
    writePaddingMessage(out, 8, 40);
    const msg = out.subarray(8, 48);
    expect(msg[0]).toBe(MESSAGE_PADDING);
    expect(isPaddingMessage(msg)).toBe(true);
    expect(out[7]).toBe(0xaa);
    expect(out[48]).toBe(0xaa);
    expect(() => writePaddingMessage(out, 40, 40)).toThrow(RangeError);
    expect(() => writePaddingMessage(out, 0, 8)).toThrow(RangeError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(isPaddingMessage(bytes)).toBe(bytes.length > 0 && bytes[0] === MESSAGE_PADDING);
      }),
    );
  });
});
