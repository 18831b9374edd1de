// Corridor batched UDP addon (Linux): one non-blocking UDP socket driven by the JS thread's event loop.
//
// Data path, receive side:
//   1. a uv_poll_t watches the socket on the JS thread's own event loop (no thread pool);
//   2. on readable, on_poll() calls recvmmsg(2) for up to `batch` datagrams straight into ONE slab that
//      JavaScript allocated and handed over at attach time (slot k = slab[k*slot .. (k+1)*slot));
//   3. with UDP_GRO on, the kernel may coalesce several datagrams of one flow into one slot; the cmsg
//      gives the segment size and this file splits the slot back into datagrams (no copy);
//   4. per datagram, 9 u32 go into a Uint32Array shared with JavaScript:
//        [offset, length, sourcePort, family (4|6), address bytes 0..3, 4..7, 8..11, 12..15, scope id]
//      (IPv4 and v4-mapped IPv6 sources are reported as family 4 in the first address word; the scope
//      id is the interface index of a link-local IPv6 source, 0 otherwise: two peers may own the same
//      link-local address on different links, and a reply must leave by the link it came from), then ONE
//      JS call `onRead(count)`. The slab is reused by the next recvmmsg as soon as that call returns.
//   5. Before every recvmmsg the slab, meta and stats arrays are checked to still own the memory attach()
//      saw: a handler can detach the slab (ArrayBuffer.prototype.transfer() ignores
//      markAsUntransferable), after which that memory belongs to another buffer and may be freed. Then
//      reading stops and onError(EFAULT, "slab") reports it; nothing is ever received into it again.
// Data path, send side:
//   sendSlab() takes a slab and the same 8-u32 layout per datagram (destination instead of source) and
//   sends them with sendmmsg(2). With UDP_SEGMENT (GSO) available, runs of datagrams to the same
//   destination with the same size (the last one may be shorter) become one message of up to 64
//   segments: one trip through the stack for the whole run. EAGAIN stops the batch and arms
//   UV_WRITABLE (`onWritable()` follows); other errno values drop that message, are counted, and the
//   batch continues. Nothing on the packet path throws. The meta words are copied once, then
//   validated, then used: a meta array in a SharedArrayBuffer that another thread rewrites cannot make
//   it send memory past the validated slab.
// Lifetime: like tun_linux.c — close() stops the poll and uv_close()s the handle; the fd is closed and
// the buffers released only in the close callback. An async env cleanup hook closes forgotten sockets.
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

// Stats slots in the Float64Array shared with JavaScript (keep in sync with src/udp-native.ts).
enum {
  US_RX_PACKETS = 0,
  US_RX_BYTES,
  US_RX_BATCHES,
  US_RX_TRUNCATED,
  US_RX_GRO_SEGMENTS,
  US_RX_ERRORS,
  US_TX_PACKETS,
  US_TX_BYTES,
  US_TX_SYSCALLS,
  US_TX_GSO_MESSAGES,
  US_TX_EAGAIN,
  US_TX_ERRORS,
  US_TX_LAST_ERRNO,
  US_RX_OVERFLOW,
  US_COUNT
};

#define META_WORDS 9
#define MAX_BATCHES_PER_WAKE 8
#define MAX_DATAGRAM 65535
#define MAX_BATCH 1024
#define SEND_CHUNK 256     // messages per sendmmsg call
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65000
#define CTRL_BYTES 64

static const napi_type_tag UDP_HANDLE_TAG = {0x636f727269646f72ULL, 0x7564702d68616e64ULL};

typedef struct udp_handle {
  uv_poll_t poll;  // first member
  napi_env env;
  int fd;
  int family;  // AF_INET or AF_INET6 (socket family)
  int reading, want_write, closing, teardown, closed_done, finalized;
  int gro, gso;
  uint8_t* slab;
  size_t slab_len;
  uint32_t slot;
  uint32_t batch;
  uint32_t* meta;
  uint32_t meta_cap;  // entries
  size_t meta_bytes;
  double* stats;
  size_t stats_bytes;
  struct mmsghdr* rmsgs;
  struct iovec* riov;
  struct sockaddr_storage* raddr;
  uint8_t* rctrl;
  struct mmsghdr smsgs[SEND_CHUNK];
  struct iovec siov[SEND_CHUNK * 2];
  struct sockaddr_storage saddr[SEND_CHUNK];
  uint8_t sctrl[SEND_CHUNK][CMSG_SPACE(sizeof(uint16_t))];
  uint32_t sseg[SEND_CHUNK];  // datagrams per message
  napi_ref slab_ref, meta_ref, stats_ref, on_read_ref, on_writable_ref, on_error_ref, on_close_ref;
  napi_async_context async_ctx;
  napi_async_cleanup_hook_handle cleanup_handle;
} udp_handle;

// ---- helpers (same conventions as tun_linux.c) ---------------------------------------------------

#define NAPI_OK(call)                              \
  do {                                             \
    if ((call) != napi_ok) return throw_last(env); \
  } while (0)

static napi_value throw_last(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const napi_extended_error_info* info = NULL;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, "CORRIDOR_ERR_UDP_NAPI",
                     info && info->error_message ? info->error_message : "N-API call failed");
  }
  return NULL;
}

static const char* errno_name(int err) {
  const char* name = uv_err_name(-err);
  return name ? name : "EUNKNOWN";
}

static napi_value throw_errno(napi_env env, const char* syscall, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s failed: %s (%s)", syscall, strerror(err), errno_name(err));
  napi_value m, e, v;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m) != napi_ok) return NULL;
  if (napi_create_error(env, NULL, m, &e) != napi_ok) return NULL;
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, e, "errno", v);
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, e, "code", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, e, "syscall", v);
  napi_throw(env, e);
  return NULL;
}

static napi_value throw_type(napi_env env, const char* msg) {
  napi_throw_type_error(env, "CORRIDOR_ERR_UDP_INVALID_ARG", msg);
  return NULL;
}

static udp_handle* get_handle(napi_env env, napi_value v) {
  void* p = NULL;
  bool tagged = false;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, &UDP_HANDLE_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    throw_type(env, "invalid UDP handle");
    return NULL;
  }
  return (udp_handle*)p;
}

static napi_status typed_array_data(napi_env env, napi_value v, napi_typedarray_type want, void** data,
                                    size_t* bytes) {
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  napi_value ab;
  napi_status st = napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset);
  if (st != napi_ok) return st;
  if (type != want) return napi_invalid_arg;
  size_t el = type == napi_float64_array ? 8 : type == napi_uint32_array ? 4 : 1;
  *bytes = length * el;
  return napi_ok;
}

// ---- addresses ----------------------------------------------------------------------------------

// Writes port/family/address/scope words of `sa` into meta[2..8]. v4-mapped IPv6 is reported as IPv4.
static void put_source(uint32_t* m, const struct sockaddr_storage* sa) {
  m[4] = m[5] = m[6] = m[7] = m[8] = 0;
  if (sa->ss_family == AF_INET) {
    const struct sockaddr_in* s4 = (const struct sockaddr_in*)sa;
    m[2] = ntohs(s4->sin_port);
    m[3] = 4;
    memcpy(&m[4], &s4->sin_addr, 4);
  } else if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6* s6 = (const struct sockaddr_in6*)sa;
    m[2] = ntohs(s6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
      m[3] = 4;
      memcpy(&m[4], &s6->sin6_addr.s6_addr[12], 4);
    } else {
      m[3] = 6;
      memcpy(&m[4], &s6->sin6_addr, 16);
      m[8] = s6->sin6_scope_id;
    }
  } else {
    m[2] = 0;
    m[3] = 0;
  }
}

// Builds the destination sockaddr for meta words m[2..8] on a socket of `family`. Returns its length,
// or 0 when the destination cannot be reached from this socket (IPv6 destination on an IPv4 socket).
static socklen_t make_dest(int family, const uint32_t* m, struct sockaddr_storage* out) {
  memset(out, 0, sizeof *out);
  uint32_t port = m[2], fam = m[3];
  if (port == 0 || port > 65535) return 0;
  if (family == AF_INET) {
    if (fam != 4) return 0;
    struct sockaddr_in* s4 = (struct sockaddr_in*)out;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    memcpy(&s4->sin_addr, &m[4], 4);
    return sizeof *s4;
  }
  struct sockaddr_in6* s6 = (struct sockaddr_in6*)out;
  s6->sin6_family = AF_INET6;
  s6->sin6_port = htons((uint16_t)port);
  if (fam == 4) {
    s6->sin6_addr.s6_addr[10] = 0xff;
    s6->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&s6->sin6_addr.s6_addr[12], &m[4], 4);
  } else if (fam == 6) {
    memcpy(&s6->sin6_addr, &m[4], 16);
    s6->sin6_scope_id = m[8];
  } else {
    return 0;
  }
  return sizeof *s6;
}

// ---- socket creation ----------------------------------------------------------------------------

static int set_int(int fd, int level, int opt, int value) {
  return setsockopt(fd, level, opt, &value, sizeof value);
}

// socket(family: 4|6, address: string, port, reusePort, v6Only, rcvBuf, sndBuf): [fd, port, address]
static napi_value js_socket(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) return throw_type(env, "socket(family, address, port, reusePort, v6Only, rcvBuf, sndBuf)");
  int32_t fam = 0, port = -1, rcvbuf = 0, sndbuf = 0;
  bool reuse = false, v6only = false;
  char addr[64];
  size_t alen = 0;
  if (napi_get_value_int32(env, argv[0], &fam) != napi_ok || (fam != 4 && fam != 6))
    return throw_type(env, "family must be 4 or 6");
  if (napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &alen) != napi_ok || alen >= sizeof addr - 1)
    return throw_type(env, "address must be a short string");
  if (napi_get_value_int32(env, argv[2], &port) != napi_ok || port < 0 || port > 65535)
    return throw_type(env, "port must be an integer in 0..65535");
  NAPI_OK(napi_get_value_bool(env, argv[3], &reuse));
  NAPI_OK(napi_get_value_bool(env, argv[4], &v6only));
  if (napi_get_value_int32(env, argv[5], &rcvbuf) != napi_ok || rcvbuf < 0) return throw_type(env, "rcvBuf");
  if (napi_get_value_int32(env, argv[6], &sndbuf) != napi_ok || sndbuf < 0) return throw_type(env, "sndBuf");

  struct sockaddr_storage ss;
  socklen_t slen;
  memset(&ss, 0, sizeof ss);
  if (fam == 4) {
    struct sockaddr_in* s4 = (struct sockaddr_in*)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, alen ? addr : "0.0.0.0", &s4->sin_addr) != 1)
      return throw_type(env, "address is not an IPv4 address");
    slen = sizeof *s4;
  } else {
    struct sockaddr_in6* s6 = (struct sockaddr_in6*)&ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, alen ? addr : "::", &s6->sin6_addr) != 1)
      return throw_type(env, "address is not an IPv6 address");
    slen = sizeof *s6;
  }
  int fd = socket(fam == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  const char* failed = NULL;
  if (reuse && set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1) < 0) failed = "setsockopt(SO_REUSEPORT)";
  if (!failed && fam == 6 && set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only ? 1 : 0) < 0)
    failed = "setsockopt(IPV6_V6ONLY)";
  // Larger kernel buffers absorb bursts between two event-loop turns; *FORCE needs CAP_NET_ADMIN and
  // falls back to the plain option (capped by net.core.[rw]mem_max) without it.
  if (!failed && rcvbuf > 0 && set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf) < 0)
    set_int(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf);
  if (!failed && sndbuf > 0 && set_int(fd, SOL_SOCKET, SO_SNDBUFFORCE, sndbuf) < 0)
    set_int(fd, SOL_SOCKET, SO_SNDBUF, sndbuf);
  if (!failed && bind(fd, (struct sockaddr*)&ss, slen) < 0) failed = "bind";
  if (failed) {
    int err = errno;
    close(fd);
    return throw_errno(env, failed, err);
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  char text[INET6_ADDRSTRLEN] = "";
  int bport = 0;
  if (getsockname(fd, (struct sockaddr*)&bound, &blen) == 0) {
    if (bound.ss_family == AF_INET) {
      struct sockaddr_in* b4 = (struct sockaddr_in*)&bound;
      bport = ntohs(b4->sin_port);
      inet_ntop(AF_INET, &b4->sin_addr, text, sizeof text);
    } else {
      struct sockaddr_in6* b6 = (struct sockaddr_in6*)&bound;
      bport = ntohs(b6->sin6_port);
      inet_ntop(AF_INET6, &b6->sin6_addr, text, sizeof text);
    }
  }
  napi_value result, v;
  if (napi_create_array_with_length(env, 3, &result) != napi_ok) {
    close(fd);
    return throw_last(env);
  }
  napi_create_int32(env, fd, &v);
  napi_set_element(env, result, 0, v);
  napi_create_int32(env, bport, &v);
  napi_set_element(env, result, 1, v);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v);
  napi_set_element(env, result, 2, v);
  return result;
}

// closeFd(fd): for sockets never attached.
static napi_value js_close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return throw_type(env, "closeFd(fd)");
  close(fd);
  return NULL;
}

// ---- event loop side ------------------------------------------------------------------------------

static void update_poll(udp_handle* h);

static napi_value ref_value(napi_env env, napi_ref ref) {
  napi_value v = NULL;
  if (ref) napi_get_reference_value(env, ref, &v);
  return v;
}

static void route_exception(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
}

static void call_js(udp_handle* h, napi_ref fn_ref, size_t argc, napi_value* argv) {
  napi_env env = h->env;
  napi_value fn = ref_value(env, fn_ref), recv, ret;
  if (fn == NULL) return;
  if (napi_get_global(env, &recv) != napi_ok) return;
  if (napi_make_callback(env, h->async_ctx, recv, fn, argc, argv, &ret) != napi_ok) route_exception(env);
}

static void emit_error(udp_handle* h, const char* syscall, int err) {
  napi_value argv[2];
  napi_create_int32(h->env, err, &argv[0]);
  napi_create_string_utf8(h->env, syscall, NAPI_AUTO_LENGTH, &argv[1]);
  call_js(h, h->on_error_ref, 2, argv);
}

// True while the typed array behind `ref` still covers exactly the memory attach() saw. A detached
// (transferred) ArrayBuffer reports length 0 and no data, so any change means the memory is no longer
// ours to touch.
static int shared_intact(udp_handle* h, napi_ref ref, const void* want, size_t want_bytes) {
  napi_value v = ref_value(h->env, ref);
  napi_typedarray_type type;
  size_t length = 0;
  void* data = NULL;
  if (v == NULL || napi_get_typedarray_info(h->env, v, &type, &length, &data, NULL, NULL) != napi_ok) return 0;
  size_t el = type == napi_float64_array ? 8 : type == napi_uint32_array ? 4 : 1;
  return data == want && length * el == want_bytes;
}

// The stats array is written by every send; slab, meta and stats by every receive.
static int stats_intact(udp_handle* h) { return shared_intact(h, h->stats_ref, h->stats, h->stats_bytes); }

static int read_buffers_intact(udp_handle* h) {
  return shared_intact(h, h->slab_ref, h->slab, h->slab_len) &&
         shared_intact(h, h->meta_ref, h->meta, h->meta_bytes) && stats_intact(h);
}

static int gro_size(struct msghdr* mh) {
  for (struct cmsghdr* c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int v = 0;
      memcpy(&v, CMSG_DATA(c), sizeof v);
      return v;
    }
  }
  return 0;
}

static void on_poll(uv_poll_t* poll, int status, int events) {
  udp_handle* h = (udp_handle*)poll;
  if (h->closing || h->teardown) return;
  napi_env env = h->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;

  if (status < 0) {
    h->reading = 0;
    h->want_write = 0;
    update_poll(h);
    emit_error(h, "uv_poll", -status);
    goto out;
  }
  if ((events & UV_WRITABLE) && h->want_write) {
    h->want_write = 0;
    update_poll(h);
    call_js(h, h->on_writable_ref, 0, NULL);
    if (h->closing) goto out;
  }
  if (events & UV_READABLE) {
    for (int b = 0; b < MAX_BATCHES_PER_WAKE && h->reading && !h->closing; b++) {
      if (!read_buffers_intact(h)) {
        // A handler detached a shared buffer: stop for good; JavaScript reports it and closes.
        h->reading = 0;
        update_poll(h);
        emit_error(h, "slab", EFAULT);
        break;
      }
      for (uint32_t k = 0; k < h->batch; k++) {
        struct msghdr* mh = &h->rmsgs[k].msg_hdr;
        h->riov[k].iov_base = h->slab + (size_t)k * h->slot;
        h->riov[k].iov_len = h->slot;
        mh->msg_iov = &h->riov[k];
        mh->msg_iovlen = 1;
        mh->msg_name = &h->raddr[k];
        mh->msg_namelen = sizeof h->raddr[k];
        mh->msg_control = h->rctrl + (size_t)k * CTRL_BYTES;
        mh->msg_controllen = CTRL_BYTES;
        mh->msg_flags = 0;
        h->rmsgs[k].msg_len = 0;
      }
      int n = recvmmsg(h->fd, h->rmsgs, h->batch, 0, NULL);
      if (n < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) break;
        h->stats[US_RX_ERRORS] += 1;
        if (err == EBADF || err == ENOTSOCK) {
          h->reading = 0;
          update_poll(h);
        }
        emit_error(h, "recvmmsg", err);
        break;
      }
      h->stats[US_RX_BATCHES] += 1;
      uint32_t entries = 0;
      double bytes = 0;
      for (int k = 0; k < n; k++) {
        struct msghdr* mh = &h->rmsgs[k].msg_hdr;
        uint32_t len = h->rmsgs[k].msg_len;
        if (mh->msg_flags & MSG_TRUNC) {
          h->stats[US_RX_TRUNCATED] += 1;
          continue;
        }
        uint32_t seg = h->gro ? (uint32_t)gro_size(mh) : 0;
        if (seg == 0 || seg >= len) seg = len;
        uint32_t base = (uint32_t)((size_t)k * h->slot);
        uint32_t parts = 0;
        for (uint32_t off = 0; off < len || (len == 0 && parts == 0); off += seg) {
          if (entries >= h->meta_cap) {
            h->stats[US_RX_OVERFLOW] += 1;
            break;
          }
          uint32_t l = len - off < seg ? len - off : seg;
          uint32_t* m = &h->meta[(size_t)entries * META_WORDS];
          m[0] = base + off;
          m[1] = l;
          put_source(m, &h->raddr[k]);
          entries++;
          parts++;
          bytes += l;
          if (len == 0) break;
        }
        if (parts > 1) h->stats[US_RX_GRO_SEGMENTS] += parts;
      }
      if (entries > 0) {
        h->stats[US_RX_PACKETS] += entries;
        h->stats[US_RX_BYTES] += bytes;
        napi_value argv[1];
        if (napi_create_uint32(env, entries, &argv[0]) == napi_ok) call_js(h, h->on_read_ref, 1, argv);
      }
      if ((uint32_t)n < h->batch) break;  // drained
    }
  }
out:
  napi_close_handle_scope(env, scope);
}

static void update_poll(udp_handle* h) {
  if (h->closing) return;
  int events = (h->reading ? UV_READABLE : 0) | (h->want_write ? UV_WRITABLE : 0);
  if (events == 0)
    uv_poll_stop(&h->poll);
  else
    uv_poll_start(&h->poll, events, on_poll);
}

static void free_state(udp_handle* h) {
  free(h->rmsgs);
  free(h->riov);
  free(h->raddr);
  free(h->rctrl);
  h->rmsgs = NULL;
  h->riov = NULL;
  h->raddr = NULL;
  h->rctrl = NULL;
}

static void on_handle_closed(uv_handle_t* handle) {
  udp_handle* h = (udp_handle*)handle;
  napi_env env = h->env;
  if (h->fd >= 0) close(h->fd);
  h->fd = -1;
  if (!h->teardown) {
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) == napi_ok) {
      call_js(h, h->on_close_ref, 0, NULL);
      napi_close_handle_scope(env, scope);
    }
    napi_ref refs[] = {h->slab_ref, h->meta_ref, h->stats_ref, h->on_read_ref,
                       h->on_writable_ref, h->on_error_ref, h->on_close_ref};
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
      if (refs[i]) napi_delete_reference(env, refs[i]);
    napi_async_destroy(env, h->async_ctx);
  }
  if (h->cleanup_handle) napi_remove_async_cleanup_hook(h->cleanup_handle);
  free_state(h);
  h->closed_done = 1;
  if (h->finalized) free(h);
}

static void start_close(udp_handle* h) {
  if (h->closing) return;
  h->closing = 1;
  h->reading = 0;
  h->want_write = 0;
  uv_poll_stop(&h->poll);
  uv_close((uv_handle_t*)&h->poll, on_handle_closed);
}

static void on_external_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  udp_handle* h = (udp_handle*)data;
  h->finalized = 1;
  if (h->closed_done) {
    free(h);
    return;
  }
  h->teardown = 1;
  start_close(h);
}

static void on_env_cleanup(napi_async_cleanup_hook_handle hook, void* arg) {
  (void)hook;
  udp_handle* h = (udp_handle*)arg;
  h->teardown = 1;
  start_close(h);
}

// attach(fd, family, slab: Uint8Array, slot, batch, meta: Uint32Array, stats: Float64Array, gro: bool,
//        onRead(count), onWritable(), onError(errno, syscall), onClose()): [External, groOn, gsoOn]
// `slab` must hold batch * slot bytes; `meta` at least 9 u32 per entry (entries = meta.length / 9,
// >= batch). The arrays stay referenced until the handle is closed; JavaScript must not detach them.
static napi_value js_attach(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12], result, ext, v;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 12) return throw_type(env, "attach: expected 12 arguments");
  int32_t fd = -1, fam = 0;
  uint32_t slot = 0, batch = 0;
  bool want_gro = false;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return throw_type(env, "attach: bad fd");
  if (napi_get_value_int32(env, argv[1], &fam) != napi_ok || (fam != 4 && fam != 6))
    return throw_type(env, "attach: family must be 4 or 6");
  void *slab, *meta, *stats;
  size_t slab_len, meta_len, stats_len;
  if (typed_array_data(env, argv[2], napi_uint8_array, &slab, &slab_len) != napi_ok)
    return throw_type(env, "attach: slab must be a Uint8Array");
  if (napi_get_value_uint32(env, argv[3], &slot) != napi_ok || slot < 64 || slot > MAX_DATAGRAM + 1)
    return throw_type(env, "attach: slot must be in 64..65536");
  if (napi_get_value_uint32(env, argv[4], &batch) != napi_ok || batch < 1 || batch > MAX_BATCH)
    return throw_type(env, "attach: batch must be in 1..1024");
  if ((uint64_t)slot * batch > slab_len || slab_len > UINT32_MAX)
    return throw_type(env, "attach: slab must hold batch * slot bytes (and less than 4 GiB)");
  if (typed_array_data(env, argv[5], napi_uint32_array, &meta, &meta_len) != napi_ok ||
      meta_len / (META_WORDS * 4) < batch)
    return throw_type(env, "attach: meta must be a Uint32Array of at least 9 * batch entries");
  if (typed_array_data(env, argv[6], napi_float64_array, &stats, &stats_len) != napi_ok ||
      stats_len < US_COUNT * sizeof(double))
    return throw_type(env, "attach: stats must be a Float64Array(14)");
  NAPI_OK(napi_get_value_bool(env, argv[7], &want_gro));
  for (int i = 8; i < 12; i++) {
    napi_valuetype t;
    NAPI_OK(napi_typeof(env, argv[i], &t));
    if (t != napi_function) return throw_type(env, "attach: callbacks must be functions");
  }
  udp_handle* h = calloc(1, sizeof *h);
  if (h == NULL) return throw_errno(env, "calloc", ENOMEM);
  h->env = env;
  h->fd = fd;
  h->family = fam == 4 ? AF_INET : AF_INET6;
  h->slab = slab;
  h->slab_len = slab_len;
  h->slot = slot;
  h->batch = batch;
  h->meta = meta;
  h->meta_cap = (uint32_t)(meta_len / (META_WORDS * 4));
  h->meta_bytes = meta_len;
  h->stats = stats;
  h->stats_bytes = stats_len;
  h->rmsgs = calloc(batch, sizeof *h->rmsgs);
  h->riov = calloc(batch, sizeof *h->riov);
  h->raddr = calloc(batch, sizeof *h->raddr);
  h->rctrl = calloc(batch, CTRL_BYTES);
  if (!h->rmsgs || !h->riov || !h->raddr || !h->rctrl) {
    free_state(h);
    free(h);
    return throw_errno(env, "calloc", ENOMEM);
  }
  // GRO: the kernel coalesces a flow's datagrams into one read; we split them by the cmsg segment size.
  // Needs slots that hold a whole coalesced read (64 KiB). GSO: probe UDP_SEGMENT (kernel >= 4.18).
  h->gro = want_gro && slot > MAX_DATAGRAM && set_int(fd, SOL_UDP, UDP_GRO, 1) == 0;
  h->gso = set_int(fd, SOL_UDP, UDP_SEGMENT, 0) == 0;
  uv_loop_t* loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    free_state(h);
    free(h);
    return throw_last(env);
  }
  int rc = uv_poll_init(loop, &h->poll, fd);
  if (rc < 0) {
    free_state(h);
    free(h);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  napi_value resource, resource_name;
  napi_ref* refs[] = {&h->slab_ref, &h->meta_ref, &h->stats_ref, &h->on_read_ref,
                      &h->on_writable_ref, &h->on_error_ref, &h->on_close_ref};
  int args[] = {2, 5, 6, 8, 9, 10, 11};
  int async_ok = 0, external_made = 0, ok = 1;
  for (size_t i = 0; ok && i < sizeof args / sizeof args[0]; i++)
    ok = napi_create_reference(env, argv[args[i]], 1, refs[i]) == napi_ok;
  ok = ok && napi_create_object(env, &resource) == napi_ok &&
       napi_create_string_utf8(env, "CorridorUdp", NAPI_AUTO_LENGTH, &resource_name) == napi_ok &&
       napi_async_init(env, resource, resource_name, &h->async_ctx) == napi_ok;
  async_ok = ok;
  ok = ok && napi_add_async_cleanup_hook(env, on_env_cleanup, h, &h->cleanup_handle) == napi_ok;
  ok = ok && (external_made = napi_create_external(env, h, on_external_finalize, NULL, &ext) == napi_ok);
  ok = ok && napi_type_tag_object(env, ext, &UDP_HANDLE_TAG) == napi_ok;
  ok = ok && napi_create_array_with_length(env, 3, &result) == napi_ok &&
       napi_set_element(env, result, 0, ext) == napi_ok;
  if (!ok) {
    throw_last(env);
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
      if (*refs[i]) napi_delete_reference(env, *refs[i]);
      *refs[i] = NULL;
    }
    if (async_ok) napi_async_destroy(env, h->async_ctx);
    if (h->cleanup_handle) napi_remove_async_cleanup_hook(h->cleanup_handle);
    h->cleanup_handle = NULL;
    h->fd = -1;  // the caller still owns its fd
    h->teardown = 1;
    h->finalized = !external_made;
    start_close(h);
    return NULL;
  }
  napi_get_boolean(env, h->gro, &v);
  napi_set_element(env, result, 1, v);
  napi_get_boolean(env, h->gso, &v);
  napi_set_element(env, result, 2, v);
  return result;
}

static napi_value js_read_toggle(napi_env env, napi_callback_info info, int on) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_handle* h = argc ? get_handle(env, argv[0]) : NULL;
  if (h == NULL || h->closing) return NULL;
  h->reading = on;
  update_poll(h);
  return NULL;
}
static napi_value js_read_start(napi_env env, napi_callback_info info) { return js_read_toggle(env, info, 1); }
static napi_value js_read_stop(napi_env env, napi_callback_info info) { return js_read_toggle(env, info, 0); }

static napi_value js_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool on = true;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_handle* h = argc >= 2 ? get_handle(env, argv[0]) : NULL;
  if (h == NULL) return NULL;
  NAPI_OK(napi_get_value_bool(env, argv[1], &on));
  if (h->closing) return NULL;
  if (on)
    uv_ref((uv_handle_t*)&h->poll);
  else
    uv_unref((uv_handle_t*)&h->poll);
  return NULL;
}

// setGso(h, on): turn segmentation offload off (benchmarks, or after a device refused it).
static napi_value js_set_gso(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  bool on = true;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_handle* h = argc >= 2 ? get_handle(env, argv[0]) : NULL;
  if (h == NULL) return NULL;
  NAPI_OK(napi_get_value_bool(env, argv[1], &on));
  h->gso = on && !h->closing && set_int(h->fd, SOL_UDP, UDP_SEGMENT, 0) == 0;
  napi_get_boolean(env, h->gso, &out);
  return out;
}

// Sends messages [from, m) of the prepared chunk; returns the index of the first unsent message and
// sets *eagain when the socket is full. Errors other than EAGAIN drop the failing message.
static int flush_chunk(udp_handle* h, int m, uint32_t* consumed, int* eagain) {
  int i = 0;
  while (i < m) {
    int r = sendmmsg(h->fd, &h->smsgs[i], (unsigned)(m - i), 0);
    h->stats[US_TX_SYSCALLS] += 1;
    if (r > 0) {
      for (int k = i; k < i + r; k++) {
        h->stats[US_TX_PACKETS] += h->sseg[k];
        h->stats[US_TX_BYTES] += (double)h->smsgs[k].msg_len;
        if (h->sseg[k] > 1) h->stats[US_TX_GSO_MESSAGES] += 1;
        *consumed += h->sseg[k];
      }
      i += r;
      continue;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
      h->stats[US_TX_EAGAIN] += 1;
      if (!h->want_write) {
        h->want_write = 1;
        update_poll(h);
      }
      *eagain = 1;
      return i;
    }
    if (h->sseg[i] > 1 && (err == EIO || err == EINVAL || err == EOPNOTSUPP)) {
      // EIO/EOPNOTSUPP: the egress device cannot segment (no checksum offload): stop using GSO.
      // EINVAL: a segment is larger than the path MTU allows for GSO. Either way resend this run
      // datagram by datagram (the kernel may fragment those).
      if (err != EINVAL) h->gso = 0;
      struct msghdr* mh = &h->smsgs[i].msg_hdr;
      for (size_t s = 0; s < mh->msg_iovlen; s++) {
        struct msghdr one = {.msg_name = mh->msg_name, .msg_namelen = mh->msg_namelen, .msg_iov = &mh->msg_iov[s], .msg_iovlen = 1};
        ssize_t w;
        do w = sendmsg(h->fd, &one, 0);
        while (w < 0 && errno == EINTR);
        h->stats[US_TX_SYSCALLS] += 1;
        if (w >= 0) {
          h->stats[US_TX_PACKETS] += 1;
          h->stats[US_TX_BYTES] += (double)w;
        } else {
          h->stats[US_TX_ERRORS] += 1;
          h->stats[US_TX_LAST_ERRNO] = errno;
        }
      }
      *consumed += h->sseg[i];
      i++;
      continue;
    }
    h->stats[US_TX_ERRORS] += 1;
    h->stats[US_TX_LAST_ERRNO] = err;
    *consumed += h->sseg[i];
    i++;
  }
  return i;
}

// sendSlab(h, slab: Uint8Array, meta: Uint32Array, count): datagrams consumed (sent, or dropped on an
// error other than EAGAIN). meta holds 9 u32 per datagram: [offset, length, port, family, address x4,
// scope id].
// Stops at the first EAGAIN; the caller drops or keeps the rest. Throws only for a bad layout (checked
// whole, before anything is sent) or a detached stats array. meta[0 .. count*8) is copied first, then
// validated, then used: the caller's array is read exactly once.
#define SEND_META_ON_STACK 256  // datagrams (8 KiB of stack)
static napi_value js_send_slab(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], out;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_handle* h = argc >= 4 ? get_handle(env, argv[0]) : NULL;
  if (h == NULL) return NULL;
  void *slab, *metav;
  size_t slab_len, meta_len;
  uint32_t count = 0;
  if (typed_array_data(env, argv[1], napi_uint8_array, &slab, &slab_len) != napi_ok)
    return throw_type(env, "sendSlab: slab must be a Uint8Array");
  if (typed_array_data(env, argv[2], napi_uint32_array, &metav, &meta_len) != napi_ok)
    return throw_type(env, "sendSlab: meta must be a Uint32Array");
  if (napi_get_value_uint32(env, argv[3], &count) != napi_ok || (uint64_t)count * META_WORDS * 4 > meta_len)
    return throw_type(env, "sendSlab: count must be an integer in 0..meta.length/9");
  if (h->closing) {
    napi_create_uint32(env, 0, &out);
    return out;
  }
  if (!stats_intact(h)) {
    napi_throw_error(env, "CORRIDOR_ERR_UDP_SLAB_DETACHED", "sendSlab: the stats array was detached");
    return NULL;
  }
  // Copy, then validate, then send from the copy: `meta` may live in a SharedArrayBuffer that another
  // thread changes at any time.
  uint32_t on_stack[SEND_META_ON_STACK * META_WORDS];
  uint32_t* meta = count <= SEND_META_ON_STACK ? on_stack : malloc((size_t)count * META_WORDS * 4);
  if (meta == NULL) return throw_errno(env, "sendSlab", ENOMEM);
  memcpy(meta, metav, (size_t)count * META_WORDS * 4);
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t* m = &meta[(size_t)i * META_WORDS];
    if ((uint64_t)m[0] + m[1] > slab_len || m[1] > MAX_DATAGRAM) {
      if (meta != on_stack) free(meta);
      return throw_type(env, "sendSlab: a datagram lies outside the slab or exceeds 65535 bytes");
    }
  }
  uint32_t consumed = 0;
  uint32_t i = 0;
  int eagain = 0;
  while (i < count && !eagain) {
    int m = 0, iov = 0;
    while (i < count && m < SEND_CHUNK && iov < SEND_CHUNK * 2) {
      const uint32_t* d = &meta[(size_t)i * META_WORDS];
      socklen_t alen = make_dest(h->family, d, &h->saddr[m]);
      if (alen == 0) {  // unreachable from this socket's family, or port 0: drop, count
        h->stats[US_TX_ERRORS] += 1;
        h->stats[US_TX_LAST_ERRNO] = EAFNOSUPPORT;
        consumed++;
        i++;
        continue;
      }
      struct msghdr* mh = &h->smsgs[m].msg_hdr;
      memset(mh, 0, sizeof *mh);
      mh->msg_name = &h->saddr[m];
      mh->msg_namelen = alen;
      mh->msg_iov = &h->siov[iov];
      uint32_t seg = d[1], total = d[1], n = 1;
      h->siov[iov].iov_base = (uint8_t*)slab + d[0];
      h->siov[iov].iov_len = d[1];
      iov++;
      i++;
      if (h->gso && seg > 0) {
        // Extend the run: same destination, same size (a shorter datagram ends the run).
        while (i < count && n < GSO_MAX_SEGMENTS && iov < SEND_CHUNK * 2) {
          const uint32_t* e = &meta[(size_t)i * META_WORDS];
          if (e[1] == 0 || e[1] > seg || total + e[1] > GSO_MAX_BYTES || memcmp(&e[2], &d[2], (META_WORDS - 2) * 4) != 0) break;
          h->siov[iov].iov_base = (uint8_t*)slab + e[0];
          h->siov[iov].iov_len = e[1];
          iov++;
          i++;
          n++;
          total += e[1];
          if (e[1] < seg) break;
        }
      }
      mh->msg_iovlen = n;
      if (n > 1) {
        mh->msg_control = h->sctrl[m];
        mh->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
        struct cmsghdr* c = CMSG_FIRSTHDR(mh);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t s16 = (uint16_t)seg;
        memcpy(CMSG_DATA(c), &s16, sizeof s16);
      }
      h->sseg[m] = n;
      m++;
    }
    if (m > 0) flush_chunk(h, m, &consumed, &eagain);
  }
  if (meta != on_stack) free(meta);
  napi_create_uint32(env, consumed, &out);
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_handle* h = argc ? get_handle(env, argv[0]) : NULL;
  if (h == NULL) return NULL;
  start_close(h);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"socket", NULL, js_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeFd", NULL, js_close_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attach", NULL, js_attach, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readStart", NULL, js_read_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readStop", NULL, js_read_stop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ref", NULL, js_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setGso", NULL, js_set_gso, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendSlab", NULL, js_send_slab, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
