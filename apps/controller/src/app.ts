/**
 * The controller as a Fastify plugin (`corridorApp`) plus `build(config)`, which creates the HTTPS
 * instance and registers it. Tests call `build()` and use `app.inject()` or `app.listen()`;
 * server.ts only listens and shuts down.
 *
 * Load order: config → error handlers → external plugins (metrics, jwt, swagger) → app plugins
 * (database, store, services, auth guards) → routes.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from './config.js';
import type { Server } from './routes/types.js';
import { clientErrorHandler, frameworkErrorHandler, registerErrorHandlers } from './errors.js';
import { createValidatorCompiler } from './lib/validation.js';
import { loadTls, type TlsMaterial } from './lib/tls.js';
import metrics from './plugins/external/metrics.js';
import jwt from './plugins/external/jwt.js';
import swagger from './plugins/external/swagger.js';
import drain from './plugins/app/drain.js';
import database from './plugins/app/database.js';
import store from './plugins/app/store.js';
import services from './plugins/app/services.js';
import authGuards from './plugins/app/auth-guards.js';
import { ensureBootstrapAdmin } from './bootstrap.js';
import health from './routes/health.js';
import authRoutes from './routes/api/auth.js';
import deviceRoutes from './routes/api/devices.js';
import nodeRoutes from './routes/api/nodes.js';
import ticketRoutes from './routes/api/tickets.js';
import enrollRoutes from './routes/agent/enroll.js';
import heartbeatRoutes from './routes/agent/heartbeat.js';
import signingKeyRoutes from './routes/agent/signing-keys.js';
import revocationRoutes from './routes/agent/revocations.js';
import authorizeRoutes from './routes/agent/authorize.js';
import adminUsers from './routes/admin/users.js';
import adminNodes from './routes/admin/nodes.js';
import adminActivity from './routes/admin/activity.js';
import adminRevocations from './routes/admin/revocations.js';
import dashboard from './dashboard/index.js';
import dashboardAdminRoutes from './dashboard/admin-routes.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    tls: TlsMaterial;
  }
}

export interface AppOptions {
  config: Config;
}

/** Everything the controller serves, as one plugin on the root context. */
export const corridorApp = fp<AppOptions, Server>(
  async (app, opts) => {
    await app.register(
      fp(
        async (inner) => {
          inner.decorate('config', opts.config);
        },
        { name: 'config' },
      ),
    );
    registerErrorHandlers(app as unknown as FastifyInstance);
    // One validation layer for every route (lib/validation.ts): no coercion of JSON bodies, finite
    // numbers, no NUL or unpaired surrogates, instants PostgreSQL can store.
    app.setValidatorCompiler(createValidatorCompiler());
    await app.register(metrics);
    await app.register(jwt);
    await app.register(swagger);
    await app.register(drain);
    await app.register(database);
    await app.register(store);
    await app.register(services);
    await app.register(authGuards);
    await ensureBootstrapAdmin(app as unknown as FastifyInstance);

    await app.register(health);
    // Before /v1: its cookie bridge must run ahead of the admin scope's guard.
    await app.register(dashboard);
    await app.register(
      async (v1) => {
        await v1.register(authRoutes, { prefix: '/auth' });
        await v1.register(deviceRoutes, { prefix: '/devices' });
        await v1.register(nodeRoutes, { prefix: '/nodes' });
        await v1.register(ticketRoutes, { prefix: '/nodes' });
        await v1.register(
          async (agent) => {
            await agent.register(enrollRoutes);
            await agent.register(heartbeatRoutes);
            await agent.register(signingKeyRoutes);
            await agent.register(revocationRoutes);
            await agent.register(authorizeRoutes);
          },
          { prefix: '/agent' },
        );
        await v1.register(
          async (admin) => {
            admin.addHook('onRequest', admin.requireAdmin);
            await admin.register(adminUsers);
            await admin.register(adminNodes);
            await admin.register(adminActivity);
            await admin.register(adminRevocations);
            await admin.register(dashboardAdminRoutes);
          },
          { prefix: '/admin' },
        );
      },
      { prefix: '/v1' },
    );
  },
  { name: 'corridor' },
);

export interface BuildOptions {
  /** Log destination (tests capture logs here); default stdout. */
  logStream?: { write(line: string): void };
}

/** Paths never written to logs. */
export const LOG_REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.password',
  '*.refreshToken',
  '*.accessToken',
  '*.enrollmentToken',
  '*.nodeCredential',
  '*.privateKey',
  'password',
  'refreshToken',
  'accessToken',
];

/** Creates the HTTPS Fastify instance (not listening) with the controller registered and ready. */
export async function build(config: Config, options: BuildOptions = {}) {
  const tls = await loadTls(config);
  // A hop count as the equivalent function (Fastify's types omit the numeric form).
  const hops = config.trustProxy;
  const trustProxy = typeof hops === 'number' ? (_address: string, hop: number) => hop < hops : hops;
  const requestTimeoutMs = config.requestTimeoutS * 1000;
  const app = Fastify({
    https: {
      cert: tls.cert,
      key: tls.key,
      minVersion: 'TLSv1.2',
      // Node checks request deadlines on this interval: keep it well below the timeout.
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(requestTimeoutMs / 4))),
      headersTimeout: Math.min(60_000, requestTimeoutMs),
    },
    // A client must deliver its whole request within REQUEST_TIMEOUT_S (408 + close otherwise) and
    // a connection idle for CONNECTION_TIMEOUT_S is closed (longer than any revocation long poll).
    requestTimeout: requestTimeoutMs,
    connectionTimeout: config.connectionTimeoutS * 1000,
    clientErrorHandler,
    frameworkErrors: frameworkErrorHandler,
    logger: {
      level: config.logLevel,
      redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' },
      ...(options.logStream ? { stream: options.logStream } : {}),
    },
    bodyLimit: config.bodyLimitBytes,
    // Creating the embedded database or running migrations can take longer than Fastify's 10 s
    // default on a busy machine; a plugin that truly hangs still fails boot.
    pluginTimeout: 120_000,
    trustProxy,
    return503OnClosing: true,
    // On close: idle keep-alive connections are closed, in-flight requests finish (see drain.ts).
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.decorate('tls', tls);
  await app.register(corridorApp, { config });
  await app.ready();
  return app;
}

export type App = Awaited<ReturnType<typeof build>>;
