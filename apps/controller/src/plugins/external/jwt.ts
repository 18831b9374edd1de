/**
 * Access tokens: HS256 JWTs (@fastify/jwt) carrying `sub` (user id) and `role`. The secret comes
 * from config, or in dev from `dataDir/jwt-secret` (generated, 0600).
 */
import fp from 'fastify-plugin';
import fastifyJwt from '@fastify/jwt';
import { readOrCreateSecretFile, randomSecret } from '../../lib/data-dir.js';

export interface AccessTokenClaims {
  sub: string;
  role: 'user' | 'admin';
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessTokenClaims;
    user: AccessTokenClaims;
  }
}

export default fp(
  async (app) => {
    const secret =
      app.config.jwtSecret ??
      (await readOrCreateSecretFile(app.config.dataDir, 'jwt-secret', () => randomSecret(48, 'base64url')))
        .value;
    await app.register(fastifyJwt, {
      secret,
      sign: { algorithm: 'HS256', expiresIn: app.config.accessTokenTtlS },
      // Every token we sign carries exp and sub: one without them was not made here.
      verify: { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'], cache: true },
    });
  },
  { name: 'jwt', dependencies: ['config'] },
);
