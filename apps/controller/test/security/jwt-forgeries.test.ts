/**
 * Hostile access tokens get a 401 with a CORRIDOR_ERR_* code, never a 500 and never access:
 * other algorithms (even HMAC with the real secret), `alg: none` with a signature, not-yet-valid
 * tokens, unknown critical headers, and — should the secret ever sign one — claims of the wrong
 * shape or no expiry.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminToken,
  bearer,
  createUser,
  hasServices,
  startHarness,
  TEST_JWT_SECRET,
  warnSkip,
  type Harness,
} from '../helpers.js';

warnSkip();

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

function jwt(header: object, payload: object, hmac: 'sha256' | 'sha512' | 'none' = 'sha256'): string {
  const signed = `${b64(header)}.${b64(payload)}`;
  if (hmac === 'none') return `${signed}.`;
  return `${signed}.${createHmac(hmac, TEST_JWT_SECRET).update(signed).digest('base64url')}`;
}

describe.skipIf(!hasServices)('hostile access tokens (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness();
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  it('answers every forged or malformed token 401 on user and admin routes', async () => {
    const u = await createUser(h.app, admin);
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: u.userId, role: 'user', iat: now, exp: now + 600 };
    const hs256 = { alg: 'HS256', typ: 'JWT' };
    const tokens: Record<string, string> = {
      'alg none, with a signature': `${jwt({ alg: 'none', typ: 'JWT' }, { ...claims, role: 'admin' }, 'none')}x`,
      'HS512 with the real secret': jwt({ alg: 'HS512', typ: 'JWT' }, { ...claims, role: 'admin' }, 'sha512'),
      'not valid before a future nbf': jwt(hs256, { ...claims, nbf: now + 3600 }),
      'unknown critical header': jwt({ ...hs256, crit: ['x-corridor'] }, claims),
      'no exp (never expires)': jwt(hs256, { sub: u.userId, role: 'user', iat: now }),
      'sub not a user id': jwt(hs256, { ...claims, sub: "x' OR '1'='1" }),
      'sub an array': jwt(hs256, { ...claims, sub: [u.userId] }),
      'role unknown': jwt(hs256, { ...claims, role: 'root' }),
      'three dots': `${jwt(hs256, claims)}.x`,
      'payload not JSON': `${b64(hs256)}.bm90LWpzb24.${'A'.repeat(43)}`,
    };
    for (const [name, token] of Object.entries(tokens)) {
      for (const url of ['/v1/devices', '/v1/admin/users']) {
        const res = await h.app.inject({ method: 'GET', url, headers: bearer(token) });
        expect(res.statusCode, `${name} on ${url}: ${res.body}`).toBe(401);
        expect(res.json().code, name).toMatch(/^CORRIDOR_ERR_(TOKEN_INVALID|TOKEN_EXPIRED|UNAUTHORIZED)$/);
      }
    }
    // The genuine token still works.
    expect(
      (await h.app.inject({ method: 'GET', url: '/v1/devices', headers: bearer(u.accessToken) })).statusCode,
    ).toBe(200);
  });
});
