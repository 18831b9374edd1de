/** GET /v1/nodes: nodes with online state and live load; `auto=true` picks the best one. */
import { NodeListQuerySchema, NodeListSchema } from '@corridor/protocol/control';
import type { RoutePlugin } from '../types.js';
import { AppError, ERROR_CODES } from '../../errors.js';
import { BearerSecurity, errors } from '../../schemas/common.js';
import { toNodeSummary } from '../../schemas/mappers.js';

const routes: RoutePlugin = async (app) => {
  app.get(
    '',
    {
      onRequest: app.requireUser,
      schema: {
        operationId: 'listNodes',
        summary: 'List nodes with online state and load, or pick the best one',
        tags: ['nodes'],
        security: BearerSecurity,
        querystring: NodeListQuerySchema,
        response: { 200: NodeListSchema, ...errors(400, 401, 503) },
      },
    },
    async (request) => {
      const { region, auto } = request.query;
      if (auto === 'true') {
        const best = await app.nodeDirectory.best(region);
        if (best === undefined)
          throw new AppError(
            ERROR_CODES.NODE_OFFLINE,
            region ? `no online node in region ${region}` : 'no online node',
          );
        return { nodes: [toNodeSummary(best)] };
      }
      return { nodes: (await app.nodeDirectory.list(region)).map(toNodeSummary) };
    },
  );
};

export default routes;
