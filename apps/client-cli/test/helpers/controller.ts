/**
 * A real controller process for vpnctl's tests: `corridor-controller serve` (from source, through
 * tsx) on a fresh PostgreSQL database (`corridor_t_<random>` on DATABASE_URL_TEST, dropped after) and
 * the real Redis (REDIS_URL_TEST, own key prefix), HTTPS with the self-signed certificate it
 * generates, listening on loopback only. Admin helpers talk to it over HTTPS pinned to that
 * certificate, as an operator's tooling would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { formatPublicKey, generateX25519KeyPair, type X25519KeyPair } from '@corridor/protocol';

export const DATABASE_URL_TEST = process.env.DATABASE_URL_TEST;
export const REDIS_URL_TEST = process.env.REDIS_URL_TEST;
export const servicesSkipReason =
  DATABASE_URL_TEST && REDIS_URL_TEST
    ? undefined
    : 'DATABASE_URL_TEST and REDIS_URL_TEST are not set (scripts/services.sh starts PostgreSQL and Redis): skipping tests against a real controller';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const CONTROLLER_CLI = path.join(REPO_ROOT, 'apps/controller/src/cli.ts');
const TSX = path.join(REPO_ROOT, 'node_modules/tsx/dist/esm/index.mjs');

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface AdminApi {
  call<T = unknown>(
    method: string,
    url: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; body: T }>;
}

export interface Controller {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly fingerprint256: string;
  readonly certPem: string;
  readonly certFile: string;
  readonly adminEmail: string;
  readonly adminPassword: string;
  readonly api: AdminApi;
  adminToken(): Promise<string>;
  createUser(email?: string, password?: string): Promise<{ email: string; password: string; id: string }>;
  /** Declares a node, enrolls it with a fresh static key and heartbeats it (online) unless `online: false`. */
  createNode(opts?: {
    id?: string;
    region?: string;
    city?: string;
    country?: string;
    load?: number;
    online?: boolean;
    endpoint?: { host: string; udpPort: number; tcpPort: number };
  }): Promise<{ id: string; keys: X25519KeyPair; auth: string; enrollmentToken: string }>;
  heartbeat(auth: string, load: number): Promise<void>;
  stop(): Promise<void>;
  /** Output of the process so far (for failure messages). */
  logs(): string;
}

function request(base: string, certPem: string, fingerprint: string): AdminApi['call'] {
  return (method, url, body, token) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        new URL(url, base),
        {
          method,
          ca: certPem,
          checkServerIdentity: (_h, cert) =>
            cert.fingerprint256 === fingerprint ? undefined : new Error('fingerprint mismatch'),
          headers: {
            ...(payload ? { 'content-type': 'application/json' } : {}),
            ...(token ? { authorization: token.includes(' ') ? token : `Bearer ${token}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : undefined) as never });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
}

export interface ControllerOptions {
  env?: Record<string, string>;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Run the process through this command prefix (e.g. ['ip', 'netns', 'exec', ns]). */
  prefix?: string[];
}

export async function startController(opts: ControllerOptions = {}): Promise<Controller> {
  if (servicesSkipReason) throw new Error(servicesSkipReason);
  if (!existsSync(path.join(REPO_ROOT, 'apps/controller/src/generated'))) {
    throw new Error(
      'the controller Prisma client is not generated: run `pnpm --filter @corridor/controller run generate`',
    );
  }
  const dbName = `corridor_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL_TEST });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const dbUrl = new URL(DATABASE_URL_TEST!);
  dbUrl.pathname = `/${dbName}`;

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vpnctl-ctl-'));
  const host = opts.host ?? '127.0.0.1';
  const port = opts.prefix ? 8443 : await freePort(host);
  const adminEmail = 'admin@example.com';
  const adminPassword = `admin-${randomBytes(8).toString('hex')}`;
  const args = ['--import', TSX, '--conditions=source', CONTROLLER_CLI, 'serve'];
  const [cmd, ...cmdArgs] = opts.prefix
    ? [...opts.prefix, process.execPath, ...args]
    : [process.execPath, ...args];
  let output = '';
  const child: ChildProcess = spawn(cmd!, cmdArgs, {
    cwd: dataDir,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      HOST: host,
      PORT: String(port),
      DATABASE_URL: dbUrl.toString(),
      REDIS_URL: REDIS_URL_TEST,
      REDIS_KEY_PREFIX: `vpnctl-test:${randomBytes(4).toString('hex')}:`,
      CORRIDOR_DATA_DIR: dataDir,
      CORRIDOR_ADMIN_EMAIL: adminEmail,
      CORRIDOR_ADMIN_PASSWORD: adminPassword,
      JWT_SECRET: randomBytes(32).toString('hex'),
      SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_TIME_COST: '1',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const cleanup = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    const c = new pg.Client({ connectionString: DATABASE_URL_TEST });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await c.end();
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    const certFile = path.join(dataDir, 'tls-cert.pem');
    const deadline = Date.now() + 60_000;
    while (!/Fingerprint=/.test(output)) {
      if (child.exitCode !== null) throw new Error(`controller exited (${child.exitCode}):\n${output}`);
      if (Date.now() > deadline) throw new Error(`controller did not start in 60 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const certPem = readFileSync(certFile, 'utf8');
    const fingerprint256 = new X509Certificate(certPem).fingerprint256;
    const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const call = request(url, certPem, fingerprint256);
    for (;;) {
      const ok = await call('GET', '/readyz').then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`controller not ready in 60 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    let adminTok: string | undefined;
    const adminToken = async () => {
      if (adminTok) return adminTok;
      const r = await call<{ accessToken: string }>('POST', '/v1/auth/login', {
        email: adminEmail,
        password: adminPassword,
      });
      if (r.status !== 200) throw new Error(`admin login: ${r.status} ${JSON.stringify(r.body)}`);
      return (adminTok = r.body.accessToken);
    };
    let seq = 0;
    const heartbeat = async (auth: string, load: number) => {
      const r = await call(
        'POST',
        '/v1/agent/heartbeat',
        { protocolVersion: 1, agentVersion: '0.1.0', load, activeSessions: 0, sessions: [] },
        auth,
      );
      if (r.status !== 200) throw new Error(`heartbeat: ${r.status} ${JSON.stringify(r.body)}`);
    };
    return {
      url,
      host,
      port,
      fingerprint256,
      certPem,
      certFile,
      adminEmail,
      adminPassword,
      api: { call },
      adminToken,
      heartbeat,
      async createUser(
        email = `user${++seq}-${randomBytes(3).toString('hex')}@example.com`,
        password = `pw-${randomBytes(6).toString('hex')}`,
      ) {
        const r = await call<{ id: string }>(
          'POST',
          '/v1/admin/users',
          { email, password },
          await adminToken(),
        );
        if (r.status !== 201) throw new Error(`create user: ${r.status} ${JSON.stringify(r.body)}`);
        return { email, password, id: r.body.id };
      },
      async createNode(o = {}) {
        const id = o.id ?? `n${++seq}-${randomBytes(2).toString('hex')}`;
        const created = await call<{ enrollmentToken: string }>(
          'POST',
          '/v1/admin/nodes',
          {
            id,
            region: o.region ?? 'eu-central',
            country: o.country ?? 'DE',
            city: o.city ?? 'Frankfurt',
            endpoint: o.endpoint ?? { host: '203.0.113.5', udpPort: 51820, tcpPort: 443 },
          },
          await adminToken(),
        );
        if (created.status !== 201)
          throw new Error(`create node: ${created.status} ${JSON.stringify(created.body)}`);
        const keys = generateX25519KeyPair();
        const enroll = await call<{ nodeCredential: string }>('POST', '/v1/agent/enroll', {
          enrollmentToken: created.body.enrollmentToken,
          publicKey: formatPublicKey('x25519pub', keys.publicKey),
          agentVersion: '0.1.0',
        });
        if (enroll.status !== 200) throw new Error(`enroll: ${enroll.status} ${JSON.stringify(enroll.body)}`);
        const auth = `Node ${id}:${enroll.body.nodeCredential}`;
        if (o.online !== false) await heartbeat(auth, o.load ?? 0.1);
        return { id, keys, auth, enrollmentToken: created.body.enrollmentToken };
      },
      stop: cleanup,
      logs: () => output,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
