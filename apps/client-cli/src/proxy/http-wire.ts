/**
 * The HTTP proxy's request head (RFC 9110/9112): `CONNECT host:port` (tunnel) or an absolute-URI
 * request `GET http://host[:port]/path HTTP/1.1` (plain HTTP forwarding). Sans-IO: takes the bytes
 * received so far (hostile) and returns a tagged result; never throws. The head is bounded by
 * MAX_HEAD_BYTES (the caller stops reading there and answers 431).
 *
 * For forwarding, `rewriteHead()` turns the request into origin form for the destination: the
 * request line gets the path only, hop-by-hop and proxy headers go (Proxy-Authorization,
 * Proxy-Connection, Connection and what it names, Keep-Alive, TE, Trailer, Upgrade), Host is set from
 * the URI, and `Connection: close` is added (one request per proxied connection).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { validHostName } from './socks5-wire.js';

export const MAX_HEAD_BYTES = 16 * 1024;
const MAX_HEADERS = 100;

/** Why a request head was refused. Closed list; each maps to a status code (see statusFor). */
export const HTTP_PARSE_ERRORS = [
  'headTooLarge',
  'badRequestLine',
  'badVersion',
  'badHeader',
  'tooManyHeaders',
  'badTarget',
  'unsupportedScheme',
  'badPort',
] as const;
export type HttpParseError = (typeof HTTP_PARSE_ERRORS)[number];

export interface HttpHeader {
  readonly name: string;
  readonly value: string;
}

export interface ProxyRequest {
  readonly method: string;
  /** CONNECT: tunnel to host:port. Otherwise forward the request to host:port (http only). */
  readonly connect: boolean;
  readonly host: string;
  readonly kind: 'ipv4' | 'ipv6' | 'domain';
  readonly port: number;
  /** Origin-form target for forwarding ('/' for CONNECT). */
  readonly path: string;
  readonly version: '1.0' | '1.1';
  readonly headers: readonly HttpHeader[];
  /** Bytes of the head including the blank line. */
  readonly headBytes: number;
}

export type HttpParsed =
  | { readonly type: 'incomplete' }
  | { readonly type: 'ok'; readonly request: ProxyRequest }
  | { readonly type: 'error'; readonly reason: HttpParseError };

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function statusFor(reason: HttpParseError): { status: number; text: string } {
  switch (reason) {
    case 'headTooLarge':
      return { status: 431, text: 'Request Header Fields Too Large' };
    case 'badVersion':
      return { status: 505, text: 'HTTP Version Not Supported' };
    case 'unsupportedScheme':
      return { status: 501, text: 'Not Implemented' };
    default:
      return { status: 400, text: 'Bad Request' };
  }
}

function parseAuthority(
  text: string,
): { host: string; kind: ProxyRequest['kind']; port: number | null } | null {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) return null;
    host = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return null;
    portText = rest === '' ? undefined : rest.slice(1);
    if (!isIPv6(host)) return null;
  } else {
    const colon = text.lastIndexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
  }
  let port: number | null = null;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return null;
    port = Number(portText);
    if (port < 1 || port > 65535) return null;
  }
  const kind = isIPv4(host) ? 'ipv4' : isIPv6(host) ? 'ipv6' : validHostName(host) ? 'domain' : null;
  if (kind === null) return null;
  return { host, kind, port };
}

/** Parses the head once it is complete (up to and including CRLF CRLF). */
export function parseProxyRequest(b: Uint8Array): HttpParsed {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.length);
  const end = buf.indexOf('\r\n\r\n', 0, 'latin1');
  if (end < 0)
    return buf.length >= MAX_HEAD_BYTES ? { type: 'error', reason: 'headTooLarge' } : { type: 'incomplete' };
  if (end + 4 > MAX_HEAD_BYTES) return { type: 'error', reason: 'headTooLarge' };
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const m = /^([^ ]+) ([^ ]+) HTTP\/(\d)\.(\d)$/.exec(lines[0]!);
  if (!m) return { type: 'error', reason: 'badRequestLine' };
  const [, method, target] = m as unknown as [string, string, string];
  if (!TOKEN.test(method)) return { type: 'error', reason: 'badRequestLine' };
  if (m[3] !== '1' || (m[4] !== '0' && m[4] !== '1')) return { type: 'error', reason: 'badVersion' };
  const version = m[4] === '0' ? '1.0' : '1.1';
  if (lines.length - 1 > MAX_HEADERS) return { type: 'error', reason: 'tooManyHeaders' };
  const headers: HttpHeader[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return { type: 'error', reason: 'badHeader' };
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return { type: 'error', reason: 'badHeader' }; // also refuses obs-fold
    const value = line.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) return { type: 'error', reason: 'badHeader' };
    headers.push({ name, value });
  }
  const base = { method, version, headers, headBytes: end + 4 } as const;
  if (method === 'CONNECT') {
    const a = parseAuthority(target);
    if (a === null) return { type: 'error', reason: 'badTarget' };
    if (a.port === null) return { type: 'error', reason: 'badPort' };
    return {
      type: 'ok',
      request: { ...base, connect: true, host: a.host, kind: a.kind, port: a.port, path: '/' },
    };
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(target);
  if (!scheme) return { type: 'error', reason: 'badTarget' }; // origin form: we are a proxy, not a server
  if (scheme[1]!.toLowerCase() !== 'http') return { type: 'error', reason: 'unsupportedScheme' };
  const rest = target.slice(scheme[0].length);
  const slash = rest.search(/[/?#]/);
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  if (authority.includes('@')) return { type: 'error', reason: 'badTarget' };
  const a = parseAuthority(authority);
  if (a === null) return { type: 'error', reason: 'badTarget' };
  let path = slash < 0 ? '/' : rest.slice(slash);
  const hash = path.indexOf('#');
  if (hash >= 0) path = path.slice(0, hash);
  if (path.startsWith('?')) path = `/${path}`;
  if (path === '') path = '/';
  if (!/^[\x21-\x7e]+$/.test(path)) return { type: 'error', reason: 'badTarget' };
  return {
    type: 'ok',
    request: { ...base, connect: false, host: a.host, kind: a.kind, port: a.port ?? 80, path },
  };
}

/** Header value of the first header `name` (case-insensitive). */
export function header(req: ProxyRequest, name: string): string | undefined {
  const lower = name.toLowerCase();
  return req.headers.find((h) => h.name.toLowerCase() === lower)?.value;
}

const HOP_BY_HOP = new Set([
  'connection',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'keep-alive',
  'te',
  'trailer',
  'upgrade',
  'host',
]);

/** The head to send to the origin server for a forwarded (non-CONNECT) request. */
export function rewriteHead(req: ProxyRequest): Buffer {
  const named = new Set(
    (header(req, 'connection') ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const hostPart = req.kind === 'ipv6' ? `[${req.host}]` : req.host;
  const lines = [
    `${req.method} ${req.path} HTTP/${req.version}`,
    `Host: ${req.port === 80 ? hostPart : `${hostPart}:${req.port}`}`,
  ];
  for (const h of req.headers) {
    const n = h.name.toLowerCase();
    if (HOP_BY_HOP.has(n) || named.has(n)) continue;
    lines.push(`${h.name}: ${h.value}`);
  }
  lines.push('Connection: close', '', '');
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/** A short complete response the proxy itself sends (errors, 200 for CONNECT, 407). */
export function buildResponse(
  status: number,
  text: string,
  opts: { body?: string; headers?: readonly string[]; close?: boolean } = {},
): Buffer {
  const body = opts.body ?? '';
  const lines = [`HTTP/1.1 ${status} ${text}`, ...(opts.headers ?? [])];
  if (status !== 200 || body) {
    lines.push('Content-Type: text/plain; charset=utf-8', `Content-Length: ${Buffer.byteLength(body)}`);
  }
  if (opts.close ?? status !== 200) lines.push('Connection: close');
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
