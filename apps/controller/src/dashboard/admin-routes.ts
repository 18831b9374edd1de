/**
 * /v1/admin/overview, /v1/admin/traffic and /v1/admin/user-emails: the dashboard's aggregates and
 * lookups, as ordinary admin API
 * routes (registered inside the /v1/admin scope, so `requireAdmin` guards them like the others and
 * bearer clients can use them too).
 */
import type { Static } from 'typebox';
import type { RoutePlugin } from '../routes/types.js';
import { BearerSecurity, errors } from '../schemas/common.js';
import type { TrafficRange } from './stats-repository.js';
import {
  OverviewSchema,
  TrafficQuerySchema,
  TrafficSchema,
  UserEmailsQuerySchema,
  UserEmailsSchema,
} from './schemas.js';

/**
 * The all-nodes series are the same for every admin and change slowly (hourly and daily buckets),
 * while every open overview asks for them every few seconds: one computation per MEMO_MS per
 * replica serves them all (requests arriving during a computation share it). One node's series and
 * the overview counts are always computed afresh, but requests arriving while the same one is
 * being computed share it (`shared`), so a burst of them (many open tabs, a script) costs one
 * computation instead of holding a database connection per request.
 */
const MEMO_MS = 10_000;

/** Calls `fn` once for concurrent callers with the same key; the result is not kept after it settles. */
function shared<T>(): (key: string, fn: () => Promise<T>) => Promise<T> {
  const running = new Map<string, Promise<T>>();
  return (key, fn) => {
    const hit = running.get(key);
    if (hit !== undefined) return hit;
    const p = fn().finally(() => running.delete(key));
    running.set(key, p);
    return p;
  };
}

const routes: RoutePlugin = async (app) => {
  const tags = ['admin'];
  const security = BearerSecurity;
  type Traffic = Awaited<ReturnType<typeof app.dashboardStats.traffic>>;
  const memo = new Map<string, { at: number; result: Promise<Traffic> }>();
  const oneNode = shared<Traffic>();
  const traffic = (range: TrafficRange, top: number, nodeId: string | undefined) => {
    if (nodeId !== undefined)
      return oneNode(`${range}|${nodeId}`, () =>
        app.dashboardStats.traffic(range, new Date(), { nodeId, top }),
      );
    const key = `${range}|${top}`;
    const hit = memo.get(key);
    if (hit !== undefined && Date.now() - hit.at < MEMO_MS) return hit.result;
    const result = app.dashboardStats.traffic(range, new Date(), { top });
    memo.set(key, { at: Date.now(), result });
    result.catch(() => memo.delete(key));
    return result;
  };
  const overviewShared = shared<Static<typeof OverviewSchema>>();

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
    async () => overviewShared('overview', () => overview()),
  );

  async function overview(): Promise<Static<typeof OverviewSchema>> {
    const now = new Date();
    const counts = await app.dashboardStats.overview(now);
    const live = await app.nodeDirectory.liveStates(counts.nodes.map((n) => n.id));
    type Counts = { online: number; offline: number; notEnrolled: number; disabled: number };
    const regions = new Map<string, Counts & { region: string }>();
    const totals: Counts & { total: number } = {
      total: 0,
      online: 0,
      offline: 0,
      notEnrolled: 0,
      disabled: 0,
    };
    // A session is active while its node is online; a node that stopped heartbeating never
    // reported its sessions ended, so they are counted apart instead of as live.
    const sessions = { active: 0, onOfflineNodes: 0 };
    for (const [nodeId, open] of counts.openSessionsByNode)
      sessions[live.has(nodeId) ? 'active' : 'onOfflineNodes'] += open;
    for (const n of counts.nodes) {
      const r = regions.get(n.region) ?? {
        region: n.region,
        online: 0,
        offline: 0,
        notEnrolled: 0,
        disabled: 0,
      };
      regions.set(n.region, r);
      // A node that never enrolled has not failed: it is waiting for its agent, not offline.
      const state: keyof Counts = n.disabled
        ? 'disabled'
        : live.has(n.id)
          ? 'online'
          : n.enrolled
            ? 'offline'
            : 'notEnrolled';
      r[state]++;
      totals[state]++;
      totals.total++;
    }
    return {
      generatedAt: now.toISOString(),
      nodes: { ...totals, byRegion: [...regions.values()] },
      sessions,
      users: { total: counts.usersTotal, activeToday: counts.usersActiveToday },
      failedLogins24h: counts.failedLogins24h,
    };
  }

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
      const res = await traffic(q.range, q.top ?? 5, q.nodeId);
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
