{
  "targets": [
    {
      "target_name": "corridor_tun",
      "sources": ["native/tun_linux.c", "native/tun_offload.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"]
    },
    {
      # Batched UDP socket (recvmmsg/sendmmsg, UDP GSO/GRO), exported as @corridor/tun/udp.
      "target_name": "corridor_udp",
      "sources": ["native/udp_linux.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"]
    },
    {
      # Benchmark-only kernel UDP sender (sendmmsg), used by bench/udp-flood-fast.mjs; not exported.
      "target_name": "corridor_tun_bench",
      "sources": ["native/bench_flood.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"]
    }
  ]
}
