/** /v1/admin/users: search, create, disable/enable (= revoke/restore), devices, usage. */
import type { RoutePlugin } from '../types.js';
import { AppError, ERROR_CODES } from '../../errors.js';
import { BearerSecurity, errors } from '../../schemas/common.js';
import {
  AdminDeviceListSchema,
  AdminUserListSchema,
  AdminUserSchema,
  RevokeRequestSchema,
  UsageListSchema,
  UserCreateRequestSchema,
  UserListQuerySchema,
  UserParamsSchema,
  UserUsageQuerySchema,
} from '../../schemas/admin.js';
import { toAdminDevice, toAdminUser } from '../../schemas/mappers.js';

const routes: RoutePlugin = async (app) => {
  const tags = ['admin'];
  const security = BearerSecurity;

  app.get(
    '/users',
    {
      schema: {
        operationId: 'adminListUsers',
        summary: 'Search and list users',
        tags,
        security,
        querystring: UserListQuerySchema,
        response: { 200: AdminUserListSchema, ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const q = request.query;
      const res = await app.repos.users.list({
        q: q.q,
        role: q.role,
        disabled: q.disabled,
        limit: q.limit ?? 50,
        cursor: q.cursor,
        order: q.order ?? 'desc',
      });
      return { items: res.items.map(toAdminUser), nextCursor: res.nextCursor };
    },
  );

  app.post(
    '/users',
    {
      schema: {
        operationId: 'adminCreateUser',
        summary: 'Create a user',
        tags,
        security,
        body: UserCreateRequestSchema,
        response: { 201: AdminUserSchema, ...errors(400, 401, 403, 409, 413) },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const user = await app.repos.users.create({
        email: b.email,
        passwordHash: await app.passwords.hash(b.password),
        role: b.role ?? 'user',
        bandwidthBytesPerSec: b.bandwidthBytesPerSec ?? app.config.defaultBandwidthBytesPerSec,
        dataQuotaBytes: b.dataQuotaBytes ?? app.config.defaultDataQuotaBytes,
      });
      if (user === null) throw new AppError(ERROR_CODES.CONFLICT, 'a user with this e-mail exists');
      await app.audit(request, {
        action: 'user.create',
        targetType: 'user',
        targetId: user.id,
        details: { role: user.role },
      });
      return reply.code(201).send(toAdminUser(user));
    },
  );

  app.get(
    '/users/:userId',
    {
      schema: {
        operationId: 'adminGetUser',
        summary: 'Get a user',
        tags,
        security,
        params: UserParamsSchema,
        response: { 200: AdminUserSchema, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const u = await app.repos.users.findById(request.params.userId);
      if (u === null) throw new AppError(ERROR_CODES.NOT_FOUND, 'user not found');
      return toAdminUser(u);
    },
  );

  app.post(
    '/users/:userId/disable',
    {
      schema: {
        operationId: 'adminDisableUser',
        summary: 'Disable a user and revoke their tickets',
        tags,
        security,
        params: UserParamsSchema,
        querystring: RevokeRequestSchema,
        response: { 200: AdminUserSchema, ...errors(400, 401, 403, 404, 409, 413) },
      },
    },
    async (request) => {
      const { userId } = request.params;
      if (userId === request.user.sub)
        throw new AppError(ERROR_CODES.CONFLICT, 'admins cannot disable themselves');
      const res = await app.accounts.disableUser(userId, request.query.reason ?? null, request.user.sub);
      if (res === null) throw new AppError(ERROR_CODES.NOT_FOUND, 'user not found');
      if (!res.changed && !res.repaired) return toAdminUser(res.user);
      await app.audit(request, {
        action: 'user.disable',
        targetType: 'user',
        targetId: userId,
        details: { reason: request.query.reason ?? null, ...(res.repaired ? { repaired: true } : {}) },
      });
      return toAdminUser(res.user);
    },
  );

  app.post(
    '/users/:userId/enable',
    {
      schema: {
        operationId: 'adminEnableUser',
        summary: 'Re-enable a user',
        tags,
        security,
        params: UserParamsSchema,
        response: { 200: AdminUserSchema, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { userId } = request.params;
      const res = await app.accounts.enableUser(userId, request.user.sub);
      if (res === null) throw new AppError(ERROR_CODES.NOT_FOUND, 'user not found');
      if (!res.changed) return toAdminUser(res.user);
      await app.audit(request, { action: 'user.enable', targetType: 'user', targetId: userId });
      return toAdminUser(res.user);
    },
  );

  app.get(
    '/users/:userId/devices',
    {
      schema: {
        operationId: 'adminListUserDevices',
        summary: "List a user's devices",
        tags,
        security,
        params: UserParamsSchema,
        response: { 200: AdminDeviceListSchema, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { userId } = request.params;
      if ((await app.repos.users.findById(userId)) === null)
        throw new AppError(ERROR_CODES.NOT_FOUND, 'user not found');
      return { devices: (await app.repos.devices.listForUser(userId)).map(toAdminDevice) };
    },
  );

  app.get(
    '/users/:userId/usage',
    {
      schema: {
        operationId: 'adminGetUserUsage',
        summary: "A user's traffic per day",
        tags,
        security,
        params: UserParamsSchema,
        querystring: UserUsageQuerySchema,
        response: { 200: UsageListSchema, ...errors(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { userId } = request.params;
      if ((await app.repos.users.findById(userId)) === null)
        throw new AppError(ERROR_CODES.NOT_FOUND, 'user not found');
      const q = request.query;
      const limit = q.limit ?? 50;
      const pageNo = q.page ?? 1;
      const res = await app.repos.sessions.usage({
        groupBy: 'day',
        userId,
        from: q.from,
        to: q.to,
        limit,
        offset: (pageNo - 1) * limit,
      });
      return { groupBy: 'day' as const, items: res.items, page: pageNo, total: res.total };
    },
  );
};

export default routes;
