/**
 * TCP: length-prefixed frames (`u16 BE length || message`, length MIN_WIRE_MESSAGE_BYTES..max) on a
 * byte stream.
 *
 * Flow: socket bytes → `FrameDecoder.push(chunk)` → whole messages → tunnel. Senders call
 * `encodeFrame` (or reserve `FRAME_HEADER_BYTES` of headroom and call `writeFrameHeader`).
 */
import { err, ok, type Result } from '../result.js';
import {
  FRAME_HEADER_BYTES,
  MAX_FRAME_PAYLOAD_BYTES,
  MIN_WIRE_MESSAGE_BYTES,
  type FramingError,
} from './constants.js';

function checkPayloadLength(length: number, max: number): void {
  if (!Number.isInteger(length) || length < MIN_WIRE_MESSAGE_BYTES || length > max) {
    throw new RangeError(`frame payload must be ${MIN_WIRE_MESSAGE_BYTES}..${max} bytes, got ${length}`);
  }
}

/**
 * Writes the 2-byte length prefix for a `length`-byte message at `out[offset]`. Throws a RangeError
 * (programmer error) when `length` is outside MIN_WIRE_MESSAGE_BYTES..MAX_FRAME_PAYLOAD_BYTES or `out`
 * is too short.
 */
export function writeFrameHeader(out: Uint8Array, offset: number, length: number): void {
  checkPayloadLength(length, MAX_FRAME_PAYLOAD_BYTES);
  if (!Number.isInteger(offset) || offset < 0 || offset + FRAME_HEADER_BYTES > out.length) {
    throw new RangeError('frame header does not fit in the output buffer');
  }
  out[offset] = length >>> 8;
  out[offset + 1] = length & 0xff;
}

/**
 * Frames `message`. Without `out`, returns a new buffer the caller owns. With `out`, writes the frame
 * at `out[0]` and returns the `out` view it occupies; when `message` already sits at `out[2]`
 * (headroom reserved), nothing is copied. Throws a RangeError (programmer error) when the message
 * is shorter than MIN_WIRE_MESSAGE_BYTES (no protocol message is) or longer than
 * MAX_FRAME_PAYLOAD_BYTES, or `out` is too short.
 */
export function encodeFrame(message: Uint8Array, out?: Buffer): Buffer {
  const length = message.length;
  checkPayloadLength(length, MAX_FRAME_PAYLOAD_BYTES);
  const total = FRAME_HEADER_BYTES + length;
  const frame = out ?? Buffer.allocUnsafe(total);
  if (frame.length < total)
    throw new RangeError(`output buffer holds ${frame.length} bytes, frame needs ${total}`);
  writeFrameHeader(frame, 0, length);
  const inPlace =
    message.buffer === frame.buffer && message.byteOffset === frame.byteOffset + FRAME_HEADER_BYTES;
  if (!inPlace) frame.set(message, FRAME_HEADER_BYTES);
  return frame.subarray(0, total);
}

/** First reassembly allocation; later growth doubles, so copying stays linear in the frame size. */
const MIN_REASSEMBLY_BYTES = 2048;

export interface FrameDecoderOptions {
  /**
   * Largest accepted payload, MIN_WIRE_MESSAGE_BYTES..MAX_FRAME_PAYLOAD_BYTES (default). A node may
   * lower it to its MTU.
   */
  maxFrameBytes?: number;
}

/** Errors from `FrameDecoder.finish()`: a frame error, or the stream ended inside a frame. */
export type FrameStreamEndError = FramingError | 'truncated';

/**
 * Streaming decoder for one TCP connection. Handles frames split across reads and many frames per
 * read. Never throws on any input.
 *
 * Memory: it holds at most one header byte and one partial frame (≤ maxFrameBytes). The reassembly
 * buffer grows with the bytes actually received (at most twice them, at least 2 KiB), never straight
 * to the declared length, so a peer announcing a large frame and stalling costs little.
 *
 * Ownership of returned frames: a frame lying wholly inside one pushed chunk is a view of that chunk
 * (zero-copy; valid while the caller does not overwrite the chunk, e.g. a reused read buffer); a
 * frame reassembled from several chunks is a fresh buffer. The decoder keeps no reference to
 * returned frames or to pushed chunks.
 *
 * Errors are sticky: after `push` returns an error (an empty, undersize or oversize frame: frames
 * shorter than the smallest protocol message are refused, so a peer cannot make us work per
 * tiny frame), every later call
 * returns the same error, frames decoded earlier in the failing chunk are discarded, and the caller
 * must close the connection (the stream can no longer be resynchronised).
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  #error: FramingError | null = null;
  /** First byte of a split length prefix, or -1. */
  #headerHigh = -1;
  /** Declared length of the frame being reassembled, or 0 when between frames. */
  #pendingLength = 0;
  /** Reassembly buffer: grows geometrically with bytes received, capped at #pendingLength. */
  #pending: Buffer | null = null;
  #pendingBytes = 0;

  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxFrameBytes ?? MAX_FRAME_PAYLOAD_BYTES;
    checkPayloadLength(max, MAX_FRAME_PAYLOAD_BYTES);
    this.maxFrameBytes = max;
  }

  /** The sticky error, or null while the stream is healthy. */
  get error(): FramingError | null {
    return this.#error;
  }

  /** Bytes held for an incomplete header or frame. */
  get bufferedBytes(): number {
    return (this.#headerHigh >= 0 ? 1 : 0) + this.#pendingBytes;
  }

  /** Feeds bytes read from the stream; returns the messages completed by them, in order. */
  push(chunk: Uint8Array): Result<Buffer[], FramingError> {
    if (this.#error !== null) return err(this.#error);
    if (!(chunk instanceof Uint8Array)) return ok([]);
    const view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const frames: Buffer[] = [];
    const end = view.length;
    let i = 0;

    while (i < end) {
      if (this.#pendingLength > 0) {
        const take = Math.min(this.#pendingLength - this.#pendingBytes, end - i);
        const pending = this.#reserve(this.#pendingBytes + take);
        view.copy(pending, this.#pendingBytes, i, i + take);
        this.#pendingBytes += take;
        i += take;
        if (this.#pendingBytes === this.#pendingLength) {
          // #reserve never exceeds the declared length, so a full buffer is exactly the frame.
          frames.push(pending);
          this.#resetPending();
        }
        continue;
      }

      let length: number;
      if (this.#headerHigh >= 0) {
        length = (this.#headerHigh << 8) | view[i]!;
        this.#headerHigh = -1;
        i += 1;
      } else if (end - i >= FRAME_HEADER_BYTES) {
        length = view.readUInt16BE(i);
        i += FRAME_HEADER_BYTES;
      } else {
        this.#headerHigh = view[i]!;
        i += 1;
        continue;
      }

      if (length === 0) return this.#fail('empty');
      if (length < MIN_WIRE_MESSAGE_BYTES) return this.#fail('undersize');
      if (length > this.maxFrameBytes) return this.#fail('oversize');

      if (end - i >= length) {
        frames.push(view.subarray(i, i + length));
        i += length;
      } else {
        this.#pendingLength = length;
      }
    }
    return ok(frames);
  }

  /**
   * Call when the peer ends the stream: reports an earlier error, or `truncated` if the stream
   * stopped inside a header or frame. Does not change the decoder's state.
   */
  finish(): Result<void, FrameStreamEndError> {
    if (this.#error !== null) return err(this.#error);
    if (this.#headerHigh >= 0 || this.#pendingLength > 0) return err('truncated');
    return ok(undefined);
  }

  /** Ensures #pending holds `needed` bytes (needed <= #pendingLength), keeping received bytes. */
  #reserve(needed: number): Buffer {
    const current = this.#pending;
    if (current !== null && current.length >= needed) return current;
    const grown = Math.max(needed, (current?.length ?? 0) * 2, MIN_REASSEMBLY_BYTES);
    const next = Buffer.allocUnsafe(Math.min(this.#pendingLength, grown));
    if (current !== null) current.copy(next, 0, 0, this.#pendingBytes);
    this.#pending = next;
    return next;
  }

  #resetPending(): void {
    this.#pendingLength = 0;
    this.#pending = null;
    this.#pendingBytes = 0;
  }

  #fail(error: FramingError): Result<Buffer[], FramingError> {
    this.#error = error;
    this.#headerHigh = -1;
    this.#resetPending();
    return err(error);
  }
}
