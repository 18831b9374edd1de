// Benchmark-only helper (not part of the @corridor/tun API): a kernel UDP sender fast enough to
// saturate a TUN reader. floodUdp(addr, port, size, durationMs) blocks the calling thread, sending
// `size`-byte IPv4 datagrams (IP + UDP headers included) with sendmmsg(2) in batches of 64, and returns
// the number the kernel accepted. Run it in its own process (bench/udp-flood-fast.mjs).
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static napi_value flood_udp(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], out;
  char addr[64];
  size_t len;
  uint32_t port, size, duration;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4 || napi_get_value_string_utf8(env, argv[0], addr, sizeof addr, &len) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &port) != napi_ok || napi_get_value_uint32(env, argv[2], &size) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &duration) != napi_ok || size < 29 || size > 65507) {
    napi_throw_type_error(env, NULL, "floodUdp(addr, port, size 29..65507, durationMs)");
    return NULL;
  }
  struct sockaddr_in dst;
  memset(&dst, 0, sizeof dst);
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, addr, &dst.sin_addr) != 1) {
    napi_throw_type_error(env, NULL, "floodUdp: bad IPv4 address");
    return NULL;
  }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0 || connect(s, (struct sockaddr*)&dst, sizeof dst) < 0) {
    if (s >= 0) close(s);
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  int sndbuf = 4 << 20;
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  static char payload[65536];
  memset(payload, 'a', sizeof payload);
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = payload;
    iov[i].iov_len = size - 28;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  double sent = 0, end = now_ms() + duration;
  while (now_ms() < end) {
    int n = sendmmsg(s, msgs, BATCH, 0);
    if (n > 0) sent += n;
    else if (n < 0 && errno != EINTR && errno != EAGAIN && errno != ENOBUFS) break;
  }
  close(s);
  napi_create_double(env, sent, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "floodUdp", NAPI_AUTO_LENGTH, flood_udp, NULL, &fn);
  napi_set_named_property(env, exports, "floodUdp", fn);
  return exports;
}
