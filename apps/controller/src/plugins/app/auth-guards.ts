/**
 * Authentication guards used as route `onRequest` hooks:
 *   requireUser  - `Authorization: Bearer <JWT>` of any role, refused at once when the user has
 *                  been disabled (DisabledUsers: in memory on every replica, no per-request I/O)
 *   requireAdmin - the same, role admin, re-checked against the database on every request (admin
 *                  traffic is light, and a disabled admin must lose access before the JWT expires)
 *   requireNode  - `Authorization: Node <nodeId>:<credential>`, the credential from enrollment,
 *                  checked against its stored SHA-256 hash in constant time
 * Each sets `request.principal`.
 */
import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NODE_ID_PATTERN } from '@corridor/protocol';
import { AppError, ERROR_CODES } from '../../errors.js';

export type Principal = { kind: 'user' | 'admin'; id: string } | { kind: 'node'; id: string };

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyInstance {
    requireUser(request: FastifyRequest, reply: FastifyReply): Promise<void>;
    requireAdmin(request: FastifyRequest, reply: FastifyReply): Promise<void>;
    requireNode(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  }
}

const NODE_AUTH = /^Node ([a-z0-9-]{1,32}):([A-Za-z0-9_-]{16,512})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export default fp(
  async (app) => {
    app.decorateRequest('principal', undefined);

    async function verifyJwt(request: FastifyRequest): Promise<void> {
      const header = request.headers.authorization;
      if (header === undefined || !header.startsWith('Bearer '))
        throw new AppError(ERROR_CODES.UNAUTHORIZED, 'authentication required');
      try {
        await request.jwtVerify();
      } catch (e) {
        // @fastify/jwt passes some fast-jwt failures through untranslated (another algorithm,
        // `nbf` in the future, unknown `crit`, bad type): every failure is a 401, never a 500.
        if ((e as { code?: string }).code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED')
          throw new AppError(ERROR_CODES.TOKEN_EXPIRED, 'access token expired');
        throw new AppError(ERROR_CODES.TOKEN_INVALID, 'access token invalid');
      }
      // Claims we did not write are refused even under a valid signature (defence in depth: the
      // id reaches SQL as a uuid, the role decides admin access).
      const { sub, role } = request.user as { sub?: unknown; role?: unknown };
      if (typeof sub !== 'string' || !UUID.test(sub) || (role !== 'user' && role !== 'admin'))
        throw new AppError(ERROR_CODES.TOKEN_INVALID, 'access token invalid');
      request.principal = { kind: role === 'admin' ? 'admin' : 'user', id: sub };
    }

    app.decorate('requireUser', async (request: FastifyRequest) => {
      await verifyJwt(request);
      // A disabled user's access tokens stop working at once, not when they expire.
      if (app.disabledUsers.has(request.user.sub))
        throw new AppError(ERROR_CODES.ACCOUNT_DISABLED, 'account is disabled');
    });

    app.decorate('requireAdmin', async (request: FastifyRequest) => {
      await verifyJwt(request);
      if (request.user.role !== 'admin') throw new AppError(ERROR_CODES.FORBIDDEN, 'admin role required');
      const current = await app.repos.users.findById(request.user.sub);
      if (current === null || current.role !== 'admin' || current.disabledAt !== null) {
        throw new AppError(ERROR_CODES.FORBIDDEN, 'admin role required');
      }
    });

    app.decorate('requireNode', async (request: FastifyRequest) => {
      const m = NODE_AUTH.exec(request.headers.authorization ?? '');
      if (!m || !NODE_ID_PATTERN.test(m[1]!))
        throw new AppError(ERROR_CODES.UNAUTHORIZED, 'node credential required');
      const ok = await app.repos.nodes.verifyCredential(m[1]!, m[2]!);
      if (!ok) throw new AppError(ERROR_CODES.UNAUTHORIZED, 'node credential invalid');
      request.principal = { kind: 'node', id: m[1]! };
    });
  },
  { name: 'auth-guards', dependencies: ['jwt', 'services'] },
);
