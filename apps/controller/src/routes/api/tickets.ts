/** POST /v1/nodes/:id/tickets: a signed ticket for one of the user's devices (the hot path). */
import { NodeParamsSchema, TicketRequestSchema, TicketResponseSchema } from '@corridor/protocol/control';
import type { RoutePlugin } from '../types.js';
import { BearerSecurity, errors } from '../../schemas/common.js';

const routes: RoutePlugin = async (app) => {
  app.post(
    '/:id/tickets',
    {
      onRequest: app.requireUser,
      schema: {
        operationId: 'issueTicket',
        summary: 'Get a signed ticket for a node',
        tags: ['tickets'],
        security: BearerSecurity,
        params: NodeParamsSchema,
        body: TicketRequestSchema,
        response: { 200: TicketResponseSchema, ...errors(400, 401, 403, 404, 409, 413, 429, 503) },
      },
    },
    async (request) => {
      const res = await app.ticketIssuer.issue(request.user.sub, request.params.id, request.body.deviceId);
      app.metrics.ticketsIssued.inc({ node: request.params.id });
      return res;
    },
  );
};

export default routes;
