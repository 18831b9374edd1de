/**
 * Test fixtures: a fresh PostgreSQL database per test file (`corridor_t_<random>`, dropped after),
 * a distinct Redis key prefix per app instance, cheap argon2 parameters, and API helpers.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { formatPublicKey, generateX25519KeyPair } from '@corridor/protocol';
import { build, type App } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';

export const DATABASE_URL_TEST = process.env.DATABASE_URL_TEST;
export const REDIS_URL_TEST = process.env.REDIS_URL_TEST;
export const hasServices = Boolean(DATABASE_URL_TEST && REDIS_URL_TEST);
export const SKIP_REASON =
  'DATABASE_URL_TEST and REDIS_URL_TEST are not set: skipping tests against real PostgreSQL and Redis';

export function warnSkip(): void {
  if (!hasServices) console.warn(SKIP_REASON);
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Creates an empty database on the test server; `drop()` removes it (terminating leftovers). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = new URL(DATABASE_URL_TEST!);
  const name = `corridor_t_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin.toString());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: admin.toString() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export const TEST_JWT_SECRET = 'test-jwt-secret-test-jwt-secret-0123456789';
export const TEST_ENC_KEY = randomBytes(32).toString('hex');

export async function tempDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'corridor-ctl-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Config for a test app: validated by the real loader; cheap argon2 (the default stays production-grade). */
export function makeConfig(env: Record<string, string | undefined>): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    JWT_SECRET: TEST_JWT_SECRET,
    SIGNING_KEY_ENCRYPTION_KEY: TEST_ENC_KEY,
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    REDIS_KEY_PREFIX: `corridor-test:${randomBytes(4).toString('hex')}:`,
    ...env,
  });
}

export interface Harness {
  app: App;
  db: TestDatabase;
  close(): Promise<void>;
}

/** App on a fresh database + Redis, with an admin `admin@example.com` / `admin-password-1`. */
export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  const db = await createTestDatabase();
  const tmp = await tempDir();
  const app = await build(
    makeConfig({
      DATABASE_URL: db.url,
      REDIS_URL: REDIS_URL_TEST,
      CORRIDOR_DATA_DIR: tmp.dir,
      CORRIDOR_ADMIN_EMAIL: 'admin@example.com',
      CORRIDOR_ADMIN_PASSWORD: 'admin-password-1',
      ...env,
    }),
  );
  return {
    app,
    db,
    async close() {
      await app.close();
      await db.drop();
      await tmp.remove();
    },
  };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

export async function login(
  app: App,
  email: string,
  password: string,
): Promise<{ accessToken: string; refreshToken: string; userId: string }> {
  const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email, password } });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  const body = res.json<{ accessToken: string; refreshToken: string; user: { id: string } }>();
  return { accessToken: body.accessToken, refreshToken: body.refreshToken, userId: body.user.id };
}

export async function adminToken(app: App): Promise<string> {
  return (await login(app, 'admin@example.com', 'admin-password-1')).accessToken;
}

let userSeq = 0;
/** Creates a user through the admin API and logs in. */
export async function createUser(
  app: App,
  admin: string,
  email = `user${++userSeq}-${randomBytes(3).toString('hex')}@example.com`,
) {
  const password = 'user-password-1';
  const res = await app.inject({
    method: 'POST',
    url: '/v1/admin/users',
    headers: bearer(admin),
    payload: { email, password },
  });
  if (res.statusCode !== 201) throw new Error(`create user failed: ${res.statusCode} ${res.body}`);
  return { email, password, ...(await login(app, email, password)) };
}

export function devicePublicKey(): string {
  return formatPublicKey('x25519pub', generateX25519KeyPair().publicKey);
}

export async function registerDevice(app: App, token: string, name = 'laptop') {
  const publicKey = devicePublicKey();
  const res = await app.inject({
    method: 'POST',
    url: '/v1/devices',
    headers: bearer(token),
    payload: { name, publicKey },
  });
  if (res.statusCode !== 201) throw new Error(`register device failed: ${res.statusCode} ${res.body}`);
  return res.json<{ id: string; publicKey: string }>();
}

let nodeSeq = 0;
/** Creates, enrolls and heartbeats a node; returns its id and `Node` authorization header. */
export async function onlineNode(
  app: App,
  admin: string,
  opts: { id?: string; region?: string; load?: number } = {},
) {
  const id = opts.id ?? `n${++nodeSeq}-${randomBytes(2).toString('hex')}`;
  const create = await app.inject({
    method: 'POST',
    url: '/v1/admin/nodes',
    headers: bearer(admin),
    payload: {
      id,
      region: opts.region ?? 'eu-central',
      country: 'DE',
      city: 'Frankfurt',
      endpoint: { host: '203.0.113.5', udpPort: 51820, tcpPort: 443 },
    },
  });
  if (create.statusCode !== 201) throw new Error(`create node failed: ${create.statusCode} ${create.body}`);
  const publicKey = formatPublicKey('x25519pub', generateX25519KeyPair().publicKey);
  const enroll = await app.inject({
    method: 'POST',
    url: '/v1/agent/enroll',
    payload: {
      enrollmentToken: create.json<{ enrollmentToken: string }>().enrollmentToken,
      publicKey,
      agentVersion: '0.1.0',
    },
  });
  if (enroll.statusCode !== 200) throw new Error(`enroll failed: ${enroll.statusCode} ${enroll.body}`);
  const credential = enroll.json<{ nodeCredential: string }>().nodeCredential;
  const auth = { authorization: `Node ${id}:${credential}` };
  await heartbeat(app, auth, { load: opts.load ?? 0.1 });
  return { id, publicKey, auth, credential };
}

/** Issues a ticket as test setup; throws unless the controller answers 200. */
export async function issueTicket(app: App, token: string, nodeId: string, deviceId: string) {
  const res = await app.inject({
    method: 'POST',
    url: `/v1/nodes/${nodeId}/tickets`,
    headers: bearer(token),
    payload: { deviceId },
  });
  if (res.statusCode !== 200) throw new Error(`issue ticket failed: ${res.statusCode} ${res.body}`);
  return res.json<{ ticket: string; ticketId: string }>();
}

export async function heartbeat(
  app: App,
  auth: Record<string, string>,
  opts: {
    load?: number;
    sessions?: {
      ticketId: string;
      deviceId: string;
      userId: string;
      rxBytes: number;
      txBytes: number;
      connectedAt: string;
    }[];
  } = {},
) {
  const sessions = opts.sessions ?? [];
  const res = await app.inject({
    method: 'POST',
    url: '/v1/agent/heartbeat',
    headers: auth,
    payload: {
      protocolVersion: 1,
      agentVersion: '0.1.0',
      load: opts.load ?? 0.1,
      activeSessions: sessions.length,
      sessions,
    },
  });
  if (res.statusCode !== 200) throw new Error(`heartbeat failed: ${res.statusCode} ${res.body}`);
  return res.json<{ revocationsCursor: string; signingKeysVersion: number }>();
}
