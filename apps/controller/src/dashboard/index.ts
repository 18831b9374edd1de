/**
 * The admin dashboard at `/admin`: pages, assets and the cookie session, plus the bridge that lets
 * the dashboard call the ordinary admin API (`/v1/admin/*`) with its cookie.
 *
 * Flow:
 *   1. `GET /admin/*` (any page): the page guard wants a dashboard session of a user who is an
 *      active admin *now* (checked in the database on every page). No session → 303 to
 *      `/admin/login?next=…`; a session or bearer token of a non-admin → 403 page.
 *   2. `POST /admin/session` logs in through AuthService (same rate limits, lockout and audit as
 *      `/v1/auth/login`); non-admins get 403 and no session. The answer sets the HttpOnly cookie and
 *      returns the session's CSRF token to the page script (never readable cross-origin: no CORS).
 *   3. The page script calls `/v1/admin/*` with the cookie and `X-CSRF-Token`. The bridge (an
 *      onRequest hook on the root, ahead of the admin scope's requireAdmin) accepts such a request
 *      only with a live session, a matching CSRF token and a same-origin `Origin`/`Sec-Fetch-Site`,
 *      and only while the session's user is an active admin in the database (otherwise every
 *      session of that user ends); then it gives it a 60-second access token for that user.
 *      requireAdmin re-checks role and disabled state as for any bearer, and the admin routes
 *      validate, act and audit exactly as they do for API clients. Requests that carry
 *      `Authorization` themselves are left alone; the cookie alone never authenticates anything
 *      else.
 *   4. A user disabled on any replica (a `user` revocation notice) loses every dashboard session.
 *
 * Every dashboard response carries a strict CSP (security-headers.ts). The session store and its
 * contract: session.ts. Aggregates the admin API lacked: admin-routes.ts (registered by app.ts in
 * the /v1/admin scope) over stats-repository.ts.
 */
import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { LoginRequestSchema } from '@corridor/protocol/control';
import type { RoutePlugin } from '../routes/types.js';
import { AppError, ERROR_CODES } from '../errors.js';
import { errors, NoContent } from '../schemas/common.js';
import { ASSET_NAME_PATTERN, BUILD_HINT, loadAssets, WEB_DIST_DIR, type DashboardAssets } from './assets.js';
import { DashboardSessionSchema } from './schemas.js';
import { securityHeaders } from './security-headers.js';
import {
  CSRF_HEADER,
  clearedSessionCookie,
  csrfMatches,
  DashboardSessions,
  readSessionCookie,
  sessionCookie,
  type DashboardSession,
} from './session.js';
import { DashboardStatsRepository } from './stats-repository.js';

declare module 'fastify' {
  interface FastifyInstance {
    dashboardStats: DashboardStatsRepository;
    dashboardSessions: DashboardSessions;
  }
}

export interface DashboardOptions {
  /** The web build to serve (default: apps/controller/web/dist). */
  assetsDir?: string;
}

/** Lifetime of the access token the bridge hands a cookie request (used once, inside this process). */
const BRIDGE_TOKEN_TTL_S = 60;

/**
 * Refuses a cookie-authenticated request that a browser says came from another site. Browsers send
 * `Origin` on every non-GET fetch and `Sec-Fetch-Site` on all requests; non-browser clients send
 * neither and cannot carry the victim's cookie anyway.
 */
function assertSameOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin !== undefined) {
    let host = '';
    try {
      const u = new URL(origin);
      host = u.protocol === 'https:' ? u.host : '';
    } catch {
      // "null" or garbage: refused below
    }
    if (host !== request.host)
      throw new AppError(
        ERROR_CODES.FORBIDDEN,
        'cross-origin request refused: use the dashboard page itself',
      );
  }
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    throw new AppError(ERROR_CODES.FORBIDDEN, 'cross-site request refused: use the dashboard page itself');
}

export default fp<DashboardOptions>(
  async (app, opts) => {
    const stats = new DashboardStatsRepository(app.db.pool);
    const sessions = new DashboardSessions(app.store);
    app.decorate('dashboardStats', stats);
    app.decorate('dashboardSessions', sessions);
    const isActiveAdmin = async (userId: string) => {
      const user = await app.repos.users.findById(userId);
      return user !== null && user.role === 'admin' && user.disabledAt === null;
    };
    const assets = await loadAssets(opts.assetsDir ?? WEB_DIST_DIR);
    if (assets === null) app.log.warn(`admin dashboard assets not found; ${BUILD_HINT}`);

    // A disabled user's dashboard sessions end on every replica (the notice reaches each one), so
    // enabling the account again later brings none of them back.
    const stopListening = app.revocations.onRevoked((n) => {
      if (n.kind !== 'user' || n.lifted) return;
      sessions
        .endAllOf(n.subjectId)
        .catch((e: unknown) =>
          app.log.error({ err: e }, 'could not end the dashboard sessions of a disabled user'),
        );
    });
    app.addHook('onClose', async () => stopListening());

    // Admin API answers (user lists and e-mails, enrollment tokens) must never be kept by a
    // browser or a caching proxy, whichever credential fetched them.
    app.addHook('onSend', async (request, reply, payload) => {
      if (request.routeOptions.url?.startsWith('/v1/admin/') && !reply.hasHeader('cache-control'))
        void reply.header('cache-control', 'no-store');
      return payload;
    });

    // 3. The bridge: cookie + CSRF → a short access token for the admin API (see the header).
    app.addHook('onRequest', async (request, reply) => {
      if (!request.routeOptions.url?.startsWith('/v1/admin/')) return;
      if (request.headers.authorization !== undefined) return;
      const sid = readSessionCookie(request.headers.cookie);
      if (sid === undefined) return; // requireAdmin answers 401
      const s = await sessions.get(sid);
      if (s === null) {
        void reply.header('set-cookie', clearedSessionCookie());
        throw new AppError(
          ERROR_CODES.UNAUTHORIZED,
          'dashboard session expired; log in again at /admin/login',
        );
      }
      assertSameOrigin(request);
      if (!csrfMatches(s, request.headers[CSRF_HEADER]))
        throw new AppError(
          ERROR_CODES.FORBIDDEN,
          'CSRF token missing or wrong: send X-CSRF-Token as given by GET /admin/session',
        );
      // Tokens are minted only for a user who is an active admin now; a session whose user is not
      // (demoted, disabled) ends with all its siblings, so a later promotion revives none of them.
      if (!(await isActiveAdmin(s.userId))) {
        await sessions.endAllOf(s.userId);
        void reply.header('set-cookie', clearedSessionCookie());
        throw new AppError(ERROR_CODES.FORBIDDEN, 'admin role required');
      }
      request.headers.authorization = `Bearer ${app.jwt.sign(
        { sub: s.userId, role: 'admin' },
        { expiresIn: BRIDGE_TOKEN_TTL_S },
      )}`;
    });

    await app.register(pages(assets, sessions, isActiveAdmin));
  },
  { name: 'dashboard', dependencies: ['config', 'database', 'store', 'jwt', 'services', 'auth-guards'] },
);

function pages(
  assets: DashboardAssets | null,
  sessions: DashboardSessions,
  isActiveAdmin: (userId: string) => Promise<boolean>,
): RoutePlugin {
  return async (app) => {
    const headers = securityHeaders(app.config.env === 'production');
    const tags = ['dashboard'];

    app.addHook('onSend', async (_request, reply, payload) => {
      void reply.headers(headers);
      if (!reply.hasHeader('cache-control')) void reply.header('cache-control', 'no-store');
      return payload;
    });

    function requireAssets(): DashboardAssets {
      if (assets === null)
        throw new AppError(
          ERROR_CODES.SERVICE_UNAVAILABLE,
          `the admin dashboard is not built: ${BUILD_HINT}`,
        );
      return assets;
    }

    /** The session of the request if it belongs to a user who is an active admin now. */
    async function adminSession(
      request: FastifyRequest,
      reply: FastifyReply,
    ): Promise<{ kind: 'ok'; session: DashboardSession } | { kind: 'none' } | { kind: 'forbidden' }> {
      const sid = readSessionCookie(request.headers.cookie);
      const s = await sessions.get(sid);
      if (s === null) {
        if (sid !== undefined) void reply.header('set-cookie', clearedSessionCookie());
        return { kind: 'none' };
      }
      if (await isActiveAdmin(s.userId)) return { kind: 'ok', session: s };
      await sessions.endAllOf(s.userId);
      void reply.header('set-cookie', clearedSessionCookie());
      return { kind: 'forbidden' };
    }

    function forbiddenPage(reply: FastifyReply, a: DashboardAssets) {
      return reply.code(403).type('text/html; charset=utf-8').send(a.forbidden);
    }

    // 1. Every page: the guard, then the shell (the script renders the view for the path).
    const page = async (request: FastifyRequest, reply: FastifyReply) => {
      const a = requireAssets();
      const state = await adminSession(request, reply);
      if (state.kind === 'ok') return reply.type('text/html; charset=utf-8').send(a.shell);
      if (state.kind === 'forbidden') return forbiddenPage(reply, a);
      if (request.headers.authorization !== undefined) {
        // An API client's token: non-admins are refused; admins still need a dashboard session.
        try {
          await app.requireAdmin(request, reply);
        } catch (e) {
          if (e instanceof AppError && e.statusCode === 403) return forbiddenPage(reply, a);
        }
      }
      return reply.redirect(`/admin/login?next=${encodeURIComponent(request.url)}`, 303);
    };
    const pageSchema = {
      hide: true,
      params: Type.Object({ '*': Type.Optional(Type.String({ maxLength: 512 })) }),
    };
    app.get('/admin', { schema: { hide: true } }, page);
    app.get('/admin/*', { schema: pageSchema }, page);

    app.get('/admin/login', { schema: { hide: true } }, async (request, reply) => {
      const a = requireAssets();
      if ((await adminSession(request, reply)).kind === 'ok') return reply.redirect('/admin', 303);
      return reply.type('text/html; charset=utf-8').send(a.shell);
    });

    app.get(
      '/admin/assets/:file',
      {
        schema: {
          hide: true,
          params: Type.Object(
            { file: Type.String({ pattern: ASSET_NAME_PATTERN, maxLength: 80 }) },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const asset = requireAssets().files.get(request.params.file);
        if (asset === undefined) throw new AppError(ERROR_CODES.NOT_FOUND, 'no such dashboard asset');
        return reply
          .type(asset.contentType)
          .header('cache-control', 'public, max-age=31536000, immutable')
          .send(asset.body);
      },
    );

    // 2. The session: log in, read (CSRF token), log out.
    app.post(
      '/admin/session',
      {
        schema: {
          operationId: 'dashboardLogin',
          summary: 'Log in to the admin dashboard (sets the HttpOnly session cookie)',
          description:
            'Same rate limits and lockout as `/v1/auth/login`. Only admins get a session; others get 403. ' +
            'The cookie `__Host-corridor_admin` is HttpOnly, Secure and SameSite=Strict; requests made ' +
            'with it must send the returned `csrfToken` as `X-CSRF-Token`.',
          tags,
          security: [],
          body: LoginRequestSchema,
          response: { 200: DashboardSessionSchema, ...errors(400, 401, 403, 413, 429) },
        },
      },
      async (request, reply) => {
        assertSameOrigin(request);
        const { email, password } = request.body;
        // A failed attempt is in the audit log before it is answered (an admin reading the log
        // right after sees it; a crash after the answer cannot lose it).
        let failure: Promise<void> = Promise.resolve();
        const ok = await app.auth
          .login(email, password, request.ip, (outcome, userId) => {
            app.metrics.loginAttempts.inc({ result: outcome });
            if (outcome === 'success' || outcome === 'limited') return;
            failure = app
              .audit(request, {
                actorType: userId ? 'user' : 'anonymous',
                actorId: userId ?? null,
                action: 'auth.login_failed',
                targetType: 'user',
                targetId: userId ?? null,
                details: { reason: outcome, via: 'dashboard' },
              })
              .catch((e: unknown) => request.log.error({ err: e }, 'audit failed'));
          })
          .catch(async (e: unknown) => {
            await failure;
            throw e;
          });
        // The dashboard keeps no refresh token: its session lives in the store.
        await app.repos.refreshTokens.revokeByToken(ok.refreshToken);
        if (ok.user.role !== 'admin') {
          await app.audit(request, {
            actorType: 'user',
            actorId: ok.user.id,
            action: 'dashboard.login_refused',
            targetType: 'user',
            targetId: ok.user.id,
            details: { reason: 'not an admin' },
          });
          throw new AppError(ERROR_CODES.FORBIDDEN, 'this account is not an administrator');
        }
        const { id, session } = await sessions.create(ok.user);
        await app.audit(request, {
          actorType: 'admin',
          actorId: ok.user.id,
          action: 'dashboard.login',
          targetType: 'user',
          targetId: ok.user.id,
        });
        void reply.header('set-cookie', sessionCookie(id));
        return {
          user: { id: ok.user.id, email: ok.user.email },
          csrfToken: session.csrfToken,
          expiresAt: sessions.expiresAt(session).toISOString(),
        };
      },
    );

    app.get(
      '/admin/session',
      {
        schema: {
          operationId: 'dashboardSession',
          summary: 'The current dashboard session and its CSRF token',
          description: 'Authenticated by the `__Host-corridor_admin` cookie.',
          tags,
          security: [],
          response: { 200: DashboardSessionSchema, ...errors(401, 403) },
        },
      },
      async (request, reply) => {
        const state = await adminSession(request, reply);
        if (state.kind === 'none')
          throw new AppError(ERROR_CODES.UNAUTHORIZED, 'no dashboard session; log in at /admin/login');
        if (state.kind === 'forbidden') throw new AppError(ERROR_CODES.FORBIDDEN, 'admin role required');
        const s = state.session;
        return {
          user: { id: s.userId, email: s.email },
          csrfToken: s.csrfToken,
          expiresAt: sessions.expiresAt(s).toISOString(),
        };
      },
    );

    app.delete(
      '/admin/session',
      {
        schema: {
          operationId: 'dashboardLogout',
          summary: 'Log out of the admin dashboard (idempotent)',
          description: 'Needs the session cookie and `X-CSRF-Token`; clears the cookie.',
          tags,
          security: [],
          response: { 204: NoContent, ...errors(403) },
        },
      },
      async (request, reply) => {
        const sid = readSessionCookie(request.headers.cookie);
        const s = await sessions.get(sid);
        if (s !== null) {
          assertSameOrigin(request);
          if (!csrfMatches(s, request.headers[CSRF_HEADER]))
            throw new AppError(ERROR_CODES.FORBIDDEN, 'CSRF token missing or wrong');
          await sessions.destroy(sid);
          await app.audit(request, {
            actorType: 'admin',
            actorId: s.userId,
            action: 'dashboard.logout',
            targetType: 'user',
            targetId: s.userId,
          });
        }
        void reply.header('set-cookie', clearedSessionCookie());
        return reply.code(204).send(null);
      },
    );
  };
}
