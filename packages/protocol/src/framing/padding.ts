/**
 * Size padding for the stream transports (tcp, tls, wss): blurs the packet-size fingerprint of what
 * is inside by rounding what one message costs on the wire up to a bucket.
 *
 * Signalling (why no negotiation is needed): padding travels as its own message, a *padding message*
 * `type=MESSAGE_PADDING (5) | salt 3 | zero bytes`, in its own frame right after the message it pads
 * (over tcp/tls: `u16 length || padding message`; over wss: one more binary WebSocket message). Every
 * wire-version-2 receiver drops padding messages in its bind before the tunnel sees them; a receiver
 * that does not know the type would drop it as an unknown message type (counted) and keep the
 * connection — never a framing error. So padding is purely the sender's choice: each end pads what IT
 * sends when its own config says `padding = buckets`, and an end with `padding = off` still reads a
 * padded peer. Padding messages are at least MIN_WIRE_MESSAGE_BYTES long, like every frame, so the
 * decoder's 'undersize' rule holds for them too.
 *
 * Buckets: the message frame plus its padding frame fill the smallest of PADDING_BUCKETS that leaves
 * room for a padding frame; above the largest bucket, whole multiples of it. UDP is never padded
 * (a separate datagram would not hide a datagram's size); see docs/transports.md.
 *
 * Sans-IO: pure functions over caller buffers, no allocation.
 */
import { MIN_WIRE_MESSAGE_BYTES } from './constants.js';

export type PaddingMode = 'off' | 'buckets';
export const PADDING_MODES: readonly PaddingMode[] = ['off', 'buckets'];

/** Message type of a padding message (after the four tunnel types of handshake/wire.ts). */
export const MESSAGE_PADDING = 5;

/** Wire sizes (frame header included) one padded message rounds up to, ascending. */
export const PADDING_BUCKETS: readonly number[] = [128, 256, 512, 768, 1024, 1280, 1536, 2048, 4096];
const LARGEST_BUCKET = PADDING_BUCKETS[PADDING_BUCKETS.length - 1]!;

/**
 * Size of the padding MESSAGE (without its own `frameOverhead` header bytes) to send after a message
 * that costs `wireBytes` on the wire (its frame header included), or 0 for none. `frameOverhead` is
 * what one more frame costs besides its message (2 for the u16 length prefix; the WebSocket frame
 * header for wss, an estimate there). Never returns a size below MIN_WIRE_MESSAGE_BYTES.
 */
export function paddingMessageBytes(wireBytes: number, frameOverhead: number): number {
  if (!Number.isInteger(wireBytes) || wireBytes <= 0) return 0;
  const smallestPad = frameOverhead + MIN_WIRE_MESSAGE_BYTES;
  for (const bucket of PADDING_BUCKETS) {
    if (wireBytes === bucket) return 0;
    if (wireBytes + smallestPad <= bucket) return bucket - wireBytes - frameOverhead;
  }
  const target = Math.ceil((wireBytes + smallestPad) / LARGEST_BUCKET) * LARGEST_BUCKET;
  if (wireBytes % LARGEST_BUCKET === 0) return 0;
  return target - wireBytes - frameOverhead;
}

/** Writes a padding message of `length` (>= MIN_WIRE_MESSAGE_BYTES) bytes at `out[offset]`. */
export function writePaddingMessage(out: Uint8Array, offset: number, length: number): void {
  if (length < MIN_WIRE_MESSAGE_BYTES || offset < 0 || offset + length > out.length) {
    throw new RangeError(`padding message of ${length} bytes does not fit at ${offset}`);
  }
  out.fill(0, offset, offset + length);
  out[offset] = MESSAGE_PADDING;
  // A constant non-zero salt: the bytes are inside the outer encryption (tls, wss) or meaningless
  // filler (tcp); receivers only look at the type byte.
  out[offset + 1] = 0x50;
}

/** Whether a received message is padding (to be dropped before the tunnel). Never throws. */
export function isPaddingMessage(message: Uint8Array): boolean {
  return message.length >= 1 && message[0] === MESSAGE_PADDING;
}
