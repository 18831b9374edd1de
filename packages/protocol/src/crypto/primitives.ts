/**
 * The Noise primitives of `Noise_*_25519_ChaChaPoly_BLAKE2b` and the keyed BLAKE2b MACs of the
 * handshake wire format, on sodium-native. All functions write into caller-owned buffers or return
 * fresh buffers owned by the caller; none keeps a reference to its arguments.
 */
import { sodium } from './sodium.js';

export const DHLEN = 32;
export const HASHLEN = 64;
export const BLOCKLEN = 128;
export const KEYLEN = 32;
export const TAGLEN = 16;
export const NONCELEN = 12;
export const XNONCELEN = 24;
/** Output length of the handshake MACs (mac1, mac2, cookie). */
export const MACLEN = 16;

/** X25519(privateKey, publicKey) into `out` (32 bytes). False for a low-order point (all-zero result). */
export function x25519(out: Buffer, privateKey: Uint8Array, publicKey: Uint8Array): boolean {
  if (privateKey.length !== DHLEN || publicKey.length !== DHLEN) return false;
  try {
    sodium.crypto_scalarmult(out, privateKey as Buffer, publicKey as Buffer);
    return true;
  } catch {
    // libsodium refuses contributory-behaviour violations (low-order points) by failing.
    out.fill(0);
    return false;
  }
}

export function x25519Base(out: Buffer, privateKey: Uint8Array): void {
  sodium.crypto_scalarmult_base(out, privateKey as Buffer);
}

/** BLAKE2b-512 of the concatenation of `parts`. */
export function hash(...parts: Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(HASHLEN);
  const state = Buffer.allocUnsafe(sodium.crypto_generichash_STATEBYTES);
  sodium.crypto_generichash_init(state, null, HASHLEN);
  for (const part of parts) sodium.crypto_generichash_update(state, part);
  sodium.crypto_generichash_final(state, out);
  return out;
}

/** BLAKE2b of `parts` truncated by the hash itself to `outLen` bytes (unkeyed). */
export function hashTo(outLen: number, ...parts: Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(outLen);
  const state = Buffer.allocUnsafe(sodium.crypto_generichash_STATEBYTES);
  sodium.crypto_generichash_init(state, null, outLen);
  for (const part of parts) sodium.crypto_generichash_update(state, part);
  sodium.crypto_generichash_final(state, out);
  return out;
}

/**
 * HMAC-BLAKE2b (RFC 2104 with BLAKE2b-512, block size 128). This is what the Noise spec calls HMAC;
 * libsodium's keyed BLAKE2b is a different construction and does not reproduce the Noise vectors.
 */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const block = Buffer.alloc(BLOCKLEN);
  if (key.length > BLOCKLEN) block.set(hash(key));
  else block.set(key);
  for (let i = 0; i < BLOCKLEN; i++) block[i] = block[i]! ^ 0x36;
  const inner = hash(block, ...parts);
  for (let i = 0; i < BLOCKLEN; i++) block[i] = block[i]! ^ 0x36 ^ 0x5c;
  const out = hash(block, inner);
  sodium.sodium_memzero(block);
  sodium.sodium_memzero(inner);
  return out;
}

const BYTE_1 = Buffer.from([1]);
const BYTE_2 = Buffer.from([2]);
const BYTE_3 = Buffer.from([3]);

/** Noise HKDF: two or three HASHLEN outputs derived from chaining key `ck` and input key material. */
export function hkdf(ck: Uint8Array, ikm: Uint8Array, outputs: 2): [Buffer, Buffer];
export function hkdf(ck: Uint8Array, ikm: Uint8Array, outputs: 3): [Buffer, Buffer, Buffer];
export function hkdf(ck: Uint8Array, ikm: Uint8Array, outputs: 2 | 3): Buffer[] {
  const temp = hmac(ck, ikm);
  const o1 = hmac(temp, BYTE_1);
  const o2 = hmac(temp, o1, BYTE_2);
  if (outputs === 2) {
    sodium.sodium_memzero(temp);
    return [o1, o2];
  }
  const o3 = hmac(temp, o2, BYTE_3);
  sodium.sodium_memzero(temp);
  return [o1, o2, o3];
}

/** Writes Noise's 96-bit nonce (4 zero bytes, then the counter as u64 little-endian) into `nonce`. */
export function writeNonce(nonce: Uint8Array, counter: number): void {
  nonce[0] = 0;
  nonce[1] = 0;
  nonce[2] = 0;
  nonce[3] = 0;
  let lo = counter >>> 0;
  let hi = Math.floor(counter / 4294967296) >>> 0;
  nonce[4] = lo & 0xff;
  nonce[5] = (lo >>>= 8) & 0xff;
  nonce[6] = (lo >>>= 8) & 0xff;
  nonce[7] = (lo >>>= 8) & 0xff;
  nonce[8] = hi & 0xff;
  nonce[9] = (hi >>>= 8) & 0xff;
  nonce[10] = (hi >>>= 8) & 0xff;
  nonce[11] = (hi >>>= 8) & 0xff;
}

/**
 * ChaCha20-Poly1305 (IETF) seal of `plaintext` into `out` (exactly plaintext.length + 16 bytes).
 * `out` may start at the same address as `plaintext` (in place); other overlaps are not allowed.
 */
export function aeadSeal(
  out: Uint8Array,
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array | null,
  plaintext: Uint8Array,
): void {
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out, plaintext, ad, null, nonce, key);
}

/** Opens `ciphertext` into `out` (exactly ciphertext.length - 16 bytes). False when the tag fails. */
export function aeadOpen(
  out: Uint8Array,
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array | null,
  ciphertext: Uint8Array,
): boolean {
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, ciphertext, ad, nonce, key);
    return true;
  } catch {
    return false;
  }
}

/** XChaCha20-Poly1305 seal (used for cookie replies). `out` is plaintext.length + 16 bytes. */
export function xaeadSeal(
  out: Buffer,
  key: Buffer,
  nonce: Buffer,
  ad: Buffer | null,
  plaintext: Buffer,
): void {
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, ad, null, nonce, key);
}

export function xaeadOpen(
  out: Buffer,
  key: Buffer,
  nonce: Buffer,
  ad: Buffer | null,
  ciphertext: Buffer,
): boolean {
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, ciphertext, ad, nonce, key);
    return true;
  } catch {
    return false;
  }
}

/** Keyed BLAKE2b with a MACLEN (16-byte) output: `mac1`, `mac2` and the cookie. Key: 16..64 bytes. */
export function mac(out: Uint8Array, key: Uint8Array, message: Uint8Array): void {
  sodium.crypto_generichash(out as Buffer, message as Buffer, key as Buffer);
}

export function randomBytes(out: Buffer): void {
  sodium.randombytes_buf(out);
}

/** Constant-time equality of two byte ranges of equal length (false when lengths differ). */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return sodium.sodium_memcmp(a as Buffer, b as Buffer);
}

export function isAllZero(a: Uint8Array): boolean {
  return sodium.sodium_is_zero(a as Buffer, a.length);
}

export function wipeBytes(a: Uint8Array): void {
  sodium.sodium_memzero(a as Buffer);
}
