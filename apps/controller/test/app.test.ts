/** Server-level behaviour: real TLS with a pinned self-signed certificate, health, docs, metrics, errors, log redaction. */
import { createHash, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import type tls from 'node:tls';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type App } from '../src/app.js';
import { opensslFingerprintLine } from '../src/lib/tls.js';
import {
  createTestDatabase,
  hasServices,
  makeConfig,
  REDIS_URL_TEST,
  tempDir,
  warnSkip,
  type TestDatabase,
} from './helpers.js';

warnSkip();

function request(
  port: number,
  opts: https.RequestOptions & { body?: string },
): Promise<{ status: number; body: string; cert: tls.PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, ...opts }, (res) => {
      const cert = (res.socket as tls.TLSSocket).getPeerCertificate();
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cert }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe.skipIf(!hasServices)('HTTPS server (PostgreSQL + Redis)', () => {
  let app: App;
  let db: TestDatabase;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let port: number;
  let logs = '';
  beforeAll(async () => {
    db = await createTestDatabase();
    tmp = await tempDir();
    app = await build(
      makeConfig({
        DATABASE_URL: db.url,
        REDIS_URL: REDIS_URL_TEST,
        CORRIDOR_DATA_DIR: tmp.dir,
        LOG_LEVEL: 'info',
        PORT: '0',
      }),
      {
        logStream: new Writable({
          write(chunk, _e, cb) {
            logs += chunk.toString();
            cb();
          },
        }),
      },
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
    await tmp?.remove();
  });

  it('generates a self-signed pair into the data dir (key 0600) with an openssl-style fingerprint', async () => {
    expect(app.tls.selfSigned).toBe(true);
    const keyMode = (await stat(path.join(tmp.dir, 'tls-key.pem'))).mode & 0o777;
    expect(keyMode).toBe(0o600);
    const pem = await readFile(path.join(tmp.dir, 'tls-cert.pem'), 'utf8');
    const der = new X509Certificate(pem).raw;
    const hex = createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
    expect(app.tls.fingerprint256).toBe(hex);
    try {
      const out = execFileSync(
        'openssl',
        ['x509', '-noout', '-fingerprint', '-sha256', '-in', path.join(tmp.dir, 'tls-cert.pem')],
        { encoding: 'utf8' },
      ).trim();
      expect(out.toLowerCase()).toBe(opensslFingerprintLine(hex).toLowerCase());
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  });

  it('serves real TLS verified with the generated certificate as CA', async () => {
    const ca = await readFile(app.tls.certFile, 'utf8');
    const res = await request(port, { path: '/healthz', ca, servername: 'localhost' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok' });
  });

  it('serves real TLS verified by pinning the SHA-256 fingerprint', async () => {
    const pinned = app.tls.fingerprint256;
    const res = await request(port, {
      path: '/readyz',
      // Chain validation is replaced by an exact pin, never disabled.
      checkServerIdentity: (_host, cert) =>
        cert.fingerprint256 === pinned ? undefined : new Error('fingerprint mismatch'),
      ca: await readFile(app.tls.certFile, 'utf8'),
    });
    expect(res.status).toBe(200);
    expect(res.cert.fingerprint256).toBe(pinned);
    await expect(request(port, { path: '/healthz' })).rejects.toThrow(/self[- ]signed|unable to verify/i);
  });

  it('answers unknown routes and methods with JSON 404', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      statusCode: 404,
      code: 'CORRIDOR_ERR_NOT_FOUND',
      error: 'Not Found',
      message: 'route GET /nope not found',
    });
    expect((await app.inject({ method: 'DELETE', url: '/v1/nodes' })).statusCode).toBe(404);
  });

  it('reports not-ready with 503 when a dependency is down', async () => {
    const ping = app.store.ping.bind(app.store);
    app.store.ping = async () => false;
    try {
      const res = await app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({
        code: 'CORRIDOR_ERR_SERVICE_UNAVAILABLE',
        message: 'store unreachable',
      });
    } finally {
      app.store.ping = ping;
    }
  });

  it('hides internals of unexpected errors behind a 500', async () => {
    const orig = app.repos.users.findCredentials.bind(app.repos.users);
    app.repos.users.findCredentials = async () => {
      throw new Error('secret internal detail: connection to 10.0.0.5 refused');
    };
    try {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email: 'x@example.com', password: 'p' },
      });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({
        statusCode: 500,
        code: 'CORRIDOR_ERR_INTERNAL',
        error: 'Internal Server Error',
        message: 'internal server error',
      });
      expect(res.body).not.toMatch(/10\.0\.0\.5|stack/);
    } finally {
      app.repos.users.findCredentials = orig;
    }
  });

  it('publishes an OpenAPI document generated from the route schemas', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of [
      '/v1/auth/login',
      '/v1/devices',
      '/v1/nodes/{id}/tickets',
      '/v1/agent/heartbeat',
      '/v1/admin/users',
      '/v1/admin/audit',
    ]) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
    expect(doc.paths['/v1/nodes/{id}/tickets'].post.responses['200']).toBeDefined();
    expect((await app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });

  it('exports Prometheus metrics per route', async () => {
    await app.inject({ method: 'GET', url: '/healthz' });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.body).toMatch(
      /corridor_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/,
    );
    expect(res.body).toMatch(/corridor_http_request_duration_seconds_bucket/);
  });

  it('requires the metrics token when METRICS_TOKEN is set', async () => {
    const token = 'metrics-token-0123456789abcdef';
    const guarded = await build(
      makeConfig({
        DATABASE_URL: db.url,
        REDIS_URL: REDIS_URL_TEST,
        CORRIDOR_DATA_DIR: tmp.dir,
        METRICS_TOKEN: token,
      }),
    );
    try {
      for (const authorization of [
        undefined,
        'Bearer wrong-token-0123456789ab',
        `Basic ${token}`,
        `Bearer ${token}x`,
      ]) {
        const res = await guarded.inject({
          method: 'GET',
          url: '/metrics',
          headers: authorization ? { authorization } : {},
        });
        expect(res.statusCode, authorization).toBe(401);
        expect(res.json().code).toBe('CORRIDOR_ERR_UNAUTHORIZED');
        expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      }
      const ok = await guarded.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.body).toMatch(/corridor_http_requests_total/);
    } finally {
      await guarded.close();
    }
  });

  it('never logs credentials', async () => {
    await app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: { authorization: 'Bearer super-secret-token' },
      payload: { email: 'x@example.com', password: 'hunter2-hunter2' },
    });
    app.log.info(
      { password: 'hunter2-hunter2', refreshToken: 'rt-secret', body: { password: 'hunter2-hunter2' } },
      'redaction probe',
    );
    expect(logs).toContain('redaction probe');
    expect(logs).not.toContain('hunter2');
    expect(logs).not.toContain('super-secret-token');
    expect(logs).not.toContain('rt-secret');
  });
});
