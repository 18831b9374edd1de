/** Liveness (process up) and readiness (database and shared store reachable). */
import { Type } from 'typebox';
import type { RoutePlugin } from './types.js';
import { errorBody, ERROR_CODES } from '../errors.js';
import { ErrorBodySchema } from '@corridor/protocol/control';
import { errors, PublicSecurity } from '../schemas/common.js';

const Health = Type.Object({ status: Type.Literal('ok') });
const Ready = Type.Object({
  status: Type.Literal('ready'),
  database: Type.Boolean(),
  store: Type.Boolean(),
  storeKind: Type.String(),
});

const routes: RoutePlugin = async (app) => {
  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'getHealth',
        summary: 'Liveness: the process is up',
        tags: ['health'],
        security: PublicSecurity,
        response: { 200: Health, ...errors(400) },
      },
    },
    async () => ({
      status: 'ok' as const,
    }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'getReadiness',
        security: PublicSecurity,
        summary: 'Readiness: database and shared store reachable',
        tags: ['health'],
        response: { 200: Ready, 400: ErrorBodySchema, 503: ErrorBodySchema },
      },
    },
    async (_request, reply) => {
      const [database, store] = await Promise.all([app.db.ping(), app.store.ping()]);
      if (!database || !store) {
        const down = [database ? null : 'database', store ? null : 'store'].filter(Boolean).join(' and ');
        return reply.code(503).send(errorBody(503, ERROR_CODES.SERVICE_UNAVAILABLE, `${down} unreachable`));
      }
      return { status: 'ready' as const, database, store, storeKind: app.store.kind };
    },
  );
};

export default routes;
