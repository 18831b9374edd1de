{
  "targets": [
    {
      # ChaCha20-Poly1305 for the transport data path on Node's own OpenSSL (src/crypto/aead.ts falls
      # back to sodium-native when this is not built or does not load).
      "target_name": "corridor_aead",
      "sources": ["native/aead.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"]
    }
  ]
}
