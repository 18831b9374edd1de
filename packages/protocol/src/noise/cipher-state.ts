/**
 * Noise CipherState (spec section 5.1) for ChaChaPoly. Owns a private copy of its key; `wipe()`
 * zeroes it and the state then behaves as "no key" (plaintext pass-through is NOT re-enabled: a
 * wiped state refuses to encrypt or decrypt).
 */
import { aeadOpen, aeadSeal, KEYLEN, NONCELEN, TAGLEN, wipeBytes, writeNonce } from '../crypto/primitives.js';

/** Noise reserves nonce 2^64-1; we stop far earlier, at the largest exact JS integer. */
const MAX_NONCE = Number.MAX_SAFE_INTEGER;

export class CipherState {
  private readonly key = Buffer.alloc(KEYLEN);
  private readonly nonceBuf = Buffer.alloc(NONCELEN);
  private keyed = false;
  private wiped = false;
  /** Next nonce to use. */
  n = 0;

  initializeKey(key: Uint8Array | null): void {
    if (key === null) {
      this.keyed = false;
      this.key.fill(0);
    } else {
      this.key.set(key.subarray(0, KEYLEN));
      this.keyed = true;
    }
    this.n = 0;
  }

  hasKey(): boolean {
    return this.keyed;
  }

  /** Returns a fresh buffer holding ad-authenticated ciphertext (or a copy of plaintext without key). */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Buffer | null {
    if (this.wiped) return null;
    if (!this.keyed) return Buffer.from(plaintext);
    if (this.n >= MAX_NONCE) return null;
    const out = Buffer.allocUnsafe(plaintext.length + TAGLEN);
    writeNonce(this.nonceBuf, this.n);
    aeadSeal(out, this.key, this.nonceBuf, ad, plaintext);
    this.n++;
    return out;
  }

  /** Returns the plaintext, or null when authentication fails (the nonce is then not consumed). */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Buffer | null {
    if (this.wiped) return null;
    if (!this.keyed) return Buffer.from(ciphertext);
    if (ciphertext.length < TAGLEN || this.n >= MAX_NONCE) return null;
    const out = Buffer.allocUnsafe(ciphertext.length - TAGLEN);
    writeNonce(this.nonceBuf, this.n);
    if (!aeadOpen(out, this.key, this.nonceBuf, ad, ciphertext)) return null;
    this.n++;
    return out;
  }

  /** Copies the 32-byte key out (for handing transport keys to a session). Caller owns and wipes it. */
  exportKey(): Buffer {
    return Buffer.from(this.key);
  }

  /** An independent copy (own key buffer). */
  clone(): CipherState {
    const c = new CipherState();
    c.key.set(this.key);
    c.keyed = this.keyed;
    c.wiped = this.wiped;
    c.n = this.n;
    return c;
  }

  wipe(): void {
    wipeBytes(this.key);
    this.keyed = false;
    this.wiped = true;
  }
}
