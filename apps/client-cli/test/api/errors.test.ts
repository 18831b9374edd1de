/** The friendly error texts: each names what happened and the fix, with a stable code. */
import { describe, expect, it } from 'vitest';
import { apiError, humanDuration, networkError } from '../../src/api/errors.js';
import { PinMismatchError } from '../../src/api/tls.js';
import { TunError } from '@corridor/tun';
import { UserError } from '../../src/errors.js';
import { tunError } from '../../src/system/interface.js';

const server = 'https://vpn.example.com';
const err = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('networkError', () => {
  it.each([
    ['ECONNREFUSED', 'CORRIDOR_ERR_CONTROLLER_UNREACHABLE', 'connection refused', 'is running'],
    ['ENOTFOUND', 'CORRIDOR_ERR_CONTROLLER_UNREACHABLE', "cannot resolve the controller's host name", 'DNS'],
    ['EAI_AGAIN', 'CORRIDOR_ERR_CONTROLLER_UNREACHABLE', 'DNS did not answer', 'DNS'],
    ['ETIMEDOUT', 'CORRIDOR_ERR_CONTROLLER_UNREACHABLE', 'did not answer in time', 'firewall'],
    ['ENETUNREACH', 'CORRIDOR_ERR_CONTROLLER_UNREACHABLE', 'no route to its network', 'online'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'CORRIDOR_ERR_TLS_UNTRUSTED', 'not trusted (self-signed)', '--pin'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CORRIDOR_ERR_TLS_UNTRUSTED', 'not trusted', '--ca FILE'],
    ['CERT_HAS_EXPIRED', 'CORRIDOR_ERR_TLS_EXPIRED', 'has expired', 'clock'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'CORRIDOR_ERR_TLS_HOSTNAME', 'not valid for the host name', '--pin'],
  ])('%s -> %s', (code, expected, message, hint) => {
    const e = networkError(err(code), server);
    expect(e.code).toBe(expected);
    expect(e.message).toContain(message);
    expect(e.hint).toContain(hint);
  });

  it('a pin mismatch names both fingerprints and the possible interception', () => {
    const e = networkError(new PinMismatchError('AA:AA', 'BB:BB'), server);
    expect(e.code).toBe('CORRIDOR_ERR_TLS_CERT_MISMATCH');
    expect(e.message).toContain('BB:BB');
    expect(e.message).toContain('AA:AA');
    expect(e.hint).toContain('intercepting');
    expect(e.toJSON()).toMatchObject({ presented: 'BB:BB', pinned: 'AA:AA' });
  });
});

describe('apiError', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  it('lockout: the wait in words, the time, and retryAfterSeconds for scripts', () => {
    const e = apiError(429, { code: 'CORRIDOR_ERR_RATE_LIMITED', message: 'too many' }, 'login', 840, now);
    expect(e.message).toMatch(
      /^locked out after too many login attempts: try again in 14 minutes \(at \d\d:\d\d\)$/,
    );
    expect(e.toJSON()).toMatchObject({
      code: 'CORRIDOR_ERR_RATE_LIMITED',
      retryAfterSeconds: 840,
      status: 429,
    });
  });

  it.each([
    ['CORRIDOR_ERR_INVALID_CREDENTIALS', 'login', 'wrong e-mail or password', 'locked'],
    ['CORRIDOR_ERR_DEVICE_LIMIT', 'register', 'device limit reached', 'vpnctl devices remove'],
    ['CORRIDOR_ERR_NODE_OFFLINE', 'ticket', 'node fra-1 is offline', 'vpnctl connect auto'],
    ['CORRIDOR_ERR_FORBIDDEN', 'ticket', 'the controller refused a ticket', 'administrator'],
    [
      'CORRIDOR_ERR_ACCOUNT_DISABLED',
      'ticket',
      'the controller refused a ticket: your account is disabled',
      'administrator',
    ],
    ['CORRIDOR_ERR_DEVICE_REVOKED', 'ticket', 'revoked by an administrator', 'administrator'],
  ] as const)('%s (%s)', (code, op, message, hint) => {
    const e = apiError(
      409,
      { code, message: code === 'CORRIDOR_ERR_NODE_OFFLINE' ? 'node fra-1 is offline' : 'x' },
      op,
      undefined,
      now,
    );
    expect(e.code).toBe(code);
    expect(e.message).toContain(message);
    expect(e.hint).toContain(hint);
  });

  it('reused or expired refresh tokens ask for a new login', () => {
    for (const code of [
      'CORRIDOR_ERR_TOKEN_REUSED',
      'CORRIDOR_ERR_TOKEN_EXPIRED',
      'CORRIDOR_ERR_TOKEN_INVALID',
    ]) {
      const e = apiError(401, { code }, 'refresh', undefined);
      expect(e.code).toBe('CORRIDOR_ERR_SESSION_EXPIRED');
      expect(e.hint).toContain('vpnctl login');
    }
  });

  it('a 5xx hides nothing useful and asks to retry; unknown codes keep their code', () => {
    expect(apiError(500, { code: 'CORRIDOR_ERR_INTERNAL' }, 'nodes', undefined).message).toBe(
      'the controller failed (HTTP 500, CORRIDOR_ERR_INTERNAL)',
    );
    expect(
      apiError(418, { code: 'CORRIDOR_ERR_TEAPOT', message: 'short and stout' }, 'other', undefined).code,
    ).toBe('CORRIDOR_ERR_TEAPOT');
    expect(apiError(502, undefined, 'other', undefined).code).toBe('HTTP_502');
  });

  it('humanDuration', () => {
    expect(humanDuration(1)).toBe('1 second');
    expect(humanDuration(45)).toBe('45 seconds');
    expect(humanDuration(600)).toBe('10 minutes');
    expect(humanDuration(3900)).toBe('1 hour 5 minutes');
  });
});

describe('tunError', () => {
  it.each([
    ['CORRIDOR_ERR_TUN_EPERM', 'CORRIDOR_ERR_NOT_PERMITTED', 'not permitted (needs CAP_NET_ADMIN)', 'sudo'],
    ['CORRIDOR_ERR_TUN_ENOENT', 'CORRIDOR_ERR_TUN_UNAVAILABLE', '/dev/net/tun is missing', 'modprobe tun'],
    [
      'CORRIDOR_ERR_TUN_NOT_BUILT',
      'CORRIDOR_ERR_TUN_UNAVAILABLE',
      'addon of vpnctl is not built',
      'pnpm install',
    ],
  ])('%s -> %s', (code, expected, message, hint) => {
    const e = tunError(new TunError(code as never, 'x')) as UserError;
    expect(e).toBeInstanceOf(UserError);
    expect(e.code).toBe(expected);
    expect(e.message).toContain(message);
    expect(e.hint).toContain(hint);
  });
});

describe('apiError with a hostile or foreign error body', () => {
  it.each([
    ['details not a list', { code: 'CORRIDOR_ERR_VALIDATION', message: 'bad', details: 'x' }],
    ['details with nulls', { code: 'CORRIDOR_ERR_VALIDATION', message: 'bad', details: [null, 3] }],
    ['wrong types', { code: 123, message: { a: 1 } }],
    ['a bare string', 'oops'],
    ['an array', [1, 2]],
    ['null', null],
  ])('%s: a UserError with a string code, never a crash', (_name, body) => {
    const e = apiError(400, body as never, 'nodes', undefined);
    expect(e).toBeInstanceOf(UserError);
    expect(typeof e.code).toBe('string');
    expect(e.message).not.toContain('[object Object]');
  });

  it('escape sequences from the server never reach the terminal', () => {
    // OSC 52 writes the clipboard, CSI 2J clears the screen, a bidi override reorders what is shown.
    const e = apiError(
      403,
      {
        code: 'CORRIDOR_ERR_FORBIDDEN',
        message: 'no \u001b]52;c;ZWNobyBwd25lZA==\u0007\u001b[2J\u202eevil\r\nfake: ok',
      },
      'ticket',
      undefined,
    );
    // eslint-disable-next-line no-control-regex
    expect(e.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
    expect(e.message).toContain('the controller refused a ticket: no');
    expect(apiError(400, { message: 'x'.repeat(100_000) }, 'nodes', undefined).message.length).toBeLessThan(
      700,
    );
  });
});
