/** POST /v1/agent/heartbeat: liveness + live load (shared store, TTL) and session counters (DB). */
import {
  HEARTBEAT_MAX_SESSIONS,
  HeartbeatResponseSchema,
  HeartbeatSchema,
  PROTOCOL_VERSION,
} from '@corridor/protocol/control';
import type { RoutePlugin } from '../types.js';
import { AppError, ERROR_CODES } from '../../errors.js';
import { errors, NodeSecurity } from '../../schemas/common.js';

const routes: RoutePlugin = async (app) => {
  app.post(
    '/heartbeat',
    {
      onRequest: app.requireNode,
      // A full heartbeat (HEARTBEAT_MAX_SESSIONS live reports of ~250 bytes and as many end reports
      // of ~320 bytes) exceeds the global limit.
      bodyLimit: Math.max(app.config.bodyLimitBytes, HEARTBEAT_MAX_SESSIONS * (320 + 400)),
      schema: {
        operationId: 'sendHeartbeat',
        summary: 'Report liveness, load and session counters',
        description:
          'Heartbeats of one node are applied one at a time: one that arrives while another of the same node is ' +
          'being applied waits up to 2 s, then is refused with 429 and Retry-After (nothing of it is recorded; ' +
          'counters are cumulative, so the next heartbeat carries them).',
        tags: ['agent'],
        security: NodeSecurity,
        body: HeartbeatSchema,
        response: { 200: HeartbeatResponseSchema, ...errors(400, 401, 413, 429) },
      },
    },
    async (request) => {
      const nodeId = request.principal!.id;
      const hb = request.body;
      if (hb.protocolVersion !== PROTOCOL_VERSION) {
        throw new AppError(
          ERROR_CODES.PROTOCOL_VERSION_UNSUPPORTED,
          `protocol version ${hb.protocolVersion} is not supported (controller speaks ${PROTOCOL_VERSION})`,
        );
      }
      const applied = await app.repos.sessions.applyHeartbeat(nodeId, hb.sessions, hb.ended ?? []);
      if (applied === 'busy')
        throw new AppError(
          ERROR_CODES.RATE_LIMITED,
          'a heartbeat of this node is still being applied; send the next one after it',
          { 'retry-after': '1' },
        );
      if (applied.ignored > 0) {
        // Counted, not failed: the rest of the report (liveness, load, valid sessions) still counts.
        app.metrics.sessionReportsIgnored.inc(applied.ignored);
        request.log.debug(
          { nodeId, ignored: applied.ignored, accepted: applied.accepted },
          'heartbeat: ignored session reports not matching a ticket issued for this node',
        );
      }
      await Promise.all([
        app.repos.nodes.recordHeartbeat(nodeId, hb.agentVersion),
        app.nodeDirectory.recordLive(nodeId, {
          load: hb.load,
          activeSessions: hb.activeSessions,
          agentVersion: hb.agentVersion,
          at: Date.now(),
        }),
      ]);
      return {
        revocationsCursor: await app.repos.revocations.currentCursor(),
        signingKeysVersion: app.signingKeys.published().version,
      };
    },
  );
};

export default routes;
