/** /v1/admin/sessions, /v1/admin/usage, /v1/admin/audit: paginated, filtered, sorted reads. */
import type { RoutePlugin } from '../types.js';
import { AppError, ERROR_CODES } from '../../errors.js';
import { BearerSecurity, errors } from '../../schemas/common.js';
import {
  AuditListSchema,
  AuditQuerySchema,
  SessionListQuerySchema,
  SessionListSchema,
  UsageListSchema,
  UsageQuerySchema,
} from '../../schemas/admin.js';
import { toAuditEvent, toSession } from '../../schemas/mappers.js';

/**
 * A query date-time as a Date. The schema's date-time format admits instants Date cannot hold
 * (a leap second, `23:59:60Z`); those are a 400 rather than an invalid Date reaching the database.
 */
function instant(value: string | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime()))
    throw new AppError(ERROR_CODES.VALIDATION, `querystring/${name} is not a usable instant`);
  return d;
}

const routes: RoutePlugin = async (app) => {
  const tags = ['admin'];
  const security = BearerSecurity;

  app.get(
    '/sessions',
    {
      schema: {
        operationId: 'adminListSessions',
        summary: 'List live and past sessions',
        tags,
        security,
        querystring: SessionListQuerySchema,
        response: { 200: SessionListSchema, ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const q = request.query;
      const res = await app.repos.sessions.list({
        active: q.active,
        nodeId: q.nodeId,
        userId: q.userId,
        deviceId: q.deviceId,
        from: instant(q.from, 'from'),
        to: instant(q.to, 'to'),
        limit: q.limit ?? 50,
        cursor: q.cursor,
        order: q.order ?? 'desc',
      });
      return { items: res.items.map(toSession), nextCursor: res.nextCursor };
    },
  );

  app.get(
    '/usage',
    {
      schema: {
        operationId: 'adminGetUsage',
        summary: 'Traffic totals by user, node or day',
        tags,
        security,
        querystring: UsageQuerySchema,
        response: { 200: UsageListSchema, ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const q = request.query;
      const groupBy = q.groupBy ?? 'day';
      const limit = q.limit ?? 50;
      const pageNo = q.page ?? 1;
      const res = await app.repos.sessions.usage({
        groupBy,
        userId: q.userId,
        nodeId: q.nodeId,
        from: q.from,
        to: q.to,
        limit,
        offset: (pageNo - 1) * limit,
      });
      return { groupBy, items: res.items, page: pageNo, total: res.total };
    },
  );

  app.get(
    '/audit',
    {
      schema: {
        operationId: 'adminListAudit',
        summary: 'Search the audit log',
        tags,
        security,
        querystring: AuditQuerySchema,
        response: { 200: AuditListSchema, ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const q = request.query;
      const res = await app.repos.audit.list({
        actorId: q.actorId,
        action: q.action,
        targetId: q.targetId,
        from: instant(q.from, 'from'),
        to: instant(q.to, 'to'),
        limit: q.limit ?? 50,
        cursor: q.cursor,
        order: q.order ?? 'desc',
      });
      return { items: res.items.map(toAuditEvent), nextCursor: res.nextCursor };
    },
  );
};

export default routes;
