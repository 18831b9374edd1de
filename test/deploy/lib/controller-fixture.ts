/**
 * Real controller processes for the deploy tests, configured as a production deployment is
 * (NODE_ENV=production, DATABASE_URL, REDIS_URL, TLS files, JWT_SECRET,
 * SIGNING_KEY_ENCRYPTION_KEY, METRICS_TOKEN), each on a database of its own on the test
 * PostgreSQL server (DATABASE_URL_TEST) and a key prefix of its own on the test Redis
 * (REDIS_URL_TEST). Readiness is judged by deploy/docker/healthcheck.mjs, the image's own check.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { exists, repo } from './paths.js';
import { sleep, start, tsxArgs, type Proc, type TlsPair } from './processes.js';

export const HEALTHCHECK = repo('deploy/docker/healthcheck.mjs');

/** Why the tests that need PostgreSQL and Redis cannot run here, or undefined. */
export function servicesSkipReason(): string | undefined {
  return process.env.DATABASE_URL_TEST && process.env.REDIS_URL_TEST
    ? undefined
    : 'DATABASE_URL_TEST and REDIS_URL_TEST are not set (scripts/services.sh starts PostgreSQL and Redis)';
}

/** Why a command-line tool is unusable here, or undefined. */
export function toolSkipReason(tool: string, args: string[], hint: string): string | undefined {
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  return r.status === 0 ? undefined : `${tool} is not installed (${hint})`;
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  drop(): Promise<void>;
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL_TEST });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** An empty database `corridor_t_<random>` on the test server; `drop()` removes it. */
export async function createDatabase(): Promise<TestDatabase> {
  const name = `corridor_t_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(process.env.DATABASE_URL_TEST!);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** The production secrets, as docs/deploy.md generates them. Replicas of one deployment share them. */
export interface Secrets {
  jwtSecret: string;
  signingKeyEncryptionKey: string;
  metricsToken: string;
}

export function makeSecrets(): Secrets {
  return {
    jwtSecret: randomBytes(48).toString('base64'),
    signingKeyEncryptionKey: randomBytes(32).toString('hex'),
    metricsToken: randomBytes(32).toString('hex'),
  };
}

export interface ControllerOptions {
  name: string;
  port: number;
  /** Working directory (no `.env` in it) and parent of the data dir. */
  dir: string;
  tls: TlsPair;
  databaseUrl: string;
  secrets: Secrets;
  /** Bootstrap admin `admin@example.com` with this password. */
  adminPassword: string;
  redisKeyPrefix: string;
  env?: Record<string, string>;
}

export function requireGeneratedClient(): void {
  if (!exists('apps/controller/src/generated/prisma/client.ts'))
    throw new Error(
      'the Prisma client is not generated: run `pnpm --filter @corridor/controller run generate` (scripts/test.sh does)',
    );
}

/** Starts `corridor-controller serve` from source with a production configuration. */
export function startController(o: ControllerOptions): Proc {
  requireGeneratedClient();
  return start(
    o.name,
    process.execPath,
    [...tsxArgs('apps/controller/src/cli.ts'), 'serve'],
    {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(o.port),
      TRUST_PROXY: '1',
      LOG_LEVEL: 'warn',
      CORRIDOR_DATA_DIR: path.join(o.dir, `data-${o.name}`),
      DATABASE_URL: o.databaseUrl,
      REDIS_URL: process.env.REDIS_URL_TEST,
      REDIS_KEY_PREFIX: o.redisKeyPrefix,
      TLS_CERT_FILE: o.tls.certFile,
      TLS_KEY_FILE: o.tls.keyFile,
      JWT_SECRET: o.secrets.jwtSecret,
      SIGNING_KEY_ENCRYPTION_KEY: o.secrets.signingKeyEncryptionKey,
      METRICS_TOKEN: o.secrets.metricsToken,
      CORRIDOR_ADMIN_EMAIL: 'admin@example.com',
      CORRIDOR_ADMIN_PASSWORD: o.adminPassword,
      // Cheap password hashing keeps logins fast on a busy test machine.
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_TIME_COST: '1',
      ...o.env,
    },
    o.dir,
  );
}

/** Runs deploy/docker/healthcheck.mjs as the container does; returns its exit code and stderr. */
export function healthcheck(port: number, certFile: string): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [HEALTHCHECK], {
    env: { PATH: process.env.PATH, PORT: String(port), TLS_CERT_FILE: certFile },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: r.status, stderr: r.stderr };
}

/** Waits until the healthcheck passes; fails with the controller's output if it exits or times out. */
export async function waitReady(
  port: number,
  proc: Proc,
  certFile: string,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (healthcheck(port, certFile).status !== 0) {
    if (!proc.running) throw new Error(`${proc.name} exited:\n${proc.output.slice(-3000)}`);
    if (Date.now() > deadline)
      throw new Error(`${proc.name} not ready in ${timeoutMs} ms:\n${proc.output.slice(-3000)}`);
    await sleep(500);
  }
}
