// Packet builders and decoders for tests (and the packetdrill-style runner): readable objects in,
// wire bytes out, and back. Built on the same wire modules as the stack, with an independent
// checksum check in decode so a wrong builder cannot hide a wrong parser.
import type { IpAddr } from '../wire/address.js';
import { parseIp } from '../wire/address.js';
import { finishChecksum, pseudoHeaderSum, sumBytes } from '../wire/checksum.js';
import {
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_HEADER_BYTES,
  IPV6_HEADER_BYTES,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TCP_URG,
} from '../wire/constants.js';
import { IcmpMessage, parseIcmp } from '../wire/icmp.js';
import { IpInfo } from '../wire/ip-info.js';
import { parseIpv4, writeIpv4Header } from '../wire/ipv4.js';
import { parseIpv6, writeIpv6Header } from '../wire/ipv6.js';
import { finishTcpChecksum, parseTcp, TcpHeaderOut, TcpSegment, writeTcpHeader } from '../wire/tcp.js';
import { finishUdpChecksum, parseUdp, UdpDatagram, writeUdpHeader } from '../wire/udp.js';

export interface TcpSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  /** Flag letters as in tcpdump/packetdrill: S F R P . (ACK) U */
  flags: string;
  win?: number;
  mss?: number;
  wscale?: number;
  sackOk?: boolean;
  ts?: [number, number];
  sack?: [number, number][];
  payload?: Uint8Array;
  ttl?: number;
}

export function flagBits(flags: string): number {
  let f = 0;
  for (const c of flags) {
    if (c === 'S') f |= TCP_SYN;
    else if (c === 'F') f |= TCP_FIN;
    else if (c === 'R') f |= TCP_RST;
    else if (c === 'P') f |= TCP_PSH;
    else if (c === '.') f |= TCP_ACK;
    else if (c === 'U') f |= TCP_URG;
  }
  return f;
}

export function flagString(bits: number): string {
  let s = '';
  if (bits & TCP_SYN) s += 'S';
  if (bits & TCP_FIN) s += 'F';
  if (bits & TCP_RST) s += 'R';
  if (bits & TCP_PSH) s += 'P';
  if (bits & TCP_URG) s += 'U';
  if (bits & TCP_ACK) s += '.';
  return s;
}

function addr(text: string): IpAddr {
  const a = parseIp(text);
  if (!a) throw new Error(`bad address ${text}`);
  return a;
}

/** Builds an IPv4 or IPv6 TCP packet with correct checksums. */
export function buildTcp(spec: TcpSpec): Uint8Array {
  const src = addr(spec.src);
  const dst = addr(spec.dst);
  const h = new TcpHeaderOut();
  h.srcPort = spec.sport;
  h.dstPort = spec.dport;
  h.seq = spec.seq >>> 0;
  h.ack = (spec.ack ?? 0) >>> 0;
  h.flags = flagBits(spec.flags);
  h.window = spec.win ?? 65535;
  h.mss = spec.mss ?? 0;
  h.wscale = spec.wscale ?? -1;
  h.sackPermitted = spec.sackOk ?? false;
  if (spec.ts) {
    h.hasTimestamp = true;
    h.tsVal = spec.ts[0] >>> 0;
    h.tsEcr = spec.ts[1] >>> 0;
  }
  if (spec.sack) {
    h.sackCount = Math.min(spec.sack.length, 4);
    for (let i = 0; i < h.sackCount; i++) {
      h.sack[2 * i] = (spec.sack[i] as [number, number])[0] >>> 0;
      h.sack[2 * i + 1] = (spec.sack[i] as [number, number])[1] >>> 0;
    }
  }
  const payload = spec.payload ?? new Uint8Array(0);
  const ipLen = src.family === 4 ? IPV4_HEADER_BYTES : IPV6_HEADER_BYTES;
  const out = new Uint8Array(ipLen + 60 + payload.length);
  const hl = writeTcpHeader(out, ipLen, h);
  out.set(payload, ipLen + hl);
  const segLen = hl + payload.length;
  if (src.family === 4) writeIpv4Header(out, 0, src, dst, IPPROTO_TCP, segLen, spec.ttl ?? 64, 1, true);
  else writeIpv6Header(out, 0, src, dst, IPPROTO_TCP, segLen, spec.ttl ?? 64, 0);
  finishTcpChecksum(out, ipLen, segLen, pseudoHeaderSum(src, dst, IPPROTO_TCP, segLen));
  return out.slice(0, ipLen + segLen);
}

export function buildUdp(spec: {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload: Uint8Array;
}): Uint8Array {
  const src = addr(spec.src);
  const dst = addr(spec.dst);
  const ipLen = src.family === 4 ? IPV4_HEADER_BYTES : IPV6_HEADER_BYTES;
  const total = 8 + spec.payload.length;
  const out = new Uint8Array(ipLen + total);
  if (src.family === 4) writeIpv4Header(out, 0, src, dst, IPPROTO_UDP, total, 64, 1, false);
  else writeIpv6Header(out, 0, src, dst, IPPROTO_UDP, total, 64, 0);
  writeUdpHeader(out, ipLen, spec.sport, spec.dport, spec.payload.length);
  out.set(spec.payload, ipLen + 8);
  finishUdpChecksum(out, ipLen, total, pseudoHeaderSum(src, dst, IPPROTO_UDP, total));
  return out;
}

/** ICMP / ICMPv6 message: type, code, the 4 rest-of-header bytes as two words, and a body. */
export function buildIcmp(spec: {
  src: string;
  dst: string;
  type: number;
  code: number;
  word1?: number;
  word2?: number;
  body?: Uint8Array;
}): Uint8Array {
  const src = addr(spec.src);
  const dst = addr(spec.dst);
  const v6 = src.family === 6;
  const ipLen = v6 ? IPV6_HEADER_BYTES : IPV4_HEADER_BYTES;
  const body = spec.body ?? new Uint8Array(0);
  const len = 8 + body.length;
  const out = new Uint8Array(ipLen + len);
  if (v6) writeIpv6Header(out, 0, src, dst, IPPROTO_ICMPV6, len, 64, 0);
  else writeIpv4Header(out, 0, src, dst, IPPROTO_ICMP, len, 64, 1, false);
  out[ipLen] = spec.type;
  out[ipLen + 1] = spec.code;
  out[ipLen + 4] = (spec.word1 ?? 0) >>> 8;
  out[ipLen + 5] = spec.word1 ?? 0;
  out[ipLen + 6] = (spec.word2 ?? 0) >>> 8;
  out[ipLen + 7] = spec.word2 ?? 0;
  out.set(body, ipLen + 8);
  const c = finishChecksum(
    sumBytes(out, ipLen, len, v6 ? pseudoHeaderSum(src, dst, IPPROTO_ICMPV6, len) : 0),
  );
  out[ipLen + 2] = c >>> 8;
  out[ipLen + 3] = c;
  return out;
}

export interface DecodedTcp {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: string;
  win: number;
  mss: number;
  wscale: number;
  sackOk: boolean;
  ts: [number, number] | null;
  sack: [number, number][];
  payload: Uint8Array;
}

export interface Decoded {
  family: 4 | 6;
  src: string;
  dst: string;
  protocol: number;
  ttl: number;
  tcp?: DecodedTcp;
  udp?: { sport: number; dport: number; payload: Uint8Array };
  icmp?: { type: number; code: number; id: number; seq: number; mtu: number; body: Uint8Array };
}

/** Decodes (and checksum-verifies) an IP packet; throws on anything malformed (test helper). */
export function decode(pkt: Uint8Array): Decoded {
  const info = new IpInfo();
  const v = (pkt[0] ?? 0) >>> 4;
  const r = v === 4 ? parseIpv4(pkt, pkt.length, info) : parseIpv6(pkt, pkt.length, info);
  if (r !== 'ok') throw new Error(`bad IP packet: ${r}`);
  const d: Decoded = {
    family: info.family,
    src: info.srcAddr().toString(),
    dst: info.dstAddr().toString(),
    protocol: info.protocol,
    ttl: info.ttl,
  };
  const src = info.srcAddr();
  const dst = info.dstAddr();
  const off = info.payloadOffset;
  const len = info.payloadLength;
  if (info.protocol === IPPROTO_TCP) {
    const seg = new TcpSegment();
    const rr = parseTcp(pkt, off, len, pseudoHeaderSum(src, dst, IPPROTO_TCP, len), seg);
    if (rr !== 'ok') throw new Error(`bad TCP: ${rr}`);
    const sack: [number, number][] = [];
    for (let i = 0; i < seg.sackCount; i++)
      sack.push([seg.sack[2 * i] as number, seg.sack[2 * i + 1] as number]);
    d.tcp = {
      sport: seg.srcPort,
      dport: seg.dstPort,
      seq: seg.seq,
      ack: seg.ack,
      flags: flagString(seg.flags),
      win: seg.window,
      mss: seg.mss,
      wscale: seg.wscale,
      sackOk: seg.sackPermitted,
      ts: seg.hasTimestamp ? [seg.tsVal, seg.tsEcr] : null,
      sack,
      payload: pkt.slice(seg.payloadOffset, seg.payloadOffset + seg.payloadLength),
    };
  } else if (info.protocol === IPPROTO_UDP) {
    const u = new UdpDatagram();
    const rr = parseUdp(pkt, off, len, pseudoHeaderSum(src, dst, IPPROTO_UDP, 0), info.family === 6, u);
    if (rr !== 'ok') throw new Error(`bad UDP: ${rr}`);
    d.udp = {
      sport: u.srcPort,
      dport: u.dstPort,
      payload: pkt.slice(u.payloadOffset, u.payloadOffset + u.payloadLength),
    };
  } else if (info.protocol === IPPROTO_ICMP || info.protocol === IPPROTO_ICMPV6) {
    const m = new IcmpMessage();
    const v6 = info.family === 6;
    const rr = parseIcmp(pkt, off, len, v6, v6 ? pseudoHeaderSum(src, dst, IPPROTO_ICMPV6, len) : 0, m);
    if (rr !== 'ok') throw new Error(`bad ICMP: ${rr}`);
    d.icmp = {
      type: m.type,
      code: m.code,
      id: m.id,
      seq: m.seqNo,
      mtu: m.mtu,
      body: pkt.slice(m.dataOffset, m.dataOffset + m.dataLength),
    };
  }
  return d;
}
