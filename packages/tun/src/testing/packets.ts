// Minimal IPv4 / UDP / ICMP builders and parsers for tests and benchmarks (not for the data path:
// they allocate and trust their input far more than a packet parser on untrusted bytes should).

export function ipv4ToBytes(addr: string): Uint8Array {
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new RangeError(`not an IPv4 address: ${addr}`);
  }
  return Uint8Array.from(parts);
}

export function bytesToIpv4(b: Uint8Array, offset = 0): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

/** RFC 1071 one's complement sum over data[start, end), folded, not inverted. */
function sum16(data: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += ((data[i] as number) << 8) | (data[i + 1] as number);
  if (i < end) sum += (data[i] as number) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Internet checksum of data[start, end). */
export function internetChecksum(data: Uint8Array, start = 0, end = data.length): number {
  return ~sum16(data, start, end) & 0xffff;
}

export interface Ipv4Header {
  headerLength: number;
  totalLength: number;
  ttl: number;
  protocol: number;
  src: string;
  dst: string;
}

/** Parses an IPv4 header; undefined when `p` is not a well-formed IPv4 packet. */
export function parseIpv4(p: Uint8Array): Ipv4Header | undefined {
  if (p.length < 20 || (p[0] as number) >> 4 !== 4) return undefined;
  const headerLength = ((p[0] as number) & 0x0f) * 4;
  const totalLength = ((p[2] as number) << 8) | (p[3] as number);
  if (headerLength < 20 || totalLength < headerLength || totalLength > p.length) return undefined;
  return {
    headerLength,
    totalLength,
    ttl: p[8] as number,
    protocol: p[9] as number,
    src: bytesToIpv4(p, 12),
    dst: bytesToIpv4(p, 16),
  };
}

export interface UdpDatagram {
  ip: Ipv4Header;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** Parses IPv4 + UDP; undefined for anything else. */
export function parseIpv4Udp(p: Uint8Array): UdpDatagram | undefined {
  const ip = parseIpv4(p);
  if (!ip || ip.protocol !== 17 || ip.totalLength < ip.headerLength + 8) return undefined;
  const u = ip.headerLength;
  const udpLen = ((p[u + 4] as number) << 8) | (p[u + 5] as number);
  if (udpLen < 8 || u + udpLen > ip.totalLength) return undefined;
  return {
    ip,
    srcPort: ((p[u] as number) << 8) | (p[u + 1] as number),
    dstPort: ((p[u + 2] as number) << 8) | (p[u + 3] as number),
    payload: p.subarray(u + 8, u + udpLen),
  };
}

export interface BuildUdpOptions {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
  ttl?: number;
  id?: number;
}

/** Writes an IPv4/UDP packet into `out` at `offset` (checksums filled in); returns its length. */
export function writeIpv4Udp(out: Uint8Array, offset: number, o: BuildUdpOptions): number {
  const total = 28 + o.payload.length;
  const p = out.subarray(offset, offset + total);
  p.fill(0, 0, 28);
  p[0] = 0x45;
  p[2] = total >> 8;
  p[3] = total & 0xff;
  p[4] = ((o.id ?? 0) >> 8) & 0xff;
  p[5] = (o.id ?? 0) & 0xff;
  p[6] = 0x40; // don't fragment
  p[8] = o.ttl ?? 64;
  p[9] = 17;
  p.set(ipv4ToBytes(o.src), 12);
  p.set(ipv4ToBytes(o.dst), 16);
  const ipSum = internetChecksum(p, 0, 20);
  p[10] = ipSum >> 8;
  p[11] = ipSum & 0xff;
  const udpLen = 8 + o.payload.length;
  p[20] = o.srcPort >> 8;
  p[21] = o.srcPort & 0xff;
  p[22] = o.dstPort >> 8;
  p[23] = o.dstPort & 0xff;
  p[24] = udpLen >> 8;
  p[25] = udpLen & 0xff;
  p.set(o.payload, 28);
  // Pseudo-header: src, dst, zero + protocol, UDP length.
  let pseudo = sum16(p, 12, 20);
  pseudo += 17 + udpLen;
  const udpSum = ~sum16(p, 20, total, pseudo) & 0xffff;
  const finalSum = udpSum === 0 ? 0xffff : udpSum;
  p[26] = finalSum >> 8;
  p[27] = finalSum & 0xff;
  return total;
}

export function buildIpv4Udp(o: BuildUdpOptions): Uint8Array {
  const out = new Uint8Array(28 + o.payload.length);
  writeIpv4Udp(out, 0, o);
  return out;
}

/**
 * Turns an IPv4 ICMP echo request into the matching echo reply (swapped addresses, type 0, both
 * checksums recomputed). Returns a new buffer, or undefined when `request` is not an echo request.
 */
export function icmpEchoReply(request: Uint8Array): Uint8Array | undefined {
  const ip = parseIpv4(request);
  if (!ip || ip.protocol !== 1 || ip.totalLength < ip.headerLength + 8) return undefined;
  const h = ip.headerLength;
  if (request[h] !== 8) return undefined;
  const r = Uint8Array.from(request.subarray(0, ip.totalLength));
  r.set(request.subarray(16, 20), 12);
  r.set(request.subarray(12, 16), 16);
  r[8] = 64;
  r[10] = 0;
  r[11] = 0;
  const ipSum = internetChecksum(r, 0, h);
  r[10] = ipSum >> 8;
  r[11] = ipSum & 0xff;
  r[h] = 0; // echo reply
  r[h + 2] = 0;
  r[h + 3] = 0;
  const icmpSum = internetChecksum(r, h, ip.totalLength);
  r[h + 2] = icmpSum >> 8;
  r[h + 3] = icmpSum & 0xff;
  return r;
}
