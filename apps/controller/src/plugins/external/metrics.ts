/**
 * Prometheus metrics at /metrics: per-route request counts and latency, plus domain counters.
 * Each app instance owns its own registry (tests run several instances in one process).
 * With METRICS_TOKEN set (required in production) scrapers must send `Authorization: Bearer
 * <token>`; the token is compared in constant time (SHA-256 of both sides, so lengths leak nothing).
 */
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { AppError, ERROR_CODES } from '../../errors.js';
import { digestsEqual, hashToken } from '../../lib/crypto.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly ticketsIssued: Counter<'node'>;
  readonly revocationsReceived: Counter<'kind'>;
  readonly loginAttempts: Counter<'result'>;
  /** Heartbeat session reports dropped (ticket unknown, of another node, or claims not matching). */
  readonly sessionReportsIgnored: Counter;
  /** Online authorisation answers by reason. */
  readonly authorizations: Counter<'reason'>;
  /** Revocation long polls currently held. */
  readonly revocationWaiters: Gauge;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

export default fp(
  async (app) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'corridor_controller_' });
    const requests = new Counter({
      name: 'corridor_http_requests_total',
      help: 'HTTP requests by method, route and status.',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    });
    const duration = new Histogram({
      name: 'corridor_http_request_duration_seconds',
      help: 'HTTP request latency by method and route.',
      labelNames: ['method', 'route'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    const metrics: Metrics = {
      registry,
      ticketsIssued: new Counter({
        name: 'corridor_tickets_issued_total',
        help: 'Node tickets issued.',
        labelNames: ['node'] as const,
        registers: [registry],
      }),
      revocationsReceived: new Counter({
        name: 'corridor_revocations_received_total',
        help: 'Revocation notifications received over pub/sub.',
        labelNames: ['kind'] as const,
        registers: [registry],
      }),
      loginAttempts: new Counter({
        name: 'corridor_login_attempts_total',
        help: 'Login attempts by result.',
        labelNames: ['result'] as const,
        registers: [registry],
      }),
      sessionReportsIgnored: new Counter({
        name: 'corridor_heartbeat_session_reports_ignored_total',
        help: 'Heartbeat session reports ignored: unknown ticket, ticket of another node, or user/device not matching it.',
        registers: [registry],
      }),
      authorizations: new Counter({
        name: 'corridor_agent_authorizations_total',
        help: 'Online authorisation answers by reason (ok or why not).',
        labelNames: ['reason'] as const,
        registers: [registry],
      }),
      revocationWaiters: new Gauge({
        name: 'corridor_revocation_waiters',
        help: 'Revocation long polls currently held by this replica.',
        registers: [registry],
      }),
    };
    app.decorate('metrics', metrics);

    app.addHook('onResponse', async (request, reply) => {
      // routeOptions.url is the route pattern (`/v1/nodes/:id/tickets`), never the raw URL, so label
      // cardinality stays bounded; unknown routes share one label.
      const route = request.routeOptions.url ?? 'unmatched';
      requests.inc({ method: request.method, route, status: reply.statusCode });
      duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });

    const token = app.config.metricsToken;
    const tokenHash = token === undefined ? undefined : hashToken(token);
    async function requireMetricsToken(request: FastifyRequest): Promise<void> {
      if (tokenHash === undefined) return;
      const header = request.headers.authorization ?? '';
      const presented = header.startsWith('Bearer ') ? header.slice(7) : '';
      if (!digestsEqual(tokenHash, hashToken(presented)))
        throw new AppError(ERROR_CODES.UNAUTHORIZED, 'metrics token required', {
          'www-authenticate': 'Bearer realm="metrics"',
        });
    }

    app.get(
      '/metrics',
      { schema: { hide: true }, onRequest: requireMetricsToken },
      async (_request, reply) => {
        return reply.type(registry.contentType).send(await registry.metrics());
      },
    );
  },
  { name: 'metrics', dependencies: ['config'] },
);
