/**
 * deploy/haproxy/haproxy.cfg for real, on loopback only: `haproxy -c` with the values
 * docker-compose.yml gives it, then HAProxy (Debian's, the version haproxy.Dockerfile installs) in
 * front of two real controller processes in production mode on real PostgreSQL and Redis, with a
 * certificate made by the openssl command of docs/deploy.md:
 *   - clients get the controllers' own certificate and reach both replicas through it;
 *   - the replicas see the client's address (X-Forwarded-For from HAProxy), never one the client forged;
 *   - a replica whose certificate does not verify receives no request at all (re-encryption is verified);
 *   - deploy/docker/healthcheck.mjs passes on a ready replica, fails on a wrong certificate or no server;
 *   - a replica killed mid-run goes unnoticed by clients; the monitor fails only when none is left.
 * Needs haproxy and openssl, and DATABASE_URL_TEST / REDIS_URL_TEST (scripts/test.sh provides all
 * three as root on Debian); otherwise skipped with the reason printed. Every process is stopped and
 * the database dropped in afterAll, also after a failure.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDatabase,
  healthcheck,
  makeSecrets,
  servicesSkipReason,
  startController,
  waitReady,
  type TestDatabase,
} from './lib/controller-fixture.js';
import {
  freePort,
  makeCertificate,
  request,
  sleep,
  start,
  type Proc,
  type TlsPair,
} from './lib/processes.js';
import { repo } from './lib/paths.js';

const CFG = repo('deploy/haproxy/haproxy.cfg');
const HOST = 'vpn.example.test';

const haproxyVersion = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
const noTools =
  haproxyVersion.status !== 0
    ? 'haproxy is not installed (apt-get install haproxy; scripts/test.sh does as root)'
    : openssl.status !== 0
      ? 'openssl is not installed'
      : undefined;
const noServices = servicesSkipReason();
if (noTools) console.warn(`[deploy/haproxy] skipping: ${noTools}`);
else if (noServices) console.warn(`[deploy/haproxy] skipping the live load balancer test: ${noServices}`);

/** The haproxy service's environment in docker-compose.yml (interpolation-free values). */
function composeHaproxyEnv(): Record<string, string> {
  const doc = parseDocument(readFileSync(repo('docker-compose.yml'), 'utf8'), { merge: true }).toJS() as {
    services: { haproxy: { environment: Record<string, string> } };
  };
  return doc.services.haproxy.environment;
}

function haproxyEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, ...overrides };
}

describe.skipIf(noTools !== undefined)('haproxy.cfg: haproxy -c', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'corridor-haproxy-c-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is the version haproxy.Dockerfile installs (Debian 12: 2.6)', () => {
    expect(haproxyVersion.stdout).toMatch(/^HAProxy version 2\.6\./);
  });

  it('is valid with the environment docker-compose.yml sets (only the replica names do not resolve here)', () => {
    const tls = makeCertificate(dir, 'controller', HOST);
    const env: Record<string, string> = { ...composeHaproxyEnv(), CORRIDOR_PUBLIC_HOST: HOST };
    // The secret paths exist only inside the container; point them at the same kind of files.
    env.CORRIDOR_TLS_CRT = tls.certFile;
    env.CORRIDOR_BACKEND_CA = tls.certFile;
    const r = spawnSync('haproxy', ['-c', '-f', CFG], { env: haproxyEnv(env), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Configuration file is valid');
    const warnings = r.stderr.split('\n').filter((l) => l.includes('[WARNING]'));
    for (const w of warnings) expect(w).toMatch(/could not resolve address 'controller-[12]'/);
  });

  it('refuses to start without the public host name (no default for the certificate name)', () => {
    const tls = makeCertificate(dir, 'other', HOST);
    const env: Record<string, string> = {
      ...composeHaproxyEnv(),
      CORRIDOR_TLS_CRT: tls.certFile,
      CORRIDOR_BACKEND_CA: tls.certFile,
    };
    delete env.CORRIDOR_PUBLIC_HOST;
    const r = spawnSync('haproxy', ['-c', '-f', CFG], { env: haproxyEnv(env), encoding: 'utf8' });
    expect(r.status).not.toBe(0);
  });
});

describe.skipIf(noTools !== undefined || noServices !== undefined)(
  'HAProxy in front of two controller replicas (loopback, real PostgreSQL and Redis)',
  { timeout: 120_000 },
  () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'corridor-haproxy-'));
    const adminPassword = randomBytes(12).toString('base64url');
    const secrets = makeSecrets();
    const redisKeyPrefix = `corridor-deploy-${randomBytes(4).toString('hex')}:`;
    const procs: Proc[] = [];
    let db: TestDatabase | undefined;
    let tls: TlsPair;
    let replicas: { proc: Proc; port: number }[] = [];
    let lb: Proc;
    let lbPort = 0;
    let monitorPort = 0;

    function lbConfigEnv(
      controller1: string,
      controller2: string,
      api: number,
      monitor: number,
    ): NodeJS.ProcessEnv {
      return haproxyEnv({
        CORRIDOR_PUBLIC_HOST: HOST,
        CORRIDOR_API_BIND: `127.0.0.1:${api}`,
        CORRIDOR_TLS_CRT: tls.certFile,
        CORRIDOR_BACKEND_CA: tls.certFile,
        CORRIDOR_CONTROLLER_1: controller1,
        CORRIDOR_CONTROLLER_2: controller2,
        CORRIDOR_LB_HEALTH_BIND: `127.0.0.1:${monitor}`,
      });
    }

    /** Status of the load balancer's monitor URI (0: no answer). */
    function monitor(port: number): Promise<number> {
      return new Promise((resolve) => {
        http
          .get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 5000 }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', () => resolve(0));
      });
    }

    async function login(localAddress?: string, headers: Record<string, string> = {}): Promise<string> {
      const res = await request(lbPort, HOST, tls.certFile, 'POST', '/v1/auth/login', {
        body: { email: 'admin@example.com', password: adminPassword },
        headers,
        localAddress,
      });
      expect(res.status, res.body).toBe(200);
      return (res.json() as { accessToken: string }).accessToken;
    }

    beforeAll(async () => {
      tls = makeCertificate(dir, 'controller', HOST);
      db = await createDatabase();
      const ports = [await freePort(), await freePort()];
      replicas = ports.map((port, i) => {
        const proc = startController({
          name: `controller-${i + 1}`,
          port,
          dir,
          tls,
          databaseUrl: db!.url,
          secrets,
          adminPassword,
          redisKeyPrefix,
        });
        procs.push(proc);
        return { proc, port };
      });
      await Promise.all(replicas.map((r) => waitReady(r.port, r.proc, tls.certFile)));
      lbPort = await freePort();
      monitorPort = await freePort();
      lb = start(
        'haproxy',
        'haproxy',
        ['-db', '-f', CFG],
        lbConfigEnv(`127.0.0.1:${ports[0]}`, `127.0.0.1:${ports[1]}`, lbPort, monitorPort),
        dir,
      );
      procs.push(lb);
      const deadline = Date.now() + 30_000;
      while ((await monitor(monitorPort)) !== 200) {
        if (!lb.running || Date.now() > deadline) throw new Error(`haproxy did not come up:\n${lb.output}`);
        await sleep(200);
      }
    }, 180_000);

    afterAll(async () => {
      await Promise.all(procs.map((p) => p.stop('SIGTERM', 5_000)));
      await db?.drop();
      rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    it('healthcheck.mjs passes on a ready replica and fails on another certificate or no server', async () => {
      const ok = healthcheck(replicas[0]!.port, tls.certFile);
      expect(ok.status, ok.stderr).toBe(0);
      const other = makeCertificate(dir, 'not-the-controller', HOST);
      const wrong = healthcheck(replicas[0]!.port, other.certFile);
      expect(wrong.status).toBe(1);
      expect(wrong.stderr).toMatch(/is not the one in/);
      const none = healthcheck(await freePort(), tls.certFile);
      expect(none.status).toBe(1);
      expect(none.stderr).toMatch(/ECONNREFUSED/);
    });

    it('leaves the controllers’ data dirs untouched in production (read-only containers, stateless replicas)', () => {
      // Everything came from the settings: no generated TLS pair, secret or embedded database.
      for (const r of replicas)
        expect(existsSync(path.join(dir, `data-${r.proc.name}`)), r.proc.name).toBe(false);
    });

    it('presents the controllers’ certificate and spreads requests over both replicas', async () => {
      for (let i = 0; i < 6; i++) {
        const res = await request(lbPort, HOST, tls.certFile, 'GET', '/readyz');
        expect(res.status, res.body).toBe(200);
        expect(res.json()).toMatchObject({
          status: 'ready',
          database: true,
          store: true,
          storeKind: 'redis',
        });
        expect(res.peerFingerprint).toBe(tls.fingerprint256);
      }
      // httplog lines name the server that answered each request.
      await lb.waitFor(/controllers\/controller-1 [^\n]* 200 [^\n]*GET [^\n]*\/readyz/, 5_000);
      await lb.waitFor(/controllers\/controller-2 [^\n]* 200 [^\n]*GET [^\n]*\/readyz/, 5_000);
    });

    it('lets the replicas see the client’s address, not an X-Forwarded-For the client forged', async () => {
      // 127.0.0.2 is the client; HAProxy itself connects to the replicas from 127.0.0.1.
      await login('127.0.0.2', { 'X-Forwarded-For': '203.0.113.9' });
      const token = await login('127.0.0.3');
      const res = await request(lbPort, HOST, tls.certFile, 'GET', '/v1/admin/audit?limit=10', {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status, res.body).toBe(200);
      const logins = (res.json() as { items: { action: string; ip: string | null }[] }).items
        .filter((e) => e.action === 'auth.login')
        .map((e) => e.ip);
      expect(logins.slice(0, 2)).toEqual(['127.0.0.3', '127.0.0.2']);
      expect(logins).not.toContain('203.0.113.9');
    });

    it('never sends a request to a replica whose certificate does not verify', async () => {
      // A rogue TLS server (another certificate for the same name) in place of replica 2.
      const rogueTls = makeCertificate(dir, 'rogue', HOST);
      let rogueRequests = 0;
      const rogue = https.createServer(
        { cert: readFileSync(rogueTls.certFile), key: readFileSync(rogueTls.keyFile) },
        (_req, res) => {
          rogueRequests++;
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ready"}');
        },
      );
      await new Promise<void>((r) => rogue.listen(0, '127.0.0.1', r));
      const roguePort = (rogue.address() as AddressInfo).port;
      const api = await freePort();
      const mon = await freePort();
      const lb2 = start(
        'haproxy-rogue',
        'haproxy',
        ['-db', '-f', CFG],
        lbConfigEnv(`127.0.0.1:${replicas[0]!.port}`, `127.0.0.1:${roguePort}`, api, mon),
        dir,
      );
      procs.push(lb2);
      try {
        await lb2.waitFor(/controller-2 is DOWN[^\n]*SSL handshake failure/, 20_000);
        for (let i = 0; i < 6; i++) {
          const res = await request(api, HOST, tls.certFile, 'GET', '/readyz');
          expect(res.status).toBe(200);
          expect(res.json()).toMatchObject({ storeKind: 'redis' });
        }
        expect(rogueRequests).toBe(0);
      } finally {
        await lb2.stop();
        await new Promise((r) => rogue.close(r));
      }
    });

    it('hides a replica killed mid-run from clients; the monitor fails only with none left', async () => {
      await replicas[0]!.proc.stop('SIGKILL');
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) {
        const res = await request(lbPort, HOST, tls.certFile, 'GET', '/readyz');
        statuses.push(res.status);
      }
      expect(
        statuses.every((s) => s === 200),
        statuses.join(' '),
      ).toBe(true);
      // Logins still work (the surviving replica shares the database and Redis).
      await login('127.0.0.4');
      await lb.waitFor(/controller-1 is DOWN/, 10_000);
      expect(await monitor(monitorPort)).toBe(200);
      await replicas[1]!.proc.stop('SIGTERM');
      await lb.waitFor(/controller-2 is DOWN/, 10_000);
      const deadline = Date.now() + 10_000;
      let status = await monitor(monitorPort);
      while (status === 200 && Date.now() < deadline) {
        await sleep(200);
        status = await monitor(monitorPort);
      }
      expect(status).toBe(503);
    });
  },
);
