/** Admin revocation of devices and tickets (users: /users/:id/disable), and signing key rotation. */
import type { RoutePlugin } from '../types.js';
import { AppError, ERROR_CODES } from '../../errors.js';
import { BearerSecurity, errors } from '../../schemas/common.js';
import {
  DeviceIdParamsSchema,
  RevocationResultSchema,
  RevokeRequestSchema,
  RotateResultSchema,
  SigningKeyAdminListSchema,
  TicketIdParamsSchema,
} from '../../schemas/admin.js';

const routes: RoutePlugin = async (app) => {
  const tags = ['admin'];
  const security = BearerSecurity;

  app.post(
    '/devices/:deviceId/revoke',
    {
      schema: {
        operationId: 'adminRevokeDevice',
        summary: 'Revoke a device',
        tags,
        security,
        params: DeviceIdParamsSchema,
        querystring: RevokeRequestSchema,
        response: { 200: RevocationResultSchema, ...errors(400, 401, 403, 404, 413) },
      },
    },
    async (request) => {
      const { deviceId } = request.params;
      const rec = await app.accounts.revokeDevice(deviceId, request.query.reason ?? null, request.user.sub);
      if (rec === null) throw new AppError(ERROR_CODES.NOT_FOUND, 'device not found');
      await app.audit(request, {
        action: 'device.revoke',
        targetType: 'device',
        targetId: deviceId,
        details: { reason: request.query.reason ?? null },
      });
      return { revocationId: rec.id, kind: 'device' as const, subjectId: deviceId };
    },
  );

  app.post(
    '/tickets/:ticketId/revoke',
    {
      schema: {
        operationId: 'adminRevokeTicket',
        summary: 'Revoke a ticket',
        tags,
        security,
        params: TicketIdParamsSchema,
        querystring: RevokeRequestSchema,
        response: { 200: RevocationResultSchema, ...errors(400, 401, 403, 404, 413) },
      },
    },
    async (request) => {
      const { ticketId } = request.params;
      if ((await app.repos.tickets.find(ticketId)) === null)
        throw new AppError(ERROR_CODES.NOT_FOUND, 'ticket not found');
      const rec = await app.revocations.revoke(
        'ticket',
        ticketId,
        request.query.reason ?? null,
        request.user.sub,
      );
      await app.audit(request, {
        action: 'ticket.revoke',
        targetType: 'ticket',
        targetId: ticketId,
        details: { reason: request.query.reason ?? null },
      });
      return { revocationId: rec.id, kind: 'ticket' as const, subjectId: ticketId };
    },
  );

  app.get(
    '/signing-keys',
    {
      schema: {
        operationId: 'adminListSigningKeys',
        summary: 'List published ticket-signing keys',
        tags,
        security,
        response: { 200: SigningKeyAdminListSchema, ...errors(401, 403) },
      },
    },
    async () => app.signingKeys.published(),
  );

  app.post(
    '/signing-keys/rotate',
    {
      schema: {
        operationId: 'adminRotateSigningKey',
        summary: 'Rotate the ticket-signing key now',
        tags,
        security,
        response: { 200: RotateResultSchema, ...errors(401, 403) },
      },
    },
    async (request) => {
      const keyId = await app.signingKeys.rotateNow();
      await app.audit(request, {
        action: 'signing_key.rotate',
        targetType: 'signing_key',
        targetId: String(keyId),
      });
      return { keyId };
    },
  );
};

export default routes;
