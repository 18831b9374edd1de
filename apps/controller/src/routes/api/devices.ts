/** /v1/devices: the authenticated user's devices (X25519 public keys). */
import {
  DeviceListSchema,
  DeviceParamsSchema,
  DeviceRegisterRequestSchema,
  DeviceRenameRequestSchema,
  DeviceSchema,
} from '@corridor/protocol/control';
import type { RoutePlugin } from '../types.js';
import { AppError, ERROR_CODES } from '../../errors.js';
import { BearerSecurity, errors, NoContent } from '../../schemas/common.js';
import { toDevice } from '../../schemas/mappers.js';
import { countInWindow } from '../../services/window-limit.js';

const routes: RoutePlugin = async (app) => {
  app.addHook('onRequest', app.requireUser);

  app.get(
    '',
    {
      schema: {
        operationId: 'listDevices',
        summary: 'List your devices',
        tags: ['devices'],
        security: BearerSecurity,
        response: { 200: DeviceListSchema, ...errors(401) },
      },
    },
    async (request) => ({ devices: (await app.repos.devices.listForUser(request.user.sub)).map(toDevice) }),
  );

  app.post(
    '',
    {
      schema: {
        operationId: 'registerDevice',
        summary: 'Register a device and its public key',
        tags: ['devices'],
        security: BearerSecurity,
        body: DeviceRegisterRequestSchema,
        response: { 201: DeviceSchema, ...errors(400, 401, 403, 409, 413, 429) },
      },
    },
    async (request, reply) => {
      const userId = request.user.sub;
      await countInWindow(
        app.store,
        `devices:register:user:${userId}`,
        { max: app.config.deviceRegistrationsPerUser, windowS: app.config.deviceRegistrationWindowS },
        'device registration',
      );
      const res = await app.repos.devices.register(
        userId,
        request.body.name,
        request.body.publicKey,
        app.config.deviceLimit,
      );
      switch (res.kind) {
        case 'limit':
          throw new AppError(
            ERROR_CODES.DEVICE_LIMIT,
            `device limit reached (${app.config.deviceLimit}); remove a device first`,
          );
        case 'keyInUse':
          throw new AppError(ERROR_CODES.DEVICE_KEY_IN_USE, 'this public key is already registered');
        case 'keyRevoked':
          throw new AppError(
            ERROR_CODES.DEVICE_REVOKED,
            'this public key belongs to a device an administrator revoked; generate a new device key',
          );
        case 'noUser':
          throw new AppError(ERROR_CODES.UNAUTHORIZED, 'account no longer exists');
        case 'disabled':
          throw new AppError(ERROR_CODES.ACCOUNT_DISABLED, 'account is disabled');
      }
      await app.audit(request, { action: 'device.register', targetType: 'device', targetId: res.device.id });
      return reply.code(201).send(toDevice(res.device));
    },
  );

  app.get(
    '/:deviceId',
    {
      schema: {
        operationId: 'getDevice',
        summary: 'Get one of your devices',
        tags: ['devices'],
        security: BearerSecurity,
        params: DeviceParamsSchema,
        response: { 200: DeviceSchema, ...errors(400, 401, 404) },
      },
    },
    async (request) => {
      const d = await app.repos.devices.get(request.user.sub, request.params.deviceId);
      if (d === null) throw new AppError(ERROR_CODES.NOT_FOUND, 'device not found');
      return toDevice(d);
    },
  );

  app.patch(
    '/:deviceId',
    {
      schema: {
        operationId: 'renameDevice',
        summary: 'Rename one of your devices',
        tags: ['devices'],
        security: BearerSecurity,
        params: DeviceParamsSchema,
        body: DeviceRenameRequestSchema,
        response: { 200: DeviceSchema, ...errors(400, 401, 404, 413) },
      },
    },
    async (request) => {
      const userId = request.user.sub;
      if (!(await app.repos.devices.rename(userId, request.params.deviceId, request.body.name))) {
        throw new AppError(ERROR_CODES.NOT_FOUND, 'device not found');
      }
      await app.audit(request, {
        action: 'device.rename',
        targetType: 'device',
        targetId: request.params.deviceId,
      });
      const d = await app.repos.devices.get(userId, request.params.deviceId);
      if (d === null) throw new AppError(ERROR_CODES.NOT_FOUND, 'device not found');
      return toDevice(d);
    },
  );

  app.delete(
    '/:deviceId',
    {
      schema: {
        operationId: 'removeDevice',
        summary: 'Remove one of your devices (its tickets are revoked)',
        tags: ['devices'],
        security: BearerSecurity,
        params: DeviceParamsSchema,
        response: { 204: NoContent, ...errors(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const { deviceId } = request.params;
      if ((await app.repos.devices.get(request.user.sub, deviceId)) === null)
        throw new AppError(ERROR_CODES.NOT_FOUND, 'device not found');
      // Revoke first: tickets already issued for the device must stop working on nodes, and a failure
      // here must leave the device in place (and the request retryable) rather than deleted but live.
      await app.revocations.revoke('device', deviceId, 'device removed by its owner', request.user.sub);
      if (!(await app.repos.devices.delete(request.user.sub, deviceId)))
        throw new AppError(ERROR_CODES.NOT_FOUND, 'device not found');
      await app.audit(request, { action: 'device.remove', targetType: 'device', targetId: deviceId });
      return reply.code(204).send(null);
    },
  );
};

export default routes;
