/**
 * One HTTP proxy client connection: `CONNECT host:port` becomes a tunnel (200, then raw bytes both
 * ways); an absolute-URI request (`GET http://host/path`) is forwarded as one request in origin form
 * with `Connection: close` (http-wire.ts rewrites the head), the response relayed as is.
 *
 *   1. Read the head (at most MAX_HEAD_BYTES, within HEAD_TIMEOUT_MS); parse (http-wire.ts).
 *   2. With credentials configured: `Proxy-Authorization: Basic` checked in constant time, else 407.
 *   3. ProxyCore.dial (names resolved through the tunnel); failures answer 502 / 503 / 504 with the
 *      reason in the body.
 *   4. Relay (ProxyCore.relay): bytes after the head go first.
 *
 * Hostile input never throws past the socket: every refusal is a short response and a close.
 */
import type net from 'node:net';
import {
  buildResponse,
  header,
  MAX_HEAD_BYTES,
  parseProxyRequest,
  rewriteHead,
  statusFor,
} from './http-wire.js';
import type { DialFailure, ProxyCore } from './proxy-core.js';

export const HEAD_TIMEOUT_MS = 15_000;

export function statusForDial(reason: DialFailure): { status: number; text: string } {
  switch (reason) {
    case 'timeout':
      return { status: 504, text: 'Gateway Timeout' };
    case 'tunnelDown':
      return { status: 503, text: 'Service Unavailable' };
    default:
      return { status: 502, text: 'Bad Gateway' };
  }
}

function basicCredentials(value: string | undefined): { user: string; pass: string } | null {
  if (!value) return null;
  const m = /^Basic +([A-Za-z0-9+/=]+)$/i.exec(value.trim());
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  return { user: text.slice(0, colon), pass: text.slice(colon + 1) };
}

export function handleHttpClient(core: ProxyCore, local: net.Socket): void {
  let buf: Buffer = Buffer.alloc(0);
  let done = false;
  const timer = setTimeout(() => {
    core.refuse('handshakeTimeout');
    local.destroy();
  }, HEAD_TIMEOUT_MS);
  local.on('error', () => undefined);
  local.once('close', () => clearTimeout(timer));

  const answer = (status: number, text: string, body: string, headers: string[] = []) => {
    done = true;
    clearTimeout(timer);
    local.removeListener('data', onData);
    local.end(buildResponse(status, text, { body: body ? `${body}\n` : '', headers }));
  };

  const onData = (chunk: Buffer) => {
    if (done) return;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const r = parseProxyRequest(buf.length > MAX_HEAD_BYTES ? buf.subarray(0, MAX_HEAD_BYTES) : buf);
    if (r.type === 'incomplete') return;
    if (r.type === 'error') {
      core.refuse('badRequest');
      const s = statusFor(r.reason);
      answer(s.status, s.text, `vpnctl proxy: ${r.reason}`);
      return;
    }
    const req = r.request;
    if (core.authRequired) {
      const c = basicCredentials(header(req, 'proxy-authorization'));
      if (c === null || !core.checkCredentials(c.user, c.pass)) {
        core.refuse('authFailed');
        answer(407, 'Proxy Authentication Required', 'vpnctl proxy: credentials required', [
          'Proxy-Authenticate: Basic realm="vpnctl proxy"',
        ]);
        return;
      }
    }
    done = true;
    clearTimeout(timer);
    local.removeListener('data', onData);
    local.pause();
    const rest = buf.subarray(req.headBytes);
    buf = Buffer.alloc(0);
    void (async () => {
      try {
        const remote = await core.dial(req.host, req.port);
        if (local.destroyed) {
          remote.destroy();
          return;
        }
        if (req.connect) {
          local.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          core.relay(local, remote, rest);
        } else {
          core.relay(local, remote, Buffer.concat([rewriteHead(req), rest]));
        }
      } catch (e) {
        const reason = (e as { reason?: DialFailure }).reason ?? 'other';
        const s = statusForDial(reason);
        if (!local.destroyed) {
          local.end(buildResponse(s.status, s.text, { body: `vpnctl proxy: ${(e as Error).message}\n` }));
        }
      }
    })();
  };
  local.on('data', onData);
  // The client half-closed before the head was complete: answer and close.
  local.once('end', () => {
    if (done) return;
    core.refuse('badRequest');
    answer(400, 'Bad Request', 'vpnctl proxy: incomplete request head');
  });
}
