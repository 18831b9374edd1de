/**
 * Dashboard sessions: server-side records in the shared store (Redis across replicas, or the
 * in-process store), named by a random 256-bit id that travels only in an HttpOnly cookie.
 *
 * Contract:
 *   - The cookie is `__Host-corridor_admin=<id>; Path=/; Secure; HttpOnly; SameSite=Strict` (the
 *     `__Host-` prefix makes browsers refuse it without Secure, with a Domain, or off Path=/).
 *   - The store holds `dashboard:session:<sha256(id)>` → JSON record; the id itself is never stored
 *     or logged, so a store dump cannot be replayed as cookies.
 *   - Each session has its own CSRF token (random, 256 bits) that the page reads from
 *     `GET /admin/session` and sends as `X-CSRF-Token`; `csrfMatches` compares in constant time.
 *   - A session ends after IDLE_MS without use or ABSOLUTE_MS after login, whichever comes first,
 *     and at logout (`destroy`). Role and disabled state are NOT cached here: every request checks
 *     them against the database (requireAdmin / the page guard), so demoting or disabling an admin
 *     takes effect on their next request.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { hashToken } from '../lib/crypto.js';
import type { Store } from '../store/store.js';

export const SESSION_COOKIE = '__Host-corridor_admin';
export const CSRF_HEADER = 'x-csrf-token';
export const IDLE_MS = 30 * 60_000;
export const ABSOLUTE_MS = 12 * 3_600_000;
/** A used session's idle timer is pushed back at most this often (one store write). */
const TOUCH_EVERY_MS = 60_000;

/** 32 random bytes in base64url: exactly 43 characters of [A-Za-z0-9_-]. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface DashboardSession {
  userId: string;
  email: string;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
}

function storeKey(id: string): string {
  return `dashboard:session:${hashToken(id)}`;
}

function isSession(v: unknown): v is DashboardSession {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    typeof s.userId === 'string' &&
    typeof s.email === 'string' &&
    typeof s.csrfToken === 'string' &&
    typeof s.createdAt === 'number' &&
    typeof s.lastSeenAt === 'number'
  );
}

export class DashboardSessions {
  constructor(
    private readonly store: Store,
    private readonly clock: () => number = Date.now,
  ) {}

  /** A new session (fresh id: a login never reuses an id the browser had before). */
  async create(user: { id: string; email: string }): Promise<{ id: string; session: DashboardSession }> {
    const id = randomBytes(32).toString('base64url');
    const now = this.clock();
    const session: DashboardSession = {
      userId: user.id,
      email: user.email,
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
    };
    await this.store.set(storeKey(id), JSON.stringify(session), IDLE_MS);
    return { id, session };
  }

  /** The live session named by `id`, or null (malformed, unknown, idle too long, or too old). */
  async get(id: string | undefined): Promise<DashboardSession | null> {
    if (id === undefined || !TOKEN_PATTERN.test(id)) return null;
    const raw = await this.store.get(storeKey(id));
    if (raw === null) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return null;
    }
    if (!isSession(parsed)) return null;
    const now = this.clock();
    if (now - parsed.createdAt >= ABSOLUTE_MS || now - parsed.lastSeenAt >= IDLE_MS) {
      await this.store.del(storeKey(id));
      return null;
    }
    if (now - parsed.lastSeenAt >= TOUCH_EVERY_MS) {
      parsed.lastSeenAt = now;
      const ttl = Math.min(IDLE_MS, parsed.createdAt + ABSOLUTE_MS - now);
      await this.store.set(storeKey(id), JSON.stringify(parsed), ttl);
    }
    return parsed;
  }

  async destroy(id: string | undefined): Promise<void> {
    if (id === undefined || !TOKEN_PATTERN.test(id)) return;
    await this.store.del(storeKey(id));
  }

  expiresAt(s: DashboardSession): Date {
    return new Date(s.createdAt + ABSOLUTE_MS);
  }
}

/** Constant-time check of a presented CSRF token against the session's. */
export function csrfMatches(s: DashboardSession, presented: string | string[] | undefined): boolean {
  if (typeof presented !== 'string' || !TOKEN_PATTERN.test(presented)) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(s.csrfToken);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The session id from a Cookie header, if it carries a well-formed one. */
export function readSessionCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    if (TOKEN_PATTERN.test(value)) return value;
  }
  return undefined;
}

/** Set-Cookie value for a new session (lifetime = the absolute limit; the store enforces idle). */
export function sessionCookie(id: string): string {
  return `${SESSION_COOKIE}=${id}; Path=/; Max-Age=${ABSOLUTE_MS / 1000}; Secure; HttpOnly; SameSite=Strict`;
}

/** Set-Cookie value that removes the session cookie. */
export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict`;
}
