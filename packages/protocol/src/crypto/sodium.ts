/**
 * Typed access to the sodium-native functions this package uses that `@types/sodium-native` does not
 * declare (the IETF ChaCha20-Poly1305 AEAD and the streaming BLAKE2b API). Runtime signatures are
 * those of sodium-native 4.x: every function throws on failure (including a failed tag check), so the
 * wrappers in this folder catch and turn failures into boolean results.
 */
import sodiumNative from 'sodium-native';

interface SodiumExtensions {
  readonly crypto_aead_chacha20poly1305_ietf_ABYTES: number;
  readonly crypto_aead_chacha20poly1305_ietf_KEYBYTES: number;
  readonly crypto_aead_chacha20poly1305_ietf_NPUBBYTES: number;
  /** Returns the ciphertext length. `c` must be exactly `m.byteLength + ABYTES`; `c` may alias `m`. */
  crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  /** Returns the plaintext length; throws when the tag does not verify. `m` may alias `c`. */
  crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  readonly crypto_generichash_STATEBYTES: number;
  crypto_generichash_init(state: Uint8Array, key: Uint8Array | null, outlen: number): void;
  crypto_generichash_update(state: Uint8Array, input: Uint8Array): void;
  crypto_generichash_final(state: Uint8Array, out: Uint8Array): void;
}

export const sodium = sodiumNative as typeof sodiumNative & SodiumExtensions;
