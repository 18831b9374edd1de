/** POST /v1/auth/login | refresh | logout. */
import {
  LoginRequestSchema,
  LogoutRequestSchema,
  RefreshRequestSchema,
  TokenResponseSchema,
  type TokenResponse,
} from '@corridor/protocol/control';
import type { FastifyInstance } from 'fastify';
import type { RoutePlugin } from '../types.js';
import { errors, NoContent, PublicSecurity } from '../../schemas/common.js';
import type { LoginOk } from '../../services/auth.js';

function tokens(app: FastifyInstance, ok: LoginOk): TokenResponse {
  return {
    accessToken: app.jwt.sign({ sub: ok.user.id, role: ok.user.role }),
    tokenType: 'Bearer',
    expiresIn: app.config.accessTokenTtlS,
    refreshToken: ok.refreshToken,
    refreshExpiresIn: app.config.refreshTokenTtlS,
    user: ok.user,
  };
}

const routes: RoutePlugin = async (app) => {
  app.post(
    '/login',
    {
      schema: {
        operationId: 'login',
        tags: ['auth'],
        security: PublicSecurity,
        summary: 'Log in with e-mail and password',
        body: LoginRequestSchema,
        response: { 200: TokenResponseSchema, ...errors(400, 401, 413, 429) },
      },
    },
    async (request) => {
      const { email, password } = request.body;
      const ok = await app.auth.login(email, password, request.ip, (outcome, userId) => {
        app.metrics.loginAttempts.inc({ result: outcome });
        if (outcome !== 'limited') {
          void app
            .audit(request, {
              actorType: userId ? 'user' : 'anonymous',
              actorId: userId ?? null,
              action: outcome === 'success' ? 'auth.login' : 'auth.login_failed',
              targetType: 'user',
              targetId: userId ?? null,
              details: outcome === 'success' ? undefined : { reason: outcome },
            })
            .catch((e: unknown) => request.log.error({ err: e }, 'audit failed'));
        }
      });
      return tokens(app, ok);
    },
  );

  app.post(
    '/refresh',
    {
      schema: {
        operationId: 'refreshTokens',
        tags: ['auth'],
        security: PublicSecurity,
        summary: 'Rotate a refresh token',
        body: RefreshRequestSchema,
        response: { 200: TokenResponseSchema, ...errors(400, 401, 403, 413) },
      },
    },
    async (request) => {
      const ok = await app.auth.refresh(request.body.refreshToken, (userId) =>
        app
          .audit(request, {
            actorType: 'user',
            actorId: userId,
            action: 'auth.refresh_reuse',
            targetType: 'user',
            targetId: userId,
          })
          .catch((e: unknown) => request.log.error({ err: e }, 'audit failed')),
      );
      return tokens(app, ok);
    },
  );

  app.post(
    '/logout',
    {
      schema: {
        operationId: 'logout',
        tags: ['auth'],
        security: PublicSecurity,
        summary: 'Revoke a refresh token and its family (idempotent)',
        body: LogoutRequestSchema,
        response: { 204: NoContent, ...errors(400, 413) },
      },
    },
    async (request, reply) => {
      const res = await app.repos.refreshTokens.revokeByToken(request.body.refreshToken);
      if (res)
        await app.audit(request, {
          actorType: 'user',
          actorId: res.userId,
          action: 'auth.logout',
          targetType: 'user',
          targetId: res.userId,
        });
      return reply.code(204).send(null);
    },
  );
};

export default routes;
