/**
 * PostgreSQL: the configured server, or (no DATABASE_URL) embedded PGlite in the data dir.
 * Migrations run at boot in both cases (idempotent, advisory-locked across replicas).
 */
import fp from 'fastify-plugin';
import { openDatabase, type Database } from '../../db/database.js';
import { startEmbeddedPostgres } from '../../db/embedded.js';
import { migrate } from '../../db/migrate.js';

/** How long closing waits for running handlers before pulling resources from under them. */
export const DRAIN_TIMEOUT_MS = 10_000;

declare module 'fastify' {
  interface FastifyInstance {
    db: Database;
  }
}

export default fp(
  async (app) => {
    let url = app.config.databaseUrl;
    const embeddedMode = url === undefined;
    if (url === undefined) {
      const embedded = await startEmbeddedPostgres(app.config.dataDir);
      app.log.warn(
        { dataDir: app.config.dataDir },
        'DATABASE_URL is not set: using embedded PostgreSQL (PGlite) in the data dir. Single instance only; set DATABASE_URL for production.',
      );
      url = embedded.url;
      app.addHook('onClose', async () => {
        await app.drain(DRAIN_TIMEOUT_MS);
        await embedded.stop();
      });
    }
    const result = await migrate(url);
    if (result.applied.length > 0) app.log.info({ applied: result.applied }, 'database migrations applied');
    const db = openDatabase(url, {
      poolSize: app.config.databasePoolSize,
      embedded: embeddedMode,
      poolTimeoutMs: app.config.databasePoolTimeoutS * 1000,
      statementTimeoutMs: app.config.databaseStatementTimeoutS * 1000,
    });
    app.decorate('db', db);
    // Registered after the embedded server's hook, so it runs first (onClose hooks run in reverse).
    app.addHook('onClose', async () => {
      await app.drain(DRAIN_TIMEOUT_MS);
      await db.close();
    });
  },
  { name: 'database', dependencies: ['config', 'drain'] },
);
