/**
 * Embedded PostgreSQL for single-instance/dev runs: PGlite (Postgres compiled to WASM) with its
 * data in `dataDir/pgdata`, served over the pg wire protocol so the same `pg` and Prisma code paths
 * run as against a real server.
 *
 * Reachable only by this user: the wire protocol is served on a Unix socket inside a directory of
 * mode 0700 (`dataDir/run`, or a private temporary directory when that path is too long for a
 * socket), never on TCP. PGlite has no authentication, so a TCP port would let any local user
 * read password hashes or write refresh tokens.
 *
 * PGlite is one backend session shared by every connection: session state (prepared statements,
 * an open transaction) outlives the connection that created it. Callers therefore use one pool
 * connection, no named prepared statements (see database.ts `embedded`), and reset the session
 * when a connection opens (`RESET_SESSION_SQL`).
 *
 * One process per data dir: PGlite takes no lock of its own, and two instances on the same files
 * each keep their own state (the later writer silently wins, the other's writes are lost) while the
 * second would also remove the first one's socket. `dataDir/pgdata.lock` records the holder (pid
 * and process start time, so a reused pid is not mistaken for it); a lock whose holder is gone is
 * taken over. Released by `stop()`.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, mkdtemp, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  /** `postgresql://…@/postgres?host=<socket dir>`: a Unix-socket URL, no TCP host. */
  readonly url: string;
  readonly socketDir: string;
  /** Stops the socket server and closes PGlite (flushes data to disk). */
  stop(): Promise<void>;
}

/** The file name libpq and node-postgres look for in a socket directory (port 5432). */
const SOCKET_NAME = '.s.PGSQL.5432';
/** sun_path holds 108 bytes on Linux, 104 on BSDs; stay below both. */
const MAX_SOCKET_PATH = 100;

/**
 * Sent by each new pool connection before anything else: drops prepared statements and any
 * transaction a dead connection left in the shared session (ROLLBACK outside a transaction only
 * warns).
 */
export const RESET_SESSION_SQL = 'ROLLBACK; DEALLOCATE ALL';

async function privateSocketDir(dataDir: string): Promise<{ dir: string; temporary: boolean }> {
  const dir = path.join(dataDir, 'run');
  if (Buffer.byteLength(path.join(dir, SOCKET_NAME)) <= MAX_SOCKET_PATH) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode does not apply to a directory that exists (or is narrowed by the umask only).
    await chmod(dir, 0o700);
    return { dir, temporary: false };
  }
  return { dir: await mkdtemp(path.join(os.tmpdir(), 'corridor-pg-')), temporary: true };
}

/** Another process holds the embedded database of this data dir. */
export class EmbeddedDatabaseInUseError extends Error {
  override name = 'EmbeddedDatabaseInUseError';
  readonly code = 'CORRIDOR_ERR_EMBEDDED_DB_IN_USE';
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `the embedded database in ${dataDir} is in use by process ${pid} (a running controller, or ` +
        `create-admin/migrate); stop it first, or set DATABASE_URL to use a PostgreSQL server`,
    );
  }
}

/** Start time of a process (Linux /proc, in clock ticks since boot), or undefined when unknown. */
async function processStart(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, starttime field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote a lock (pid, start time) is still that process and alive. */
async function holderAlive(pid: number, start: unknown): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const now = await processStart(pid);
  return now === undefined || typeof start !== 'string' || now === start;
}

/**
 * Takes `dataDir/pgdata.lock` for this process; returns its release. The file is written whole
 * before it appears (link of a complete temporary file), so nobody reads a half-written lock.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = path.join(dataDir, 'pgdata.lock');
  const mine = JSON.stringify({ pid: process.pid, start: (await processStart(process.pid)) ?? null });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, mine, { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(tmp, file);
        return async () => {
          // Only our own lock: never one a later holder wrote.
          if ((await readFile(file, 'utf8').catch(() => '')) === mine) await unlink(file).catch(() => {});
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const seen = await readFile(file, 'utf8').catch(() => '');
      let holder: { pid?: unknown; start?: unknown } = {};
      try {
        holder = JSON.parse(seen) as typeof holder;
      } catch {
        // Not ours to judge (no pid): treat like a lock of a process that is gone.
      }
      if (typeof holder.pid === 'number' && Number.isSafeInteger(holder.pid) && holder.pid > 0) {
        if (await holderAlive(holder.pid, holder.start))
          throw new EmbeddedDatabaseInUseError(dataDir, holder.pid);
      }
      // Stale: move it aside and check it is still the lock we judged (another process may have
      // replaced it in the meantime; then put that one back and give way).
      const aside = `${file}.stale.${randomBytes(4).toString('hex')}`;
      try {
        await rename(file, aside);
      } catch {
        continue;
      }
      const moved = await readFile(aside, 'utf8').catch(() => '');
      if (moved !== seen) {
        await link(aside, file).catch(() => {});
        await unlink(aside).catch(() => {});
        let pid = 0;
        try {
          pid = Number((JSON.parse(moved) as { pid?: unknown }).pid) || 0;
        } catch {
          // unreadable: still someone else's
        }
        throw new EmbeddedDatabaseInUseError(dataDir, pid);
      }
      await unlink(aside).catch(() => {});
    }
    throw new Error(`could not take the lock ${file}; remove it if no controller runs on ${dataDir}`);
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const dbDir = path.join(dataDir, 'pgdata');
  await mkdir(dbDir, { recursive: true, mode: 0o700 });
  const unlock = await lockDataDir(dataDir);
  try {
    return await startLocked(dataDir, dbDir, unlock);
  } catch (e) {
    await unlock();
    throw e;
  }
}

async function startLocked(
  dataDir: string,
  dbDir: string,
  unlock: () => Promise<void>,
): Promise<EmbeddedPostgres> {
  const { dir, temporary } = await privateSocketDir(dataDir);
  const socketPath = path.join(dir, SOCKET_NAME);
  // A socket file left by a crashed run would make listen() fail with EADDRINUSE (the lock says
  // no other process serves this data dir, so it is not a live one).
  await unlink(socketPath).catch(() => {});
  const db = await PGlite.create(dbDir);
  // Slots: the pool's single connection, the migration runner's connection at boot, and room for
  // a replacement connection to open while a dropped one is still being torn down.
  const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: 4 });
  try {
    await server.start();
    await chmod(socketPath, 0o600);
  } catch (e) {
    await server.stop().catch(() => {});
    await db.close().catch(() => {});
    throw e;
  }
  const url = `postgresql://postgres:postgres@/postgres?host=${encodeURIComponent(dir)}`;
  return {
    url,
    socketDir: dir,
    async stop() {
      try {
        await server.stop();
        await db.close();
        await unlink(socketPath).catch(() => {});
        if (temporary) await rm(dir, { recursive: true, force: true });
      } finally {
        await unlock();
      }
    },
  };
}
