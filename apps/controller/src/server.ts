/**
 * Listens and shuts down gracefully: on SIGTERM/SIGINT the server stops accepting connections,
 * finishes in-flight requests (503 to new ones while closing), then closes the database, store
 * and embedded PostgreSQL through the app's onClose hooks.
 */
import type { Config } from './config.js';
import { build, type App } from './app.js';
import { opensslFingerprintLine } from './lib/tls.js';

export async function startServer(config: Config): Promise<App> {
  const app = await build(config);

  // Installed before listening, so a signal that arrives right after startup is graceful too.
  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    app.close().then(
      () => process.exit(0),
      (e: unknown) => {
        app.log.error({ err: e }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);

  await app.listen({ host: config.host, port: config.port });
  if (app.tls.selfSigned) {
    // Printed (not only logged) so operators can hand it to clients for pinning.
    process.stderr.write(
      `corridor-controller: self-signed TLS certificate ${app.tls.certFile}\n  ${opensslFingerprintLine(app.tls.fingerprint256)}\n`,
    );
  }
  app.log.info({ fingerprint256: app.tls.fingerprint256, storeKind: app.store.kind }, 'controller listening');
  return app;
}
