/**
 * Schema-driven fuzzing of the running controller, as an attacker would do it: the controller runs
 * in its own process (`corridor-controller serve`, real HTTPS), the requests are generated from its
 * own OpenAPI document (openapi-fuzz.ts), and every operation is tried with every credential kind
 * (none, garbage, forged algorithm, garbage node, user, admin, node). At least FUZZ_REQUESTS
 * (default 10,000) requests per mode, against the embedded mode (PGlite + in-process store) and
 * against real PostgreSQL + Redis.
 *
 * Asserts: no 5xx that the operation does not document (never a 500), every error body a JSON
 * `CORRIDOR_ERR_*` answer without internal text, the process alive throughout, and afterwards a
 * normal login + device + node + ticket still working.
 *
 * Reproduce a run with the seed it prints: FUZZ_SEED=<seed> FUZZ_REQUESTS=<n>.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  devicePublicKey,
  hasServices,
  REDIS_URL_TEST,
  tempDir,
  warnSkip,
  type TestDatabase,
} from '../helpers.js';
import { INTERNAL_TEXT, operationsOf, requestFor, type FuzzRequest, type KnownIds } from './openapi-fuzz.js';

warnSkip();

const here = path.dirname(fileURLToPath(import.meta.url));
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 12);
const SEED = Number(process.env.FUZZ_SEED ?? randomBytes(4).readUInt32BE(0) >>> 1);
const ADMIN = { email: 'fuzz-admin@example.com', password: 'fuzz-admin-password' };

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
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

class Client {
  private readonly agent: https.Agent;
  constructor(
    private readonly port: number,
    ca: string,
  ) {
    this.agent = new https.Agent({
      ca,
      keepAlive: true,
      maxSockets: CONCURRENCY * 2,
      servername: 'localhost',
    });
  }

  send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body?: string | Buffer,
  ): Promise<Answer> {
    // Always framed: Node sends a GET or DELETE body without Content-Length unframed, which the
    // server can only read as the start of a garbage next request.
    if (body !== undefined) headers = { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path: url,
          headers,
          agent: this.agent,
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${url}`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  async json<T>(
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: T }> {
    const res = await this.send(
      method,
      url,
      { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body === undefined ? undefined : JSON.stringify(body),
    );
    return { status: res.status, body: (res.text ? JSON.parse(res.text) : null) as T };
  }

  close(): void {
    this.agent.destroy();
  }
}

function must<T>(what: string, res: { status: number; body: T }, status: number): T {
  if (res.status !== status)
    throw new Error(`${what}: expected ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

interface Controller {
  client: Client;
  child: ChildProcess;
  stderr: () => string;
  stop(): Promise<void>;
}

async function startController(env: Record<string, string>): Promise<Controller> {
  const data = await tempDir();
  const port = await freePort();
  let stderr = '';
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=source', path.join(here, '../../src/cli.ts'), 'serve'],
    {
      cwd: path.join(here, '../..'),
      env: {
        ...process.env,
        NODE_ENV: 'development',
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: process.env.FUZZ_LOG_LEVEL ?? 'error',
        CORRIDOR_DATA_DIR: data.dir,
        JWT_SECRET: randomBytes(32).toString('base64url'),
        SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
        CORRIDOR_ADMIN_EMAIL: ADMIN.email,
        CORRIDOR_ADMIN_PASSWORD: ADMIN.password,
        ARGON2_MEMORY_KIB: '1024',
        ARGON2_TIME_COST: '1',
        // All requests come from one address: the per-IP login limit would refuse most by design.
        LOGIN_MAX_ATTEMPTS_PER_IP: '1000000',
        ...env,
      },
      // The log (stdout) is kept only when FUZZ_LOG_LEVEL asks for it.
      stdio: ['ignore', process.env.FUZZ_LOG_LEVEL ? 'pipe' : 'ignore', 'pipe'],
    },
  );
  const keep = (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2_000_000));
  child.stderr!.on('data', keep);
  child.stdout?.on('data', keep);
  const certFile = path.join(data.dir, 'tls-cert.pem');
  const deadline = Date.now() + 120_000;
  let client: Client | undefined;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`controller exited with ${child.exitCode}: ${stderr}`);
    try {
      const c = new Client(port, await readFile(certFile, 'utf8'));
      if ((await c.send('GET', '/readyz', {})).status === 200) {
        client = c;
        break;
      }
      c.close();
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!client) throw new Error(`controller did not become ready: ${stderr}`);
  return {
    client,
    child,
    stderr: () => stderr,
    async stop() {
      client.close();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await data.remove();
    },
  };
}

interface Fixture {
  known: KnownIds;
  credentials: { kind: string; headers: Record<string, string> }[];
  adminAuth: Record<string, string>;
}

async function fixture(c: Client): Promise<Fixture> {
  const adminLogin = must(
    'admin login',
    await c.json<{ accessToken: string }>('POST', '/v1/auth/login', ADMIN),
    200,
  );
  const adminAuth = { authorization: `Bearer ${adminLogin.accessToken}` };
  const email = `fuzz-user-${randomBytes(3).toString('hex')}@example.com`;
  const user = must(
    'create user',
    await c.json<{ id: string }>(
      'POST',
      '/v1/admin/users',
      { email, password: 'fuzz-user-password' },
      adminAuth,
    ),
    201,
  );
  const userLogin = must(
    'user login',
    await c.json<{ accessToken: string }>('POST', '/v1/auth/login', {
      email,
      password: 'fuzz-user-password',
    }),
    200,
  );
  const userAuth = { authorization: `Bearer ${userLogin.accessToken}` };
  const device = must(
    'device',
    await c.json<{ id: string; publicKey: string }>(
      'POST',
      '/v1/devices',
      { name: 'fuzz', publicKey: devicePublicKey() },
      userAuth,
    ),
    201,
  );
  const node = await onlineNode(c, adminAuth, 'fuzz-node');
  const ticket = must(
    'ticket',
    await c.json<{ ticketId: string }>(
      'POST',
      `/v1/nodes/${node.id}/tickets`,
      { deviceId: device.id },
      userAuth,
    ),
    200,
  );
  const feed = must(
    'feed',
    await c.json<{ cursor: string }>('GET', '/v1/agent/revocations', undefined, node.auth),
    200,
  );
  const page = must(
    'users page',
    await c.json<{ nextCursor: string | null }>('GET', '/v1/admin/users?limit=1', undefined, adminAuth),
    200,
  );
  return {
    adminAuth,
    known: {
      userIds: [user.id],
      deviceIds: [device.id],
      nodeIds: [node.id],
      ticketIds: [ticket.ticketId],
      publicKeys: [device.publicKey, node.publicKey],
      cursors: [feed.cursor, ...(page.nextCursor ? [page.nextCursor] : [])],
    },
    credentials: [
      { kind: 'none', headers: {} },
      {
        kind: 'garbage',
        headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIn0.' },
      },
      {
        // A well-formed token with another algorithm (@fastify/jwt passed fast-jwt's error on as a 500).
        kind: 'forged-alg',
        headers: {
          authorization: `Bearer eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIn0.${'A'.repeat(86)}`,
        },
      },
      { kind: 'garbage-node', headers: { authorization: `Node ${node.id}:${'A'.repeat(43)}` } },
      { kind: 'user', headers: userAuth },
      { kind: 'admin', headers: adminAuth },
      { kind: 'node', headers: node.auth },
    ],
  };
}

async function onlineNode(c: Client, adminAuth: Record<string, string>, prefix: string) {
  const id = `${prefix}-${randomBytes(3).toString('hex')}`;
  const created = must(
    'create node',
    await c.json<{ enrollmentToken: string }>(
      'POST',
      '/v1/admin/nodes',
      {
        id,
        region: 'eu-central',
        country: 'DE',
        city: 'Frankfurt',
        endpoint: { host: '203.0.113.5', udpPort: 51820, tcpPort: 443 },
      },
      adminAuth,
    ),
    201,
  );
  const publicKey = devicePublicKey();
  const enrolled = must(
    'enroll',
    await c.json<{ nodeCredential: string }>('POST', '/v1/agent/enroll', {
      enrollmentToken: created.enrollmentToken,
      publicKey,
      agentVersion: '0.1.0',
    }),
    200,
  );
  const auth = { authorization: `Node ${id}:${enrolled.nodeCredential}` };
  must(
    'heartbeat',
    await c.json(
      'POST',
      '/v1/agent/heartbeat',
      { protocolVersion: 1, agentVersion: '0.1.0', load: 0.1, activeSessions: 0, sessions: [] },
      auth,
    ),
    200,
  );
  return { id, auth, publicKey };
}

interface Finding {
  operationId: string;
  request: string;
  credential: string;
  status: number;
  problem: string;
  body: string;
}

async function fuzz(ctl: Controller, label: string): Promise<void> {
  const c = ctl.client;
  const doc = JSON.parse((await c.send('GET', '/docs/json', {})).text);
  const ops = operationsOf(doc);
  expect(ops.length).toBeGreaterThan(30);
  const fx = await fixture(c);
  // One sample stream per operation, all from the printed seed.
  const perOp = Math.ceil(REQUESTS / ops.length);
  const samples = ops.map((op, i) => fc.sample(requestFor(op, fx.known), { seed: SEED + i, numRuns: perOp }));
  // Every operation meets every credential kind (round robin first); after that, half of the
  // requests carry the credential the operation is meant for, so they get past authentication and
  // reach handlers, repositories and the database.
  const kinds = fx.credentials.length;
  const meantFor = (op: (typeof ops)[number]) =>
    fx.credentials.find(
      (c) =>
        c.kind ===
        (op.path.startsWith('/v1/admin') ? 'admin' : op.path.startsWith('/v1/agent') ? 'node' : 'user'),
    )!;
  const queue: { req: FuzzRequest; cred: (typeof fx.credentials)[number]; statuses: Set<number> }[] = [];
  for (let n = 0; n < perOp; n++) {
    ops.forEach((op, i) => {
      const cred = n >= kinds && (n + i) % 2 === 0 ? meantFor(op) : fx.credentials[(n + i) % kinds]!;
      queue.push({ req: samples[i]![n]!, cred, statuses: op.statuses });
    });
  }
  const findings: Finding[] = [];
  const byStatus = new Map<number, number>();
  const pairs = new Set<string>();
  let sent = 0;
  const started = Date.now();
  const worker = async () => {
    for (;;) {
      const item = queue.shift();
      if (item === undefined) return;
      const { req, cred } = item;
      const headers: Record<string, string> = { ...cred.headers };
      if (req.contentType !== undefined && req.body !== undefined) headers['content-type'] = req.contentType;
      const describe = `${req.method} ${req.url.slice(0, 300)} ${typeof req.body === 'string' ? req.body.slice(0, 300) : req.body ? '<bytes>' : ''}`;
      let res: Answer;
      try {
        res = await c.send(req.method, req.url, headers, req.body);
      } catch (e) {
        // A connection the server closed after a documented client-error answer is not a finding;
        // anything else (a reset, a hang) is.
        findings.push({
          operationId: req.operationId,
          request: describe,
          credential: cred.kind,
          status: 0,
          problem: (e as Error).message.replace(/:.*/, ''),
          body: (e as Error).message.slice(0, 300),
        });
        continue;
      }
      sent++;
      pairs.add(`${req.operationId}|${cred.kind}`);
      byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
      const problem =
        res.status >= 500 && !item.statuses.has(res.status)
          ? `undocumented ${res.status}`
          : res.status === 500
            ? 'a 500'
            : res.status >= 400 && !/"code":"CORRIDOR_ERR_[A-Z0-9_]+"/.test(res.text)
              ? 'error without a CORRIDOR_ERR_ code'
              : res.status >= 400 && INTERNAL_TEXT.test(res.text)
                ? 'internal text in an error body'
                : undefined;
      if (problem)
        findings.push({
          operationId: req.operationId,
          request: describe,
          credential: cred.kind,
          status: res.status,
          problem,
          body: res.text.slice(0, 500),
        });
      if (ctl.child.exitCode !== null) return;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `fuzz ${label}: seed ${SEED} (replay: FUZZ_SEED=${SEED} FUZZ_REQUESTS=${REQUESTS}); ${sent} requests over ` +
      `${ops.length} operations x ${fx.credentials.length} credential kinds in ${seconds.toFixed(1)} s; statuses ` +
      JSON.stringify(Object.fromEntries([...byStatus].sort((a, b) => a[0] - b[0]))),
  );
  expect(ctl.child.exitCode, `controller died: ${ctl.stderr().slice(-2000)}`).toBeNull();
  // One example per class of finding (problem, status, operation, error code).
  const classes = new Map<string, Finding & { count: number }>();
  for (const f of findings) {
    const key = `${f.problem}|${f.status}|${f.operationId}|${/"code":"([A-Z_]+)"/.exec(f.body)?.[1] ?? ''}`;
    const seen = classes.get(key);
    if (seen) seen.count++;
    else classes.set(key, { ...f, count: 1 });
  }
  if (process.env.FUZZ_LOG_LEVEL) console.log(ctl.stderr());
  expect([...classes.values()], `${findings.length} findings, seed ${SEED}`).toEqual([]);
  expect(sent).toBeGreaterThanOrEqual(REQUESTS);
  expect(pairs.size, 'every operation with every credential kind').toBe(ops.length * fx.credentials.length);

  // Still serving the main job: health, a fresh user logs in and gets a ticket for a fresh node.
  expect((await c.send('GET', '/healthz', {})).status).toBe(200);
  const adminAuth = {
    authorization: `Bearer ${must('admin login after', await c.json<{ accessToken: string }>('POST', '/v1/auth/login', ADMIN), 200).accessToken}`,
  };
  const email = `after-${randomBytes(3).toString('hex')}@example.com`;
  must(
    'create user after',
    await c.json('POST', '/v1/admin/users', { email, password: 'after-fuzz-password' }, adminAuth),
    201,
  );
  const login = must(
    'login after',
    await c.json<{ accessToken: string }>('POST', '/v1/auth/login', {
      email,
      password: 'after-fuzz-password',
    }),
    200,
  );
  const auth = { authorization: `Bearer ${login.accessToken}` };
  const dev = must(
    'device after',
    await c.json<{ id: string }>(
      'POST',
      '/v1/devices',
      { name: 'after', publicKey: devicePublicKey() },
      auth,
    ),
    201,
  );
  const node = await onlineNode(c, adminAuth, 'after');
  const ticket = must(
    'ticket after',
    await c.json<{ ticket: string }>('POST', `/v1/nodes/${node.id}/tickets`, { deviceId: dev.id }, auth),
    200,
  );
  expect(ticket.ticket.length).toBeGreaterThan(100);
  expect(ctl.child.exitCode).toBeNull();
}

describe('fuzzing the running controller from its OpenAPI document', () => {
  it('embedded mode (PGlite + in-process store)', { timeout: 600_000 }, async () => {
    const ctl = await startController({});
    try {
      await fuzz(ctl, 'embedded');
    } finally {
      await ctl.stop();
    }
  });

  describe.skipIf(!hasServices)('real PostgreSQL + Redis', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase();
    });
    afterAll(async () => db?.drop());

    it('PostgreSQL + Redis', { timeout: 600_000 }, async () => {
      const ctl = await startController({
        DATABASE_URL: db.url,
        REDIS_URL: REDIS_URL_TEST!,
        REDIS_KEY_PREFIX: `corridor-fuzz:${randomBytes(4).toString('hex')}:`,
      });
      try {
        await fuzz(ctl, 'postgres+redis');
      } finally {
        await ctl.stop();
      }
    });
  });
});
