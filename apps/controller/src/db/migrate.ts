/**
 * Migration runner compatible with `prisma migrate deploy`: applies prisma/migrations/<name>/
 * migration.sql in name order and records each in `_prisma_migrations` exactly as Prisma does
 * (id uuid, checksum = sha256 hex of the file, migration_name, started/finished_at,
 * applied_steps_count = 1). Prisma 6.19's own schema engine cannot run here (offline, JS engine).
 *
 * Contract: idempotent (applied migrations are skipped, a changed checksum is an error, and so is
 * an applied migration missing on disk: this build would run against a schema it does not know); each
 * migration runs in its own transaction together with its bookkeeping row; a session-level
 * advisory lock serializes concurrent runners (two replicas starting at once).
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** prisma/migrations relative to this file, for both src/ (tsx, vitest) and dist/ (node). */
export const MIGRATIONS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../prisma/migrations',
);

/** Arbitrary constant shared by all replicas ("corridor" in ASCII, truncated to int8). */
const MIGRATION_LOCK_ID = 0x636f7272696431n;

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export interface MigrationResult {
  readonly applied: string[];
  readonly skipped: string[];
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

async function listMigrations(dir: string): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const out: MigrationFile[] = [];
  for (const name of names) {
    const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8');
    out.push({ name, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return out;
}

export async function migrate(databaseUrl: string, dir: string = MIGRATIONS_DIR): Promise<MigrationResult> {
  const files = await listMigrations(dir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const applied: string[] = [];
  const skipped: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID.toString()]);
    try {
      await client.query(CREATE_TABLE);
      const { rows } = await client.query<{
        migration_name: string;
        checksum: string;
        finished_at: Date | null;
        rolled_back_at: Date | null;
      }>('SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations"');
      const done = new Map<string, { checksum: string; finished: boolean }>();
      for (const r of rows) {
        if (r.rolled_back_at !== null) continue;
        done.set(r.migration_name, { checksum: r.checksum, finished: r.finished_at !== null });
      }
      const known = new Set(files.map((f) => f.name));
      const unknown = [...done.keys()].filter((name) => !known.has(name)).sort();
      if (unknown.length > 0)
        throw new MigrationError(
          `migration ${unknown.join(', ')} is applied to the database but missing in ${dir}: ` +
            'this controller is older than the database schema (deploy the newer version) or a migration was deleted',
        );
      for (const f of files) {
        const prior = done.get(f.name);
        if (prior) {
          if (!prior.finished)
            throw new MigrationError(`migration ${f.name} failed earlier; resolve it before continuing`);
          if (prior.checksum !== f.checksum)
            throw new MigrationError(`migration ${f.name} was modified after it was applied`);
          skipped.push(f.name);
          continue;
        }
        const id = randomUUID();
        await client.query('BEGIN');
        try {
          await client.query(
            `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)`,
            [id, f.checksum, f.name],
          );
          await client.query(f.sql);
          await client.query(
            `UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`,
            [id],
          );
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK').catch(() => {});
          throw new MigrationError(`migration ${f.name} failed: ${(e as Error).message}`);
        }
        applied.push(f.name);
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID.toString()]).catch(() => {});
    }
  } finally {
    await client.end();
  }
  return { applied, skipped };
}
