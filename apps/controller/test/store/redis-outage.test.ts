/**
 * Redis going away (a real redis-server this test starts on a free port and kills): requests that
 * need the store answer 503 with Retry-After instead of 500, readiness says so, the controller
 * recovers when Redis is back, and it still shuts down promptly while Redis is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { build, type App } from '../../src/app.js';
import {
  bearer,
  createTestDatabase,
  devicePublicKey,
  hasServices,
  login,
  makeConfig,
  tempDir,
  warnSkip,
  type TestDatabase,
} from '../helpers.js';

warnSkip();

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function startRedis(port: number): Promise<ChildProcess> {
  const p = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (up) return p;
    await new Promise((r) => setTimeout(r, 50));
  }
  p.kill('SIGKILL');
  throw new Error('redis-server did not start');
}

async function stopRedis(p: ChildProcess | undefined): Promise<void> {
  if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await gone;
}

describe.skipIf(!hasServices)('Redis outage (own redis-server + PostgreSQL)', () => {
  let redis: ChildProcess | undefined;
  let db: TestDatabase | undefined;
  let app: App | undefined;
  let tmp: Awaited<ReturnType<typeof tempDir>> | undefined;
  afterAll(async () => {
    await stopRedis(redis);
    await app?.close().catch(() => {});
    await db?.drop();
    await tmp?.remove();
  });

  it('answers 503 while Redis is down, recovers when it is back, and closes promptly without it', async () => {
    const port = await freePort();
    redis = await startRedis(port);
    db = await createTestDatabase();
    tmp = await tempDir();
    app = await build(
      makeConfig({
        DATABASE_URL: db.url,
        REDIS_URL: `redis://127.0.0.1:${port}`,
        CORRIDOR_DATA_DIR: tmp.dir,
        CORRIDOR_ADMIN_EMAIL: 'admin@example.com',
        CORRIDOR_ADMIN_PASSWORD: 'admin-password-1',
      }),
    );
    const admin = await login(app, 'admin@example.com', 'admin-password-1');
    await stopRedis(redis);
    const attempts = {
      login: () =>
        app!.inject({
          method: 'POST',
          url: '/v1/auth/login',
          payload: { email: 'admin@example.com', password: 'x'.repeat(12) },
        }),
      'device registration': () =>
        app!.inject({
          method: 'POST',
          url: '/v1/devices',
          headers: bearer(admin.accessToken),
          payload: { name: 'x', publicKey: devicePublicKey() },
        }),
    };
    for (const [name, attempt] of Object.entries(attempts)) {
      const res = await attempt();
      expect(res.statusCode, `${name}: ${res.body}`).toBe(503);
      expect(res.json().code).toBe('CORRIDOR_ERR_SERVICE_UNAVAILABLE');
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    }
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    redis = await startRedis(port);
    let ok = 0;
    for (let i = 0; i < 100 && ok !== 200; i++) {
      ok = (
        await app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          payload: { email: 'admin@example.com', password: 'admin-password-1' },
        })
      ).statusCode;
      if (ok !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ok, 'login once Redis is back').toBe(200);
    await stopRedis(redis);
    const closing = app.close().then(() => 'closed' as const);
    const outcome = await Promise.race([
      closing,
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000)),
    ]);
    expect(outcome, 'close() while Redis is down').toBe('closed');
    app = undefined;
  }, 120_000);
});
