/** OpenAPI document generated from the route schemas: JSON at /docs/json, UI at /docs. */
import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

export default fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Corridor controller',
          version: '0.1.0',
          description:
            'Control plane of the Corridor VPN: users log in and get signed node tickets, node agents enroll, ' +
            'heartbeat and read revocations, admins manage users, nodes and keys. Every error body carries a ' +
            'stable `CORRIDOR_ERR_*` code.',
          license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
        },
        // Relative: the document describes whichever controller serves it.
        servers: [{ url: '/', description: 'The controller serving this document' }],
        tags: [
          { name: 'health', description: 'Liveness and readiness probes.' },
          { name: 'auth', description: 'Password login and rotating refresh tokens.' },
          { name: 'devices', description: "The authenticated user's devices (X25519 keys)." },
          { name: 'nodes', description: 'Nodes as users see them.' },
          { name: 'tickets', description: 'Signed node tickets.' },
          {
            name: 'agent',
            description: 'Node agent: enrollment, heartbeats, keys, revocations, authorisation.',
          },
          { name: 'admin', description: 'Administration (admin role).' },
        ],
        components: {
          securitySchemes: {
            bearer: {
              type: 'http',
              scheme: 'bearer',
              bearerFormat: 'JWT',
              description: 'Access token from `POST /v1/auth/login` or `/v1/auth/refresh`.',
            },
            node: {
              type: 'apiKey',
              in: 'header',
              name: 'Authorization',
              description: '`Node <nodeId>:<credential>`',
            },
          },
        },
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
  },
  { name: 'swagger' },
);
