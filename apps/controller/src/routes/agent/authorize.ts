/** POST /v1/agent/authorize: online authorisation of a new session (node credential). */
import { AuthorizeRequestSchema, AuthorizeResponseSchema } from '@corridor/protocol/control';
import type { RoutePlugin } from '../types.js';
import { errors, NodeSecurity } from '../../schemas/common.js';
import { decideAuthorization } from '../../services/authorization.js';

const routes: RoutePlugin = async (app) => {
  app.post(
    '/authorize',
    {
      onRequest: app.requireNode,
      schema: {
        tags: ['agent'],
        operationId: 'authorizeSession',
        summary: 'Ask whether a new session may start (online authorisation)',
        description:
          'The node presents the ticket id, user, device and the client key from the handshake; the answer says ' +
          'whether to admit the session, why not, and how long the node may reuse the answer.',
        security: NodeSecurity,
        body: AuthorizeRequestSchema,
        response: { 200: AuthorizeResponseSchema, ...errors(400, 401, 413) },
      },
    },
    async (request) => {
      const status = await app.repos.tickets.status(request.body.ticketId);
      const res = decideAuthorization(
        status,
        request.body,
        request.principal!.id,
        app.config.authorizeCacheS,
        Date.now(),
      );
      app.metrics.authorizations.inc({ reason: res.reason });
      return res;
    },
  );
};

export default routes;
