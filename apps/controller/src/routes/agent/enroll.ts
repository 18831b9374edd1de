/** POST /v1/agent/enroll: one-time token + node static key → long-lived node credential. */
import {
  NodeEnrollRequestSchema,
  NodeEnrollResponseSchema,
  PROTOCOL_VERSION,
} from '@corridor/protocol/control';
import type { RoutePlugin } from '../types.js';
import { AppError, ERROR_CODES } from '../../errors.js';
import { errors, PublicSecurity } from '../../schemas/common.js';

const routes: RoutePlugin = async (app) => {
  app.post(
    '/enroll',
    {
      schema: {
        operationId: 'enrollNode',
        summary: 'Enroll a node agent with its one-time token',
        tags: ['agent'],
        security: PublicSecurity,
        body: NodeEnrollRequestSchema,
        response: { 200: NodeEnrollResponseSchema, ...errors(400, 401, 409, 413) },
      },
    },
    async (request) => {
      const { enrollmentToken, publicKey, agentVersion } = request.body;
      const res = await app.repos.nodes.enroll(enrollmentToken, publicKey, agentVersion);
      if (res.kind === 'invalid')
        throw new AppError(
          ERROR_CODES.ENROLLMENT_TOKEN_INVALID,
          'enrollment token is invalid, used or expired',
        );
      if (res.kind === 'keyInUse')
        throw new AppError(ERROR_CODES.CONFLICT, 'this public key belongs to another node');
      await app.nodeDirectory.invalidate();
      await app.audit(request, {
        actorType: 'node',
        actorId: res.nodeId,
        action: 'node.enroll',
        targetType: 'node',
        targetId: res.nodeId,
      });
      return {
        nodeId: res.nodeId,
        nodeCredential: res.credential,
        signingKeys: app.signingKeys.published().keys,
        protocolVersion: PROTOCOL_VERSION,
      };
    },
  );
};

export default routes;
