import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile, cp } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, MIGRATIONS_DIR, MigrationError } from '../../src/db/migrate.js';
import { createTestDatabase, hasServices, tempDir, warnSkip, type TestDatabase } from '../helpers.js';

warnSkip();

describe.skipIf(!hasServices)('migration runner (PostgreSQL)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  it('migrates an empty database, records rows in Prisma’s format, and is idempotent', async () => {
    const names = (await readdir(MIGRATIONS_DIR, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect(names.length).toBeGreaterThan(0);
    // Two runners at once (two replicas starting): the advisory lock serializes them.
    const [r1, r2] = await Promise.all([migrate(db.url), migrate(db.url)]);
    expect([...r1.applied, ...r2.applied].sort()).toEqual(names);
    expect([...r1.skipped, ...r2.skipped].sort()).toEqual(names);
    const again = await migrate(db.url);
    expect(again).toEqual({ applied: [], skipped: names });

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const cols = await client.query<{ column_name: string; data_type: string }>(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position",
      );
      expect(cols.rows.map((c) => c.column_name)).toEqual([
        'id',
        'checksum',
        'finished_at',
        'migration_name',
        'logs',
        'rolled_back_at',
        'started_at',
        'applied_steps_count',
      ]);
      const rows = await client.query('SELECT * FROM "_prisma_migrations" ORDER BY migration_name');
      expect(rows.rows).toHaveLength(names.length);
      for (const [i, row] of rows.rows.entries()) {
        const sql = await readFile(path.join(MIGRATIONS_DIR, names[i]!, 'migration.sql'));
        expect(row).toMatchObject({
          migration_name: names[i],
          checksum: createHash('sha256').update(sql).digest('hex'),
          applied_steps_count: 1,
          rolled_back_at: null,
          logs: null,
        });
        expect(row.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(row.finished_at).toBeInstanceOf(Date);
      }
      const tables = await client.query<{ tablename: string }>(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
      );
      expect(tables.rows.map((t) => t.tablename)).toEqual(
        expect.arrayContaining([
          'users',
          'devices',
          'refresh_tokens',
          'nodes',
          'node_enrollment_tokens',
          'node_credentials',
          'signing_keys',
          'tickets',
          'revocations',
          'sessions',
          'usage',
          'audit_events',
        ]),
      );
    } finally {
      await client.end();
    }
  });

  it('applies new migrations, refuses edited ones and rolls back a failing one', async () => {
    const tmp = await tempDir();
    try {
      const dir = path.join(tmp.dir, 'migrations');
      await cp(MIGRATIONS_DIR, dir, { recursive: true });
      await mkdir(path.join(dir, '29990101000000_add_note'));
      await writeFile(
        path.join(dir, '29990101000000_add_note', 'migration.sql'),
        'ALTER TABLE "users" ADD COLUMN "note" TEXT;\n',
      );
      expect((await migrate(db.url, dir)).applied).toEqual(['29990101000000_add_note']);

      await writeFile(
        path.join(dir, '29990101000000_add_note', 'migration.sql'),
        'ALTER TABLE "users" ADD COLUMN "note2" TEXT;\n',
      );
      await expect(migrate(db.url, dir)).rejects.toThrow(/modified after it was applied/);

      await writeFile(
        path.join(dir, '29990101000000_add_note', 'migration.sql'),
        'ALTER TABLE "users" ADD COLUMN "note" TEXT;\n',
      );
      await mkdir(path.join(dir, '29990102000000_broken'));
      await writeFile(
        path.join(dir, '29990102000000_broken', 'migration.sql'),
        'CREATE TABLE "half" (id int);\nSELECT no_such_function();\n',
      );
      await expect(migrate(db.url, dir)).rejects.toBeInstanceOf(MigrationError);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const half = await client.query("SELECT to_regclass('public.half') AS t");
      const row = await client.query(
        `SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE migration_name = '29990102000000_broken'`,
      );
      await client.end();
      expect(half.rows[0].t).toBeNull();
      expect(row.rows[0].n).toBe(0);
    } finally {
      await tmp.remove();
    }
  });

  it('refuses to run when the database has a migration this build does not know', async () => {
    const tmp = await tempDir();
    try {
      // The database above has 29990101000000_add_note applied; this build's folder lacks it (an
      // older controller against a newer schema, or a deleted migration).
      const dir = path.join(tmp.dir, 'migrations');
      await cp(MIGRATIONS_DIR, dir, { recursive: true });
      await expect(migrate(db.url, dir)).rejects.toThrow(
        /29990101000000_add_note is applied to the database but missing/,
      );
    } finally {
      await tmp.remove();
    }
  });
});
