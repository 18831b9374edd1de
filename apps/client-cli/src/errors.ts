/**
 * CLI error classes (workers-sdk `handle-errors.ts` style).
 *
 * - `UserError`: a problem the user can fix. Printed as `vpnctl: <message>` plus `hint: <fix>`,
 *   exit 1. Carries a stable `code` (`CORRIDOR_ERR_*`): the controller's code for API errors, one of
 *   `CLI_ERROR_CODES` for local ones. `--json` prints `{ "error": { code, message, hint } }`.
 * - `UsageError`: the command line itself is wrong. Prints the command's help, exit 2.
 * - Anything else is a bug: a one-line message, and the stack only with `--debug`.
 */

/** Codes of failures detected by vpnctl itself. Append only; scripts switch on them. */
export const CLI_ERROR_CODES = {
  NOT_LOGGED_IN: 'CORRIDOR_ERR_NOT_LOGGED_IN',
  SESSION_EXPIRED: 'CORRIDOR_ERR_SESSION_EXPIRED',
  CONTROLLER_UNREACHABLE: 'CORRIDOR_ERR_CONTROLLER_UNREACHABLE',
  CONTROLLER_BAD_RESPONSE: 'CORRIDOR_ERR_CONTROLLER_BAD_RESPONSE',
  TLS_UNTRUSTED: 'CORRIDOR_ERR_TLS_UNTRUSTED',
  TLS_CERT_MISMATCH: 'CORRIDOR_ERR_TLS_CERT_MISMATCH',
  TLS_HOSTNAME: 'CORRIDOR_ERR_TLS_HOSTNAME',
  TLS_EXPIRED: 'CORRIDOR_ERR_TLS_EXPIRED',
  TRUST_DECLINED: 'CORRIDOR_ERR_TRUST_DECLINED',
  INPUT: 'CORRIDOR_ERR_INPUT',
  CONFIG: 'CORRIDOR_ERR_CONFIG',
  NOT_PERMITTED: 'CORRIDOR_ERR_NOT_PERMITTED',
  TUN_UNAVAILABLE: 'CORRIDOR_ERR_TUN_UNAVAILABLE',
  SYSTEM: 'CORRIDOR_ERR_SYSTEM',
  NODE_UNREACHABLE: 'CORRIDOR_ERR_NODE_UNREACHABLE',
  NOT_CONNECTED: 'CORRIDOR_ERR_NOT_CONNECTED',
  ALREADY_CONNECTED: 'CORRIDOR_ERR_ALREADY_CONNECTED',
  PROXY_LISTEN: 'CORRIDOR_ERR_PROXY_LISTEN',
  PROXY_INSECURE: 'CORRIDOR_ERR_PROXY_INSECURE',
} as const;

export type CliErrorCode = (typeof CLI_ERROR_CODES)[keyof typeof CLI_ERROR_CODES];

export class UserError extends Error {
  override readonly name = 'UserError';
  /** Stable `CORRIDOR_ERR_*` code. */
  readonly code: string;
  /** How to fix it, printed on its own line after the message. */
  readonly hint: string | undefined;
  /** Extra machine-readable fields for `--json` (e.g. `retryAfterSeconds`). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: string,
    message: string,
    hint?: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = hint;
    this.details = options.details;
  }

  toJSON(): { code: string; message: string; hint: string | null } & Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint ?? null, ...this.details };
  }
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const EXIT_OK = 0;
export const EXIT_USER_ERROR = 1;
export const EXIT_USAGE = 2;
/** Unexpected failures (bugs) also exit 1, per the CLI contract; the message says it is a bug. */
export const EXIT_BUG = 1;
