/**
 * Handshake payloads (the plaintext inside the Noise messages). Decoders take untrusted bytes, never
 * throw, reject trailing bytes, and allocate only copies bounded by fixed maxima (MAX_TICKET_BYTES,
 * MAX_DNS_SERVERS). Integers are little-endian, except the TAI64N timestamp (big-endian by design).
 *
 * Initiation payload:
 *   version=1 u8 | flags u8 | requested MTU u16 (0 = none) | TAI64N 12 | ticket length u16 | ticket
 * Response payload (tunnel parameters):
 *   version=1 u8 | flags u8 (bit0: IPv6 present) | IPv4 4 | IPv4 prefix u8 | gateway IPv4 4 |
 *   IPv6 16 | IPv6 prefix u8 | MTU u16 | keepalive s u16 | bandwidth B/s u64 | quota B u64 |
 *   DNS count u8 | DNS count x (family u8 (4|6) | address 4|16)
 */
import { err, ok, type Result } from '../result.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './ip.js';
import {
  INITIATION_PAYLOAD_FIXED_BYTES,
  MAX_DNS_SERVERS,
  MAX_PACKET_BYTES,
  MAX_TICKET_BYTES,
  RESPONSE_PAYLOAD_FIXED_BYTES,
  RESPONSE_PAYLOAD_MAX_BYTES,
  TIMESTAMP_BYTES,
} from './wire.js';

export const PAYLOAD_VERSION = 1;

/** Options the client requests in its initiation. */
export interface InitiationOptions {
  /** Ask for an IPv6 address too. */
  readonly requestIPv6: boolean;
  /** Preferred inner MTU, 0 for the node's default; at most MAX_MTU. */
  readonly requestedMtu: number;
}

export const INITIATION_FLAG_REQUEST_IPV6 = 0x01;

export interface InitiationPayload {
  /** Opaque node ticket (verified by the ticket module, not here). At most MAX_TICKET_BYTES. */
  readonly ticket: Buffer;
  /** 12-byte TAI64N timestamp, strictly increasing per client static key. */
  readonly timestamp: Buffer;
  readonly options: InitiationOptions;
}

export type PayloadError = 'badPayload' | 'ticketTooLarge' | 'badVersion';

export function encodeInitiationPayload(p: InitiationPayload): Result<Buffer, PayloadError> {
  if (p.ticket.length > MAX_TICKET_BYTES) return err('ticketTooLarge');
  if (p.timestamp.length !== TIMESTAMP_BYTES) return err('badPayload');
  const mtu = p.options.requestedMtu;
  if (!Number.isInteger(mtu) || mtu < 0 || mtu > MAX_MTU) return err('badPayload');
  const out = Buffer.alloc(INITIATION_PAYLOAD_FIXED_BYTES + p.ticket.length);
  out[0] = PAYLOAD_VERSION;
  out[1] = p.options.requestIPv6 ? INITIATION_FLAG_REQUEST_IPV6 : 0;
  out.writeUInt16LE(mtu, 2);
  out.set(p.timestamp, 4);
  out.writeUInt16LE(p.ticket.length, 16);
  out.set(p.ticket, 18);
  return ok(out);
}

export function decodeInitiationPayload(buf: Uint8Array): Result<InitiationPayload, PayloadError> {
  if (buf.length < INITIATION_PAYLOAD_FIXED_BYTES) return err('badPayload');
  if (buf[0] !== PAYLOAD_VERSION) return err('badVersion');
  const ticketLen = buf[16]! | (buf[17]! << 8);
  if (ticketLen > MAX_TICKET_BYTES) return err('ticketTooLarge');
  if (buf.length !== INITIATION_PAYLOAD_FIXED_BYTES + ticketLen) return err('badPayload');
  const requestedMtu = buf[2]! | (buf[3]! << 8);
  if (requestedMtu > MAX_MTU) return err('badPayload');
  return ok({
    ticket: Buffer.from(buf.subarray(18, 18 + ticketLen)),
    timestamp: Buffer.from(buf.subarray(4, 4 + TIMESTAMP_BYTES)),
    options: {
      // Unknown flag bits are ignored (forward compatibility); the payload is authenticated anyway.
      requestIPv6: (buf[1]! & INITIATION_FLAG_REQUEST_IPV6) !== 0,
      requestedMtu,
    },
  });
}

/** What the node assigns to a client session (the response payload). */
export interface TunnelParams {
  /** Client's virtual IPv4 address, e.g. "10.8.0.12". */
  readonly clientIPv4: string;
  readonly clientIPv4Prefix: number;
  /** Node's virtual address (the client's gateway), e.g. "10.8.0.1". */
  readonly gatewayIPv4: string;
  /** Client's virtual IPv6 address, or null. */
  readonly clientIPv6: string | null;
  readonly clientIPv6Prefix: number;
  /** Inner MTU, MIN_MTU..MAX_MTU (576..65475). */
  readonly mtu: number;
  /** Up to MAX_DNS_SERVERS IPv4/IPv6 addresses. */
  readonly dnsServers: readonly string[];
  /**
   * Persistent keepalive interval in seconds, MIN_KEEPALIVE_SECONDS..65535; never off (0 is refused
   * by encoder and decoder). The client sends an empty data message whenever it sent nothing for
   * this long, which keeps NAT mappings on its path open so the node can reach an idle client (the
   * node never initiates). 25 is the usual value (WireGuard's recommendation).
   */
  readonly keepaliveSeconds: number;
  /** Bandwidth limit in bytes per second, 0 = unlimited. */
  readonly bandwidthBytesPerSecond: number;
  /** Data quota in bytes, 0 = unlimited. */
  readonly dataQuotaBytes: number;
}

export const MIN_MTU = 576;
/**
 * Largest inner MTU: the largest inner packet a data message carries (MAX_PACKET_BYTES = 65475), so
 * a client never sizes its TUN for packets the transport would refuse.
 */
export const MAX_MTU = MAX_PACKET_BYTES;
/** Smallest persistent keepalive a node may assign (0 = off is not allowed). */
export const MIN_KEEPALIVE_SECONDS = 1;

function writeU64(out: Buffer, off: number, v: number): boolean {
  if (!Number.isSafeInteger(v) || v < 0) return false;
  out.writeUInt32LE(v >>> 0, off);
  out.writeUInt32LE(Math.floor(v / 4294967296), off + 4);
  return true;
}

function readU64(buf: Uint8Array, off: number): number | null {
  const lo = (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
  const hi = (buf[off + 4]! | (buf[off + 5]! << 8) | (buf[off + 6]! << 16) | (buf[off + 7]! << 24)) >>> 0;
  if (hi > 0x1fffff) return null; // beyond 2^53 - 1
  return hi * 4294967296 + lo;
}

export function encodeTunnelParams(p: TunnelParams): Result<Buffer, PayloadError> {
  const v4 = parseIPv4(p.clientIPv4);
  const gw = parseIPv4(p.gatewayIPv4);
  const v6 = p.clientIPv6 === null ? null : parseIPv6(p.clientIPv6);
  if (v4 === null || gw === null || (p.clientIPv6 !== null && v6 === null)) return err('badPayload');
  if (!Number.isInteger(p.clientIPv4Prefix) || p.clientIPv4Prefix < 0 || p.clientIPv4Prefix > 32) {
    return err('badPayload');
  }
  if (!Number.isInteger(p.clientIPv6Prefix) || p.clientIPv6Prefix < 0 || p.clientIPv6Prefix > 128) {
    return err('badPayload');
  }
  if (!Number.isInteger(p.mtu) || p.mtu < MIN_MTU || p.mtu > MAX_MTU) return err('badPayload');
  const keepalive = p.keepaliveSeconds;
  if (!Number.isInteger(keepalive) || keepalive < MIN_KEEPALIVE_SECONDS || keepalive > 0xffff) {
    return err('badPayload');
  }
  if (p.dnsServers.length > MAX_DNS_SERVERS) return err('badPayload');
  const dns: Uint8Array[] = [];
  for (const s of p.dnsServers) {
    const a = parseIPv4(s) ?? parseIPv6(s);
    if (a === null) return err('badPayload');
    dns.push(a);
  }
  const out = Buffer.alloc(RESPONSE_PAYLOAD_FIXED_BYTES + dns.reduce((n, a) => n + 1 + a.length, 0));
  out[0] = PAYLOAD_VERSION;
  out[1] = v6 ? 1 : 0;
  out.set(v4, 2);
  out[6] = p.clientIPv4Prefix;
  out.set(gw, 7);
  if (v6) out.set(v6, 11);
  out[27] = v6 ? p.clientIPv6Prefix : 0;
  out.writeUInt16LE(p.mtu, 28);
  out.writeUInt16LE(p.keepaliveSeconds, 30);
  if (!writeU64(out, 32, p.bandwidthBytesPerSecond) || !writeU64(out, 40, p.dataQuotaBytes)) {
    return err('badPayload');
  }
  out[48] = dns.length;
  let off = RESPONSE_PAYLOAD_FIXED_BYTES;
  for (const a of dns) {
    out[off++] = a.length === 4 ? 4 : 6;
    out.set(a, off);
    off += a.length;
  }
  return ok(out);
}

export function decodeTunnelParams(buf: Uint8Array): Result<TunnelParams, PayloadError> {
  if (buf.length < RESPONSE_PAYLOAD_FIXED_BYTES || buf.length > RESPONSE_PAYLOAD_MAX_BYTES) {
    return err('badPayload');
  }
  if (buf[0] !== PAYLOAD_VERSION) return err('badVersion');
  const flags = buf[1]!;
  if ((flags & ~1) !== 0) return err('badPayload');
  const hasV6 = (flags & 1) !== 0;
  const prefix4 = buf[6]!;
  const prefix6 = buf[27]!;
  if (prefix4 > 32 || prefix6 > 128 || (!hasV6 && prefix6 !== 0)) return err('badPayload');
  const mtu = buf[28]! | (buf[29]! << 8);
  if (mtu < MIN_MTU || mtu > MAX_MTU) return err('badPayload');
  const keepaliveSeconds = buf[30]! | (buf[31]! << 8);
  if (keepaliveSeconds < MIN_KEEPALIVE_SECONDS) return err('badPayload');
  const bandwidth = readU64(buf, 32);
  const quota = readU64(buf, 40);
  if (bandwidth === null || quota === null) return err('badPayload');
  const dnsCount = buf[48]!;
  if (dnsCount > MAX_DNS_SERVERS) return err('badPayload');
  const dnsServers: string[] = [];
  let off = RESPONSE_PAYLOAD_FIXED_BYTES;
  for (let i = 0; i < dnsCount; i++) {
    const family = buf[off];
    const len = family === 4 ? 4 : family === 6 ? 16 : 0;
    if (len === 0 || buf.length - off - 1 < len) return err('badPayload');
    dnsServers.push(len === 4 ? formatIPv4(buf, off + 1) : formatIPv6(buf, off + 1));
    off += 1 + len;
  }
  if (off !== buf.length) return err('badPayload');
  return ok({
    clientIPv4: formatIPv4(buf, 2),
    clientIPv4Prefix: prefix4,
    gatewayIPv4: formatIPv4(buf, 7),
    clientIPv6: hasV6 ? formatIPv6(buf, 11) : null,
    clientIPv6Prefix: prefix6,
    mtu,
    dnsServers,
    keepaliveSeconds,
    bandwidthBytesPerSecond: bandwidth,
    dataQuotaBytes: quota,
  });
}
