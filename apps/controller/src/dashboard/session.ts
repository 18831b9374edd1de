/**
 * Dashboard sessions: server-side records in the shared store (Redis across replicas, or the
 * in-process store), named by a random 256-bit id that travels only in an HttpOnly cookie.
 *
 * Contract:
 *   - The cookie is `__Host-corridor_admin=<id>; Path=/; Secure; HttpOnly; SameSite=Strict` (the
 *     `__Host-` prefix makes browsers refuse it without Secure, with a Domain, or off Path=/).
 *   - The store holds, per session, `dashboard:session:<sha256(id)>` → JSON record (written once at
 *     log-in, expiring ABSOLUTE_MS later) and `dashboard:seen:<sha256(id)>` → last use (expiring
 *     IDLE_MS after it). The id itself is never stored or logged, so a store dump cannot be replayed
 *     as cookies. Using a session rewrites only its `seen` key, never the record: a request that
 *     read the session before a log-out cannot write it back afterwards (a `seen` key without its
 *     record is no session).
 *   - Per user, `dashboard:user-gen:<userId>` holds a random generation; every session records the
 *     generation current at its log-in and is valid only while it is still current. `endAllOf`
 *     draws a new one: every session of that user ends at once, on every replica, whether or not it
 *     is in use. The dashboard calls it when the user is disabled (revocation notice) and whenever a
 *     request finds the session's user no longer an active admin, so a later re-enable or promotion
 *     never brings an old session back.
 *   - Each session has its own CSRF token (random, 256 bits) that the page reads from
 *     `GET /admin/session` and sends as `X-CSRF-Token`; `csrfMatches` compares in constant time.
 *   - A session ends after IDLE_MS without use or ABSOLUTE_MS after login, whichever comes first,
 *     at logout (`destroy`) and at `endAllOf`. Role and disabled state are NOT cached here: every
 *     request checks them against the database (the bridge and requireAdmin, the page guard).
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
/**
 * How long a user's generation is kept after it last changed. Longer than any session lives, so
 * it expires only long after every session it ended; a session made under it that is still alive
 * then (logged in more than GEN_TTL_MS - ABSOLUTE_MS after the change) ends early, never late.
 */
const GEN_TTL_MS = 7 * 24 * 3_600_000;

/** 32 random bytes in base64url: exactly 43 characters of [A-Za-z0-9_-]. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface DashboardSession {
  userId: string;
  email: string;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
}

/** What the store keeps per session (the last use lives in its own key). */
interface SessionRecord {
  userId: string;
  email: string;
  csrfToken: string;
  createdAt: number;
  /** The user's generation at log-in (null: none was set). */
  gen: string | null;
}

const recordKey = (hash: string) => `dashboard:session:${hash}`;
const seenKey = (hash: string) => `dashboard:seen:${hash}`;
const genKey = (userId: string) => `dashboard:user-gen:${userId}`;

function isRecord(v: unknown): v is SessionRecord {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    typeof s.userId === 'string' &&
    typeof s.email === 'string' &&
    typeof s.csrfToken === 'string' &&
    typeof s.createdAt === 'number' &&
    (typeof s.gen === 'string' || s.gen === null)
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
    const hash = hashToken(id);
    const now = this.clock();
    const record: SessionRecord = {
      userId: user.id,
      email: user.email,
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      gen: await this.store.get(genKey(user.id)),
    };
    await this.store.set(seenKey(hash), String(now), IDLE_MS);
    await this.store.set(recordKey(hash), JSON.stringify(record), ABSOLUTE_MS);
    return { id, session: toSession(record, now) };
  }

  /** The live session named by `id`, or null (malformed, unknown, idle too long, too old, ended). */
  async get(id: string | undefined): Promise<DashboardSession | null> {
    if (id === undefined || !TOKEN_PATTERN.test(id)) return null;
    const hash = hashToken(id);
    const [raw, seenRaw] = await this.store.mget([recordKey(hash), seenKey(hash)]);
    if (raw === null || raw === undefined) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return null;
    }
    const seen = Number(seenRaw);
    if (!isRecord(parsed) || seenRaw === null || !Number.isFinite(seen)) {
      await this.destroyHash(hash);
      return null;
    }
    const now = this.clock();
    const current = await this.store.get(genKey(parsed.userId));
    if (now - parsed.createdAt >= ABSOLUTE_MS || now - seen >= IDLE_MS || current !== parsed.gen) {
      await this.destroyHash(hash);
      return null;
    }
    if (now - seen >= TOUCH_EVERY_MS) {
      await this.store.set(
        seenKey(hash),
        String(now),
        Math.min(IDLE_MS, parsed.createdAt + ABSOLUTE_MS - now),
      );
      return toSession(parsed, now);
    }
    return toSession(parsed, seen);
  }

  async destroy(id: string | undefined): Promise<void> {
    if (id === undefined || !TOKEN_PATTERN.test(id)) return;
    await this.destroyHash(hashToken(id));
  }

  /** Ends every session of `userId` made until now (a new generation; see the contract). */
  async endAllOf(userId: string): Promise<void> {
    await this.store.set(genKey(userId), randomBytes(16).toString('base64url'), GEN_TTL_MS);
  }

  expiresAt(s: DashboardSession): Date {
    return new Date(s.createdAt + ABSOLUTE_MS);
  }

  private async destroyHash(hash: string): Promise<void> {
    await this.store.del(recordKey(hash));
    await this.store.del(seenKey(hash));
  }
}

function toSession(r: SessionRecord, lastSeenAt: number): DashboardSession {
  return { userId: r.userId, email: r.email, csrfToken: r.csrfToken, createdAt: r.createdAt, lastSeenAt };
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
