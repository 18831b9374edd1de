// ChaCha20-Poly1305 (IETF, RFC 8439) for the transport data path, on the OpenSSL that Node.js itself
// links and exports to addons (its assembly uses AVX-512/AVX2 and, for Poly1305, IFMA where the CPU has
// them: about 2.5x libsodium's per-packet speed on the machines we measured). No I/O, no allocation
// per call, nothing kept between calls but one EVP context per JavaScript environment (thread).
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
#include <node_api.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct aead_env {
  EVP_CIPHER_CTX* enc;
  EVP_CIPHER_CTX* dec;
} aead_env;

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
  free(st);
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
  // Freed with the environment (main thread or worker).
  if (napi_add_finalizer(env, exports, st, free_env, NULL, NULL) != napi_ok) {
    free_env(env, st, NULL);
    return NULL;
  }
  napi_property_descriptor props[] = {
      {"seal", NULL, js_seal, NULL, NULL, NULL, napi_enumerable, st},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, st},
  };
  if (napi_define_properties(env, exports, 2, props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
