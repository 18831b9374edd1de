/**
 * The transport AEAD (IETF ChaCha20-Poly1305, nonce = 4 zero bytes || counter u64 LE, no associated
 * data) on offsets into caller buffers, so the data path makes no view per packet.
 *
 * Backend: the package's addon (native/aead.c, on the OpenSSL Node.js links: AVX-512/IFMA assembly,
 * ~2.5x libsodium per packet) when it is built and loads and agrees with libsodium on a known answer at
 * load time; otherwise sodium-native through cached views. Both are constant-time in the key and data.
 *
 * Contracts (both backends): seal writes `n + 16` bytes at `dst[dstOffset]` and returns that length;
 * open reads `n` bytes (ciphertext || tag) and writes `n - 16` plaintext bytes, returning that length or
 * -1 when the tag does not verify (dst then holds garbage). In place (the same memory range for src and
 * dst) is allowed; any other overlap is not. Ranges must lie inside the arrays (callers check first).
 */
import { createRequire } from 'node:module';
import { sodium } from './sodium.js';
import { ViewCache } from '../session/view-cache.js';

export interface AeadImpl {
  seal(
    key: Uint8Array,
    lo: number,
    hi: number,
    src: Uint8Array,
    so: number,
    n: number,
    dst: Uint8Array,
    dof: number,
  ): number;
  open(
    key: Uint8Array,
    lo: number,
    hi: number,
    src: Uint8Array,
    so: number,
    n: number,
    dst: Uint8Array,
    dof: number,
  ): number;
}

export interface NativeAead extends AeadImpl {
  /** 'openssl-raw' (ChaCha20_ctr32 + Poly1305 internals) or 'openssl-evp'. */
  backend(): string;
  /** Chooses the raw path (when available) or EVP; returns the backend in use. */
  setRaw(on: boolean): string;
}

const nonce = Buffer.alloc(12);
const inView = new ViewCache();
const outView = new ViewCache();

function setNonce(lo: number, hi: number): void {
  nonce[4] = lo & 0xff;
  nonce[5] = (lo >>> 8) & 0xff;
  nonce[6] = (lo >>> 16) & 0xff;
  nonce[7] = lo >>> 24;
  nonce[8] = hi & 0xff;
  nonce[9] = (hi >>> 8) & 0xff;
  nonce[10] = (hi >>> 16) & 0xff;
  nonce[11] = hi >>> 24;
}

function sodiumSeal(
  key: Uint8Array,
  lo: number,
  hi: number,
  src: Uint8Array,
  so: number,
  n: number,
  dst: Uint8Array,
  dof: number,
): number {
  setNonce(lo, hi);
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt(
    outView.view(dst, dof, dof + n + 16),
    inView.view(src, so, so + n),
    null,
    null,
    nonce,
    key,
  );
  return n + 16;
}

function sodiumOpen(
  key: Uint8Array,
  lo: number,
  hi: number,
  src: Uint8Array,
  so: number,
  n: number,
  dst: Uint8Array,
  dof: number,
): number {
  setNonce(lo, hi);
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(
      outView.view(dst, dof, dof + n - 16),
      null,
      inView.view(src, so, so + n),
      null,
      nonce,
      key,
    );
  } catch {
    return -1;
  }
  return n - 16;
}

/** The addon, when it loads and produces libsodium's output for a fixed input; otherwise null. */
function loadNative(): NativeAead | null {
  if (process.env.CORRIDOR_AEAD === 'sodium') return null;
  let addon: NativeAead;
  try {
    addon = createRequire(import.meta.url)('../../build/Release/corridor_aead.node') as NativeAead;
  } catch {
    return null;
  }
  try {
    const key = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) key[i] = (i * 7 + 1) & 0xff;
    const msg = Buffer.alloc(1000);
    for (let i = 0; i < msg.length; i++) msg[i] = (i * 13) & 0xff;
    const a = Buffer.alloc(1016);
    const b = Buffer.alloc(1016);
    addon.seal(key, 0x01020304, 0x0506, msg, 0, msg.length, a, 0);
    sodiumSeal(key, 0x01020304, 0x0506, msg, 0, msg.length, b, 0);
    const back = Buffer.alloc(1000);
    if (
      !a.equals(b) ||
      addon.open(key, 0x01020304, 0x0506, a, 0, a.length, back, 0) !== 1000 ||
      !back.equals(msg)
    )
      return null;
    a[5] = (a[5] as number) ^ 1;
    if (addon.open(key, 0x01020304, 0x0506, a, 0, a.length, back, 0) !== -1) return null;
    return addon;
  } catch {
    return null;
  }
}

const native = loadNative();

/** Which implementation the data path uses: 'openssl-raw', 'openssl-evp' or 'sodium'. */
export const AEAD_BACKEND: string = native ? native.backend() : 'sodium';

/** Seals src[so .. so+n) into dst[dof .. dof+n+16) with the counter (lo, hi) as nonce. */
export const aeadSeal: AeadImpl['seal'] = native ? native.seal : sodiumSeal;

/** Opens src[so .. so+n) (ciphertext || tag) into dst[dof .. dof+n-16); -1 when the tag fails. */
export const aeadOpen: AeadImpl['open'] = native ? native.open : sodiumOpen;

/** Both implementations (native is null when unavailable), for tests and benchmarks. */
export function aeadBackends(): { sodium: AeadImpl; native: NativeAead | null } {
  return { sodium: { seal: sodiumSeal, open: sodiumOpen }, native };
}
