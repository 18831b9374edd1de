/**
 * Database handles: one pg Pool shared by Prisma (through @prisma/adapter-pg) and the few hot-path
 * raw queries (ticket issuance), so both count against one connection budget.
 *
 * `embedded` (PGlite, see embedded.ts): one connection that is never closed for idleness, every new
 * connection resets the shared session first, and `namedStatements` is false so no prepared
 * statement outlives the connection that made it.
 */
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';
import { RESET_SESSION_SQL } from './embedded.js';

export interface Database {
  readonly pool: pg.Pool;
  readonly prisma: PrismaClient;
  /** Whether hot-path queries may use named (server-side) prepared statements. */
  readonly namedStatements: boolean;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface OpenOptions {
  poolSize: number;
  embedded?: boolean;
}

export function openDatabase(url: string, opts: OpenOptions): Database {
  const embedded = opts.embedded === true;
  const pool = new pg.Pool({
    connectionString: url,
    max: embedded ? 1 : opts.poolSize,
    // Embedded: closing an idle connection buys nothing (no server process behind it).
    idleTimeoutMillis: embedded ? 0 : 30_000,
  });
  // An idle client losing its server connection must not crash the process.
  pool.on('error', () => {});
  if (embedded) {
    // Queued before any query of the new connection (a client runs its queries in order). A failure
    // surfaces on that first query; the handler only keeps the rejection from going unhandled.
    pool.on('connect', (client) => void client.query(RESET_SESSION_SQL).catch(() => {}));
  }
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    pool,
    prisma,
    namedStatements: !embedded,
    async ping() {
      try {
        await pool.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await prisma.$disconnect().catch(() => {});
      await pool.end().catch(() => {});
    },
  };
}
