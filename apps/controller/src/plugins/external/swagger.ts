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
          description: 'Control plane of the Corridor VPN.',
        },
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
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
