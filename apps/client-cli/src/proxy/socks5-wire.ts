/**
 * SOCKS5 wire format (RFC 1928) and username/password sub-negotiation (RFC 1929): parsers for the
 * messages a local client sends, builders for our answers. Sans-IO, no allocation sized by a length
 * the sender claims (every length field is a single byte, and the caller caps what it buffers).
 *
 * Every parse* takes the bytes received so far (hostile, possibly incomplete) and returns a tagged
 * result: `incomplete` (read more; nothing consumed), `ok` with the message and how many bytes it
 * used, or `error` with a closed reason (what to answer is the caller's choice). None of them throws.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { IpAddr, parseIp } from '@corridor/netstack';

export const SOCKS_VERSION = 5;
export const AUTH_VERSION = 1;

export const METHOD_NO_AUTH = 0x00;
export const METHOD_USERPASS = 0x02;
export const METHOD_NONE_ACCEPTABLE = 0xff;

export const CMD_CONNECT = 0x01;
export const CMD_BIND = 0x02;
export const CMD_UDP_ASSOCIATE = 0x03;

export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
export const ATYP_IPV6 = 0x04;

/** Reply codes (RFC 1928 section 6). */
export const REP = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;
export type ReplyCode = (typeof REP)[keyof typeof REP];

/** Why a client message was refused. Closed list (counted per reason by the proxy). */
export const SOCKS_PARSE_ERRORS = [
  'badVersion',
  'noMethods',
  'badCommand',
  'badReserved',
  'badAddressType',
  'badDomain',
  'badPort',
  'badAuthVersion',
  'emptyUsername',
  'fragmented',
] as const;
export type SocksParseError = (typeof SOCKS_PARSE_ERRORS)[number];

export type Parsed<T> =
  | { readonly type: 'incomplete' }
  | { readonly type: 'ok'; readonly value: T; readonly consumed: number }
  | { readonly type: 'error'; readonly reason: SocksParseError };

const INCOMPLETE = { type: 'incomplete' } as const;
const err = (reason: SocksParseError) => ({ type: 'error', reason }) as const;

/** A destination as the client named it. `host` is a numeric address or a host name. */
export interface SocksAddress {
  readonly kind: 'ipv4' | 'ipv6' | 'domain';
  readonly host: string;
  readonly port: number;
}

export interface Greeting {
  readonly methods: readonly number[];
}

/** VER NMETHODS METHODS... */
export function parseGreeting(b: Uint8Array): Parsed<Greeting> {
  if (b.length < 1) return INCOMPLETE;
  if (b[0] !== SOCKS_VERSION) return err('badVersion');
  if (b.length < 2) return INCOMPLETE;
  const n = b[1]!;
  if (n === 0) return err('noMethods');
  if (b.length < 2 + n) return INCOMPLETE;
  return { type: 'ok', value: { methods: Array.from(b.subarray(2, 2 + n)) }, consumed: 2 + n };
}

export interface Credentials {
  readonly username: Buffer;
  readonly password: Buffer;
}

/** RFC 1929: VER(1) ULEN UNAME PLEN PASSWD. */
export function parseAuth(b: Uint8Array): Parsed<Credentials> {
  if (b.length < 1) return INCOMPLETE;
  if (b[0] !== AUTH_VERSION) return err('badAuthVersion');
  if (b.length < 2) return INCOMPLETE;
  const ulen = b[1]!;
  if (ulen === 0) return err('emptyUsername');
  if (b.length < 3 + ulen) return INCOMPLETE;
  const plen = b[2 + ulen]!;
  const end = 3 + ulen + plen;
  if (b.length < end) return INCOMPLETE;
  return {
    type: 'ok',
    value: {
      username: Buffer.from(b.subarray(2, 2 + ulen)),
      password: Buffer.from(b.subarray(3 + ulen, end)),
    },
    consumed: end,
  };
}

/** Host names we accept: printable ASCII without spaces or separators, 1..255 bytes, labels <= 63. */
export function validHostName(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) return false;
  const labels = (name.endsWith('.') ? name.slice(0, -1) : name).split('.');
  return labels.every((l) => l.length > 0 && l.length <= 63);
}

/** ATYP ADDR PORT at `at`; shared by requests and UDP headers. */
function parseAddress(b: Uint8Array, at: number): Parsed<SocksAddress> {
  if (b.length < at + 1) return INCOMPLETE;
  const atyp = b[at]!;
  let host: string;
  let kind: SocksAddress['kind'];
  let p: number;
  if (atyp === ATYP_IPV4) {
    if (b.length < at + 7) return INCOMPLETE;
    host = `${b[at + 1]}.${b[at + 2]}.${b[at + 3]}.${b[at + 4]}`;
    kind = 'ipv4';
    p = at + 5;
  } else if (atyp === ATYP_IPV6) {
    if (b.length < at + 19) return INCOMPLETE;
    host = IpAddr.read(6, b, at + 1).toString();
    kind = 'ipv6';
    p = at + 17;
  } else if (atyp === ATYP_DOMAIN) {
    if (b.length < at + 2) return INCOMPLETE;
    const n = b[at + 1]!;
    if (n === 0) return err('badDomain');
    if (b.length < at + 2 + n + 2) return INCOMPLETE;
    host = Buffer.from(b.subarray(at + 2, at + 2 + n)).toString('latin1');
    // A numeric address given as a "domain" (curl does this) is a numeric address.
    if (isIPv4(host)) kind = 'ipv4';
    else if (isIPv6(host)) kind = 'ipv6';
    else if (validHostName(host)) kind = 'domain';
    else return err('badDomain');
    p = at + 2 + n;
  } else return err('badAddressType');
  const port = (b[p]! << 8) | b[p + 1]!;
  return { type: 'ok', value: { kind, host, port }, consumed: p + 2 - at };
}

export interface SocksRequest {
  readonly command: number;
  readonly address: SocksAddress;
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT. Port 0 is refused for CONNECT, allowed for UDP ASSOCIATE. */
export function parseRequest(b: Uint8Array): Parsed<SocksRequest> {
  if (b.length < 1) return INCOMPLETE;
  if (b[0] !== SOCKS_VERSION) return err('badVersion');
  if (b.length < 3) return INCOMPLETE;
  const command = b[1]!;
  if (command !== CMD_CONNECT && command !== CMD_BIND && command !== CMD_UDP_ASSOCIATE)
    return err('badCommand');
  if (b[2] !== 0) return err('badReserved');
  const a = parseAddress(b, 3);
  if (a.type !== 'ok') return a;
  if (command === CMD_CONNECT && a.value.port === 0) return err('badPort');
  return { type: 'ok', value: { command, address: a.value }, consumed: 3 + a.consumed };
}

export interface UdpDatagram {
  readonly address: SocksAddress;
  /** A view into the input: valid as long as the input is. */
  readonly data: Uint8Array;
}

/** RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA: one whole datagram (never incomplete: it is a datagram). */
export function parseUdpDatagram(b: Uint8Array): Parsed<UdpDatagram> {
  if (b.length < 4) return err('badReserved');
  if (b[0] !== 0 || b[1] !== 0) return err('badReserved');
  if (b[2] !== 0) return err('fragmented'); // fragmentation is optional (RFC 1928 section 7): we drop
  const a = parseAddress(b, 3);
  if (a.type === 'incomplete') return err('badAddressType');
  if (a.type === 'error') return a;
  if (a.value.port === 0) return err('badPort');
  return { type: 'ok', value: { address: a.value, data: b.subarray(3 + a.consumed) }, consumed: b.length };
}

/** ATYP ADDR PORT for a numeric address (our replies name numeric addresses only). */
function addressBytes(host: string, port: number): Buffer {
  if (isIPv4(host)) {
    const out = Buffer.alloc(7);
    out[0] = ATYP_IPV4;
    host.split('.').forEach((o, i) => (out[1 + i] = Number(o)));
    out.writeUInt16BE(port, 5);
    return out;
  }
  if (isIPv6(host)) {
    const out = Buffer.alloc(19);
    out[0] = ATYP_IPV6;
    parseIp(host)!.write(out, 1);
    out.writeUInt16BE(port, 17);
    return out;
  }
  const out = Buffer.alloc(7);
  out[0] = ATYP_IPV4; // 0.0.0.0:port for anything else
  out.writeUInt16BE(port, 5);
  return out;
}

export function buildMethodSelection(method: number): Buffer {
  return Buffer.from([SOCKS_VERSION, method]);
}

export function buildAuthReply(ok: boolean): Buffer {
  return Buffer.from([AUTH_VERSION, ok ? 0 : 1]);
}

/** VER REP RSV BND.ADDR BND.PORT. */
export function buildReply(rep: ReplyCode, host = '0.0.0.0', port = 0): Buffer {
  return Buffer.concat([Buffer.from([SOCKS_VERSION, rep, 0]), addressBytes(host, port)]);
}

/** The header of a datagram relayed back to the client: RSV FRAG=0 ATYP ADDR PORT, then data. */
export function buildUdpDatagram(host: string, port: number, data: Uint8Array): Buffer {
  const a = addressBytes(host, port);
  const out = Buffer.allocUnsafe(3 + a.length + data.length);
  out[0] = 0;
  out[1] = 0;
  out[2] = 0;
  a.copy(out, 3);
  out.set(data, 3 + a.length);
  return out;
}
