// ChaCha20-Poly1305 (IETF, RFC 8439) for the transport data path, on the OpenSSL that Node.js itself
// links and exports to addons (its assembly uses AVX-512/AVX2 and, for Poly1305, IFMA where the CPU has
// them: about 2.5x libsodium's per-packet speed on the machines we measured). No I/O, no allocation
// per call, nothing kept between calls but per-environment (thread) contexts.
//
// Two ways to reach that assembly: the AEAD composed here from OpenSSL's ChaCha20_ctr32 and
// Poly1305_{Init,Update,Final} (exported by Node's binary; looked up with dlsym at load, so a Node built
// without them still loads this addon), or, failing that, EVP_chacha20_poly1305 (public API, but its
// provider layer costs per packet: parameter lookups by name for every tag get/set).
//
//   seal(key, counterLo, counterHi, src, srcOffset, length, dst, dstOffset) -> length + 16
//       dst[dstOffset .. +length) = ChaCha20(src[srcOffset .. +length)), then the 16-byte tag.
//   open(key, counterLo, counterHi, src, srcOffset, length, dst, dstOffset) -> length - 16, or -1
//       src[srcOffset .. +length) is ciphertext || tag; on a tag mismatch -1 (dst then holds garbage).
//
// The nonce is Noise's: 4 zero bytes || counter as u64 little-endian; the associated data is empty.
// In place is allowed (dst range == src range); any other overlap is not. Ranges are checked against
// the arrays (a bad range throws TypeError: a caller bug, never a read or write out of bounds).
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <dlfcn.h>
#include <node_api.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void (*chacha_fn)(unsigned char* out, const unsigned char* in, size_t len, const unsigned int key[8],
                          const unsigned int counter[4]);
typedef size_t (*poly_size_fn)(void);
typedef void (*poly_init_fn)(void* ctx, const unsigned char key[32]);
typedef void (*poly_update_fn)(void* ctx, const unsigned char* in, size_t len);
typedef void (*poly_final_fn)(void* ctx, unsigned char mac[16]);

static chacha_fn chacha20_ctr32;
static poly_init_fn poly_init;
static poly_update_fn poly_update;
static poly_final_fn poly_final;
static size_t poly_ctx_bytes;

typedef struct aead_env {
  EVP_CIPHER_CTX* enc;
  EVP_CIPHER_CTX* dec;
  int raw;        // compose from ChaCha20_ctr32 + Poly1305 (1) or use EVP (0)
  void* poly;     // Poly1305 context (poly_ctx_bytes)
} aead_env;

static const uint8_t ZEROS[64];

// RFC 8439 2.8 with empty associated data: Poly1305 over ciphertext || pad16 || le64(0) || le64(len),
// keyed with the first 32 bytes of keystream block 0; the message uses blocks 1, 2, ...
static void raw_tag(aead_env* st, const unsigned int key[8], const unsigned int nonce[3], const uint8_t* ct,
                    size_t n, uint8_t tag[16]) {
  unsigned int ctr[4] = {0, nonce[0], nonce[1], nonce[2]};
  uint8_t block0[64];
  chacha20_ctr32(block0, ZEROS, 64, key, ctr);
  poly_init(st->poly, block0);
  poly_update(st->poly, ct, n);
  if (n % 16) poly_update(st->poly, ZEROS, 16 - n % 16);
  uint8_t lens[16] = {0};
  for (int i = 0; i < 8; i++) lens[8 + i] = (uint8_t)((uint64_t)n >> (8 * i));
  poly_update(st->poly, lens, 16);
  poly_final(st->poly, tag);
  memset(block0, 0, sizeof block0);
}

static void raw_crypt(const unsigned int key[8], const unsigned int nonce[3], const uint8_t* in, uint8_t* out,
                      size_t n) {
  unsigned int ctr[4] = {1, nonce[0], nonce[1], nonce[2]};
  if (n) chacha20_ctr32(out, in, n, key, ctr);
}

static int equal16(const uint8_t* a, const uint8_t* b) {
  uint8_t d = 0;
  for (int i = 0; i < 16; i++) d |= (uint8_t)(a[i] ^ b[i]);
  return d == 0;
}

static napi_value fail(napi_env env, const char* msg) {
  napi_throw_type_error(env, "CORRIDOR_ERR_AEAD_INVALID_ARG", msg);
  return NULL;
}

static int bytes_of(napi_env env, napi_value v, uint8_t** data, size_t* len) {
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  napi_value ab;
  void* p = NULL;
  if (napi_get_typedarray_info(env, v, &type, &length, &p, &ab, &offset) != napi_ok || type != napi_uint8_array)
    return 0;
  *data = p;
  *len = length;
  return 1;
}

static int u32_of(napi_env env, napi_value v, uint32_t* out) {
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

static napi_value run(napi_env env, napi_callback_info info, int encrypt) {
  size_t argc = 8;
  napi_value argv[8], out;
  aead_env* st = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void**)&st) != napi_ok || argc < 8 || st == NULL)
    return fail(env, "(key, counterLo, counterHi, src, srcOffset, length, dst, dstOffset)");
  uint8_t *key, *src, *dst;
  size_t key_len, src_len, dst_len;
  uint32_t lo, hi, so, n, dof;
  if (!bytes_of(env, argv[0], &key, &key_len) || key_len != 32) return fail(env, "key must be 32 bytes");
  if (!u32_of(env, argv[1], &lo) || !u32_of(env, argv[2], &hi)) return fail(env, "counter must be two u32");
  if (!bytes_of(env, argv[3], &src, &src_len) || !bytes_of(env, argv[6], &dst, &dst_len))
    return fail(env, "src and dst must be Uint8Arrays");
  if (!u32_of(env, argv[4], &so) || !u32_of(env, argv[5], &n) || !u32_of(env, argv[7], &dof))
    return fail(env, "offsets and length must be u32");
  size_t out_len = encrypt ? (size_t)n + 16 : (n >= 16 ? (size_t)n - 16 : 0);
  if (!encrypt && n < 16) return fail(env, "length must include the 16-byte tag");
  if ((size_t)so + n > src_len || (size_t)dof + out_len > dst_len) return fail(env, "range outside the array");
  uint8_t iv[12] = {0};
  for (int i = 0; i < 4; i++) {
    iv[4 + i] = (uint8_t)(lo >> (8 * i));
    iv[8 + i] = (uint8_t)(hi >> (8 * i));
  }
  const uint8_t* in = src + so;
  uint8_t* o = dst + dof;
  int len = 0, ok;
  if (st->raw) {
    unsigned int k[8], nonce[3] = {0, lo, hi};
    memcpy(k, key, 32);  // little-endian words (x86-64 and aarch64; the loader refuses big-endian below)
    if (encrypt) {
      raw_crypt(k, nonce, in, o, n);
      raw_tag(st, k, nonce, o, n, o + n);
      memset(k, 0, sizeof k);
      if (napi_create_int32(env, (int32_t)(n + 16), &out) != napi_ok) return NULL;
      return out;
    }
    uint32_t m = n - 16;
    uint8_t tag[16];
    raw_tag(st, k, nonce, in, m, tag);
    // Authenticate first: nothing is decrypted from a forged message.
    ok = equal16(tag, in + m);
    if (ok) raw_crypt(k, nonce, in, o, m);
    memset(k, 0, sizeof k);
    if (napi_create_int32(env, ok ? (int32_t)m : -1, &out) != napi_ok) return NULL;
    return out;
  }
  if (encrypt) {
    ok = EVP_EncryptInit_ex(st->enc, NULL, NULL, key, iv) == 1 &&
         EVP_EncryptUpdate(st->enc, o, &len, in, (int)n) == 1 && EVP_EncryptFinal_ex(st->enc, o + len, &len) == 1 &&
         EVP_CIPHER_CTX_ctrl(st->enc, EVP_CTRL_AEAD_GET_TAG, 16, o + n) == 1;
    if (napi_create_int32(env, ok ? (int32_t)(n + 16) : -2, &out) != napi_ok) return NULL;
    return out;
  }
  uint32_t m = n - 16;
  uint8_t tag[16];
  memcpy(tag, in + m, 16);  // before an in-place decrypt could overwrite nothing of it (dst ends at m)
  ok = EVP_DecryptInit_ex(st->dec, NULL, NULL, key, iv) == 1 &&
       EVP_CIPHER_CTX_ctrl(st->dec, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1 &&
       EVP_DecryptUpdate(st->dec, o, &len, in, (int)m) == 1 && EVP_DecryptFinal_ex(st->dec, o + len, &len) == 1;
  if (napi_create_int32(env, ok ? (int32_t)m : -1, &out) != napi_ok) return NULL;
  return out;
}

static napi_value js_seal(napi_env env, napi_callback_info info) { return run(env, info, 1); }
static napi_value js_open(napi_env env, napi_callback_info info) { return run(env, info, 0); }

static void free_env(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  aead_env* st = data;
  EVP_CIPHER_CTX_free(st->enc);
  EVP_CIPHER_CTX_free(st->dec);
  free(st->poly);
  free(st);
}

// The OpenSSL internals Node exports, or 0 when any is missing (or on a big-endian machine).
static int resolve_raw(void) {
  const uint16_t probe = 1;
  if (*(const uint8_t*)&probe != 1) return 0;
  chacha20_ctr32 = (chacha_fn)dlsym(RTLD_DEFAULT, "ChaCha20_ctr32");
  poly_size_fn size = (poly_size_fn)dlsym(RTLD_DEFAULT, "Poly1305_ctx_size");
  poly_init = (poly_init_fn)dlsym(RTLD_DEFAULT, "Poly1305_Init");
  poly_update = (poly_update_fn)dlsym(RTLD_DEFAULT, "Poly1305_Update");
  poly_final = (poly_final_fn)dlsym(RTLD_DEFAULT, "Poly1305_Final");
  if (!chacha20_ctr32 || !size || !poly_init || !poly_update || !poly_final) return 0;
  poly_ctx_bytes = size();
  return poly_ctx_bytes > 0 && poly_ctx_bytes < 4096;
}

// backend(): 'openssl-raw' | 'openssl-evp'; setRaw(on): picks the path (tests compare both); returns
// the backend now in use (on = true stays on EVP when the internals are not there).
static napi_value js_backend(napi_env env, napi_callback_info info) {
  aead_env* st = NULL;
  napi_value out;
  if (napi_get_cb_info(env, info, NULL, NULL, NULL, (void**)&st) != napi_ok || st == NULL) return NULL;
  napi_create_string_utf8(env, st->raw ? "openssl-raw" : "openssl-evp", NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value js_set_raw(napi_env env, napi_callback_info info) {
  aead_env* st = NULL;
  size_t argc = 1;
  napi_value argv[1];
  bool on = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void**)&st) != napi_ok || st == NULL || argc < 1 ||
      napi_get_value_bool(env, argv[0], &on) != napi_ok)
    return fail(env, "setRaw(on: boolean)");
  st->raw = on && st->poly != NULL;
  return js_backend(env, info);
}

static napi_value Init(napi_env env, napi_value exports) {
  aead_env* st = calloc(1, sizeof *st);
  if (st == NULL) return NULL;
  st->enc = EVP_CIPHER_CTX_new();
  st->dec = EVP_CIPHER_CTX_new();
  const EVP_CIPHER* c = EVP_chacha20_poly1305();
  if (st->enc == NULL || st->dec == NULL || c == NULL || EVP_EncryptInit_ex(st->enc, c, NULL, NULL, NULL) != 1 ||
      EVP_DecryptInit_ex(st->dec, c, NULL, NULL, NULL) != 1) {
    free_env(env, st, NULL);
    napi_throw_error(env, "CORRIDOR_ERR_AEAD_UNAVAILABLE", "ChaCha20-Poly1305 is not available from OpenSSL");
    return NULL;
  }
  if (resolve_raw() && (st->poly = calloc(1, poly_ctx_bytes)) != NULL) st->raw = 1;
  // Freed with the environment (main thread or worker).
  if (napi_add_finalizer(env, exports, st, free_env, NULL, NULL) != napi_ok) {
    free_env(env, st, NULL);
    return NULL;
  }
  napi_property_descriptor props[] = {
      {"seal", NULL, js_seal, NULL, NULL, NULL, napi_enumerable, st},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, st},
      {"backend", NULL, js_backend, NULL, NULL, NULL, napi_enumerable, st},
      {"setRaw", NULL, js_set_raw, NULL, NULL, NULL, napi_enumerable, st},
  };
  if (napi_define_properties(env, exports, 4, props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
