/**
 * Branded key types: one type per key kind, so a node's X25519 static key can never be passed where
 * an Ed25519 signing key is expected. Text forms name their kind (`x25519pub:<base64url>`), compares
 * are constant-time, private keys are never rendered by `toString`/JSON, and `wipe*` zeroes secrets.
 */
import sodium from 'sodium-native';
import { err, ok, type Result } from './result.js';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type X25519PublicKey = Brand<Buffer, 'X25519PublicKey'>;
export type X25519PrivateKey = Brand<Buffer, 'X25519PrivateKey'>;
export type Ed25519PublicKey = Brand<Buffer, 'Ed25519PublicKey'>;
/** libsodium's 64-byte form (seed || public key). */
export type Ed25519PrivateKey = Brand<Buffer, 'Ed25519PrivateKey'>;

export const X25519_KEY_BYTES = 32;
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_PRIVATE_KEY_BYTES = 64;

export type KeyKind = 'x25519pub' | 'ed25519pub';

export interface X25519KeyPair {
  readonly publicKey: X25519PublicKey;
  readonly privateKey: X25519PrivateKey;
}
export interface Ed25519KeyPair {
  readonly publicKey: Ed25519PublicKey;
  readonly privateKey: Ed25519PrivateKey;
}

/** Secret buffers live outside the JS heap's pooled slabs and print as a redaction marker. */
function secretBuffer(size: number): Buffer {
  const buf = Buffer.alloc(size);
  Object.defineProperty(buf, 'toJSON', { value: () => '[secret]', enumerable: false });
  Object.defineProperty(buf, 'inspect', { value: () => '[secret]', enumerable: false });
  Object.defineProperty(buf, Symbol.for('nodejs.util.inspect.custom'), {
    value: () => '<secret key>',
    enumerable: false,
  });
  return buf;
}

export function generateX25519KeyPair(): X25519KeyPair {
  const privateKey = secretBuffer(X25519_KEY_BYTES);
  sodium.randombytes_buf(privateKey);
  return {
    privateKey: privateKey as X25519PrivateKey,
    publicKey: x25519PublicFromPrivate(privateKey as X25519PrivateKey),
  };
}

export function x25519PublicFromPrivate(privateKey: X25519PrivateKey): X25519PublicKey {
  const pub = Buffer.alloc(X25519_KEY_BYTES);
  sodium.crypto_scalarmult_base(pub, privateKey);
  return pub as X25519PublicKey;
}

/** Wraps raw private key bytes (copied) as an X25519 private key. */
export function x25519PrivateKeyFromBytes(bytes: Uint8Array): Result<X25519PrivateKey, 'badLength'> {
  if (bytes.length !== X25519_KEY_BYTES) return err('badLength');
  const key = secretBuffer(X25519_KEY_BYTES);
  key.set(bytes);
  return ok(key as X25519PrivateKey);
}

export function generateEd25519KeyPair(): Ed25519KeyPair {
  const publicKey = Buffer.alloc(ED25519_PUBLIC_KEY_BYTES);
  const privateKey = secretBuffer(ED25519_PRIVATE_KEY_BYTES);
  sodium.crypto_sign_keypair(publicKey, privateKey);
  return { publicKey: publicKey as Ed25519PublicKey, privateKey: privateKey as Ed25519PrivateKey };
}

/** Wraps a 64-byte libsodium Ed25519 secret key (copied). */
export function ed25519PrivateKeyFromBytes(bytes: Uint8Array): Result<Ed25519PrivateKey, 'badLength'> {
  if (bytes.length !== ED25519_PRIVATE_KEY_BYTES) return err('badLength');
  const key = secretBuffer(ED25519_PRIVATE_KEY_BYTES);
  key.set(bytes);
  return ok(key as Ed25519PrivateKey);
}

export function ed25519PublicFromPrivate(privateKey: Ed25519PrivateKey): Ed25519PublicKey {
  const pub = Buffer.alloc(ED25519_PUBLIC_KEY_BYTES);
  sodium.crypto_sign_ed25519_sk_to_pk(pub, privateKey);
  return pub as Ed25519PublicKey;
}

/** `x25519pub:<base64url>` / `ed25519pub:<base64url>`: public keys only. */
export function formatPublicKey(kind: 'x25519pub', key: X25519PublicKey): string;
export function formatPublicKey(kind: 'ed25519pub', key: Ed25519PublicKey): string;
export function formatPublicKey(kind: KeyKind, key: Buffer): string {
  return `${kind}:${key.toString('base64url')}`;
}

const BASE64URL_32 = /^[A-Za-z0-9_-]{43}$/;

export function parseX25519PublicKey(text: string): Result<X25519PublicKey, 'malformed'> {
  const body = stripKind(text, 'x25519pub');
  if (body === null) return err('malformed');
  return ok(body as X25519PublicKey);
}

export function parseEd25519PublicKey(text: string): Result<Ed25519PublicKey, 'malformed'> {
  const body = stripKind(text, 'ed25519pub');
  if (body === null) return err('malformed');
  return ok(body as Ed25519PublicKey);
}

function stripKind(text: string, kind: KeyKind): Buffer | null {
  if (typeof text !== 'string' || !text.startsWith(`${kind}:`)) return null;
  const b64 = text.slice(kind.length + 1);
  if (!BASE64URL_32.test(b64)) return null;
  const bytes = Buffer.from(b64, 'base64url');
  return bytes.length === 32 ? bytes : null;
}

/** Short form for logs: kind and the first 8 base64url characters. */
export function shortKey(key: Buffer): string {
  return key.toString('base64url').slice(0, 8);
}

/** Constant-time equality for keys, MACs and tokens of equal length; different lengths are unequal. */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length || a.length === 0) return false;
  return sodium.sodium_memcmp(a, b);
}

/** Zeroes a secret in place (the buffer stays usable but holds zeros). */
export function wipe(secret: Buffer): void {
  sodium.sodium_memzero(secret);
}
