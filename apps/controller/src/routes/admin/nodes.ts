/** /v1/admin/nodes: create (→ one-time enrollment token), list with state and load, re-enroll, disable. */
import { NodeCreateRequestSchema, NodeEnrollmentTokenSchema } from '@corridor/protocol/control';
import type { RoutePlugin } from '../types.js';
import { AppError, ERROR_CODES } from '../../errors.js';
import { BearerSecurity, errors } from '../../schemas/common.js';
import {
  AdminNodeListSchema,
  AdminNodeSchema,
  NodeAdminListQuerySchema,
  NodeIdParamsSchema,
} from '../../schemas/admin.js';
import { toAdminNode } from '../../schemas/mappers.js';

const routes: RoutePlugin = async (app) => {
  const tags = ['admin'];
  const security = BearerSecurity;

  app.post(
    '/nodes',
    {
      schema: {
        operationId: 'adminCreateNode',
        summary: 'Declare a node and get its one-time enrollment token',
        tags,
        security,
        body: NodeCreateRequestSchema,
        response: { 201: NodeEnrollmentTokenSchema, ...errors(400, 401, 403, 409, 413) },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const res = await app.repos.nodes.create(
        {
          id: b.id,
          region: b.region,
          country: b.country,
          city: b.city,
          endpointHost: b.endpoint.host,
          udpPort: b.endpoint.udpPort,
          tcpPort: b.endpoint.tcpPort,
        },
        app.config.enrollmentTokenTtlS,
        request.user.sub,
      );
      if (res === null) throw new AppError(ERROR_CODES.CONFLICT, `node ${b.id} exists`);
      await app.nodeDirectory.invalidate();
      await app.audit(request, {
        action: 'node.create',
        targetType: 'node',
        targetId: b.id,
        details: { region: b.region },
      });
      return reply
        .code(201)
        .send({ nodeId: res.node.id, enrollmentToken: res.token, expiresAt: res.expiresAt.toISOString() });
    },
  );

  app.get(
    '/nodes',
    {
      schema: {
        operationId: 'adminListNodes',
        summary: 'List nodes with state and load',
        tags,
        security,
        querystring: NodeAdminListQuerySchema,
        response: { 200: AdminNodeListSchema, ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const q = request.query;
      const res = await app.repos.nodes.list({
        region: q.region,
        enrolled: q.enrolled,
        limit: q.limit ?? 50,
        cursor: q.cursor,
        order: q.order ?? 'desc',
      });
      const live = await app.nodeDirectory.liveStates(res.items.map((n) => n.id));
      return { items: res.items.map((n) => toAdminNode(n, live.get(n.id))), nextCursor: res.nextCursor };
    },
  );

  app.get(
    '/nodes/:nodeId',
    {
      schema: {
        operationId: 'adminGetNode',
        summary: 'Get a node',
        tags,
        security,
        params: NodeIdParamsSchema,
        response: { 200: AdminNodeSchema, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const n = await app.repos.nodes.get(request.params.nodeId);
      if (n === null) throw new AppError(ERROR_CODES.NOT_FOUND, 'node not found');
      const live = await app.nodeDirectory.liveStates([n.id]);
      return toAdminNode(n, live.get(n.id));
    },
  );

  app.post(
    '/nodes/:nodeId/enrollment-token',
    {
      schema: {
        operationId: 'adminNewEnrollmentToken',
        summary: 'Issue a new one-time enrollment token (re-enrollment)',
        tags,
        security,
        params: NodeIdParamsSchema,
        response: { 201: NodeEnrollmentTokenSchema, ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { nodeId } = request.params;
      const res = await app.repos.nodes.newEnrollmentToken(
        nodeId,
        app.config.enrollmentTokenTtlS,
        request.user.sub,
      );
      if (res === null) throw new AppError(ERROR_CODES.NOT_FOUND, 'node not found');
      await app.audit(request, { action: 'node.enrollment_token', targetType: 'node', targetId: nodeId });
      return reply
        .code(201)
        .send({ nodeId, enrollmentToken: res.token, expiresAt: res.expiresAt.toISOString() });
    },
  );

  for (const [action, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    app.post(
      `/nodes/:nodeId/${action}`,
      {
        schema: {
          operationId: action === 'disable' ? 'adminDisableNode' : 'adminEnableNode',
          summary: action === 'disable' ? 'Disable a node (no new tickets for it)' : 'Re-enable a node',
          tags,
          security,
          params: NodeIdParamsSchema,
          response: { 200: AdminNodeSchema, ...errors(400, 401, 403, 404) },
        },
      },
      async (request) => {
        const { nodeId } = request.params;
        if (!(await app.repos.nodes.setDisabled(nodeId, disabled)))
          throw new AppError(ERROR_CODES.NOT_FOUND, 'node not found');
        await app.nodeDirectory.invalidate();
        await app.audit(request, { action: `node.${action}`, targetType: 'node', targetId: nodeId });
        const n = await app.repos.nodes.get(nodeId);
        if (n === null) throw new AppError(ERROR_CODES.NOT_FOUND, 'node not found');
        return toAdminNode(n, (await app.nodeDirectory.liveStates([nodeId])).get(nodeId));
      },
    );
  }
};

export default routes;
