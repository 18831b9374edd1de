/** UDP: one message per datagram. The only framing check is its length. */
import { err, ok, type Result } from '../result.js';
import { MAX_DATAGRAM_BYTES, MIN_WIRE_MESSAGE_BYTES, type FramingError } from './constants.js';

/**
 * Checks a received datagram's length (MIN_WIRE_MESSAGE_BYTES..MAX_DATAGRAM_BYTES; 'empty' for 0 bytes,
 * 'undersize' below the minimum) and returns it as a Buffer view over the
 * same memory (no copy). Never throws. A datagram that fails should be dropped and counted.
 */
export function checkDatagram(datagram: Uint8Array): Result<Buffer, FramingError> {
  if (!(datagram instanceof Uint8Array) || datagram.length === 0) return err('empty');
  if (datagram.length < MIN_WIRE_MESSAGE_BYTES) return err('undersize');
  if (datagram.length > MAX_DATAGRAM_BYTES) return err('oversize');
  return ok(Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength));
}
