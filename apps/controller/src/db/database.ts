/**
 * Database handles: one pg Pool shared by Prisma (through @prisma/adapter-pg) and the few hot-path
 * raw queries (ticket issuance), so both count against one connection budget.
 *
 * `embedded` (PGlite, see embedded.ts): one connection that is never closed for idleness, every new
 * connection resets the shared session first, and `namedStatements` is false so no prepared
 * statement outlives the connection that made it.
 *
 * Nothing waits for the database forever: a request that gets no pool connection within
 * `poolTimeoutMs` (Prisma transactions: that long to start) fails, and on a PostgreSQL server no
 * statement runs, and no transaction sits idle, longer than `statementTimeoutMs` — so a blocked
 * statement cannot hold its connection, and the requests queued behind it, indefinitely. The
 * error handler answers these failures 503 with Retry-After (errors.ts `isDatabaseUnavailable`).
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
  /** Longest wait for a pool connection (and for a Prisma transaction to start). */
  poolTimeoutMs?: number;
  /** PostgreSQL server only: statement_timeout and idle_in_transaction_session_timeout. */
  statementTimeoutMs?: number;
}

export const DEFAULT_POOL_TIMEOUT_MS = 10_000;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 60_000;
/** Longest a Prisma interactive transaction may run (Prisma's default, 5 s, is tight on a busy machine). */
const TRANSACTION_TIMEOUT_MS = 10_000;

export function openDatabase(url: string, opts: OpenOptions): Database {
  const embedded = opts.embedded === true;
  const poolTimeoutMs = opts.poolTimeoutMs ?? DEFAULT_POOL_TIMEOUT_MS;
  const statementTimeoutMs = opts.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  const pool = new pg.Pool({
    connectionString: url,
    max: embedded ? 1 : opts.poolSize,
    // Embedded: closing an idle connection buys nothing (no server process behind it).
    idleTimeoutMillis: embedded ? 0 : 30_000,
    connectionTimeoutMillis: poolTimeoutMs,
    // Session settings sent at connection start. Not to PGlite: one session, no lock waits between
    // connections, and its socket server does not take startup options.
    ...(embedded
      ? {}
      : { statement_timeout: statementTimeoutMs, idle_in_transaction_session_timeout: statementTimeoutMs }),
  });
  // An idle client losing its server connection must not crash the process.
  pool.on('error', () => {});
  if (embedded) {
    // Queued before any query of the new connection (a client runs its queries in order). A failure
    // surfaces on that first query; the handler only keeps the rejection from going unhandled.
    pool.on('connect', (client) => void client.query(RESET_SESSION_SQL).catch(() => {}));
  }
  const prisma = new PrismaClient({
    adapter: new PrismaPg(pool),
    transactionOptions: { maxWait: poolTimeoutMs, timeout: TRANSACTION_TIMEOUT_MS },
  });
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
