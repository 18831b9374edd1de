/**
 * Embedded PostgreSQL for single-instance/dev runs: PGlite (Postgres compiled to WASM) with its
 * data in `dataDir/pgdata`, served over the pg wire protocol on a loopback port so the same `pg`
 * and Prisma code paths run as against a real server.
 *
 * PGlite executes one query at a time; the socket server interleaves connections at query
 * granularity. We keep the client pool at one connection so a transaction can never be interleaved
 * with another connection's statements.
 */
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  readonly url: string;
  /** Stops the socket server and closes PGlite (flushes data to disk). */
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const dir = path.join(dataDir, 'pgdata');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const db = await PGlite.create(dir);
  // Two slots: the pool's single connection plus the migration runner's own connection at boot.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 4 });
  await server.start();
  const url = `postgresql://postgres:postgres@${server.getServerConn()}/postgres?sslmode=disable`;
  return {
    url,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
