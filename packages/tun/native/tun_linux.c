// Corridor TUN addon (Linux): opens /dev/net/tun and moves packets between the kernel and JavaScript.
//
// Data path, read side:
//   1. a uv_poll_t watches the non-blocking TUN fd on the JS thread's own event loop (no thread pool);
//   2. on readable, on_poll() drains up to `batch` packets with read(2) into ONE slab that JavaScript
//      allocated and handed over at attach time (no allocation per packet);
//   3. offsets/lengths go into a Uint32Array shared with JavaScript, then ONE JS call `onRead(count)`.
//      The slab is reused for the next batch as soon as that call returns: JavaScript must copy or
//      fully consume the packets before returning (the contract documented in README.md).
//   4. Before every batch the slab, meta and stats arrays are checked to still own the memory attach()
//      saw: a handler can detach the slab (ArrayBuffer.prototype.transfer() ignores
//      markAsUntransferable), after which that memory belongs to another buffer and may be freed. Then
//      reading stops and onError(EFAULT, "slab") reports it; nothing is ever read into it again.
// Data path, write side:
//   write() / writeSlab() are synchronous write(2) calls on the non-blocking fd from the JS thread.
//   EAGAIN stops the batch, arms UV_WRITABLE and later calls `onWritable()`; other errno values drop the
//   packet and are counted in the shared stats array (JS turns them into 'error' events, one per
//   rejected packet: writeSlab() can also list each rejected packet's errno in a caller array).
//   writeSlab() copies the lengths before validating them and writes from the copy, so a lengths array
//   in a SharedArrayBuffer that another thread rewrites cannot make it write past the validated slab.
// Offloads (open(..., offload = true)): IFF_VNET_HDR + TUNSETOFFLOAD(CSUM | TSO4 | TSO6). Reads come
//   with a virtio_net_hdr: TCP super-packets of up to 64 KiB are cut into MSS-sized segments and partial
//   checksums completed (tun_offload.c), so JavaScript still sees ordinary packets, while the kernel's
//   TCP and IP stacks ran once per 64 KiB. writeSlab() writes runs of consecutive segments of one TCP
//   flow as ONE super-packet (GRO); other packets get an all-zero virtio_net_hdr.
// Lifetime:
//   close() stops the poll and uv_close()s the handle; the fd is closed and the state freed in
//   on_handle_closed(), i.e. never while on_poll() may still be running. An async env cleanup hook
//   closes handles that JavaScript left open when a worker thread or the process exits.
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#include "tun_offload.h"

// Stats slots in the Float64Array shared with JavaScript (keep in sync with src/native.ts).
enum {
  ST_RX_PACKETS = 0,
  ST_RX_BYTES,
  ST_RX_BATCHES,
  ST_TX_PACKETS,
  ST_TX_BYTES,
  ST_TX_EAGAIN,
  ST_TX_ERRORS,
  ST_TX_LAST_ERRNO,
  ST_BASE_COUNT,    // the slots below exist (and are written) only with vnet (offload)
  ST_RX_GSO = ST_BASE_COUNT,        // TCP super-packets read and segmented (offload)
  ST_RX_DROPPED,    // reads with an unusable virtio_net_hdr (offload)
  ST_TX_GSO,        // coalesced writes (offload)
  ST_TX_COALESCED,  // packets that went out inside those writes
  ST_COUNT
};

// Per-wake-up limit on batches so one busy TUN cannot starve the rest of the event loop.
#define MAX_BATCHES_PER_WAKE 8
#define MAX_PACKET 65535
// Room a read needs in the slab: MAX_PACKET rounded up to the 16-byte alignment kept between packets,
// so `off` can never pass the end of the slab (slab_len - off must not wrap around).
#define READ_ROOM 65536
// Upper bound for attach()'s batch (keeps batch * 8 bytes of meta far from any overflow).
#define MAX_BATCH 65536

// Marks the Externals this addon hands out, so a foreign External (another addon's pointer) passed as a
// handle is rejected instead of being used as a tun_handle.
static const napi_type_tag TUN_HANDLE_TAG = {0x636f727269646f72ULL, 0x74756e2d68616e64ULL};

typedef struct tun_handle {
  uv_poll_t poll;  // first member: &poll == handle
  napi_env env;
  int fd;
  int reading;
  int want_write;
  int closing;
  int teardown;  // env is being torn down: never call into JavaScript again
  int closed_done;  // uv_close() completed and the fd is closed
  int finalized;    // the JS External was garbage collected; free once closed_done too
  uint8_t* slab;
  size_t slab_len;
  uint32_t* meta;  // [offset0, length0, offset1, length1, ...]
  size_t meta_bytes;
  uint32_t batch;
  int vnet;          // IFF_VNET_HDR: every read and write carries a virtio_net_hdr
  uint8_t* scratch;  // vnet reads land here first (VNET_HDR_LEN + 64 KiB)
  int tso_active;    // a super-packet in `scratch` still has segments to hand out
  tso_state tso;
  double* stats;
  size_t stats_bytes;
  napi_ref slab_ref, meta_ref, stats_ref, on_read_ref, on_writable_ref, on_error_ref, on_close_ref;
  napi_async_context async_ctx;
  napi_async_cleanup_hook_handle cleanup_handle;
} tun_handle;

// ---- helpers ----------------------------------------------------------------------------------------

#define NAPI_OK(call)                                  \
  do {                                                 \
    if ((call) != napi_ok) return throw_last(env);     \
  } while (0)

static napi_value throw_last(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const napi_extended_error_info* info = NULL;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, "CORRIDOR_ERR_TUN_NAPI",
                     info && info->error_message ? info->error_message : "N-API call failed");
  }
  return NULL;
}

static const char* errno_name(int err) {
  const char* name = uv_err_name(-err);  // libuv codes are -errno on Linux
  return name ? name : "EUNKNOWN";
}

// Throws an Error carrying errno (positive), code ('EPERM') and syscall; src/errors.ts adds hints.
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
  napi_throw_type_error(env, "CORRIDOR_ERR_TUN_INVALID_ARG", msg);
  return NULL;
}

static napi_value throw_range(napi_env env, const char* msg) {
  napi_throw_range_error(env, "CORRIDOR_ERR_TUN_INVALID_ARG", msg);
  return NULL;
}

// Same rule as src/linux-tun.ts validateTunName(): 1..15 bytes of [A-Za-z0-9_.-], optionally one "%d"
// (kernel picks the number), not "." or "..". An empty name lets the kernel choose "tun%d".
static int valid_ifname(const char* s, size_t len) {
  if (len == 0) return 1;
  if (len >= IFNAMSIZ) return 0;
  if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return 0;
  int percents = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
        c == '.')
      continue;
    if (c == '%' && i + 1 < len && s[i + 1] == 'd' && percents == 0) {
      percents++;
      i++;
      continue;
    }
    return 0;
  }
  return 1;
}

static napi_value get_ifname(napi_env env, napi_value v, char out[IFNAMSIZ]) {
  size_t len = 0;
  char buf[64];
  if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &len) != napi_ok)
    return throw_type(env, "interface name must be a string");
  if (len >= sizeof buf - 1 || !valid_ifname(buf, len))
    return throw_type(env, "invalid interface name (1-15 characters of A-Z a-z 0-9 _ . -)");
  memset(out, 0, IFNAMSIZ);
  memcpy(out, buf, len);
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

static tun_handle* get_handle(napi_env env, napi_value v) {
  void* p = NULL;
  bool tagged = false;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, &TUN_HANDLE_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    throw_type(env, "invalid TUN handle");
    return NULL;
  }
  return (tun_handle*)p;
}

// ---- open / close fd ------------------------------------------------------------------------------

// open(name: string, multiQueue: boolean, nonBlocking: boolean, offload?: boolean):
//   [fd, actualName, offloadOn]. With `offload`, IFF_VNET_HDR is set and TUNSETOFFLOAD(CSUM | TSO4 | TSO6)
//   asked for; offloadOn is false when the kernel refused the offloads (the vnet header stays on: reads
//   are then never super-packets, and writes may still be coalesced).
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) return throw_type(env, "open(name, multiQueue, nonBlocking, offload?)");
  char name[IFNAMSIZ];
  if (get_ifname(env, argv[0], name) == NULL) return NULL;
  bool mq = false, nb = true, offload = false;
  NAPI_OK(napi_get_value_bool(env, argv[1], &mq));
  NAPI_OK(napi_get_value_bool(env, argv[2], &nb));
  if (argc >= 4) {
    napi_valuetype t;
    NAPI_OK(napi_typeof(env, argv[3], &t));
    if (t != napi_undefined) NAPI_OK(napi_get_value_bool(env, argv[3], &offload));
  }

  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | (nb ? O_NONBLOCK : 0));
  if (fd < 0) return throw_errno(env, "open(/dev/net/tun)", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (mq ? IFF_MULTI_QUEUE : 0) | (offload ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "ioctl(TUNSETIFF)", err);
  }
  ifr.ifr_name[IFNAMSIZ - 1] = 0;
  bool offload_on = offload && ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0;
  napi_value result, vfd, vname, voff;
  if (napi_create_array_with_length(env, 3, &result) != napi_ok || napi_create_int32(env, fd, &vfd) != napi_ok ||
      napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &vname) != napi_ok ||
      napi_get_boolean(env, offload_on, &voff) != napi_ok || napi_set_element(env, result, 0, vfd) != napi_ok ||
      napi_set_element(env, result, 1, vname) != napi_ok || napi_set_element(env, result, 2, voff) != napi_ok) {
    close(fd);  // nobody else knows this fd yet
    return throw_last(env);
  }
  return result;
}

// closeFd(fd): for fds never attached (error paths, the naive benchmark). Attached fds use close(h).
static napi_value js_close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0)
    return throw_type(env, "closeFd(fd)");
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, "close", errno);
  return NULL;
}

// ---- interface ioctls (MTU, up/down) in the calling thread's network namespace -------------------

static int ifreq_ioctl(const char* name, unsigned long req, struct ifreq* ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  memcpy(ifr->ifr_name, name, IFNAMSIZ);
  int rc = ioctl(s, req, ifr) < 0 ? -errno : 0;
  close(s);
  return rc;
}

// getMtu(name): number
static napi_value js_get_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  char name[IFNAMSIZ];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || get_ifname(env, argv[0], name) == NULL) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  int rc = ifreq_ioctl(name, SIOCGIFMTU, &ifr);
  if (rc < 0) return throw_errno(env, "ioctl(SIOCGIFMTU)", -rc);
  NAPI_OK(napi_create_int32(env, ifr.ifr_mtu, &out));
  return out;
}

// setMtu(name, mtu)
static napi_value js_set_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char name[IFNAMSIZ];
  int32_t mtu = 0;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || get_ifname(env, argv[0], name) == NULL) return NULL;
  if (napi_get_value_int32(env, argv[1], &mtu) != napi_ok || mtu < 68 || mtu > MAX_PACKET)
    return throw_type(env, "mtu must be an integer in 68..65535");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_mtu = mtu;
  int rc = ifreq_ioctl(name, SIOCSIFMTU, &ifr);
  if (rc < 0) return throw_errno(env, "ioctl(SIOCSIFMTU)", -rc);
  return NULL;
}

// setTxQueueLen(name, len): the kernel queue of packets waiting for the reader (default 500); packets
// beyond it are dropped (tx_dropped), so a larger queue absorbs longer reader stalls.
static napi_value js_set_txqlen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char name[IFNAMSIZ];
  int32_t qlen = 0;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || get_ifname(env, argv[0], name) == NULL) return NULL;
  if (napi_get_value_int32(env, argv[1], &qlen) != napi_ok || qlen < 1)
    return throw_type(env, "txQueueLen must be a positive integer");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_qlen = qlen;
  int rc = ifreq_ioctl(name, SIOCSIFTXQLEN, &ifr);
  if (rc < 0) return throw_errno(env, "ioctl(SIOCSIFTXQLEN)", -rc);
  return NULL;
}

// setUp(name, up: boolean)
static napi_value js_set_up(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char name[IFNAMSIZ];
  bool up = true;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || get_ifname(env, argv[0], name) == NULL) return NULL;
  NAPI_OK(napi_get_value_bool(env, argv[1], &up));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  int rc = ifreq_ioctl(name, SIOCGIFFLAGS, &ifr);
  if (rc < 0) return throw_errno(env, "ioctl(SIOCGIFFLAGS)", -rc);
  if (up)
    ifr.ifr_flags |= IFF_UP;
  else
    ifr.ifr_flags &= ~IFF_UP;
  rc = ifreq_ioctl(name, SIOCSIFFLAGS, &ifr);
  if (rc < 0) return throw_errno(env, "ioctl(SIOCSIFFLAGS)", -rc);
  return NULL;
}

// ---- attached handle: event-driven reads, synchronous writes ----------------------------------------

static void update_poll(tun_handle* h);

static napi_value ref_value(napi_env env, napi_ref ref) {
  napi_value v = NULL;
  if (ref) napi_get_reference_value(env, ref, &v);
  return v;
}

// A JS callback failed: route its exception to process 'uncaughtException' (same as a throwing event
// listener), never leave it pending in N-API (the next N-API call would fail).
static void route_exception(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
}

// Calls a JS callback from a libuv callback (napi_make_callback: ticks and microtasks run after it).
static void call_js(tun_handle* h, napi_ref fn_ref, size_t argc, napi_value* argv) {
  napi_env env = h->env;
  napi_value fn = ref_value(env, fn_ref), recv, ret;
  if (fn == NULL) return;
  if (napi_get_global(env, &recv) != napi_ok) return;  // napi_make_callback needs an object receiver
  if (napi_make_callback(env, h->async_ctx, recv, fn, argc, argv, &ret) != napi_ok) route_exception(env);
}

// True while the typed array behind `ref` still covers exactly the memory attach() saw. A detached
// (transferred) ArrayBuffer reports length 0 and no data, so any change means the memory is no longer
// ours to touch.
static int shared_intact(tun_handle* h, napi_ref ref, const void* want, size_t want_bytes) {
  napi_value v = ref_value(h->env, ref);
  napi_typedarray_type type;
  size_t length = 0;
  void* data = NULL;
  if (v == NULL || napi_get_typedarray_info(h->env, v, &type, &length, &data, NULL, NULL) != napi_ok) return 0;
  size_t el = type == napi_float64_array ? 8 : type == napi_uint32_array ? 4 : 1;
  return data == want && length * el == want_bytes;
}

// The stats array is written by every write; slab and meta by every read.
static int stats_intact(tun_handle* h) { return shared_intact(h, h->stats_ref, h->stats, h->stats_bytes); }

static int read_buffers_intact(tun_handle* h) {
  return shared_intact(h, h->slab_ref, h->slab, h->slab_len) &&
         shared_intact(h, h->meta_ref, h->meta, h->meta_bytes) && stats_intact(h);
}

static void emit_error(tun_handle* h, const char* syscall, int err) {
  napi_value argv[2];
  napi_create_int32(h->env, err, &argv[0]);
  napi_create_string_utf8(h->env, syscall, NAPI_AUTO_LENGTH, &argv[1]);
  call_js(h, h->on_error_ref, 2, argv);
}

static void on_poll(uv_poll_t* poll, int status, int events) {
  tun_handle* h = (tun_handle*)poll;
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
    // A super-packet whose segments did not all fit keeps the loop going: nothing would wake us for them.
    for (int b = 0; (b < MAX_BATCHES_PER_WAKE || h->tso_active) && h->reading && !h->closing; b++) {
      if (!read_buffers_intact(h)) {
        // A handler detached a shared buffer: stop for good; JavaScript reports it and closes.
        h->reading = 0;
        update_poll(h);
        emit_error(h, "slab", EFAULT);
        break;
      }
      uint32_t n = 0;
      size_t off = 0;
      int drained = 0, err = 0;
      double bytes = 0;
      while (n < h->batch && h->slab_len - off >= READ_ROOM) {  // off <= slab_len - READ_ROOM here
        ssize_t r;
        if (h->tso_active) {
          // Next segment of the pending super-packet (at most READ_ROOM bytes: it fits).
          if (tso_next_len(&h->tso) == 0) {
            h->tso_active = 0;
            continue;
          }
          r = tso_next(&h->tso, h->slab + off);
          if (tso_next_len(&h->tso) == 0) h->tso_active = 0;
        } else if (h->vnet) {
          r = read(h->fd, h->scratch, VNET_HDR_LEN + MAX_PACKET);
          if (r >= 0) {
            uint32_t plen = 0;
            int kind = offload_rx(h->scratch, (size_t)r, &plen, &h->tso);
            if (kind == OFFLOAD_BAD) {
              h->stats[ST_RX_DROPPED] += 1;
              continue;
            }
            if (kind == OFFLOAD_GSO) {
              h->stats[ST_RX_GSO] += 1;
              h->tso_active = 1;
              continue;
            }
            memcpy(h->slab + off, h->scratch + VNET_HDR_LEN, plen);
            r = plen;
          }
        } else {
          r = read(h->fd, h->slab + off, MAX_PACKET);
        }
        if (r < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            drained = 1;
          else
            err = errno;
          break;
        }
        h->meta[2 * n] = (uint32_t)off;
        h->meta[2 * n + 1] = (uint32_t)r;
        n++;
        bytes += (double)r;
        off += ((size_t)r + 15) & ~(size_t)15;  // keep every packet 16-byte aligned in the slab
      }
      if (n > 0) {
        h->stats[ST_RX_PACKETS] += n;
        h->stats[ST_RX_BYTES] += bytes;
        h->stats[ST_RX_BATCHES] += 1;
        napi_value argv[1];
        if (napi_create_uint32(env, n, &argv[0]) == napi_ok) call_js(h, h->on_read_ref, 1, argv);
      }
      if (err && !h->closing) {
        // Fatal for this queue (e.g. EBADFD after the interface was deleted): stop reading, report.
        h->reading = 0;
        update_poll(h);
        emit_error(h, "read", err);
      }
      if ((drained && !h->tso_active) || err) break;
    }
  }
out:
  napi_close_handle_scope(env, scope);
}

static void update_poll(tun_handle* h) {
  if (h->closing) return;
  int events = (h->reading ? UV_READABLE : 0) | (h->want_write ? UV_WRITABLE : 0);
  if (events == 0)
    uv_poll_stop(&h->poll);
  else
    uv_poll_start(&h->poll, events, on_poll);
}

static void on_handle_closed(uv_handle_t* handle) {
  tun_handle* h = (tun_handle*)handle;
  napi_env env = h->env;
  if (h->fd >= 0) close(h->fd);  // -1 only when attach() failed: the caller still owns its fd
  h->fd = -1;
  if (!h->teardown) {
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) == napi_ok) {
      call_js(h, h->on_close_ref, 0, NULL);
      napi_close_handle_scope(env, scope);
    }
    napi_ref refs[] = {h->slab_ref,     h->meta_ref,        h->stats_ref,   h->on_read_ref,
                       h->on_writable_ref, h->on_error_ref, h->on_close_ref};
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
      if (refs[i]) napi_delete_reference(env, refs[i]);
    napi_async_destroy(env, h->async_ctx);
  }
  if (h->cleanup_handle) napi_remove_async_cleanup_hook(h->cleanup_handle);
  free(h->scratch);
  h->scratch = NULL;
  h->tso_active = 0;
  h->closed_done = 1;
  // The JS External may still be referenced: keep the (closed) state alive so later calls see
  // `closing` and return -EBADF / no-op instead of touching freed memory. Freed by the finalizer.
  if (h->finalized) free(h);
}

static void start_close(tun_handle* h) {
  if (h->closing) return;
  h->closing = 1;
  h->reading = 0;
  h->want_write = 0;
  uv_poll_stop(&h->poll);
  uv_close((uv_handle_t*)&h->poll, on_handle_closed);
}

// The External was collected. While open, the strong callback references keep it reachable, so this
// only happens for closed handles or at env teardown.
static void on_external_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  tun_handle* h = (tun_handle*)data;
  h->finalized = 1;
  if (h->closed_done) {
    free(h);
    return;
  }
  h->teardown = 1;
  start_close(h);
}

// The env (worker thread or main isolate) is going away while the handle is still open.
static void on_env_cleanup(napi_async_cleanup_hook_handle hook, void* arg) {
  (void)hook;
  tun_handle* h = (tun_handle*)arg;
  h->teardown = 1;
  start_close(h);  // no-op when a close() is already in flight; on_handle_closed removes the hook
}

static napi_status typed_array_data(napi_env env, napi_value v, napi_typedarray_type want, void** data,
                                    size_t* bytes) {
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  napi_value ab;
  napi_status st = napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset);
  if (st != napi_ok) return st;
  if (type != want) return napi_invalid_arg;
  size_t el = type == napi_float64_array ? 8 : type == napi_uint32_array || type == napi_int32_array ? 4 : 1;
  *bytes = length * el;
  return napi_ok;
}

// attach(fd, slab: Uint8Array, meta: Uint32Array, stats: Float64Array, batch,
//        onRead(count), onWritable(), onError(errno, syscall), onClose(), vnet?: boolean): External
// `vnet` must be true exactly when the fd was opened with offload (IFF_VNET_HDR).
// The three arrays are referenced (kept alive) until the handle is closed; their memory must not be
// detached/transferred by JavaScript meanwhile.
static napi_value js_attach(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10], result;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 9) return throw_type(env, "attach: expected 9 or 10 arguments");
  bool vnet = false;
  if (argc >= 10) {
    napi_valuetype t;
    NAPI_OK(napi_typeof(env, argv[9], &t));
    if (t != napi_undefined) NAPI_OK(napi_get_value_bool(env, argv[9], &vnet));
  }
  int32_t fd = -1;
  uint32_t batch = 0;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return throw_type(env, "attach: bad fd");
  void *slab, *meta, *stats;
  size_t slab_len, meta_len, stats_len;
  if (typed_array_data(env, argv[1], napi_uint8_array, &slab, &slab_len) != napi_ok)
    return throw_type(env, "attach: slab must be a Uint8Array");
  if (typed_array_data(env, argv[2], napi_uint32_array, &meta, &meta_len) != napi_ok)
    return throw_type(env, "attach: meta must be a Uint32Array");
  if (typed_array_data(env, argv[3], napi_float64_array, &stats, &stats_len) != napi_ok ||
      stats_len < (vnet ? ST_COUNT : ST_BASE_COUNT) * sizeof(double))
    return throw_type(env, "attach: stats must be a Float64Array(8), or (12) with vnet");
  if (napi_get_value_uint32(env, argv[4], &batch) != napi_ok || batch == 0 || batch > MAX_BATCH ||
      meta_len < (size_t)batch * 2 * sizeof(uint32_t) || slab_len < READ_ROOM)
    return throw_type(env, "attach: batch must be in 1..65536, meta >= 2*batch entries, slab >= 65536 bytes");
  for (int i = 5; i < 9; i++) {
    napi_valuetype t;
    NAPI_OK(napi_typeof(env, argv[i], &t));
    if (t != napi_function) return throw_type(env, "attach: callbacks must be functions");
  }

  tun_handle* h = calloc(1, sizeof *h);
  if (h == NULL) return throw_errno(env, "calloc", ENOMEM);
  h->env = env;
  h->fd = fd;
  h->slab = slab;
  h->slab_len = slab_len;
  h->meta = meta;
  h->meta_bytes = meta_len;
  h->batch = batch;
  h->stats = stats;
  h->stats_bytes = stats_len;
  h->vnet = vnet;
  if (vnet && (h->scratch = malloc(VNET_HDR_LEN + MAX_PACKET)) == NULL) {
    free(h);
    return throw_errno(env, "malloc", ENOMEM);
  }
  uv_loop_t* loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    free(h->scratch);
    free(h);
    return throw_last(env);
  }
  int rc = uv_poll_init(loop, &h->poll, fd);  // also sets O_NONBLOCK
  if (rc < 0) {
    free(h->scratch);
    free(h);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  // From here on a failure must uv_close() the initialized poll handle (it is linked into the loop) and
  // must not close the fd: the caller still owns it when attach() throws (LinuxTun closes it then).
  napi_value resource, resource_name;
  napi_ref* refs[] = {&h->slab_ref,        &h->meta_ref,     &h->stats_ref,   &h->on_read_ref,
                      &h->on_writable_ref, &h->on_error_ref, &h->on_close_ref};
  int args[] = {1, 2, 3, 5, 6, 7, 8};
  int async_ok = 0, external_made = 0, ok = 1;
  for (size_t i = 0; ok && i < sizeof args / sizeof args[0]; i++)
    ok = napi_create_reference(env, argv[args[i]], 1, refs[i]) == napi_ok;
  ok = ok && napi_create_object(env, &resource) == napi_ok &&
       napi_create_string_utf8(env, "CorridorTun", NAPI_AUTO_LENGTH, &resource_name) == napi_ok &&
       napi_async_init(env, resource, resource_name, &h->async_ctx) == napi_ok;
  async_ok = ok;
  ok = ok && napi_add_async_cleanup_hook(env, on_env_cleanup, h, &h->cleanup_handle) == napi_ok;
  ok = ok && (external_made = napi_create_external(env, h, on_external_finalize, NULL, &result) == napi_ok);
  ok = ok && napi_type_tag_object(env, result, &TUN_HANDLE_TAG) == napi_ok;
  if (!ok) {
    throw_last(env);
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
      if (*refs[i]) napi_delete_reference(env, *refs[i]);
      *refs[i] = NULL;
    }
    if (async_ok) napi_async_destroy(env, h->async_ctx);
    if (h->cleanup_handle) napi_remove_async_cleanup_hook(h->cleanup_handle);
    h->cleanup_handle = NULL;
    h->fd = -1;
    h->teardown = 1;                 // no JS from the close callback; the refs are already released
    h->finalized = !external_made;   // an External that exists frees h from its finalizer instead
    start_close(h);
    return NULL;
  }
  return result;
}

// readStart(h) / readStop(h): toggles UV_READABLE. No-ops after close.
static napi_value js_read_toggle(napi_env env, napi_callback_info info, int on) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_handle* h = argc ? get_handle(env, argv[0]) : NULL;
  if (h == NULL) return NULL;
  if (h->closing) return NULL;
  h->reading = on;
  update_poll(h);
  return NULL;
}
static napi_value js_read_start(napi_env env, napi_callback_info info) { return js_read_toggle(env, info, 1); }
static napi_value js_read_stop(napi_env env, napi_callback_info info) { return js_read_toggle(env, info, 0); }

// ref(h, on): keep (or not) the event loop alive while the poll is active.
static napi_value js_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool on = true;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_handle* h = argc >= 2 ? get_handle(env, argv[0]) : NULL;
  if (h == NULL) return NULL;
  NAPI_OK(napi_get_value_bool(env, argv[1], &on));
  if (h->closing) return NULL;
  if (on)
    uv_ref((uv_handle_t*)&h->poll);
  else
    uv_unref((uv_handle_t*)&h->poll);
  return NULL;
}

// Writes one packet. Returns 1 when written, 0 on EAGAIN (counted, 'writable' armed), -errno otherwise.
static const uint8_t ZERO_VNET[VNET_HDR_LEN];

static int write_one(tun_handle* h, const uint8_t* p, size_t len) {
  for (;;) {
    ssize_t w;
    if (h->vnet) {
      struct iovec iov[2] = {{(void*)ZERO_VNET, VNET_HDR_LEN}, {(void*)p, len}};
      w = writev(h->fd, iov, 2);
    } else {
      w = write(h->fd, p, len);
    }
    if (w >= 0) {
      h->stats[ST_TX_PACKETS] += 1;
      h->stats[ST_TX_BYTES] += (double)len;
      return 1;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      h->stats[ST_TX_EAGAIN] += 1;
      if (!h->want_write) {
        h->want_write = 1;
        update_poll(h);
      }
      return 0;
    }
    int err = errno;
    h->stats[ST_TX_ERRORS] += 1;
    h->stats[ST_TX_LAST_ERRNO] = err;
    return -err;
  }
}

// Writes m packets (pointers + lengths) in order. With a vnet header, runs of one TCP flow's
// consecutive segments go out as ONE coalesced write (tun_offload.c) and everything else one by one
// with a zero header; a coalesced write the kernel refuses is retried packet by packet, so errors stay
// per packet. Returns packets consumed; *stopped is set at EAGAIN (the rest is the caller's).
static uint32_t write_ptrs(tun_handle* h, const uint8_t* const* ptrs, const uint32_t* ll, uint32_t m, int32_t* e,
                           size_t e_cap, uint32_t* rejected, int* stopped) {
  struct iovec iov[2 + GRO_MAX_RUN];
  gro_run run;
  uint32_t i = 0;
  while (i < m) {
    uint32_t n = h->vnet ? gro_plan(ptrs, ll, m, i, &run) : 1;
    if (n > 1) {
      int nio = gro_iov(&run, ptrs, ll, i, iov);
      ssize_t w;
      do w = writev(h->fd, iov, nio);
      while (w < 0 && errno == EINTR);
      if (w >= 0) {
        h->stats[ST_TX_PACKETS] += n;
        h->stats[ST_TX_BYTES] += run.bytes;
        h->stats[ST_TX_GSO] += 1;
        h->stats[ST_TX_COALESCED] += n;
        i += n;
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        h->stats[ST_TX_EAGAIN] += 1;
        if (!h->want_write) {
          h->want_write = 1;
          update_poll(h);
        }
        *stopped = 1;
        return i;
      }
      // Refused as a whole: fall back to writing this run's packets one by one below.
    }
    for (uint32_t k = 0; k < n; k++, i++) {
      int rc = write_one(h, ptrs[i], ll[i]);
      if (rc == 0) {
        *stopped = 1;
        return i;
      }
      if (rc < 0 && *rejected < e_cap) e[*rejected] = -rc;
      if (rc < 0) (*rejected)++;
    }
  }
  return i;
}

#define WRITE_CHUNK 256

// writeSlab with a vnet header, in chunks of WRITE_CHUNK packets (runs never cross a chunk border).
static uint32_t write_slab_vnet(tun_handle* h, const uint8_t* slab, const uint32_t* l, uint32_t count,
                                int32_t* e, size_t e_cap, uint32_t* rejected) {
  const uint8_t* ptrs[WRITE_CHUNK];
  size_t off = 0;
  uint32_t done = 0;
  int stopped = 0;
  while (done < count && !stopped) {
    uint32_t m = count - done < WRITE_CHUNK ? count - done : WRITE_CHUNK;
    for (uint32_t k = 0; k < m; k++) {
      ptrs[k] = slab + off;
      off += l[done + k];
    }
    done += write_ptrs(h, ptrs, l + done, m, e, e_cap, rejected, &stopped);
  }
  return done;
}

// writeVec(h, packets: Uint8Array[], errnos?: Int32Array): packets consumed — writeBatch() in one
// native call (with offload, consecutive TCP segments of one flow are coalesced as by writeSlab).
// Every element is checked to be a Uint8Array before anything is written (else TypeError).
static napi_value js_write_vec(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_handle* h = argc >= 2 ? get_handle(env, argv[0]) : NULL;
  if (h == NULL) return NULL;
  bool is_array = false;
  uint32_t count = 0;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[1], &count) != napi_ok)
    return throw_type(env, "writeVec: packets must be an array of Uint8Array");
  void* errs = NULL;
  size_t errs_len = 0;
  if (argc >= 3) {
    napi_valuetype t;
    NAPI_OK(napi_typeof(env, argv[2], &t));
    if (t != napi_undefined && typed_array_data(env, argv[2], napi_int32_array, &errs, &errs_len) != napi_ok)
      return throw_type(env, "writeVec: errnos must be an Int32Array");
  }
  if (!h->closing && !stats_intact(h)) {
    napi_throw_error(env, "CORRIDOR_ERR_TUN_SLAB_DETACHED", "writeVec: the stats array was detached");
    return NULL;
  }
  const uint8_t* ptrs[WRITE_CHUNK];
  uint32_t lens[WRITE_CHUNK];
  uint32_t done = 0, rejected = 0;
  int stopped = 0;
  // Validate everything first: a bad element is the caller's bug and must not leave a half-written batch.
  for (uint32_t k = 0; k < count; k++) {
    napi_value v;
    void* d;
    size_t n;
    NAPI_OK(napi_get_element(env, argv[1], k, &v));
    if (typed_array_data(env, v, napi_uint8_array, &d, &n) != napi_ok || n > MAX_PACKET)
      return throw_type(env, "writeVec: every packet must be a Uint8Array of at most 65535 bytes");
  }
  while (!h->closing && done < count && !stopped) {
    uint32_t m = count - done < WRITE_CHUNK ? count - done : WRITE_CHUNK;
    for (uint32_t k = 0; k < m; k++) {
      napi_value v;
      void* d;
      size_t n;
      NAPI_OK(napi_get_element(env, argv[1], done + k, &v));
      NAPI_OK(typed_array_data(env, v, napi_uint8_array, &d, &n));
      ptrs[k] = d;
      lens[k] = (uint32_t)n;
    }
    done += write_ptrs(h, ptrs, lens, m, errs, errs_len / sizeof(int32_t), &rejected, &stopped);
  }
  NAPI_OK(napi_create_uint32(env, done, &out));
  return out;
}

// write(h, packet: Uint8Array): 1 | 0 | -errno. After close: -EBADF (never touches a closed fd);
// -EFAULT (nothing written) when the stats array was detached.
static napi_value js_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_handle* h = argc >= 2 ? get_handle(env, argv[0]) : NULL;
  if (h == NULL) return NULL;
  void* data;
  size_t len;
  if (typed_array_data(env, argv[1], napi_uint8_array, &data, &len) != napi_ok)
    return throw_type(env, "write: packet must be a Uint8Array");
  int rc = h->closing ? -EBADF : !stats_intact(h) ? -EFAULT : write_one(h, data, len);
  NAPI_OK(napi_create_int32(env, rc, &out));
  return out;
}

// writeSlab(h, slab: Uint8Array, lengths: Uint32Array, count, errnos?: Int32Array): packets consumed.
// Packets are laid out back to back in `slab`. The loop stops at the first EAGAIN (the rest is the
// caller's to drop or retry on 'writable'); packets failing with other errno values are dropped,
// counted in stats (ST_TX_ERRORS / ST_TX_LAST_ERRNO) and the loop continues. When `errnos` is given,
// the errno of the k-th rejected packet of this call goes to errnos[k] (k < errnos.length).
// lengths[0..count) are copied first, then validated, then used: the caller's array is read once.
#define SLAB_LENGTHS_ON_STACK 256
static napi_value js_write_slab(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], out;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_handle* h = argc >= 4 ? get_handle(env, argv[0]) : NULL;
  if (h == NULL) return NULL;
  void *slab, *lens, *errs = NULL;
  size_t slab_len, lens_len, errs_len = 0;
  uint32_t count;
  if (typed_array_data(env, argv[1], napi_uint8_array, &slab, &slab_len) != napi_ok)
    return throw_type(env, "writeSlab: slab must be a Uint8Array");
  if (typed_array_data(env, argv[2], napi_uint32_array, &lens, &lens_len) != napi_ok)
    return throw_type(env, "writeSlab: lengths must be a Uint32Array");
  if (argc >= 5) {
    napi_valuetype t;
    NAPI_OK(napi_typeof(env, argv[4], &t));
    if (t != napi_undefined && typed_array_data(env, argv[4], napi_int32_array, &errs, &errs_len) != napi_ok)
      return throw_type(env, "writeSlab: errnos must be an Int32Array");
  }
  double dcount = 0;
  // Range first (NaN fails it), so the integer conversion below is always defined.
  if (napi_get_value_double(env, argv[3], &dcount) != napi_ok ||
      !(dcount >= 0 && dcount <= (double)(lens_len / sizeof(uint32_t))) || dcount != (double)(uint32_t)dcount)
    return throw_range(env, "writeSlab: count must be an integer in 0..lengths.length");
  count = (uint32_t)dcount;
  // Copy, then validate, then write from the copy: `lengths` may live in a SharedArrayBuffer that another
  // thread changes at any time, so it is read exactly once.
  uint32_t on_stack[SLAB_LENGTHS_ON_STACK];
  uint32_t* l = count <= SLAB_LENGTHS_ON_STACK ? on_stack : malloc((size_t)count * sizeof(uint32_t));
  if (l == NULL) return throw_errno(env, "writeSlab", ENOMEM);
  memcpy(l, lens, (size_t)count * sizeof(uint32_t));
  // Validate the whole layout before writing anything: a bad length is the caller's bug and gets a
  // clear error, never a read past the end of `slab` and never a half-written batch.
  uint64_t total = 0;
  for (uint32_t k = 0; k < count; k++) total += l[k];
  napi_value result = NULL;
  if (total > slab_len) {
    char msg[160];
    snprintf(msg, sizeof msg, "writeSlab: lengths[0..%u) add up to %llu bytes but slab has %zu", count,
             (unsigned long long)total, slab_len);
    throw_range(env, msg);
  } else if (!h->closing && !stats_intact(h)) {
    napi_throw_error(env, "CORRIDOR_ERR_TUN_SLAB_DETACHED", "writeSlab: the stats array was detached");
  } else {
    size_t off = 0;
    uint32_t i = 0, rejected = 0;
    int32_t* e = errs;
    size_t e_cap = errs_len / sizeof(int32_t);
    if (!h->closing && h->vnet) {
      i = write_slab_vnet(h, slab, l, count, e, e_cap, &rejected);
    } else if (!h->closing) {
      for (; i < count; i++) {
        int rc = write_one(h, (const uint8_t*)slab + off, l[i]);
        if (rc == 0) break;
        if (rc < 0 && rejected < e_cap) e[rejected] = -rc;
        if (rc < 0) rejected++;
        off += l[i];
      }
    }
    if (napi_create_uint32(env, i, &out) == napi_ok) result = out;
    else throw_last(env);
  }
  if (l != on_stack) free(l);
  return result;
}

// close(h): idempotent; the onClose callback passed to attach() fires once the fd is closed.
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_handle* h = argc ? get_handle(env, argv[0]) : NULL;
  if (h == NULL) return NULL;
  start_close(h);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeFd", NULL, js_close_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getMtu", NULL, js_get_mtu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setMtu", NULL, js_set_mtu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setTxQueueLen", NULL, js_set_txqlen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setUp", NULL, js_set_up, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attach", NULL, js_attach, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readStart", NULL, js_read_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readStop", NULL, js_read_stop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ref", NULL, js_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"write", NULL, js_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeVec", NULL, js_write_vec, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeSlab", NULL, js_write_slab, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  napi_value v;
  napi_create_uint32(env, MAX_PACKET, &v);
  napi_set_named_property(env, exports, "MAX_PACKET", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
