/**
 * Control-plane messages shared by the controller (Fastify validates with these schemas and builds
 * its OpenAPI document from them), the node agent and the CLI. Versioned by `PROTOCOL_VERSION`.
 *
 * Compatibility contract: request bodies are closed (`additionalProperties: false`); responses are
 * open, so a newer controller may add fields and older clients must ignore them.
 */
export { PROTOCOL_VERSION } from '../constants.js';
export * from './common.js';
export * from './errors.js';
export * from './auth.js';
export * from './devices.js';
export * from './nodes.js';
export * from './signing-keys.js';
export * from './tickets.js';
export * from './agent.js';
