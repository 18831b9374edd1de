// Reading the captures the lab takes (classic pcap as `tcpdump -w` writes it) and decoding just enough
// of each packet for tests: link layer (Ethernet, Linux cooked v1/v2, raw IP), IPv4/IPv6 (extension
// headers walked), and UDP/TCP/ICMP ports and payload. Sans-IO and hostile-input safe: parsePcap and
// decodePacket never throw; a short or odd file yields `truncated` or `ok: false`, never an exception.
import { formatIPv6Bytes } from './addresses.js';

export const LINKTYPE = {
  ETHERNET: 1,
  RAW: 101,
  LINUX_SLL: 113,
  LINUX_SLL2: 276,
  IPV4: 228,
  IPV6: 229,
} as const;

export interface PcapRecord {
  /** Seconds since the epoch, with the file's sub-second precision. */
  ts: number;
  /** The captured bytes (a view into the file buffer). */
  data: Buffer;
  /** The packet's length on the wire (data may be shorter with a snap length). */
  origLen: number;
}

export type PcapParseResult =
  | { ok: true; linkType: number; records: PcapRecord[]; truncated: boolean }
  | { ok: false; reason: 'short-header' | 'bad-magic' };

export function parsePcap(file: Buffer): PcapParseResult {
  if (file.length < 24) return { ok: false, reason: 'short-header' };
  const magicLE = file.readUInt32LE(0);
  let le: boolean;
  let nano: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) {
    le = true;
    nano = magicLE === 0xa1b23c4d;
  } else {
    const magicBE = file.readUInt32BE(0);
    if (magicBE !== 0xa1b2c3d4 && magicBE !== 0xa1b23c4d) return { ok: false, reason: 'bad-magic' };
    le = false;
    nano = magicBE === 0xa1b23c4d;
  }
  const u32 = (off: number) => (le ? file.readUInt32LE(off) : file.readUInt32BE(off));
  const linkType = u32(20) & 0x0fffffff;
  const records: PcapRecord[] = [];
  let off = 24;
  let truncated = false;
  while (off < file.length) {
    if (off + 16 > file.length) {
      truncated = true;
      break;
    }
    const sec = u32(off);
    const frac = u32(off + 4);
    const inclLen = u32(off + 8);
    const origLen = u32(off + 12);
    if (off + 16 + inclLen > file.length) {
      truncated = true;
      break;
    }
    records.push({
      ts: sec + frac / (nano ? 1e9 : 1e6),
      data: file.subarray(off + 16, off + 16 + inclLen),
      origLen,
    });
    off += 16 + inclLen;
  }
  return { ok: true, linkType, records, truncated };
}

export interface DecodedPacket {
  ts: number;
  /** EtherType of the network layer (0x0800 IPv4, 0x86dd IPv6, 0x0806 ARP...), when known. */
  ethertype: number | undefined;
  /** 4 or 6 for IP packets. */
  ipVersion: 4 | 6 | undefined;
  src: string | undefined;
  dst: string | undefined;
  /** IP protocol number of the transport (after IPv6 extension headers). */
  protocol: number | undefined;
  transport: 'udp' | 'tcp' | 'icmp' | 'icmpv6' | 'other' | undefined;
  sport: number | undefined;
  dport: number | undefined;
  /** Transport payload (UDP/TCP data, ICMP body), or what follows the last header understood. */
  payload: Buffer;
  /** The whole captured frame. */
  frame: Buffer;
  /** Set when a header was cut short (snap length or a malformed packet). */
  truncated: boolean;
}

const IPV6_EXT = new Set([0, 43, 60]); // hop-by-hop, routing, destination options (fragment: 44)

export function decodePacket(rec: PcapRecord, linkType: number): DecodedPacket {
  const d = rec.data;
  const out: DecodedPacket = {
    ts: rec.ts,
    ethertype: undefined,
    ipVersion: undefined,
    src: undefined,
    dst: undefined,
    protocol: undefined,
    transport: undefined,
    sport: undefined,
    dport: undefined,
    payload: d.subarray(0, 0),
    frame: d,
    truncated: false,
  };
  let off: number;
  switch (linkType) {
    case LINKTYPE.ETHERNET: {
      if (d.length < 14) return { ...out, truncated: true };
      let et = d.readUInt16BE(12);
      off = 14;
      while ((et === 0x8100 || et === 0x88a8) && d.length >= off + 4) {
        et = d.readUInt16BE(off + 2);
        off += 4;
      }
      out.ethertype = et;
      break;
    }
    case LINKTYPE.LINUX_SLL:
      if (d.length < 16) return { ...out, truncated: true };
      out.ethertype = d.readUInt16BE(14);
      off = 16;
      break;
    case LINKTYPE.LINUX_SLL2:
      if (d.length < 20) return { ...out, truncated: true };
      out.ethertype = d.readUInt16BE(0);
      off = 20;
      break;
    case LINKTYPE.RAW:
    case LINKTYPE.IPV4:
    case LINKTYPE.IPV6: {
      const v = d.length > 0 ? d[0]! >> 4 : 0;
      out.ethertype = v === 4 ? 0x0800 : v === 6 ? 0x86dd : undefined;
      off = 0;
      break;
    }
    default:
      out.payload = d;
      return out;
  }
  out.payload = d.subarray(off);
  if (out.ethertype === 0x0800) return decodeIPv4(d, off, out);
  if (out.ethertype === 0x86dd) return decodeIPv6(d, off, out);
  return out;
}

function decodeIPv4(d: Buffer, off: number, out: DecodedPacket): DecodedPacket {
  if (d.length < off + 20 || d[off]! >> 4 !== 4) return { ...out, truncated: true };
  const ihl = (d[off]! & 0xf) * 4;
  const total = d.readUInt16BE(off + 2);
  out.ipVersion = 4;
  out.protocol = d[off + 9]!;
  out.src = `${d[off + 12]}.${d[off + 13]}.${d[off + 14]}.${d[off + 15]}`;
  out.dst = `${d[off + 16]}.${d[off + 17]}.${d[off + 18]}.${d[off + 19]}`;
  if (ihl < 20 || d.length < off + ihl) return { ...out, truncated: true };
  const end = Math.min(d.length, off + Math.max(total, ihl));
  const fragOffset = d.readUInt16BE(off + 6) & 0x1fff;
  if (fragOffset !== 0) {
    out.transport = 'other'; // a later fragment carries no transport header
    out.payload = d.subarray(off + ihl, end);
    return out;
  }
  return decodeTransport(d, off + ihl, end, out);
}

function decodeIPv6(d: Buffer, off: number, out: DecodedPacket): DecodedPacket {
  if (d.length < off + 40 || d[off]! >> 4 !== 6) return { ...out, truncated: true };
  out.ipVersion = 6;
  out.src = formatIPv6Bytes(d, off + 8);
  out.dst = formatIPv6Bytes(d, off + 24);
  const end = Math.min(d.length, off + 40 + d.readUInt16BE(off + 4));
  let next = d[off + 6]!;
  let p = off + 40;
  for (let hops = 0; hops < 8; hops++) {
    if (IPV6_EXT.has(next)) {
      if (p + 2 > end) return { ...out, protocol: next, truncated: true };
      const len = (d[p + 1]! + 1) * 8;
      next = d[p]!;
      p += len;
    } else if (next === 44) {
      if (p + 8 > end) return { ...out, protocol: next, truncated: true };
      const fragOffset = d.readUInt16BE(p + 2) >> 3;
      next = d[p]!;
      p += 8;
      if (fragOffset !== 0) {
        out.protocol = next;
        out.transport = 'other';
        out.payload = d.subarray(Math.min(p, end), end);
        return out;
      }
    } else {
      break;
    }
  }
  out.protocol = next;
  if (p > end) return { ...out, truncated: true };
  return decodeTransport(d, p, end, out);
}

function decodeTransport(d: Buffer, p: number, end: number, out: DecodedPacket): DecodedPacket {
  const proto = out.protocol;
  if (proto === 17) {
    out.transport = 'udp';
    if (p + 8 > end) return { ...out, truncated: true };
    out.sport = d.readUInt16BE(p);
    out.dport = d.readUInt16BE(p + 2);
    out.payload = d.subarray(p + 8, end);
  } else if (proto === 6) {
    out.transport = 'tcp';
    if (p + 20 > end) return { ...out, truncated: true };
    out.sport = d.readUInt16BE(p);
    out.dport = d.readUInt16BE(p + 2);
    const hl = (d[p + 12]! >> 4) * 4;
    if (hl < 20 || p + hl > end) return { ...out, truncated: true };
    out.payload = d.subarray(p + hl, end);
  } else if (proto === 1 || proto === 58) {
    out.transport = proto === 1 ? 'icmp' : 'icmpv6';
    out.payload = d.subarray(Math.min(p, end), end);
  } else {
    out.transport = 'other';
    out.payload = d.subarray(Math.min(p, end), end);
  }
  return out;
}

/** Decodes a whole capture; an unreadable file gives an empty list and `error`. */
export function readCapture(file: Buffer): { packets: DecodedPacket[]; truncated: boolean; error?: string } {
  const parsed = parsePcap(file);
  if (!parsed.ok) return { packets: [], truncated: false, error: parsed.reason };
  return {
    packets: parsed.records.map((r) => decodePacket(r, parsed.linkType)),
    truncated: parsed.truncated,
  };
}
