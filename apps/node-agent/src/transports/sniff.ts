/**
 * What the first bytes inside a TLS connection to the node's front (port 443) ask for: a tunnel over
 * the TLS framing, a tunnel over WebSocket, or — anything else — the fallback web site. Sans-IO: the
 * front feeds everything it buffered so far and acts on the tagged result.
 *
 *   'tunnel'    `u16 length || initiation` with the length of an initiation, the initiation type byte
 *               and a valid mac1 (`acceptsInitiation`: keyed by the node's static public key, so a
 *               prober who does not know the node's key cannot produce one).
 *   'websocket' a complete HTTP/1.1 request head `GET <wssPath>[?query] HTTP/1.1` carrying
 *               `Upgrade: websocket` (the WebSocket handshake itself is checked by the ws library).
 *   'fallback'  anything else, with the reason: other HTTP (another path, another method, no
 *               Upgrade), a frame that is not a valid initiation, non-HTTP bytes, or a request head
 *               larger than SNIFF_MAX_BYTES.
 *   'more'      not decidable yet: the caller waits for more bytes (up to its sniff timeout, after
 *               which the connection goes to the fallback site with what arrived).
 *
 * Hostile input: never throws, reads at most SNIFF_MAX_BYTES, allocates nothing proportional to
 * declared lengths.
 */
import {
  INITIATION_MAX_BYTES,
  INITIATION_MIN_BYTES,
  MESSAGE_INITIATION,
  messageType,
} from '@corridor/protocol';

/** Largest prefix the front buffers before deciding (an HTTP request head beyond it is not ours). */
export const SNIFF_MAX_BYTES = 8192;

export const FALLBACK_REASONS = ['http', 'badFrame', 'notHttp', 'tooLarge', 'timeout'] as const;
export type FallbackReason = (typeof FALLBACK_REASONS)[number];

export type SniffResult =
  | { readonly kind: 'more' }
  | { readonly kind: 'tunnel' }
  | { readonly kind: 'websocket' }
  | { readonly kind: 'fallback'; readonly reason: FallbackReason };

export interface SniffOptions {
  /** HTTPS path of the WebSocket transport (e.g. `/ws`), or null when wss is off. */
  readonly wssPath: string | null;
  /** Whether the TLS framing (the `tls` transport) is served. */
  readonly tlsFraming: boolean;
  /** Cheap check of a candidate initiation (structure + mac1). Must not throw. */
  readonly acceptsInitiation: (message: Uint8Array) => boolean;
}

const MORE: SniffResult = { kind: 'more' };
const TUNNEL: SniffResult = { kind: 'tunnel' };
const WEBSOCKET: SniffResult = { kind: 'websocket' };
const fallback = (reason: FallbackReason): SniffResult => ({ kind: 'fallback', reason });

/** HTTP methods a request head may start with (uppercase token, then a space). */
const HTTP_METHOD = /^[A-Z]{3,10} /;
const HEAD_END = Buffer.from('\r\n\r\n');

export function sniffFirstBytes(buf: Uint8Array, opts: SniffOptions): SniffResult {
  if (!(buf instanceof Uint8Array) || buf.length === 0) return MORE;
  const b = Buffer.from(buf.buffer, buf.byteOffset, Math.min(buf.length, SNIFF_MAX_BYTES + 1));

  // 1. The TLS framing: the first frame must be a whole initiation.
  if (opts.tlsFraming && b[0]! <= INITIATION_MAX_BYTES >>> 8) {
    if (b.length < 3) return MORE;
    const length = b.readUInt16BE(0);
    if (length < INITIATION_MIN_BYTES || length > INITIATION_MAX_BYTES) return fallback('badFrame');
    if (b[2] !== MESSAGE_INITIATION) return fallback('badFrame');
    if (b.length < 2 + length) return MORE;
    const message = b.subarray(2, 2 + length);
    let ok = false;
    try {
      ok = messageType(message) === MESSAGE_INITIATION && opts.acceptsInitiation(message);
    } catch {
      ok = false;
    }
    return ok ? TUNNEL : fallback('badFrame');
  }

  // 2. HTTP: wait for the whole request head.
  const start = b.subarray(0, Math.min(b.length, 11)).toString('latin1');
  if (!HTTP_METHOD.test(start)) {
    // A prefix of a method ("GE") may still become one.
    return /^[A-Z]{1,10}$/.test(start) ? MORE : fallback('notHttp');
  }
  const end = b.indexOf(HEAD_END);
  if (end < 0) return b.length > SNIFF_MAX_BYTES ? fallback('tooLarge') : MORE;
  if (opts.wssPath === null) return fallback('http');
  const head = b.subarray(0, end).toString('latin1');
  const lines = head.split('\r\n');
  const request = /^GET (\S+) HTTP\/1\.1$/.exec(lines[0] ?? '');
  if (request === null) return fallback('http');
  const target = request[1]!;
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  if (path !== opts.wssPath) return fallback('http');
  let upgrade = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    if (line.slice(0, colon).trim().toLowerCase() !== 'upgrade') continue;
    upgrade = line
      .slice(colon + 1)
      .split(',')
      .some((v) => v.trim().toLowerCase() === 'websocket');
  }
  return upgrade ? WEBSOCKET : fallback('http');
}

/** Whether bytes look like the start of an HTTP request (for the built-in 404/400 responder). */
export function looksLikeHttp(buf: Uint8Array): boolean {
  if (buf.length === 0) return false;
  const start = Buffer.from(buf.buffer, buf.byteOffset, Math.min(buf.length, 11)).toString('latin1');
  return HTTP_METHOD.test(start);
}

export interface RequestHead {
  readonly method: string;
  readonly url: string;
  /** Header names lower-cased; a repeated header keeps its first value. */
  readonly headers: Record<string, string>;
  /** Bytes of the head including the blank line; what follows is the body / the first frames. */
  readonly length: number;
}

/** Parses a complete HTTP/1.1 request head (as sniffFirstBytes accepted it), or null. Never throws. */
export function parseRequestHead(buf: Uint8Array): RequestHead | null {
  const b = Buffer.from(buf.buffer, buf.byteOffset, Math.min(buf.length, SNIFF_MAX_BYTES));
  const end = b.indexOf(HEAD_END);
  if (end < 0) return null;
  const lines = b.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^([A-Z]{3,10}) (\S+) HTTP\/1\.[01]$/.exec(lines[0] ?? '');
  if (m === null) return null;
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!(name in headers)) headers[name] = line.slice(colon + 1).trim();
  }
  return { method: m[1]!, url: m[2]!, headers, length: end + HEAD_END.length };
}
