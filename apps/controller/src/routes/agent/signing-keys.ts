/** GET /v1/agent/signing-keys: public keys nodes must accept now (current, overlap, next). */
import { SigningKeyListSchema } from '@corridor/protocol/control';
import type { RoutePlugin } from '../types.js';
import { errors, NodeSecurity } from '../../schemas/common.js';

const routes: RoutePlugin = async (app) => {
  app.get(
    '/signing-keys',
    {
      onRequest: app.requireNode,
      schema: {
        operationId: 'listSigningKeys',
        summary: 'Ticket-signing public keys nodes must accept',
        tags: ['agent'],
        security: NodeSecurity,
        response: { 200: SigningKeyListSchema, ...errors(401) },
      },
    },
    async () => app.signingKeys.published(),
  );
};

export default routes;
