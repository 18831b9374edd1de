/**
 * deploy/postgres/init-corridor.sh on a real PostgreSQL server: run as the server's superuser (as
 * the postgres image runs /docker-entrypoint-initdb.d), it creates a role that is no superuser and
 * may create neither roles nor databases, owning a database of its own; the controller's
 * migrations — the pg_trgm index of the dashboard's search included — run with that role alone.
 * Needs root (to act as the `postgres` OS user over the local socket) and the test server of
 * scripts/services.sh (DATABASE_URL_TEST); otherwise skipped with the reason printed.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireGeneratedClient, servicesSkipReason, toolSkipReason } from './lib/controller-fixture.js';
import { repo } from './lib/paths.js';
import { tsxArgs } from './lib/processes.js';

const SCRIPT = readFileSync(repo('deploy/postgres/init-corridor.sh'), 'utf8');
const skip =
  (os.userInfo().uid === 0 ? undefined : 'not root (the script runs as the postgres OS user)') ??
  servicesSkipReason() ??
  toolSkipReason('runuser', ['--version'], 'Debian package util-linux') ??
  (spawnSync('id', ['postgres']).status === 0
    ? undefined
    : 'no postgres OS user (Debian package postgresql)');
if (skip) console.warn(`[deploy/postgres-init] skipping: ${skip}`);

/** Runs SQL as the server's superuser over the local socket, as the script itself is run. */
function superuser(args: string[], input?: string, env: Record<string, string> = {}) {
  const port = new URL(process.env.DATABASE_URL_TEST!).port || '5432';
  return spawnSync(
    'runuser',
    [
      '-u',
      'postgres',
      '--',
      'env',
      `PGPORT=${port}`,
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      ...args,
    ],
    { input, encoding: 'utf8', cwd: '/' },
  );
}

describe.skipIf(skip !== undefined)('deploy/postgres/init-corridor.sh', { timeout: 120_000 }, () => {
  const suffix = randomBytes(5).toString('hex');
  const role = `corridor_t_${suffix}_app`;
  const db = `corridor_t_${suffix}`;
  const password = randomBytes(24).toString('hex');
  let url = '';

  beforeAll(() => {
    // The script on stdin (`sh -s`): the postgres user need not read this checkout.
    const r = superuser(['sh', '-s'], SCRIPT, {
      CORRIDOR_DB_USER: role,
      CORRIDOR_DB_NAME: db,
      CORRIDOR_DB_PASSWORD: password,
    });
    expect(r.status, r.stderr).toBe(0);
    const u = new URL(process.env.DATABASE_URL_TEST!);
    u.username = role;
    u.password = password;
    u.pathname = `/${db}`;
    url = u.toString();
  });

  afterAll(() => {
    superuser(['psql', '-q', '-c', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`]);
    superuser(['psql', '-q', '-c', `DROP ROLE IF EXISTS ${role}`]);
  });

  it('creates a login role with no server-wide privileges, owning its database', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<Record<string, unknown>>(
        `SELECT r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, pg_get_userbyid(d.datdba) AS owner
           FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()`,
      );
      expect(rows[0]).toEqual({
        rolsuper: false,
        rolcreatedb: false,
        rolcreaterole: false,
        rolreplication: false,
        owner: role,
      });
      await expect(client.query('CREATE DATABASE corridor_t_must_fail')).rejects.toThrow(/permission denied/);
    } finally {
      await client.end();
    }
  });

  it('is enough for the controller’s migrations, the dashboard’s pg_trgm index included', async () => {
    requireGeneratedClient();
    const r = spawnSync(process.execPath, [...tsxArgs('apps/controller/src/cli.ts'), 'migrate'], {
      // Not the checkout: the controller reads `.env` from its working directory.
      cwd: os.tmpdir(),
      env: { PATH: process.env.PATH, NODE_ENV: 'development', DATABASE_URL: url, LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 90_000,
    });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/migrations applied: /);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query(
        "SELECT indexname FROM pg_indexes WHERE indexname = 'users_email_trgm_idx'",
      );
      expect(rows).toHaveLength(1);
    } finally {
      await client.end();
    }
  });

  it('refuses to run without a password for the role', () => {
    const r = superuser(['sh', '-s'], SCRIPT, { CORRIDOR_DB_USER: `${role}_x`, CORRIDOR_DB_NAME: `${db}_x` });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/CORRIDOR_DB_PASSWORD/);
  });
});
