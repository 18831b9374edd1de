/**
 * Data messages: type=4 | salt 3 (random, never all zero; see wire.ts) | receiver u32 LE | counter u64 LE | ChaCha20-Poly1305(packet).
 *
 * The AEAD nonce is Noise's (4 zero bytes || counter LE) and the associated data is EMPTY, as in
 * WireGuard: the header is still bound to the ciphertext because the receiver index selects the key,
 * the counter IS the nonce (a changed counter fails the tag), and the type byte must match and the salt
 * be well-formed before any decryption. An empty plaintext is a keepalive.
 *
 * Hot path: no allocation in steady state (the AEAD takes offsets; its sodium fallback caches views by
 * memory position); numbers, not bigints.
 * Functions return a length (>= 0) or a negative TRANSPORT_* code and never throw for bad input.
 *
 * Buffer contracts:
 * - sealData writes header + ciphertext into `out[0 .. 32 + packet.length)`. Passing
 *   `packet = out.subarray(DATA_HEADER_BYTES, DATA_HEADER_BYTES + n)` encrypts in place (zero copy);
 *   any other overlap of `packet` and `out` is not allowed.
 * - openData writes the plaintext into `out[outOffset .. outOffset + datagram.length - 32)`. Passing
 *   `out = datagram.subarray(DATA_HEADER_BYTES)` decrypts in place.
 * - On failure the contents of `out` are unspecified (may hold garbage); nothing else is touched.
 */
import { aeadOpen, aeadSeal } from '../crypto/aead.js';
import {
  DATA_COUNTER_OFFSET,
  DATA_HEADER_BYTES,
  DATA_MIN_BYTES,
  DATA_RECEIVER_OFFSET,
  MAX_PACKET_BYTES,
  MESSAGE_DATA,
  TAG_BYTES,
  writeSalt,
} from '../handshake/wire.js';
import type { Keypair } from './keypair.js';

export const TRANSPORT_BUFFER_TOO_SMALL = -1;
export const TRANSPORT_EXPIRED = -2;
export const TRANSPORT_REPLAY = -3;
export const TRANSPORT_DECRYPT_FAILED = -4;
export const TRANSPORT_SHORT_PACKET = -5;
export const TRANSPORT_PACKET_TOO_LARGE = -6;

/** Bytes a sealed packet of `packetLength` bytes occupies on the wire. */
export function sealedLength(packetLength: number): number {
  return packetLength + DATA_HEADER_BYTES + TAG_BYTES;
}

/** Receiver index of a data message (caller checked the length and type). */
export function dataReceiverIndex(datagram: Uint8Array): number {
  return (datagram[4]! | (datagram[5]! << 8) | (datagram[6]! << 16) | (datagram[7]! << 24)) >>> 0;
}

/** Structural check: length, type byte and a well-formed (non-zero) salt. */
export function isDataMessage(datagram: Uint8Array): boolean {
  return (
    datagram.length >= DATA_MIN_BYTES &&
    datagram[0] === MESSAGE_DATA &&
    (datagram[1]! | datagram[2]! | datagram[3]!) !== 0
  );
}

/**
 * Seals `packet` with `kp`. The caller checked `kp` is alive and young enough (time limits live in
 * the session, which knows the clock); the message-count limit is enforced here.
 */
export function sealData(kp: Keypair, packet: Uint8Array, out: Uint8Array): number {
  return sealDataFrom(kp, packet, 0, packet.length, out);
}

/**
 * sealData for the packet `src[srcOffset .. srcOffset + n)` (batch senders pass the TUN read slab
 * and an offset instead of a view per packet). Same contract otherwise.
 */
export function sealDataFrom(
  kp: Keypair,
  src: Uint8Array,
  srcOffset: number,
  n: number,
  out: Uint8Array,
): number {
  if (n > MAX_PACKET_BYTES) return TRANSPORT_PACKET_TOO_LARGE;
  if (srcOffset < 0 || n < 0 || srcOffset + n > src.length) return TRANSPORT_SHORT_PACKET;
  if (out.length < n + DATA_HEADER_BYTES + TAG_BYTES) return TRANSPORT_BUFFER_TOO_SMALL;
  if (!kp.alive || kp.sendCounter >= kp.rejectAfterMessages) return TRANSPORT_EXPIRED;
  const counter = kp.sendCounter++;
  const lo = counter >>> 0;
  const hi = (counter / 4294967296) >>> 0;
  out[0] = MESSAGE_DATA;
  writeSalt(out);
  const r = kp.remoteIndex;
  out[4] = r & 0xff;
  out[5] = (r >>> 8) & 0xff;
  out[6] = (r >>> 16) & 0xff;
  out[7] = r >>> 24;
  out[8] = lo & 0xff;
  out[9] = (lo >>> 8) & 0xff;
  out[10] = (lo >>> 16) & 0xff;
  out[11] = lo >>> 24;
  out[12] = hi & 0xff;
  out[13] = (hi >>> 8) & 0xff;
  out[14] = (hi >>> 16) & 0xff;
  out[15] = hi >>> 24;
  aeadSeal(kp.sendKey, lo, hi, src, srcOffset, n, out, DATA_HEADER_BYTES);
  return n + DATA_HEADER_BYTES + TAG_BYTES;
}

/**
 * Opens a data message addressed to `kp` (the caller looked it up by receiver index). The replay
 * window is consulted before and updated only after the tag verified.
 */
export function openData(kp: Keypair, datagram: Uint8Array, out: Uint8Array, outOffset = 0): number {
  if (datagram.length < DATA_MIN_BYTES) return TRANSPORT_SHORT_PACKET;
  const n = datagram.length - DATA_HEADER_BYTES - TAG_BYTES;
  if (n > MAX_PACKET_BYTES) return TRANSPORT_PACKET_TOO_LARGE;
  if (outOffset < 0 || out.length - outOffset < n) return TRANSPORT_BUFFER_TOO_SMALL;
  if (!kp.alive) return TRANSPORT_EXPIRED;
  const o = DATA_COUNTER_OFFSET;
  const lo =
    (datagram[o]! | (datagram[o + 1]! << 8) | (datagram[o + 2]! << 16) | (datagram[o + 3]! << 24)) >>> 0;
  const hi =
    (datagram[o + 4]! | (datagram[o + 5]! << 8) | (datagram[o + 6]! << 16) | (datagram[o + 7]! << 24)) >>> 0;
  if (hi > 0x1fffff) return TRANSPORT_EXPIRED; // beyond 2^53: never sent by us, above every limit
  const counter = hi * 4294967296 + lo;
  if (!kp.replay.wouldAccept(counter))
    return counter >= kp.rejectAfterMessages ? TRANSPORT_EXPIRED : TRANSPORT_REPLAY;
  if (aeadOpen(kp.receiveKey, lo, hi, datagram, DATA_HEADER_BYTES, n + TAG_BYTES, out, outOffset) < 0)
    return TRANSPORT_DECRYPT_FAILED;
  if (!kp.replay.accept(counter)) return TRANSPORT_REPLAY;
  return n;
}

export { DATA_RECEIVER_OFFSET };
