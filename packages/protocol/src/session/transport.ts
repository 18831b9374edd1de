/**
 * Data messages: type=4 | 0 0 0 | receiver u32 LE | counter u64 LE | ChaCha20-Poly1305(packet).
 *
 * The AEAD nonce is Noise's (4 zero bytes || counter LE) and the associated data is EMPTY, as in
 * WireGuard: the header is still bound to the ciphertext because the receiver index selects the key,
 * the counter IS the nonce (a changed counter fails the tag), and the type and reserved bytes must
 * match exactly before any decryption. An empty plaintext is a keepalive.
 *
 * Hot path: no allocation in steady state (the views sodium needs are cached by memory position, see
 * ViewTable); numbers, not bigints.
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
import { sodium } from '../crypto/sodium.js';
import {
  DATA_COUNTER_OFFSET,
  DATA_HEADER_BYTES,
  DATA_MIN_BYTES,
  DATA_RECEIVER_OFFSET,
  MAX_PACKET_BYTES,
  MESSAGE_DATA,
  TAG_BYTES,
} from '../handshake/wire.js';
import type { Keypair } from './keypair.js';
import { ViewTable } from './view-cache.js';

export const TRANSPORT_BUFFER_TOO_SMALL = -1;
export const TRANSPORT_EXPIRED = -2;
export const TRANSPORT_REPLAY = -3;
export const TRANSPORT_DECRYPT_FAILED = -4;
export const TRANSPORT_SHORT_PACKET = -5;
export const TRANSPORT_PACKET_TOO_LARGE = -6;

const encrypt = sodium.crypto_aead_chacha20poly1305_ietf_encrypt;
const decrypt = sodium.crypto_aead_chacha20poly1305_ietf_decrypt;
const sealOutView = new ViewTable();
// AEAD nonces (4 zero bytes || counter LE): scratch per call, not per keypair. Nothing here is async,
// so one buffer per direction serves every keypair; the counter bytes are rewritten on every call.
const sendNonce = Buffer.alloc(12);
const receiveNonce = Buffer.alloc(12);
const sealInView = new ViewTable();
const openInView = new ViewTable();
const openOutView = new ViewTable();

/** Bytes a sealed packet of `packetLength` bytes occupies on the wire. */
export function sealedLength(packetLength: number): number {
  return packetLength + DATA_HEADER_BYTES + TAG_BYTES;
}

/** Receiver index of a data message (caller checked the length and type). */
export function dataReceiverIndex(datagram: Uint8Array): number {
  return (datagram[4]! | (datagram[5]! << 8) | (datagram[6]! << 16) | (datagram[7]! << 24)) >>> 0;
}

/** Structural check: length and exact type/reserved bytes. */
export function isDataMessage(datagram: Uint8Array): boolean {
  return (
    datagram.length >= DATA_MIN_BYTES &&
    datagram[0] === MESSAGE_DATA &&
    datagram[1] === 0 &&
    datagram[2] === 0 &&
    datagram[3] === 0
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
  const nonce = sendNonce;
  out[0] = MESSAGE_DATA;
  out[1] = 0;
  out[2] = 0;
  out[3] = 0;
  const r = kp.remoteIndex;
  out[4] = r & 0xff;
  out[5] = (r >>> 8) & 0xff;
  out[6] = (r >>> 16) & 0xff;
  out[7] = r >>> 24;
  out[8] = nonce[4] = lo & 0xff;
  out[9] = nonce[5] = (lo >>> 8) & 0xff;
  out[10] = nonce[6] = (lo >>> 16) & 0xff;
  out[11] = nonce[7] = lo >>> 24;
  out[12] = nonce[8] = hi & 0xff;
  out[13] = nonce[9] = (hi >>> 8) & 0xff;
  out[14] = nonce[10] = (hi >>> 16) & 0xff;
  out[15] = nonce[11] = hi >>> 24;
  encrypt(
    sealOutView.view(out, DATA_HEADER_BYTES, DATA_HEADER_BYTES + n + TAG_BYTES),
    srcOffset === 0 && n === src.length ? src : sealInView.view(src, srcOffset, srcOffset + n),
    null,
    null,
    nonce,
    kp.sendKey,
  );
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
  const nonce = receiveNonce;
  for (let i = 0; i < 8; i++) nonce[4 + i] = datagram[o + i]!;
  try {
    decrypt(
      openOutView.view(out, outOffset, outOffset + n),
      null,
      openInView.view(datagram, DATA_HEADER_BYTES, datagram.length),
      null,
      nonce,
      kp.receiveKey,
    );
  } catch {
    return TRANSPORT_DECRYPT_FAILED;
  }
  if (!kp.replay.accept(counter)) return TRANSPORT_REPLAY;
  return n;
}

export { DATA_RECEIVER_OFFSET };
