import { randomBytes } from '../crypto/primitives.js';

/**
 * Wire constants of every tunnel message: types, sizes and offsets, in one place. All integers in
 * message headers are little-endian.
 *
 *   initiation   type=1 | salt 3 | sender u32 | ephemeral 32 | enc(static) 48 | enc(payload) n+16 | mac1 16 | mac2 16
 *   response     type=2 | salt 3 | sender u32 | receiver u32 | ephemeral 32 | enc(payload) n+16 | mac1 16 | mac2 16
 *   cookie reply type=3 | salt 3 | receiver u32 | nonce 24 | enc(cookie) 16+16
 *   data         type=4 | salt 3 | receiver u32 | counter u64 | enc(packet) n+16
 *
 * Wire version 2 (HANDSHAKE_PROLOGUE 'corridor tunnel v2'): bytes 1..3 are a per-message random
 * salt that is never all zero. Version 1 had them zero, which made every message a byte-for-byte
 * WireGuard lookalike: DPI engines (nDPI's WireGuard dissector requires bytes 1..3 == 0 and then
 * follows receiver indices) named our UDP flows "WireGuard". The salt carries no meaning and is not
 * authenticated by the data AEAD (handshake messages cover it with mac1); receivers ignore it, except
 * that all-zero salt marks a version-1 peer (`isLegacyHeader`), dropped as 'legacyVersion' so a
 * mismatch is named instead of failing as a decryption error. The prologue bump makes a v1 and a v2
 * handshake fail even if the salt were forged.
 */
export const MESSAGE_INITIATION = 1;
export const MESSAGE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_DATA = 4;
export type MessageType =
  typeof MESSAGE_INITIATION | typeof MESSAGE_RESPONSE | typeof MESSAGE_COOKIE_REPLY | typeof MESSAGE_DATA;

export const KEY_BYTES = 32;
export const TAG_BYTES = 16;
export const MAC_BYTES = 16;
export const COOKIE_BYTES = 16;
export const COOKIE_NONCE_BYTES = 24;
export const TIMESTAMP_BYTES = 12;

// Initiation.
export const INITIATION_SENDER_OFFSET = 4;
export const INITIATION_EPHEMERAL_OFFSET = 8;
export const INITIATION_STATIC_OFFSET = 40;
export const INITIATION_PAYLOAD_OFFSET = 88; // encrypted payload starts here
/** Maximum ticket size carried in an initiation (bytes). */
export const MAX_TICKET_BYTES = 512;
/** version u8 | flags u8 | requested MTU u16 | TAI64N 12 | ticket length u16 | ticket. */
export const INITIATION_PAYLOAD_FIXED_BYTES = 18;
export const INITIATION_PAYLOAD_MAX_BYTES = INITIATION_PAYLOAD_FIXED_BYTES + MAX_TICKET_BYTES;
/** Everything but the payload plaintext: header, e, enc(s), payload tag, mac1, mac2. */
export const INITIATION_OVERHEAD_BYTES = INITIATION_PAYLOAD_OFFSET + TAG_BYTES + 2 * MAC_BYTES;
export const INITIATION_MIN_BYTES = INITIATION_OVERHEAD_BYTES + INITIATION_PAYLOAD_FIXED_BYTES;
export const INITIATION_MAX_BYTES = INITIATION_OVERHEAD_BYTES + INITIATION_PAYLOAD_MAX_BYTES;

// Response.
export const RESPONSE_SENDER_OFFSET = 4;
export const RESPONSE_RECEIVER_OFFSET = 8;
export const RESPONSE_EPHEMERAL_OFFSET = 12;
export const RESPONSE_PAYLOAD_OFFSET = 44;
export const MAX_DNS_SERVERS = 4;
/** Fixed part of the response payload (see payload.ts), then up to MAX_DNS_SERVERS of 1+16 bytes. */
export const RESPONSE_PAYLOAD_FIXED_BYTES = 49;
export const RESPONSE_PAYLOAD_MAX_BYTES = RESPONSE_PAYLOAD_FIXED_BYTES + MAX_DNS_SERVERS * 17;
export const RESPONSE_OVERHEAD_BYTES = RESPONSE_PAYLOAD_OFFSET + TAG_BYTES + 2 * MAC_BYTES;
export const RESPONSE_MIN_BYTES = RESPONSE_OVERHEAD_BYTES + RESPONSE_PAYLOAD_FIXED_BYTES;
export const RESPONSE_MAX_BYTES = RESPONSE_OVERHEAD_BYTES + RESPONSE_PAYLOAD_MAX_BYTES;

// Cookie reply.
export const COOKIE_REPLY_RECEIVER_OFFSET = 4;
export const COOKIE_REPLY_NONCE_OFFSET = 8;
export const COOKIE_REPLY_COOKIE_OFFSET = 32;
export const COOKIE_REPLY_BYTES = COOKIE_REPLY_COOKIE_OFFSET + COOKIE_BYTES + TAG_BYTES;

// Data.
export const DATA_RECEIVER_OFFSET = 4;
export const DATA_COUNTER_OFFSET = 8;
/** Header room a caller reserves in front of a packet so it is encrypted in place. */
export const DATA_HEADER_BYTES = 16;
/** Tail room a caller reserves after a packet for the AEAD tag. */
export const DATA_TRAILER_BYTES = TAG_BYTES;
export const DATA_MIN_BYTES = DATA_HEADER_BYTES + TAG_BYTES;
/**
 * Largest inner packet accepted: the largest whose data message (header + packet + tag) still fits
 * one UDP datagram / one TCP frame (framing's MAX_WIRE_MESSAGE_BYTES = 65_507), so a sealed packet
 * can always be sent and a received one was never refused by the framing layer.
 */
export const MAX_PACKET_BYTES = 65_507 - DATA_HEADER_BYTES - TAG_BYTES;
export const DATA_MAX_BYTES = DATA_HEADER_BYTES + MAX_PACKET_BYTES + TAG_BYTES;

/** Labels of the MAC and cookie keys: HASH(label || responder static public key). */
export const LABEL_MAC1 = 'corridor-mac1---';
export const LABEL_COOKIE = 'corridor-cookie-';

export function readU32(buf: Uint8Array, off: number): number {
  return (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
}

export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
  buf[off + 2] = (v >>> 16) & 0xff;
  buf[off + 3] = (v >>> 24) & 0xff;
}

/**
 * The type byte of a message whose salt is well-formed (not all zero); 0 when malformed, too short or
 * from a version-1 peer (see isLegacyHeader).
 */
export function messageType(buf: Uint8Array): number {
  if (buf.length < 4 || (buf[1]! | buf[2]! | buf[3]!) === 0) return 0;
  return buf[0]!;
}

/** A version-1 (WireGuard-like, zero reserved bytes) message header with a known type. */
export function isLegacyHeader(buf: Uint8Array): boolean {
  return (
    buf.length >= 4 &&
    buf[0]! >= MESSAGE_INITIATION &&
    buf[0]! <= MESSAGE_DATA &&
    (buf[1]! | buf[2]! | buf[3]!) === 0
  );
}

// Salt generator: xorshift32, seeded once from the CSPRNG. The salt only has to look random to a
// classifier and never be all zero; it protects nothing, so a fast non-cryptographic generator on
// the hot path (no allocation, no syscall) is enough.
let saltState = 0;
function nextSalt(): number {
  let x = saltState;
  if (x === 0) {
    const seed = Buffer.alloc(4);
    randomBytes(seed);
    x = seed.readUInt32LE(0) | 1;
  }
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  saltState = x >>> 0 || 0x9e3779b9;
  const salt = saltState & 0xffffff;
  return salt === 0 ? 0x5a1700 : salt;
}

/**
 * Restarts the salt generator from `seed` (non-zero). For tests and vectors that need fixed bytes;
 * production code never calls it (the generator seeds itself from the CSPRNG).
 */
export function seedSalt(seed: number): void {
  saltState = seed >>> 0;
}

/** Writes a fresh non-zero salt into bytes 1..3 of a message (the hot path's header write). */
export function writeSalt(buf: Uint8Array): void {
  const s = nextSalt();
  buf[1] = s & 0xff;
  buf[2] = (s >>> 8) & 0xff;
  buf[3] = s >>> 16;
}

/** Writes the type byte and a fresh salt. */
export function writeHeader(buf: Uint8Array, type: MessageType): void {
  buf[0] = type;
  writeSalt(buf);
}
