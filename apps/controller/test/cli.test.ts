/** The CLI entry: `migrate`, `create-admin`, config errors and usage, run as real processes. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  hasServices,
  REDIS_URL_TEST,
  tempDir,
  warnSkip,
  type TestDatabase,
} from './helpers.js';

warnSkip();
const run = promisify(execFile);
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/cli.ts');

async function corridor(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', '--conditions=source', cli, ...args],
      {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
        cwd: path.dirname(cli),
      },
    );
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('CLI usage and config errors', () => {
  it('prints help and names bad variables', async () => {
    const help = await corridor(['--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: corridor-controller/);
    const bad = await corridor(['migrate'], { PORT: 'x', DATABASE_URL: 'mysql://nope' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/PORT/);
    expect(bad.stderr).toMatch(/DATABASE_URL/);
    expect(bad.stderr).not.toMatch(/at .*\.ts:\d+/);
  });
});

describe.skipIf(!hasServices)('CLI against PostgreSQL', () => {
  let db: TestDatabase;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    db = await createTestDatabase();
    tmp = await tempDir();
  });
  afterAll(async () => {
    await db?.drop();
    await tmp?.remove();
  });

  it('migrates, then creates an admin once', async () => {
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: REDIS_URL_TEST!,
      CORRIDOR_DATA_DIR: tmp.dir,
      LOG_LEVEL: 'silent',
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_TIME_COST: '1',
    };
    const m1 = await corridor(['migrate'], env);
    expect(m1.code, m1.stderr + m1.stdout).toBe(0);
    expect(m1.stdout).toMatch(/migrations applied: \d+_init/);
    const m2 = await corridor(['migrate'], env);
    expect(m2.stdout).toMatch(/migrations applied: none/);
    const c1 = await corridor(['create-admin', '--email', 'root@example.com'], {
      ...env,
      CORRIDOR_ADMIN_PASSWORD: 'root-password-1',
    });
    expect(c1.code, c1.stderr).toBe(0);
    expect(c1.stdout).toMatch(/admin root@example.com created/);
    const c2 = await corridor(
      ['create-admin', '--email', 'root@example.com', '--password', 'root-password-1'],
      env,
    );
    expect(c2.code).toBe(1);
    const short = await corridor(['create-admin', '--email', 'x@example.com', '--password', 'short'], env);
    expect(short.code).toBe(1);
  }, 120_000); // spawns several CLI processes: slow on a loaded machine, not a speed test

  it('serves and shuts down gracefully on SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', cli, 'serve'], {
      cwd: path.dirname(cli),
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        DATABASE_URL: db.url,
        REDIS_URL: REDIS_URL_TEST!,
        CORRIDOR_DATA_DIR: tmp.dir,
        PORT: '0',
        LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    await expect
      .poll(() => stderr, { timeout: 20_000 })
      .toMatch(/sha256 Fingerprint=([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe('CLI on an embedded data dir in use', () => {
  it('refuses create-admin and migrate while a controller runs on the data dir, naming the fix', async () => {
    const tmp = await tempDir();
    const { startEmbeddedPostgres } = await import('../src/db/embedded.js');
    const running = await startEmbeddedPostgres(tmp.dir);
    try {
      const env = {
        CORRIDOR_DATA_DIR: tmp.dir,
        CORRIDOR_ADMIN_PASSWORD: 'second-admin-1',
        LOG_LEVEL: 'silent',
      };
      for (const args of [['create-admin', '--email', 'second@example.com'], ['migrate']]) {
        const res = await corridor(args, env);
        expect(res.code, args[0]).toBe(1);
        expect(res.stderr).toMatch(new RegExp(`in use by process ${process.pid}.*stop it first`));
        expect(res.stderr).not.toMatch(/at .*\.ts:\d+/);
      }
    } finally {
      await running.stop();
      await tmp.remove();
    }
  }, 120_000);
});
