// TCP offloads for a TUN opened with IFF_VNET_HDR and TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
// (what wireguard-go does since 2023). Pure functions on caller-owned memory, no I/O; tun_linux.c does
// the reads and writes. Every length and offset is checked against the bytes actually present: a packet
// that does not parse is reported (OFFLOAD_BAD / a run of one), never read past.
//
// Read side (TSO): the kernel hands over a virtio_net_hdr and then either one packet, maybe with a
// partial checksum (NEEDS_CSUM: we complete it), or a TCP "super-packet" of up to 64 KiB with gso_size
// = MSS, which we cut into MSS-sized segments with their own IP and TCP headers and full checksums.
// JavaScript sees ordinary packets either way.
//
// Write side (GRO): consecutive TCP segments of one flow (same addresses, ports, header fields and
// options; contiguous sequence numbers; valid checksums; plain ACK data, PSH only on the last) become
// ONE write of a super-packet with a virtio_net_hdr (GSO_TCPV4/6, gso_size = the first segment's
// payload): the kernel's IP and TCP stacks run once per run instead of once per segment. The payloads
// are not copied: the write is a writev of [vnet header, rewritten headers, payload, payload, ...].
#ifndef CORRIDOR_TUN_OFFLOAD_H
#define CORRIDOR_TUN_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VNET_HDR_LEN 10  // sizeof(struct virtio_net_hdr), the TUN default (TUNSETVNETHDRSZ not used)
#define OFFLOAD_MAX_HEADERS 120  // IPv6 (40) + TCP with options (60), rounded up
#define GRO_MAX_RUN 64           // segments per coalesced write
#define GRO_MAX_BYTES 65535      // IPv4 total length / IPv6 payload length limit

// ---- read side ----

enum { OFFLOAD_PLAIN = 0, OFFLOAD_GSO = 1, OFFLOAD_BAD = -1 };

typedef struct tso_state {
  const uint8_t* pkt;  // the super-packet (after the vnet header)
  uint32_t len;        // its length
  uint32_t l4;         // IP header length (= csum_start)
  uint32_t hdr;        // IP + TCP header length
  uint32_t mss;        // payload bytes per segment (gso_size)
  uint32_t next;       // offset of the next segment's payload in pkt (hdr <= next <= len)
  uint32_t k;          // index of the next segment
  int v6;
} tso_state;

// Parses one read of `n` bytes (vnet header + packet) in `buf`. PLAIN: the packet is buf[VNET_HDR_LEN..n)
// with its checksum completed in place when the header asked for it (*pkt_len set). GSO: `st` is ready
// for tso_next(). BAD: malformed or unsupported (e.g. UDP GSO), drop it.
int offload_rx(uint8_t* buf, size_t n, uint32_t* pkt_len, tso_state* st);

// Bytes the next segment needs (0 when the super-packet is done).
uint32_t tso_next_len(const tso_state* st);

// Writes the next segment (headers fixed, full checksums) into `out` (at least tso_next_len() bytes)
// and returns its length.
uint32_t tso_next(tso_state* st, uint8_t* out);

// ---- write side ----

typedef struct gro_run {
  uint8_t vnet[VNET_HDR_LEN];
  uint8_t headers[OFFLOAD_MAX_HEADERS];  // the first segment's headers, rewritten for the whole run
  uint32_t hdr;                          // bytes used in `headers`
  uint32_t count;                        // packets in the run (>= 1)
  uint32_t bytes;                        // sum of their lengths
} gro_run;

// How many packets starting at pkts[i] form one run (1 = not coalescable: write it alone with a zero
// vnet header). For a run > 1, `run` holds the vnet header and the rewritten headers; the payload of
// packet j is pkts[j] + run->hdr .. + lens[j].
uint32_t gro_plan(const uint8_t* const* pkts, const uint32_t* lens, uint32_t count, uint32_t i, gro_run* run);

// Fills iov[0..) for a planned run; returns the number of iovecs (at most 2 + run->count).
int gro_iov(const gro_run* run, const uint8_t* const* pkts, const uint32_t* lens, uint32_t i, struct iovec* iov);

#endif
