/**
 * One HTTPS request to the controller with the configured trust (see tls.ts), a deadline, a bounded
 * response size and JSON bodies. Failures below HTTP become friendly UserErrors (errors.ts); HTTP
 * error statuses are returned to the caller, which knows what the request was for.
 */
import https from 'node:https';
import { isIP } from 'node:net';
import type { Trust } from '../config/store.js';
import { CLI_ERROR_CODES, UserError } from '../errors.js';
import { isUntrustedCertificate, networkError } from './errors.js';
import { PinMismatchError, probeCertificate, tlsOptionsFor, tlsServername } from './tls.js';

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export interface HttpResponse {
  readonly status: number;
  readonly body: unknown;
  readonly retryAfterSeconds: number | undefined;
}

export interface RequestOptions {
  readonly server: string;
  readonly trust: Trust;
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly body?: unknown;
  readonly bearer?: string;
  readonly timeoutMs?: number;
  /**
   * The controller's addresses, resolved once before connecting: used instead of a DNS lookup, which
   * cannot work while a full tunnel (that also carries DNS) is down. TLS still checks the name.
   */
  readonly addresses?: readonly string[];
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | { address: string; family: number }[],
  family?: number,
) => void;

/** A `lookup` for https.request that answers from `addresses` (Node asks with or without `all`). */
function fixedLookup(addresses: readonly string[]) {
  const all = addresses.map((address) => ({ address, family: isIP(address) }));
  return (_host: string, options: { all?: boolean; family?: number | string }, cb: LookupCallback) => {
    const want = options.family === 4 || options.family === 6 ? options.family : 0;
    const usable = want ? all.filter((a) => a.family === want) : all;
    if (usable.length === 0) {
      cb(Object.assign(new Error('no address for the controller'), { code: 'ENOTFOUND' }), '');
      return;
    }
    if (options.all) cb(null, usable);
    else cb(null, usable[0]!.address, usable[0]!.family);
  };
}

export function httpRequest(o: RequestOptions): Promise<HttpResponse> {
  const url = new URL(o.path, o.server);
  const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        protocol: 'https:',
        host,
        port: url.port ? Number(url.port) : 443,
        path: `${url.pathname}${url.search}`,
        method: o.method,
        ...(tlsServername(host) ? { servername: host } : {}),
        ...tlsOptionsFor(o.trust),
        ...(o.addresses?.length && isIP(host) === 0 ? { lookup: fixedLookup(o.addresses) as never } : {}),
        agent: false,
        headers: {
          accept: 'application/json',
          'user-agent': 'vpnctl',
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          ...(o.bearer ? { authorization: `Bearer ${o.bearer}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(
              new UserError(
                CLI_ERROR_CODES.CONTROLLER_BAD_RESPONSE,
                `the controller at ${o.server} sent an oversized response`,
                'check that the URL points at the Corridor controller',
              ),
            );
            return;
          }
          chunks.push(c);
        });
        res.on('error', (e) => reject(networkError(e, o.server)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = undefined;
          if (text.length > 0) {
            try {
              body = JSON.parse(text);
            } catch {
              return reject(
                new UserError(
                  CLI_ERROR_CODES.CONTROLLER_BAD_RESPONSE,
                  `${o.server} answered ${o.method} ${url.pathname} with something that is not JSON (HTTP ${res.statusCode})`,
                  'check that the URL points at the Corridor controller (not a proxy or another web server)',
                ),
              );
            }
          }
          const ra = Number(res.headers['retry-after']);
          resolve({
            status: res.statusCode ?? 0,
            body,
            retryAfterSeconds: Number.isFinite(ra) && ra >= 0 ? ra : undefined,
          });
        });
      },
    );
    const timer = setTimeout(
      () => req.destroy(Object.assign(new Error('request timed out'), { code: 'CORRIDOR_TIMEOUT' })),
      o.timeoutMs ?? 20_000,
    );
    req.on('close', () => clearTimeout(timer));
    req.on('error', (e) => {
      const trust = o.trust;
      if (trust.mode !== 'pin' || !isUntrustedCertificate(e)) return reject(networkError(e, o.server));
      // Pinned, and the server presented a certificate that does not chain to the pinned one: that
      // is a certificate mismatch (maybe an interception), which the user must hear as such, with
      // both fingerprints, not "not trusted, pin it". Read what it presents to name it.
      probeCertificate(o.addresses?.[0] ?? host, url.port ? Number(url.port) : 443, 5_000).then(
        (chain) =>
          reject(
            networkError(
              new PinMismatchError(trust.fingerprint256, chain[0]?.fingerprint256 ?? 'none'),
              o.server,
            ),
          ),
        () => reject(networkError(e, o.server)),
      );
    });
    req.end(payload);
  });
}
