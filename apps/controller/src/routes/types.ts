/** Route plugin type: TypeBox-typed, for the controller's HTTPS server instance. */
import type https from 'node:https';
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

export type Server = https.Server;
export type RoutePlugin = FastifyPluginAsync<Record<never, never>, Server, TypeBoxTypeProvider>;
