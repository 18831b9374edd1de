/** GET /v1/agent/revocations?since=<cursor>: revoked tickets, devices and users (delta or snapshot). */
import { RevocationListQuerySchema, RevocationListSchema } from '@corridor/protocol/control';
import type { RoutePlugin } from '../types.js';
import { errors, NodeSecurity } from '../../schemas/common.js';

const routes: RoutePlugin = async (app) => {
  app.get(
    '/revocations',
    {
      onRequest: app.requireNode,
      schema: {
        tags: ['agent'],
        security: NodeSecurity,
        querystring: RevocationListQuerySchema,
        response: { 200: RevocationListSchema, ...errors(400, 401) },
      },
    },
    async (request) => app.repos.revocations.feed(request.query.since),
  );
};

export default routes;
