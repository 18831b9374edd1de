// TCP segmentation and coalescing for TUN offloads; see tun_offload.h for the contract.
//
// Checksums: one's complement sums of native-endian 32-bit loads folded to 16 bits give the same bytes
// as the RFC 1071 big-endian sum when stored with memcpy (byte-order independence of the one's
// complement sum), so numeric pseudo-header fields are added in network order (htons/htonl).
#define _GNU_SOURCE
#include "tun_offload.h"

#include <arpa/inet.h>
#include <linux/virtio_net.h>
#include <string.h>

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

static inline uint16_t rd16(const uint8_t* p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rd32(const uint8_t* p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void wr16(uint8_t* p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void wr32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

// Native-endian partial sum of p[0..n).
static uint64_t csum_add(const uint8_t* p, size_t n, uint64_t sum) {
  while (n >= 32) {
    uint32_t w[8];
    memcpy(w, p, 32);
    sum += (uint64_t)w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7];
    p += 32;
    n -= 32;
  }
  while (n >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    sum += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    sum += w;
    p += 2;
    n -= 2;
  }
  if (n) {
    uint16_t w = 0;
    memcpy(&w, p, 1);  // the odd byte is the high-order byte of a big-endian word: its first byte
    sum += w;
  }
  return sum;
}

static uint16_t csum_fold(uint64_t sum) {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

// Pseudo-header sum (addresses from the IP header at `ip`) for an L4 length of `l4len`.
static uint64_t pseudo_sum(const uint8_t* ip, int v6, uint8_t proto, uint32_t l4len) {
  uint64_t sum = v6 ? csum_add(ip + 8, 32, 0) : csum_add(ip + 12, 8, 0);
  sum += htons(proto);
  sum += htonl(l4len);
  return sum;
}

static void ipv4_fix_header(uint8_t* ip, uint32_t ihl) {
  ip[10] = ip[11] = 0;
  uint16_t c = (uint16_t)~csum_fold(csum_add(ip, ihl, 0));
  memcpy(ip + 10, &c, 2);
}

// ---- read side ----------------------------------------------------------------------------------

int offload_rx(uint8_t* buf, size_t n, uint32_t* pkt_len, tso_state* st) {
  if (n < VNET_HDR_LEN) return OFFLOAD_BAD;
  struct virtio_net_hdr h;
  memcpy(&h, buf, sizeof h);
  uint8_t* pkt = buf + VNET_HDR_LEN;
  size_t len = n - VNET_HDR_LEN;
  uint8_t gso = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
  if (gso == VIRTIO_NET_HDR_GSO_NONE) {
    if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      // The checksum field holds the pseudo-header sum; summing from csum_start completes it.
      size_t start = h.csum_start, at = (size_t)h.csum_start + h.csum_offset;
      if (start >= len || at + 2 > len) return OFFLOAD_BAD;
      uint16_t c = (uint16_t)~csum_fold(csum_add(pkt + start, len - start, 0));
      if (c == 0 && h.csum_offset == 6) c = 0xffff;  // UDP: 0 means "no checksum"
      memcpy(pkt + at, &c, 2);
    }
    *pkt_len = (uint32_t)len;
    return OFFLOAD_PLAIN;
  }
  if (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6) return OFFLOAD_BAD;
  if (!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || h.gso_size == 0 || len > 65535 + 40) return OFFLOAD_BAD;
  int v6 = gso == VIRTIO_NET_HDR_GSO_TCPV6;
  uint32_t l4 = h.csum_start;
  if (v6) {
    if (len < 40 || (pkt[0] >> 4) != 6 || pkt[6] != IPPROTO_TCP || l4 != 40) return OFFLOAD_BAD;
  } else {
    if (len < 20 || (pkt[0] >> 4) != 4 || pkt[9] != IPPROTO_TCP || l4 != (uint32_t)(pkt[0] & 0x0f) * 4 || l4 < 20)
      return OFFLOAD_BAD;
  }
  if (h.csum_offset != 16 || (size_t)l4 + 20 > len) return OFFLOAD_BAD;
  uint32_t tcph = (uint32_t)(pkt[l4 + 12] >> 4) * 4;
  if (tcph < 20 || (size_t)l4 + tcph > len || l4 + tcph > OFFLOAD_MAX_HEADERS) return OFFLOAD_BAD;
  st->pkt = pkt;
  st->len = (uint32_t)len;
  st->l4 = l4;
  st->hdr = l4 + tcph;
  st->mss = h.gso_size;
  st->next = st->hdr;
  st->k = 0;
  st->v6 = v6;
  return OFFLOAD_GSO;
}

uint32_t tso_next_len(const tso_state* st) {
  if (st->next >= st->len) return 0;
  uint32_t plen = st->len - st->next;
  if (plen > st->mss) plen = st->mss;
  return st->hdr + plen;
}

uint32_t tso_next(tso_state* st, uint8_t* out) {
  uint32_t total = tso_next_len(st);
  if (total == 0) return 0;
  uint32_t plen = total - st->hdr;
  const uint8_t* in = st->pkt;
  memcpy(out, in, st->hdr);
  memcpy(out + st->hdr, in + st->next, plen);
  int last = st->next + plen >= st->len;
  if (st->v6) {
    wr16(out + 4, (uint16_t)(total - 40));
  } else {
    wr16(out + 2, (uint16_t)total);
    wr16(out + 4, (uint16_t)(rd16(in + 4) + st->k));
    ipv4_fix_header(out, st->l4);
  }
  uint8_t* tcp = out + st->l4;
  wr32(tcp + 4, rd32(in + st->l4 + 4) + (st->next - st->hdr));
  uint8_t flags = tcp[13];
  if (!last) flags &= (uint8_t)~(TCP_FIN | TCP_PSH);
  if (st->k > 0) flags &= (uint8_t)~TCP_CWR;
  tcp[13] = flags;
  tcp[16] = tcp[17] = 0;
  uint32_t l4len = total - st->l4;
  uint16_t c = (uint16_t)~csum_fold(csum_add(tcp, l4len, pseudo_sum(out, st->v6, IPPROTO_TCP, l4len)));
  memcpy(tcp + 16, &c, 2);
  st->next += plen;
  st->k++;
  return total;
}

// ---- write side ---------------------------------------------------------------------------------

typedef struct seg_info {
  int v6;
  uint32_t l4, hdr, payload;
  uint8_t flags;
} seg_info;

// A TCP segment eligible for coalescing: IPv4 without options or fragments / IPv6 without extension
// headers, lengths consistent, payload > 0, only ACK (and PSH) flags, valid TCP checksum.
static int gro_candidate(const uint8_t* p, uint32_t len, seg_info* s) {
  if (len < 40) return 0;
  uint32_t l4;
  if ((p[0] >> 4) == 4) {
    if (p[0] != 0x45 || p[9] != IPPROTO_TCP || rd16(p + 2) != len) return 0;
    if ((rd16(p + 6) & 0x3fff) != 0) return 0;  // MF or a fragment offset
    s->v6 = 0;
    l4 = 20;
  } else if ((p[0] >> 4) == 6) {
    if (len < 60 || p[6] != IPPROTO_TCP || (uint32_t)rd16(p + 4) + 40 != len) return 0;
    s->v6 = 1;
    l4 = 40;
  } else {
    return 0;
  }
  uint32_t tcph = (uint32_t)(p[l4 + 12] >> 4) * 4;
  if (tcph < 20 || l4 + tcph >= len || l4 + tcph > OFFLOAD_MAX_HEADERS) return 0;
  uint8_t flags = p[l4 + 13];
  if ((flags & (uint8_t)~(TCP_ACK | TCP_PSH)) != 0 || !(flags & TCP_ACK)) return 0;
  uint32_t l4len = len - l4;
  if (csum_fold(csum_add(p + l4, l4len, pseudo_sum(p, s->v6, IPPROTO_TCP, l4len))) != 0xffff) return 0;
  s->l4 = l4;
  s->hdr = l4 + tcph;
  s->payload = len - s->hdr;
  s->flags = flags;
  return 1;
}

// Whether `b` continues the run whose first packet is `a` and whose last packet is `prev`.
static int gro_follows(const uint8_t* a, const seg_info* sa, const uint8_t* prev, const seg_info* sp,
                       const uint8_t* b, const seg_info* sb) {
  if (sb->v6 != sa->v6 || sb->hdr != sa->hdr) return 0;
  if (sp->flags & TCP_PSH) return 0;           // PSH ends a run
  if (sp->payload != sa->payload) return 0;    // only the last segment may be shorter
  if (sb->payload > sa->payload) return 0;
  uint32_t l4 = sa->l4;
  if (sa->v6) {
    // version, traffic class, flow label; next header, hop limit; addresses
    if (memcmp(a, b, 4) != 0 || memcmp(a + 6, b + 6, 34) != 0) return 0;
  } else {
    // TOS, DF, TTL, protocol, addresses equal; IDs consecutive unless DF is set
    if (a[1] != b[1] || a[8] != b[8] || memcmp(a + 12, b + 12, 8) != 0) return 0;
    if ((a[6] & 0x40) != (b[6] & 0x40)) return 0;
    if (!(a[6] & 0x40) && rd16(b + 4) != (uint16_t)(rd16(prev + 4) + 1)) return 0;
  }
  // ports, ack number, window, urgent pointer, options identical; sequence contiguous
  const uint8_t* ta = a + l4;
  const uint8_t* tp = prev + l4;
  const uint8_t* tb = b + l4;
  if (memcmp(ta, tb, 4) != 0 || memcmp(ta + 8, tb + 8, 5) != 0 || memcmp(ta + 14, tb + 14, 2) != 0) return 0;
  if (memcmp(ta + 18, tb + 18, sa->hdr - l4 - 18) != 0) return 0;
  if (rd32(tb + 4) != rd32(tp + 4) + sp->payload) return 0;
  return 1;
}

uint32_t gro_plan(const uint8_t* const* pkts, const uint32_t* lens, uint32_t count, uint32_t i, gro_run* run) {
  run->count = 1;
  run->bytes = lens[i];
  seg_info first, prev, cur;
  if (i + 1 >= count || !gro_candidate(pkts[i], lens[i], &first)) return 1;
  prev = first;
  uint32_t total = lens[i];
  uint32_t j = i + 1;
  for (; j < count && j - i < GRO_MAX_RUN; j++) {
    if (!gro_candidate(pkts[j], lens[j], &cur) || !gro_follows(pkts[i], &first, pkts[j - 1], &prev, pkts[j], &cur))
      break;
    if (total + cur.payload > GRO_MAX_BYTES) break;
    total += cur.payload;
    prev = cur;
  }
  uint32_t n = j - i;
  if (n < 2) return 1;
  // Headers of the first segment, rewritten for the run: lengths, IPv4 header checksum, the last
  // segment's PSH, and the pseudo-header sum in the TCP checksum field (CHECKSUM_PARTIAL: the kernel
  // treats the payload as verified — we checked every segment's checksum above).
  uint8_t* hd = run->headers;
  memcpy(hd, pkts[i], first.hdr);
  uint32_t l4 = first.l4;
  if (first.v6) {
    wr16(hd + 4, (uint16_t)(total - 40));
  } else {
    wr16(hd + 2, (uint16_t)total);
    ipv4_fix_header(hd, 20);
  }
  hd[l4 + 13] = prev.flags;
  uint32_t l4len = total - l4;
  uint16_t ps = csum_fold(pseudo_sum(hd, first.v6, IPPROTO_TCP, l4len));
  memcpy(hd + l4 + 16, &ps, 2);
  struct virtio_net_hdr v;
  memset(&v, 0, sizeof v);
  v.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  v.gso_type = first.v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
  v.hdr_len = (uint16_t)first.hdr;
  v.gso_size = (uint16_t)first.payload;
  v.csum_start = (uint16_t)l4;
  v.csum_offset = 16;
  memcpy(run->vnet, &v, sizeof v);
  run->hdr = first.hdr;
  run->count = n;
  run->bytes = 0;
  for (uint32_t k = i; k < j; k++) run->bytes += lens[k];
  return n;
}

int gro_iov(const gro_run* run, const uint8_t* const* pkts, const uint32_t* lens, uint32_t i, struct iovec* iov) {
  iov[0].iov_base = (void*)run->vnet;
  iov[0].iov_len = VNET_HDR_LEN;
  iov[1].iov_base = (void*)run->headers;
  iov[1].iov_len = run->hdr;
  for (uint32_t k = 0; k < run->count; k++) {
    iov[2 + k].iov_base = (void*)(pkts[i + k] + run->hdr);
    iov[2 + k].iov_len = lens[i + k] - run->hdr;
  }
  return 2 + (int)run->count;
}
