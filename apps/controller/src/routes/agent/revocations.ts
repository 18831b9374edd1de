/**
 * GET /v1/agent/revocations?since=<cursor>&wait=<s>: revoked tickets, devices and users (delta or
 * snapshot), optionally as a long poll (services/revocation-poll.ts).
 */
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
        operationId: 'listRevocations',
        summary: 'Revoked tickets, devices and users since a cursor (optionally a long poll)',
        description:
          'Without `since`: a full snapshot (`reset: true`). With `since`: the revocations recorded after it, or a ' +
          'snapshot when the cursor belongs to an older feed generation. With `since` and `wait`: held until a ' +
          'revocation newer than the cursor is recorded on any replica, or until `wait` seconds have passed (then an ' +
          'empty delta with the same cursor). 503 with Retry-After when this replica holds too many long polls, ' +
          '429 when this node holds too many.',
        security: NodeSecurity,
        querystring: RevocationListQuerySchema,
        response: { 200: RevocationListSchema, ...errors(400, 401, 429, 503) },
      },
    },
    async (request, reply) => {
      const { since, wait } = request.query;
      const gone = new AbortController();
      // The response closing before it was sent means the client went away: free the waiter.
      const onClose = () => {
        if (!reply.raw.writableFinished) gone.abort();
      };
      reply.raw.once('close', onClose);
      try {
        return await app.revocationPoll.poll(request.principal!.id, since, wait, gone.signal);
      } finally {
        reply.raw.off('close', onClose);
      }
    },
  );
};

export default routes;
