/** Noise SymmetricState (spec section 5.2) with BLAKE2b: chaining key `ck` and handshake hash `h`. */
import { hash, HASHLEN, hkdf, wipeBytes } from '../crypto/primitives.js';
import { CipherState } from './cipher-state.js';

export class SymmetricState {
  cipher = new CipherState();
  ck: Buffer;
  h: Buffer;

  constructor(protocolName: string) {
    const name = Buffer.from(protocolName, 'ascii');
    if (name.length <= HASHLEN) {
      this.h = Buffer.alloc(HASHLEN);
      name.copy(this.h);
    } else {
      this.h = hash(name);
    }
    this.ck = Buffer.from(this.h);
  }

  /** An independent copy, so a speculative read can be discarded without touching this state. */
  clone(): SymmetricState {
    const c = new SymmetricState('');
    c.ck = Buffer.from(this.ck);
    c.h = Buffer.from(this.h);
    c.cipher = this.cipher.clone();
    return c;
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = hkdf(this.ck, ikm, 2);
    wipeBytes(this.ck);
    this.ck = ck;
    this.cipher.initializeKey(tempK);
    wipeBytes(tempK);
  }

  mixHash(data: Uint8Array): void {
    this.h = hash(this.h, data);
  }

  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, tempH, tempK] = hkdf(this.ck, ikm, 3);
    wipeBytes(this.ck);
    this.ck = ck;
    this.mixHash(tempH);
    this.cipher.initializeKey(tempK);
    wipeBytes(tempK);
  }

  encryptAndHash(plaintext: Uint8Array): Buffer | null {
    const ciphertext = this.cipher.encryptWithAd(this.h, plaintext);
    if (ciphertext === null) return null;
    this.mixHash(ciphertext);
    return ciphertext;
  }

  decryptAndHash(ciphertext: Uint8Array): Buffer | null {
    const plaintext = this.cipher.decryptWithAd(this.h, ciphertext);
    if (plaintext === null) return null;
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** Returns the two transport keys (32 bytes each, caller owns and must wipe them). */
  split(): [Buffer, Buffer] {
    const [k1, k2] = hkdf(this.ck, Buffer.alloc(0), 2);
    const out: [Buffer, Buffer] = [Buffer.from(k1.subarray(0, 32)), Buffer.from(k2.subarray(0, 32))];
    wipeBytes(k1);
    wipeBytes(k2);
    return out;
  }

  wipe(): void {
    wipeBytes(this.ck);
    this.cipher.wipe();
  }
}
