/**
 * One process per embedded data dir. PGlite has no lock of its own: a second process on the same
 * data dir (`create-admin` or `migrate` while `serve` runs, or a second `serve`) used to open a
 * second PGlite on the same files, remove the running server's socket, and lose its writes (the
 * admin `create-admin` reported as created was gone after the next restart).
 */
import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.js';
import { tempDir } from '../helpers.js';

describe('embedded database: one process per data dir', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  it('refuses a second instance on a data dir in use, leaving the first one untouched', async () => {
    const tmp = await tempDir();
    cleanups.push(() => tmp.remove());
    const first = await startEmbeddedPostgres(tmp.dir);
    cleanups.push(() => first.stop());
    const socket = path.join(first.socketDir, '.s.PGSQL.5432');
    await expect(startEmbeddedPostgres(tmp.dir)).rejects.toThrow(
      new RegExp(`in use by process ${process.pid}[\\s\\S]*stop it`),
    );
    expect((await stat(socket)).isSocket(), 'the running instance keeps its socket').toBe(true);
    await first.stop();
    // Free again once the first one stopped.
    const again = await startEmbeddedPostgres(tmp.dir);
    await again.stop();
  }, 60_000);

  it('takes over a lock left by a process that is gone', async () => {
    const tmp = await tempDir();
    cleanups.push(() => tmp.remove());
    const first = await startEmbeddedPostgres(tmp.dir);
    await first.stop();
    // A crashed run: its lock file names a process that no longer exists.
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.once('exit', r));
    const lockFile = path.join(tmp.dir, 'pgdata.lock');
    await writeFile(lockFile, JSON.stringify({ pid: dead.pid, start: '1' }));
    let db: EmbeddedPostgres | undefined;
    try {
      db = await startEmbeddedPostgres(tmp.dir);
      expect(JSON.parse(await readFile(lockFile, 'utf8')).pid).toBe(process.pid);
    } finally {
      await db?.stop();
    }
  }, 60_000);
});
