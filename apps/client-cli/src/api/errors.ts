/**
 * Friendly errors for everything that can go wrong talking to the controller: each names what
 * happened and what to do. Network and TLS failures come from Node's socket errors; API failures
 * from the controller's error body, switched on its stable `code` (never on the message text).
 */
import { ERROR_CODES } from '@corridor/protocol/control';
import { CLI_ERROR_CODES, UserError } from '../errors.js';
import { PinMismatchError } from './tls.js';

const TLS_UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
]);

const TRUST_HINT =
  "pin the controller's certificate: vpnctl login --server URL --pin <SHA-256 fingerprint> " +
  "(the operator reads it from the controller's startup output or with `openssl x509 -noout -fingerprint -sha256 -in cert.pem`), " +
  'or trust its CA with --ca FILE';

/** The peer's certificate chain did not verify against the trust anchors (not a host-name or expiry issue). */
export function isUntrustedCertificate(err: unknown): boolean {
  return TLS_UNTRUSTED.has((err as NodeJS.ErrnoException | undefined)?.code ?? '');
}

/** Maps a request failure below HTTP (DNS, TCP, TLS) to a UserError. */
export function networkError(err: unknown, server: string): UserError {
  if (err instanceof UserError) return err;
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const code = e.code ?? '';
  const cause = { cause: err };
  if (err instanceof PinMismatchError || (e as { name?: string }).name === 'PinMismatchError') {
    const p = err as PinMismatchError;
    return new UserError(
      CLI_ERROR_CODES.TLS_CERT_MISMATCH,
      `certificate mismatch: ${server} presented a certificate with SHA-256 ${p.presented}, but ${p.expected} is pinned`,
      'someone may be intercepting the connection; if the operator really replaced the certificate, ' +
        'get the new fingerprint from them and run `vpnctl login --pin <new fingerprint>`',
      { ...cause, details: { presented: p.presented, pinned: p.expected } },
    );
  }
  switch (code) {
    case 'ECONNREFUSED':
      return new UserError(
        CLI_ERROR_CODES.CONTROLLER_UNREACHABLE,
        `cannot reach the controller at ${server}: connection refused`,
        'check that the controller is running and the URL and port are right (`vpnctl login --server URL`)',
        cause,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
      return new UserError(
        CLI_ERROR_CODES.CONTROLLER_UNREACHABLE,
        `cannot resolve the controller's host name (${server})${code === 'EAI_AGAIN' ? ': DNS did not answer' : ''}`,
        'check the spelling of the server URL and that this machine has working DNS',
        cause,
      );
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
    case 'CORRIDOR_TIMEOUT':
      return new UserError(
        CLI_ERROR_CODES.CONTROLLER_UNREACHABLE,
        `the controller at ${server} did not answer in time`,
        'check your network connection and that the controller is up; a firewall may be dropping the traffic',
        cause,
      );
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENETDOWN':
    case 'EHOSTDOWN':
      return new UserError(
        CLI_ERROR_CODES.CONTROLLER_UNREACHABLE,
        `cannot reach the controller at ${server}: ${code === 'ENETUNREACH' || code === 'ENETDOWN' ? 'no route to its network' : 'host unreachable'}`,
        'check your network connection (is this machine online?)',
        cause,
      );
    case 'ECONNRESET':
    case 'EPIPE':
      return new UserError(
        CLI_ERROR_CODES.CONTROLLER_UNREACHABLE,
        `the connection to the controller at ${server} was cut`,
        'try again; if it keeps happening, something on the path may be interfering with TLS',
        cause,
      );
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return new UserError(
        CLI_ERROR_CODES.TLS_EXPIRED,
        `the controller's certificate ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet'} (${server})`,
        "check this machine's clock; if it is right, the operator must renew the certificate",
        cause,
      );
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return new UserError(
        CLI_ERROR_CODES.TLS_HOSTNAME,
        `the controller's certificate is not valid for the host name in ${server}`,
        'use the host name the certificate was issued for, or pin the certificate with --pin <SHA-256 fingerprint>',
        cause,
      );
  }
  if (TLS_UNTRUSTED.has(code)) {
    return new UserError(
      CLI_ERROR_CODES.TLS_UNTRUSTED,
      `the controller's TLS certificate is not trusted (${code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ? 'self-signed' : code.toLowerCase().replace(/_/g, ' ')}): ${server}`,
      TRUST_HINT,
      cause,
    );
  }
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /SSL|TLS/.test(e.message ?? '')) {
    return new UserError(
      CLI_ERROR_CODES.TLS_UNTRUSTED,
      `TLS with the controller at ${server} failed: ${e.message}`,
      "make sure the URL points at the Corridor controller's HTTPS port",
      cause,
    );
  }
  return new UserError(
    CLI_ERROR_CODES.CONTROLLER_UNREACHABLE,
    `cannot talk to the controller at ${server}: ${e.message ?? String(err)}${code ? ` (${code})` : ''}`,
    'check your network connection and the server URL',
    cause,
  );
}

export interface ApiErrorBody {
  readonly statusCode?: number;
  readonly code?: string;
  readonly message?: string;
  readonly details?: readonly { path: string; message: string }[];
}

/** "14 minutes" / "40 seconds" / "1 hour 5 minutes". */
export function humanDuration(seconds: number): string {
  const s = Math.max(1, Math.round(seconds));
  if (s < 90) return `${s} second${s === 1 ? '' : 's'}`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'}`;
  const h = Math.floor(m / 60);
  const rest = m % 60;
  return `${h} hour${h === 1 ? '' : 's'}${rest ? ` ${rest} minute${rest === 1 ? '' : 's'}` : ''}`;
}

export type Operation = 'login' | 'refresh' | 'devices' | 'nodes' | 'ticket' | 'register' | 'other';

/** Text from the controller as it may reach a terminal: no control characters (escape sequences), bounded. */
export function printable(text: string, max = 500): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/**
 * An error body as the controller (or whatever answers at its URL) sent it, reduced to the fields
 * and types vpnctl uses: a hostile or foreign server must neither crash vpnctl nor write escape
 * sequences to the user's terminal nor put a non-string `code` into `--json` output.
 */
function cleanBody(body: unknown): ApiErrorBody | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const b = body as Record<string, unknown>;
  const details = Array.isArray(b.details)
    ? b.details
        .filter((d): d is Record<string, unknown> => typeof d === 'object' && d !== null)
        .slice(0, 10)
        .map((d) => ({
          path: typeof d.path === 'string' ? printable(d.path, 100) : '',
          message: typeof d.message === 'string' ? printable(d.message, 200) : '',
        }))
    : undefined;
  return {
    ...(typeof b.code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(b.code) ? { code: b.code } : {}),
    ...(typeof b.message === 'string' ? { message: printable(b.message) } : {}),
    ...(details ? { details } : {}),
  };
}

/** Maps a controller error response to a UserError for the operation that failed. */
export function apiError(
  status: number,
  rawBody: ApiErrorBody | undefined,
  op: Operation,
  retryAfterSeconds: number | undefined,
  now = Date.now(),
): UserError {
  const body = cleanBody(rawBody);
  const code = body?.code ?? `HTTP_${status}`;
  const text = body?.message ?? `HTTP ${status}`;
  const details = { status, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) };
  const mk = (message: string, hint?: string) => new UserError(code, message, hint, { details });
  switch (code) {
    case ERROR_CODES.INVALID_CREDENTIALS:
      return mk(
        'wrong e-mail or password',
        'check both and try again; after several failures the account is locked for a while',
      );
    case ERROR_CODES.RATE_LIMITED: {
      const wait = retryAfterSeconds ?? 60;
      const t = new Date(now + wait * 1000);
      const at = `${String(t.getHours()).padStart(2, '0')}:${String(t.getMinutes()).padStart(2, '0')}`;
      return mk(
        op === 'login'
          ? `locked out after too many login attempts: try again in ${humanDuration(wait)} (at ${at})`
          : `the controller is rate-limiting this client: try again in ${humanDuration(wait)} (at ${at})`,
        op === 'login'
          ? 'wait until then; if you forgot the password, ask your administrator to reset it'
          : undefined,
      );
    }
    case ERROR_CODES.ACCOUNT_DISABLED:
      return mk(
        op === 'ticket'
          ? 'the controller refused a ticket: your account is disabled'
          : 'your account is disabled',
        'ask your administrator to enable it',
      );
    case ERROR_CODES.TOKEN_REUSED:
      return new UserError(
        CLI_ERROR_CODES.SESSION_EXPIRED,
        'your login was revoked: the controller saw an old refresh token being reused (a copy of your credentials may exist elsewhere)',
        'log in again with `vpnctl login`; if you did not copy your credentials, change your password',
        { details: { status, controllerCode: code } },
      );
    case ERROR_CODES.TOKEN_EXPIRED:
    case ERROR_CODES.TOKEN_INVALID:
    case ERROR_CODES.UNAUTHORIZED:
      return new UserError(
        CLI_ERROR_CODES.SESSION_EXPIRED,
        'your login has expired or was revoked',
        'log in again with `vpnctl login`',
        { details: { status, controllerCode: code } },
      );
    case ERROR_CODES.DEVICE_LIMIT:
      return mk(
        `device limit reached: ${text}`,
        'remove a device you no longer use: `vpnctl devices` lists them, `vpnctl devices remove <id>` removes one',
      );
    case 'CORRIDOR_ERR_DEVICE_REVOKED':
      return mk(
        'this device was revoked by an administrator',
        'ask your administrator; to use this machine again they must allow it (a revoked key is never accepted again)',
      );
    case ERROR_CODES.DEVICE_KEY_IN_USE:
      return mk(
        'this device key is already registered to another device',
        'remove the local device files (device.json, device.key in the config dir) and connect again to create a new key',
      );
    case ERROR_CODES.NODE_OFFLINE:
      return mk(`${text}`, 'pick another node from `vpnctl nodes`, or `vpnctl connect auto`');
    case ERROR_CODES.NODE_NOT_ENROLLED:
      return mk(`${text}`, 'the node is not set up yet; pick another from `vpnctl nodes`');
    case ERROR_CODES.NOT_FOUND:
      return mk(
        text,
        op === 'ticket'
          ? 'list the nodes with `vpnctl nodes`'
          : op === 'devices'
            ? 'list your devices with `vpnctl devices`'
            : undefined,
      );
    case ERROR_CODES.FORBIDDEN:
      return mk(
        op === 'ticket' ? `the controller refused a ticket: ${text}` : `not allowed: ${text}`,
        'ask your administrator',
      );
    case ERROR_CODES.VALIDATION: {
      const d = body?.details?.map((x) => `${x.path} ${x.message}`).join('; ');
      return mk(`the controller rejected the request: ${text}${d ? ` (${d})` : ''}`, undefined);
    }
    case ERROR_CODES.PROTOCOL_VERSION_UNSUPPORTED:
      return mk(`the controller does not support this vpnctl version: ${text}`, 'update vpnctl');
    case ERROR_CODES.SERVICE_UNAVAILABLE:
      return mk(`the controller is temporarily unavailable: ${text}`, 'try again in a minute');
  }
  if (status >= 500) {
    return mk(
      `the controller failed (HTTP ${status}${body?.code ? `, ${body.code}` : ''})`,
      'try again later; if it persists, tell the controller operator',
    );
  }
  return mk(`the controller refused the request (HTTP ${status}): ${text}`);
}
