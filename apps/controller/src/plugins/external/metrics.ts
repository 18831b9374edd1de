/**
 * Prometheus metrics at /metrics: per-route request counts and latency, plus domain counters.
 * Each app instance owns its own registry (tests run several instances in one process).
 */
import fp from 'fastify-plugin';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly ticketsIssued: Counter<'node'>;
  readonly revocationsReceived: Counter<'kind'>;
  readonly loginAttempts: Counter<'result'>;
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
    };
    app.decorate('metrics', metrics);

    app.addHook('onResponse', async (request, reply) => {
      // routeOptions.url is the route pattern (`/v1/nodes/:id/tickets`), never the raw URL, so label
      // cardinality stays bounded; unknown routes share one label.
      const route = request.routeOptions.url ?? 'unmatched';
      requests.inc({ method: request.method, route, status: reply.statusCode });
      duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });

    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      return reply.type(registry.contentType).send(await registry.metrics());
    });
  },
  { name: 'metrics' },
);
