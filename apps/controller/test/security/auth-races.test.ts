/**
 * Review points on authentication, reproduced with real concurrency against real PostgreSQL and
 * Redis (two controller replicas on one database, so the racing transactions run on separate
 * connections of separate processes' pools):
 *  1. refresh-token reuse detection and logout cannot be outrun by a thief rotating in a loop;
 *  3. the per-account lockout counts attempts before the password is checked;
 *  7. a disabled account answers a right and a wrong password alike.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type App } from '../../src/app.js';
import {
  adminToken,
  bearer,
  createTestDatabase,
  createUser,
  hasServices,
  makeConfig,
  REDIS_URL_TEST,
  tempDir,
  warnSkip,
  type TestDatabase,
} from '../helpers.js';

warnSkip();

describe.skipIf(!hasServices)('authentication races (two replicas, PostgreSQL + Redis)', () => {
  let db: TestDatabase;
  let a: App;
  let b: App;
  let admin: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    db = await createTestDatabase();
    const [tmpA, tmpB] = await Promise.all([tempDir(), tempDir()]);
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: REDIS_URL_TEST,
      REDIS_KEY_PREFIX: `corridor-test:${randomBytes(4).toString('hex')}:`,
      CORRIDOR_ADMIN_EMAIL: 'admin@example.com',
      CORRIDOR_ADMIN_PASSWORD: 'admin-password-1',
      LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '5',
      LOGIN_MAX_ATTEMPTS_PER_IP: '100000',
    };
    a = await build(makeConfig({ ...env, CORRIDOR_DATA_DIR: tmpA.dir }));
    b = await build(makeConfig({ ...env, CORRIDOR_DATA_DIR: tmpB.dir }));
    admin = await adminToken(a);
    cleanup = async () => {
      await Promise.all([a?.close(), b?.close()]);
      await db.drop();
      await Promise.all([tmpA.remove(), tmpB.remove()]);
    };
  });
  afterAll(async () => cleanup?.());

  const refresh = (app: App, refreshToken: string) =>
    app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } });

  /** Live tokens (neither rotated nor revoked nor expired) of the user's refresh-token families. */
  async function liveTokens(userId: string): Promise<number> {
    const r = await a.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM refresh_tokens
        WHERE user_id = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > now()`,
      [userId],
    );
    return r.rows[0]!.n;
  }

  /**
   * The thief rotates the stolen token in a loop on replica A while the victim, on replica B, either
   * presents the same (already rotated) token — reuse detection — or logs out with it. Afterwards
   * the family must hold no live token and the thief's loop must have been cut off.
   */
  async function trial(victim: 'reuse' | 'logout'): Promise<{ live: number; thiefRotationsAfter: number }> {
    const u = await createUser(a, admin);
    const stolen = u.refreshToken;
    const first = await refresh(a, stolen);
    expect(first.statusCode).toBe(200);
    let current = first.json<{ refreshToken: string }>().refreshToken;
    let victimDone = false;
    let thiefRotationsAfter = 0;
    const thief = (async () => {
      for (let i = 0; i < 400; i++) {
        // Only rotations that start after the victim was answered must fail; one already in flight
        // may have been ordered before the revocation (its successor is revoked with the family).
        const startedAfter = victimDone;
        const res = await refresh(a, current);
        if (res.statusCode !== 200) return;
        current = res.json<{ refreshToken: string }>().refreshToken;
        if (startedAfter && ++thiefRotationsAfter >= 5) return;
      }
    })();
    // Let the thief get going, then the victim acts on the other replica.
    await new Promise((r) => setTimeout(r, 2 + Math.floor(Math.random() * 8)));
    const res =
      victim === 'reuse'
        ? await refresh(b, stolen)
        : await b.inject({ method: 'POST', url: '/v1/auth/logout', payload: { refreshToken: stolen } });
    expect(res.statusCode).toBe(victim === 'reuse' ? 401 : 204);
    victimDone = true;
    await thief;
    return { live: await liveTokens(u.userId), thiefRotationsAfter };
  }

  for (const victim of ['reuse', 'logout'] as const) {
    it(`leaves the thief no live refresh token after the victim's ${victim} (20 trials)`, async () => {
      const outcomes = [];
      for (let t = 0; t < 20; t++) outcomes.push(await trial(victim));
      const survived = outcomes.filter((o) => o.live > 0 || o.thiefRotationsAfter > 0);
      expect(survived, JSON.stringify(outcomes)).toEqual([]);
    });
  }

  it('counts the attempt before checking the password: 20 wrong and 1 right in parallel never get in', async () => {
    const u = await createUser(a, admin);
    let verifications = 0;
    const apps = [a, b];
    const originals = apps.map((app) => app.passwords.verify.bind(app.passwords));
    apps.forEach((app, i) => {
      app.passwords.verify = async (hash, password) => {
        verifications++;
        return originals[i]!(hash, password);
      };
    });
    try {
      const passwords = [...Array.from({ length: 20 }, (_, i) => `wrong-password-${i}`), u.password];
      const res = await Promise.all(
        passwords.map((password, i) =>
          apps[i % 2]!.inject({
            method: 'POST',
            url: '/v1/auth/login',
            payload: { email: u.email, password },
          }),
        ),
      );
      const codes = res.map((r) => r.statusCode);
      expect(codes[20], 'the right password, sent last, must not win the race').toBe(429);
      expect(codes.filter((c) => c === 200)).toEqual([]);
      expect(codes.filter((c) => c === 401).length).toBeLessThanOrEqual(5);
      expect(verifications, 'argon2 runs only for attempts within the limit').toBeLessThanOrEqual(5);
    } finally {
      apps.forEach((app, i) => (app.passwords.verify = originals[i]!));
    }
  });

  it('a success resets the attempt count (a user who keeps logging in is never locked out)', async () => {
    const u = await createUser(a, admin);
    for (let i = 0; i < 8; i++) {
      const res = await a.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email: u.email, password: u.password },
      });
      expect(res.statusCode, `login ${i}`).toBe(200);
    }
  });

  it('never locks an account out through its own parallel logins', async () => {
    const u = await createUser(a, admin);
    const res = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        [a, b][i % 2]!.inject({
          method: 'POST',
          url: '/v1/auth/login',
          payload: { email: u.email, password: u.password },
        }),
      ),
    );
    // Attempts beyond the limit while others are in flight wait for a second, nothing more.
    for (const r of res) expect([200, 429]).toContain(r.statusCode);
    expect(res.filter((r) => r.statusCode === 200).length).toBeGreaterThanOrEqual(1);
    const later = await a.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: u.email, password: u.password },
    });
    expect(later.statusCode).toBe(200);
  });

  it('answers a disabled account alike for the right and a wrong password (no password oracle)', async () => {
    const u = await createUser(a, admin);
    const dis = await a.inject({
      method: 'POST',
      url: `/v1/admin/users/${u.userId}/disable`,
      headers: bearer(admin),
    });
    expect(dis.statusCode).toBe(200);
    const right = await a.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: u.email, password: u.password },
    });
    const wrong = await a.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: u.email, password: 'not-the-password' },
    });
    const unknown = await a.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: `nobody-${randomBytes(3).toString('hex')}@example.com`, password: u.password },
    });
    expect(right.statusCode).toBe(401);
    expect(right.body).toBe(wrong.body);
    expect(right.body).toBe(unknown.body);
    expect(right.json().code).toBe('CORRIDOR_ERR_INVALID_CREDENTIALS');
  });
});
