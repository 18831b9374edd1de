/**
 * `pnpm bench:controller`: load-tests a controller over real HTTPS on 127.0.0.1 backed by real
 * PostgreSQL and Redis. The controller runs in its own process (its own event loop) exactly as
 * `corridor-controller serve` runs it; autocannon drives it from this process.
 *
 * Needs BENCH_DATABASE_URL/BENCH_REDIS_URL or DATABASE_URL_TEST/REDIS_URL_TEST. Creates a fresh
 * database `corridor_b_<random>` (dropped at the end) and a temporary data dir. Bounded: three
 * phases of BENCH_DURATION_S (default 10 s) each plus setup.
 *
 * Note: autocannon's client does not verify certificates; the certificate is verified (pinned by
 * fingerprint) by the setup requests before the load starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { formatPublicKey, generateX25519KeyPair } from '@corridor/protocol';
import { DEFAULT_ARGON2 } from '../src/config.js';

const DB = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL_TEST;
const REDIS = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL_TEST;
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const LOGIN_CONNECTIONS = Number(process.env.BENCH_LOGIN_CONNECTIONS ?? 8);
const here = path.dirname(fileURLToPath(import.meta.url));

if (!DB || !REDIS) {
  process.stderr.write(
    'bench:controller needs a real PostgreSQL and Redis: set BENCH_DATABASE_URL and BENCH_REDIS_URL (or DATABASE_URL_TEST and REDIS_URL_TEST, e.g. via scripts/services.sh).\n',
  );
  process.exit(2);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

interface Api {
  call<T>(
    method: string,
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: T }>;
}

function api(port: number, ca: string, fingerprint: string): Api {
  const agent = new https.Agent({
    ca,
    keepAlive: true,
    checkServerIdentity: (_h, cert) =>
      cert.fingerprint256 === fingerprint ? undefined : new Error('certificate fingerprint mismatch'),
  });
  return {
    call(method, url, body, headers = {}) {
      return new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = https.request(
          {
            host: '127.0.0.1',
            port,
            path: url,
            method,
            agent,
            headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...headers },
          },
          (res) => {
            let data = '';
            res.on('data', (c) => (data += c));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body: (data ? JSON.parse(data) : null) as never }),
            );
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
    },
  };
}

function expectStatus(what: string, res: { status: number; body: unknown }, status: number): void {
  if (res.status !== status)
    throw new Error(`${what}: expected ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
}

async function runLoad(title: string, opts: autocannon.Options): Promise<autocannon.Result> {
  const result = await autocannon({ ...opts, duration: DURATION_S });
  const non2xx = result.non2xx + result.errors + result.timeouts;
  process.stdout.write(
    `${title.padEnd(34)} ${result.requests.average.toFixed(0).padStart(7)} req/s   p50 ${String(result.latency.p50).padStart(4)} ms   p99 ${String(result.latency.p99).padStart(4)} ms   ` +
      `(${opts.connections} connections, ${DURATION_S} s, ${result.requests.total} requests, ${non2xx} non-2xx/errors)\n`,
  );
  return result;
}

async function waitForServer(
  port: number,
  certFile: string,
  child: ChildProcess,
): Promise<{ ca: string; fingerprint: string }> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`controller exited with code ${child.exitCode}`);
    try {
      const ca = await readFile(certFile, 'utf8');
      const fingerprint = new X509Certificate(ca).fingerprint256;
      const res = await api(port, ca, fingerprint).call('GET', '/readyz');
      if (res.status === 200) return { ca, fingerprint };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('controller did not become ready within 60 s');
}

async function main(): Promise<void> {
  const admin = new URL(DB!);
  const dbName = `corridor_b_${randomBytes(5).toString('hex')}`;
  const adminClient = new pg.Client({ connectionString: admin.toString() });
  await adminClient.connect();
  await adminClient.query(`CREATE DATABASE ${dbName}`);
  await adminClient.end();
  const dbUrl = new URL(admin.toString());
  dbUrl.pathname = `/${dbName}`;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'corridor-bench-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let stderr = '';

  try {
    child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=source', path.join(here, '../src/cli.ts'), 'serve'],
      {
        cwd: path.join(here, '..'),
        env: {
          ...process.env,
          // Development mode only so that a self-signed certificate is generated into the data dir.
          NODE_ENV: 'development',
          HOST: '127.0.0.1',
          PORT: String(port),
          LOG_LEVEL: 'warn',
          DATABASE_URL: dbUrl.toString(),
          REDIS_URL: REDIS,
          REDIS_KEY_PREFIX: `corridor-bench:${randomBytes(4).toString('hex')}:`,
          CORRIDOR_DATA_DIR: dataDir,
          JWT_SECRET: randomBytes(32).toString('base64url'),
          SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
          CORRIDOR_ADMIN_EMAIL: 'admin@bench.example.com',
          CORRIDOR_ADMIN_PASSWORD: 'bench-admin-password',
          // All load comes from one IP: per-IP login limiting would throttle the login phase by design.
          LOGIN_MAX_ATTEMPTS_PER_IP: '1000000',
          // The login phase runs BENCH_LOGIN_CONNECTIONS parallel logins of one account; attempts in
          // flight count against the account's limit, so it must exceed the connection count.
          LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '1000',
          // One user drives the whole ticket load: the per-user limit still runs on every request
          // (its store round trip is part of the figure), with a ceiling the load cannot reach.
          TICKET_LIMIT_PER_USER: '1000000000',
        },
        stdio: ['ignore', 'inherit', 'pipe'],
      },
    );
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const { ca, fingerprint } = await waitForServer(port, path.join(dataDir, 'tls-cert.pem'), child);
    const c = api(port, ca, fingerprint);

    // Setup: admin, a user with a device, 20 online nodes.
    const adminLogin = await c.call<{ accessToken: string }>('POST', '/v1/auth/login', {
      email: 'admin@bench.example.com',
      password: 'bench-admin-password',
    });
    expectStatus('admin login', adminLogin, 200);
    const adminAuth = { authorization: `Bearer ${adminLogin.body.accessToken}` };
    const userPassword = 'bench-user-password';
    expectStatus(
      'create user',
      await c.call(
        'POST',
        '/v1/admin/users',
        { email: 'user@bench.example.com', password: userPassword },
        adminAuth,
      ),
      201,
    );
    const userLogin = await c.call<{ accessToken: string }>('POST', '/v1/auth/login', {
      email: 'user@bench.example.com',
      password: userPassword,
    });
    expectStatus('user login', userLogin, 200);
    const userAuth = { authorization: `Bearer ${userLogin.body.accessToken}` };
    const device = await c.call<{ id: string }>(
      'POST',
      '/v1/devices',
      { name: 'bench', publicKey: formatPublicKey('x25519pub', generateX25519KeyPair().publicKey) },
      userAuth,
    );
    expectStatus('register device', device, 201);

    const nodeAuths: Record<string, string>[] = [];
    for (let i = 0; i < 20; i++) {
      const id = `bench-${i}`;
      const created = await c.call<{ enrollmentToken: string }>(
        'POST',
        '/v1/admin/nodes',
        {
          id,
          region: i % 2 ? 'eu-central' : 'us-east',
          country: 'DE',
          city: 'Frankfurt',
          endpoint: { host: '203.0.113.10', udpPort: 51820, tcpPort: 443 },
        },
        adminAuth,
      );
      expectStatus('create node', created, 201);
      const enrolled = await c.call<{ nodeCredential: string }>('POST', '/v1/agent/enroll', {
        enrollmentToken: created.body.enrollmentToken,
        publicKey: formatPublicKey('x25519pub', generateX25519KeyPair().publicKey),
        agentVersion: '0.1.0',
      });
      expectStatus('enroll node', enrolled, 200);
      nodeAuths.push({ authorization: `Node ${id}:${enrolled.body.nodeCredential}` });
    }
    const beat = async () => {
      for (const [i, auth] of nodeAuths.entries()) {
        expectStatus(
          'heartbeat',
          await c.call(
            'POST',
            '/v1/agent/heartbeat',
            {
              protocolVersion: 1,
              agentVersion: '0.1.0',
              load: (i % 10) / 10,
              activeSessions: i,
              sessions: [],
            },
            auth,
          ),
          200,
        );
      }
    };
    await beat();
    const ticketUrl = '/v1/nodes/bench-1/tickets';
    expectStatus('ticket', await c.call('POST', ticketUrl, { deviceId: device.body.id }, userAuth), 200);

    const base = `https://127.0.0.1:${port}`;
    process.stdout.write(
      `\ncorridor controller benchmark: HTTPS on 127.0.0.1, real PostgreSQL + Redis, controller in its own process (LOG_LEVEL=warn), ${os.cpus().length} CPUs, certificate pinned ${fingerprint.slice(0, 23)}...\n\n`,
    );

    await runLoad('POST /v1/nodes/:id/tickets', {
      url: base + ticketUrl,
      method: 'POST',
      connections: CONNECTIONS,
      headers: { ...userAuth, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: device.body.id }),
    });
    await beat();
    await runLoad('GET /v1/nodes', { url: `${base}/v1/nodes`, connections: CONNECTIONS, headers: userAuth });
    const a = DEFAULT_ARGON2;
    await runLoad(`POST /v1/auth/login (argon2id m=${a.memoryCost}KiB t=${a.timeCost} p=${a.parallelism})`, {
      url: `${base}/v1/auth/login`,
      method: 'POST',
      connections: LOGIN_CONNECTIONS,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'user@bench.example.com', password: userPassword }),
    });
    const tickets = await new Promise<number>((resolve, reject) => {
      const q = new pg.Client({ connectionString: dbUrl.toString() });
      q.connect()
        .then(() => q.query<{ n: string }>('SELECT count(*) AS n FROM tickets'))
        .then((r) => resolve(Number(r.rows[0]?.n ?? 0)))
        .catch(reject)
        .finally(() => void q.end());
    });
    process.stdout.write(`\ntickets recorded in PostgreSQL: ${tickets}\n`);
  } catch (e) {
    process.stderr.write(`${stderr}\n`);
    throw e;
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await rm(dataDir, { recursive: true, force: true });
    const c = new pg.Client({ connectionString: admin.toString() });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await c.end();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:controller failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
