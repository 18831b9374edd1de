import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DATA_MIN_BYTES } from '../handshake/wire.js';
import { FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD_BYTES, MIN_WIRE_MESSAGE_BYTES } from './constants.js';
import { FrameDecoder, encodeFrame, writeFrameHeader } from './stream.js';

/** Splits `bytes` at the given cut points (any order, duplicates allowed). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, p));
    start = p;
  }
  return chunks;
}

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    const r = decoder.push(chunk);
    if (!r.ok) throw new Error(`unexpected ${r.error}`);
    // Copy: frames may be views of chunks the test does not reuse, but be strict anyway.
    for (const f of r.value) out.push(Buffer.from(f));
  }
  return out;
}

const messageArb = fc
  .uint8Array({ minLength: MIN_WIRE_MESSAGE_BYTES, maxLength: 3000 })
  .map((m) => Buffer.from(m));

/** A message of at least MIN_WIRE_MESSAGE_BYTES: `text` padded with dots. */
function msg(text: string): Buffer {
  return Buffer.from(text.padEnd(MIN_WIRE_MESSAGE_BYTES, '.'));
}

describe('encodeFrame', () => {
  it('prefixes a big-endian u16 length', () => {
    const message = Buffer.alloc(MIN_WIRE_MESSAGE_BYTES, 7);
    message.set([1, 2, 3]);
    const frame = encodeFrame(message);
    expect([...frame]).toEqual([0, 32, ...message]);
    const big = encodeFrame(Buffer.alloc(MAX_FRAME_PAYLOAD_BYTES, 7));
    expect(big.readUInt16BE(0)).toBe(MAX_FRAME_PAYLOAD_BYTES);
    expect(big.length).toBe(MAX_FRAME_PAYLOAD_BYTES + FRAME_HEADER_BYTES);
  });

  it('writes into a caller buffer, in place when headroom was reserved', () => {
    const out = Buffer.alloc(100, 0xee);
    const message = out.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + 40);
    message.fill(9);
    const frame = encodeFrame(message, out);
    expect(frame.buffer).toBe(out.buffer);
    expect([...frame]).toEqual([0, 40, ...Buffer.alloc(40, 9)]);

    const other = Buffer.alloc(40);
    expect([...encodeFrame(Buffer.alloc(32, 5), other)]).toEqual([0, 32, ...Buffer.alloc(32, 5)]);
  });

  it('throws on empty, oversize or a too-small output buffer (programmer errors)', () => {
    expect(() => encodeFrame(Buffer.alloc(0))).toThrow(RangeError);
    expect(() => encodeFrame(Buffer.alloc(MAX_FRAME_PAYLOAD_BYTES + 1))).toThrow(RangeError);
    expect(() => encodeFrame(Buffer.alloc(40), Buffer.alloc(41))).toThrow(RangeError);
    expect(() => writeFrameHeader(Buffer.alloc(2), 1, 40)).toThrow(RangeError);
  });
});

describe('FrameDecoder', () => {
  it('decodes any split of any stream of frames to exactly the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(messageArb, { minLength: 0, maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (messages, cuts) => {
          const stream = Buffer.concat(messages.map((m) => encodeFrame(m)));
          const decoder = new FrameDecoder();
          expect(decodeAll(decoder, split(stream, cuts))).toEqual(messages);
          expect(decoder.bufferedBytes).toBe(0);
          expect(decoder.finish()).toEqual({ ok: true, value: undefined });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('decodes a stream fed one byte at a time', () => {
    const messages = [msg('a'), Buffer.alloc(5000, 1), msg('xyz')];
    const stream = Buffer.concat(messages.map((m) => encodeFrame(m)));
    const decoder = new FrameDecoder();
    const chunks = [...stream].map((b) => Buffer.from([b]));
    expect(decodeAll(decoder, chunks)).toEqual(messages);
  });

  it('returns zero-copy views for frames inside one chunk and fresh buffers for reassembled ones', () => {
    const stream = Buffer.concat([encodeFrame(msg('one')), encodeFrame(msg('two'))]);
    const decoder = new FrameDecoder();
    const first = decoder.push(stream.subarray(0, 2 + 32 + 5));
    const second = decoder.push(stream.subarray(2 + 32 + 5));
    if (!first.ok || !second.ok) throw new Error('push failed');
    expect(first.value.map(String)).toEqual([msg('one').toString()]);
    expect(second.value.map(String)).toEqual([msg('two').toString()]);
    stream.fill(0x21);
    expect(first.value[0]!.toString()).toBe('!'.repeat(32)); // a view of the chunk
    expect(second.value[0]!.toString()).toBe(msg('two').toString()); // reassembled: owns its bytes
  });

  it('rejects oversize frames and stays errored', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 100 });
    expect(decoder.push(encodeFrame(Buffer.alloc(100)))).toMatchObject({ ok: true });
    expect(decoder.push(Buffer.from([0, 101]))).toEqual({ ok: false, error: 'oversize' });
    expect(decoder.error).toBe('oversize');
    expect(decoder.push(encodeFrame(msg('fine')))).toEqual({ ok: false, error: 'oversize' });
    expect(decoder.finish()).toEqual({ ok: false, error: 'oversize' });
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('rejects an oversize length announced across two chunks', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(Buffer.from([0xff]))).toEqual({ ok: true, value: [] });
    expect(decoder.bufferedBytes).toBe(1);
    expect(decoder.push(Buffer.from([0xff]))).toEqual({ ok: false, error: 'oversize' });
  });

  it('rejects zero-length frames', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(Buffer.concat([encodeFrame(msg('x')), Buffer.from([0, 0])]))).toEqual({
      ok: false,
      error: 'empty',
    });
    expect(decoder.push(Buffer.alloc(0))).toEqual({ ok: false, error: 'empty' });
  });

  it('rejects frames shorter than the smallest protocol message (a 32-byte keepalive)', () => {
    expect(MIN_WIRE_MESSAGE_BYTES).toBe(DATA_MIN_BYTES);
    for (let n = 1; n < MIN_WIRE_MESSAGE_BYTES; n++) {
      const decoder = new FrameDecoder();
      const frame = Buffer.concat([Buffer.from([0, n]), Buffer.alloc(n, 1)]);
      expect(decoder.push(frame), `${n}-byte frame`).toEqual({ ok: false, error: 'undersize' });
      expect(decoder.error).toBe('undersize');
    }
    // An unauthenticated peer streaming tiny frames is cut off at the first one, even split.
    const flood = Buffer.concat(Array.from({ length: 1000 }, () => Buffer.from([0, 1, 0x2a])));
    const decoder = new FrameDecoder();
    expect(decoder.push(flood.subarray(0, 1))).toEqual({ ok: true, value: [] });
    expect(decoder.push(flood.subarray(1))).toEqual({ ok: false, error: 'undersize' });
    expect(decoder.bufferedBytes).toBe(0);
    const keepalive = Buffer.alloc(MIN_WIRE_MESSAGE_BYTES, 4);
    expect(new FrameDecoder().push(Buffer.concat([Buffer.from([0, 32]), keepalive]))).toEqual({
      ok: true,
      value: [keepalive],
    });
    expect(() => encodeFrame(Buffer.alloc(MIN_WIRE_MESSAGE_BYTES - 1))).toThrow(RangeError);
    expect(() => new FrameDecoder({ maxFrameBytes: MIN_WIRE_MESSAGE_BYTES - 1 })).toThrow(RangeError);
  });

  it('reports a stream that ends inside a header or a frame', () => {
    const header = new FrameDecoder();
    header.push(Buffer.from([0]));
    expect(header.finish()).toEqual({ ok: false, error: 'truncated' });
    const body = new FrameDecoder();
    body.push(Buffer.from([0, 40, 1, 2]));
    expect(body.finish()).toEqual({ ok: false, error: 'truncated' });
    expect(body.bufferedBytes).toBe(2);
  });

  it('buffers no more than what was received while a large frame is announced', () => {
    const decoder = new FrameDecoder();
    decoder.push(Buffer.from([0xff, 0x00, 1, 2, 3]));
    expect(decoder.bufferedBytes).toBe(3);
  });

  it('validates its options', () => {
    expect(() => new FrameDecoder({ maxFrameBytes: 0 })).toThrow(RangeError);
    expect(() => new FrameDecoder({ maxFrameBytes: 1 })).toThrow(RangeError);
    expect(() => new FrameDecoder({ maxFrameBytes: MAX_FRAME_PAYLOAD_BYTES + 1 })).toThrow(RangeError);
  });

  it('never throws on hostile bytes and never holds more than one frame plus a header', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: MIN_WIRE_MESSAGE_BYTES, max: 2000 }),
        fc.array(fc.uint8Array({ maxLength: 700 }), { maxLength: 30 }),
        (max, chunks) => {
          const decoder = new FrameDecoder({ maxFrameBytes: max });
          for (const chunk of chunks) {
            const r = decoder.push(chunk);
            if (r.ok)
              for (const f of r.value) expect(f.length).toBeGreaterThanOrEqual(MIN_WIRE_MESSAGE_BYTES);
            if (r.ok) for (const f of r.value) expect(f.length).toBeLessThanOrEqual(max);
            expect(decoder.bufferedBytes).toBeLessThanOrEqual(max + 1);
            if (!r.ok) {
              expect(decoder.error).toBe(r.error);
              expect(decoder.push(chunk)).toEqual(r);
            }
          }
          decoder.finish();
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('decodes a valid prefix, then fails on the first bad header, whatever the split', () => {
    fc.assert(
      fc.property(
        fc.array(messageArb, { maxLength: 5 }),
        fc.constantFrom(Buffer.from([0, 0]), Buffer.from([0, 31]), Buffer.from([0xff, 0xf0])),
        fc.array(fc.nat(), { maxLength: 10 }),
        (messages, bad, cuts) => {
          const stream = Buffer.concat([
            ...messages.map((m) => encodeFrame(m)),
            bad,
            Buffer.from('trailing'),
          ]);
          const decoder = new FrameDecoder();
          const got: Buffer[] = [];
          let error: string | null = null;
          for (const chunk of split(stream, cuts)) {
            const r = decoder.push(chunk);
            if (!r.ok) {
              error = r.error;
              break;
            }
            got.push(...r.value);
          }
          expect(error).toBe(bad[0] !== 0 ? 'oversize' : bad[1] === 0 ? 'empty' : 'undersize');
          // Frames completed in earlier chunks were delivered; none after the bad header.
          expect(messages.slice(0, got.length)).toEqual(got);
        },
      ),
      { numRuns: 300 },
    );
  });
});
