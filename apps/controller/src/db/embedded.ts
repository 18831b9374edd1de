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
 */
import { chmod, mkdir, mkdtemp, rm, unlink } from 'node:fs/promises';
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

export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const dbDir = path.join(dataDir, 'pgdata');
  await mkdir(dbDir, { recursive: true, mode: 0o700 });
  const { dir, temporary } = await privateSocketDir(dataDir);
  const socketPath = path.join(dir, SOCKET_NAME);
  // A socket file left by a crashed run would make listen() fail with EADDRINUSE.
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
      await server.stop();
      await db.close();
      await unlink(socketPath).catch(() => {});
      if (temporary) await rm(dir, { recursive: true, force: true });
    },
  };
}
