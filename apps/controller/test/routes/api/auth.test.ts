import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminToken,
  bearer,
  createUser,
  hasServices,
  login,
  startHarness,
  warnSkip,
  type Harness,
} from '../../helpers.js';

warnSkip();

describe.skipIf(!hasServices)('auth routes (PostgreSQL + Redis)', () => {
  let h: Harness;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness({
      LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '3',
      LOGIN_LOCKOUT_S: '60',
      LOGIN_MAX_ATTEMPTS_PER_IP: '1000',
    });
    admin = await adminToken(h.app);
  });
  afterAll(async () => h?.close());

  it('logs in and returns a JWT plus a refresh token', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: 'ADMIN@example.com', password: 'admin-password-1' },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.tokenType).toBe('Bearer');
    expect(body.expiresIn).toBe(900);
    expect(body.user).toMatchObject({ email: 'admin@example.com', role: 'admin' });
    expect(body.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const claims = h.app.jwt.decode<{ sub: string; role: string; exp: number; iat: number }>(
      body.accessToken,
    )!;
    expect(claims.sub).toBe(body.user.id);
    expect(claims.exp - claims.iat).toBe(900);
  });

  it('answers unknown user and wrong password identically', async () => {
    const u = await createUser(h.app, admin);
    const wrong = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: u.email, password: 'nope-nope-nope' },
    });
    const unknown = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: 'ghost@example.com', password: 'nope-nope-nope' },
    });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.json()).toEqual(unknown.json());
    expect(wrong.json().code).toBe('CORRIDOR_ERR_INVALID_CREDENTIALS');
  });

  it('rejects malformed login bodies with 400 and never 500', async () => {
    for (const payload of [
      {},
      { email: 'not-an-email', password: 'x' },
      { email: 'a@b.co', password: 'x', extra: true },
      { email: 'a@b.co', password: '' },
    ]) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/auth/login', payload });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('CORRIDOR_ERR_VALIDATION');
    }
    const bad = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '{"email":',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('CORRIDOR_ERR_VALIDATION');
    const media = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: { 'content-type': 'application/xml' },
      payload: '<a/>',
    });
    expect(media.statusCode).toBe(415);
  });

  it('refuses oversized bodies with 413', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: 'a@example.com', password: 'x'.repeat(70 * 1024) },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('CORRIDOR_ERR_PAYLOAD_TOO_LARGE');
  });

  it('rotates refresh tokens and detects reuse (revoking the family)', async () => {
    const u = await createUser(h.app, admin);
    const r1 = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken: u.refreshToken },
    });
    expect(r1.statusCode).toBe(200);
    const t2 = r1.json().refreshToken as string;
    expect(t2).not.toBe(u.refreshToken);
    // Reuse of the rotated token: 401 TOKEN_REUSED and the whole family dies.
    const reuse = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken: u.refreshToken },
    });
    expect(reuse.statusCode).toBe(401);
    expect(reuse.json().code).toBe('CORRIDOR_ERR_TOKEN_REUSED');
    const afterReuse = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken: t2 },
    });
    expect(afterReuse.statusCode).toBe(401);
    expect(afterReuse.json().code).toBe('CORRIDOR_ERR_TOKEN_INVALID');
    const audit = await h.app.inject({
      method: 'GET',
      url: `/v1/admin/audit?action=auth.refresh_reuse&targetId=${u.userId}`,
      headers: bearer(admin),
    });
    expect(audit.json().items.length).toBe(1);
  });

  it('leaves no live token when the same refresh token is used concurrently', async () => {
    // The winner's new token is written slowly, so the losers' family revocation runs in between.
    const repo = h.app.repos.refreshTokens;
    const issue = repo.issue.bind(repo);
    repo.issue = async (...args) => {
      await new Promise((r) => setTimeout(r, 50));
      return issue(...args);
    };
    try {
      await raceRounds();
    } finally {
      repo.issue = issue;
    }
  });

  async function raceRounds() {
    for (let round = 0; round < 3; round++) {
      const u = await createUser(h.app, admin);
      const res = await Promise.all(
        Array.from({ length: 4 }, () =>
          h.app.inject({
            method: 'POST',
            url: '/v1/auth/refresh',
            payload: { refreshToken: u.refreshToken },
          }),
        ),
      );
      const codes = res.map((r) => r.statusCode).sort();
      expect(codes.filter((c) => c === 200).length).toBeLessThanOrEqual(1);
      // Concurrent presentation of one token is reuse: whatever the winner got must be dead too.
      for (const r of res.filter((x) => x.statusCode === 200)) {
        const next = await h.app.inject({
          method: 'POST',
          url: '/v1/auth/refresh',
          payload: { refreshToken: r.json().refreshToken },
        });
        expect(next.statusCode, `round ${round}`).toBe(401);
      }
    }
  }

  it('rejects unknown refresh tokens and logs out idempotently', async () => {
    const u = await createUser(h.app, admin);
    const bogus = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken: 'A'.repeat(43) },
    });
    expect(bogus.statusCode).toBe(401);
    expect(bogus.json().code).toBe('CORRIDOR_ERR_TOKEN_INVALID');
    const out = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      payload: { refreshToken: u.refreshToken },
    });
    expect(out.statusCode).toBe(204);
    const again = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      payload: { refreshToken: u.refreshToken },
    });
    expect(again.statusCode).toBe(204);
    const refresh = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken: u.refreshToken },
    });
    expect(refresh.statusCode).toBe(401);
    const bad = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      payload: { refreshToken: 'short' },
    });
    expect(bad.statusCode).toBe(400);
  });

  it('locks an account after repeated failures, with Retry-After, even for the right password', async () => {
    const u = await createUser(h.app, admin);
    for (let i = 0; i < 3; i++) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email: u.email, password: 'wrong-password' },
      });
      expect(res.statusCode).toBe(401);
    }
    const locked = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: u.email, password: u.password },
    });
    expect(locked.statusCode).toBe(429);
    expect(locked.json().code).toBe('CORRIDOR_ERR_RATE_LIMITED');
    const retry = Number(locked.headers['retry-after']);
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(60);
    // Other accounts are unaffected.
    await login(h.app, 'admin@example.com', 'admin-password-1');
  });

  it('rejects missing, malformed and expired access tokens', async () => {
    const none = await h.app.inject({ method: 'GET', url: '/v1/devices' });
    expect(none.statusCode).toBe(401);
    expect(none.json().code).toBe('CORRIDOR_ERR_UNAUTHORIZED');
    const junk = await h.app.inject({ method: 'GET', url: '/v1/devices', headers: bearer('junk.junk.junk') });
    expect(junk.statusCode).toBe(401);
    expect(junk.json().code).toBe('CORRIDOR_ERR_TOKEN_INVALID');
    const expired = h.app.jwt.sign({ sub: '00000000-0000-4000-8000-000000000000', role: 'user' }, {
      expiresIn: -10,
    } as never);
    const res = await h.app.inject({ method: 'GET', url: '/v1/devices', headers: bearer(expired) });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('CORRIDOR_ERR_TOKEN_EXPIRED');
  });
});

describe.skipIf(!hasServices)('login rate limit per IP (PostgreSQL + Redis)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ LOGIN_MAX_ATTEMPTS_PER_IP: '3', LOGIN_WINDOW_S: '30' });
  });
  afterAll(async () => h?.close());

  it('limits attempts per client IP with 429 and Retry-After', async () => {
    const codes: number[] = [];
    let last;
    for (let i = 0; i < 5; i++) {
      last = await h.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        remoteAddress: '198.51.100.7',
        payload: { email: `x${i}@example.com`, password: 'whatever-123' },
      });
      codes.push(last.statusCode);
    }
    expect(codes).toEqual([401, 401, 401, 429, 429]);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    const other = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      remoteAddress: '198.51.100.8',
      payload: { email: 'admin@example.com', password: 'admin-password-1' },
    });
    expect(other.statusCode).toBe(200);
  });

  it('counts an IPv6 /64 as one client and ignores X-Forwarded-For without TRUST_PROXY', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        remoteAddress: `2001:db8:7:7::${i + 1}`,
        headers: { 'x-forwarded-for': `203.0.113.${i + 1}` },
        payload: { email: `y${i}@example.com`, password: 'whatever-123' },
      });
      codes.push(res.statusCode);
    }
    expect(codes).toEqual([401, 401, 401, 429, 429]);
  });
});

describe.skipIf(!hasServices)('login rate limit behind a proxy (PostgreSQL + Redis)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ LOGIN_MAX_ATTEMPTS_PER_IP: '2', LOGIN_WINDOW_S: '30', TRUST_PROXY: 'true' });
  });
  afterAll(async () => h?.close());

  it('keys on the address the proxy saw, not on X-Forwarded-For entries the client added', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        remoteAddress: '10.0.0.2',
        // The client sends its own X-Forwarded-For; the load balancer appends the real peer.
        headers: { 'x-forwarded-for': `198.18.0.${i + 1}, 203.0.113.9` },
        payload: { email: `z${i}@example.com`, password: 'whatever-123' },
      });
      codes.push(res.statusCode);
    }
    expect(codes).toEqual([401, 401, 429, 429]);
  });
});
