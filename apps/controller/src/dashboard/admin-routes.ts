/**
 * /v1/admin/overview, /v1/admin/traffic and /v1/admin/user-emails: the dashboard's aggregates and
 * lookups, as ordinary admin API
 * routes (registered inside the /v1/admin scope, so `requireAdmin` guards them like the others and
 * bearer clients can use them too).
 */
import type { RoutePlugin } from '../routes/types.js';
import { BearerSecurity, errors } from '../schemas/common.js';
import {
  OverviewSchema,
  TrafficQuerySchema,
  TrafficSchema,
  UserEmailsQuerySchema,
  UserEmailsSchema,
} from './schemas.js';

const routes: RoutePlugin = async (app) => {
  const tags = ['admin'];
  const security = BearerSecurity;

  app.get(
    '/overview',
    {
      schema: {
        operationId: 'adminOverview',
        summary: 'Dashboard overview: nodes by region and state, active sessions, users, failed logins',
        tags,
        security,
        response: { 200: OverviewSchema, ...errors(401, 403) },
      },
    },
    async () => {
      const now = new Date();
      const counts = await app.dashboardStats.overview(now);
      const live = await app.nodeDirectory.liveStates(counts.nodes.map((n) => n.id));
      const regions = new Map<
        string,
        { region: string; online: number; offline: number; disabled: number }
      >();
      const totals = { total: 0, online: 0, offline: 0, disabled: 0 };
      for (const n of counts.nodes) {
        const r = regions.get(n.region) ?? { region: n.region, online: 0, offline: 0, disabled: 0 };
        regions.set(n.region, r);
        const state = n.disabled ? 'disabled' : live.has(n.id) ? 'online' : 'offline';
        r[state]++;
        totals[state]++;
        totals.total++;
      }
      return {
        generatedAt: now.toISOString(),
        nodes: { ...totals, byRegion: [...regions.values()] },
        sessions: { active: counts.activeSessions },
        users: { total: counts.usersTotal, activeToday: counts.usersActiveToday },
        failedLogins24h: counts.failedLogins24h,
      };
    },
  );

  app.get(
    '/traffic',
    {
      schema: {
        operationId: 'adminTraffic',
        summary: 'Traffic of the last 24 hours (hourly) or 7 days (daily), total and per node',
        tags,
        security,
        querystring: TrafficQuerySchema,
        response: { 200: TrafficSchema, ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const q = request.query;
      const res = await app.dashboardStats.traffic(q.range, new Date(), {
        nodeId: q.nodeId,
        top: q.top ?? 5,
      });
      return {
        range: res.range,
        method: res.method,
        bucketSeconds: res.bucketSeconds,
        buckets: res.buckets.map((b) => b.toISOString()),
        total: { rxBytes: res.total.rxBytes, txBytes: res.total.txBytes },
        nodes: res.nodes.map((n) => ({ nodeId: n.nodeId!, rxBytes: n.rxBytes, txBytes: n.txBytes })),
      };
    },
  );

  app.get(
    '/user-emails',
    {
      schema: {
        operationId: 'adminUserEmails',
        summary: 'E-mails of up to 200 users by id (to label sessions and audit events)',
        tags,
        security,
        querystring: UserEmailsQuerySchema,
        response: { 200: UserEmailsSchema, ...errors(400, 401, 403) },
      },
    },
    async (request) => {
      const ids = [...new Set(request.query.ids.toLowerCase().split(','))];
      return { items: await app.dashboardStats.userEmails(ids) };
    },
  );
};

export default routes;
