/**
 * Calls to the controller from the page. The session cookie is HttpOnly (this code never sees it);
 * every request carries the session's CSRF token in `X-CSRF-Token`. A 401 means the session ended:
 * the page goes to the login view and comes back afterwards.
 */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface SessionInfo {
  user: { id: string; email: string };
  csrfToken: string;
  expiresAt: string;
}

export interface AdminUser {
  id: string;
  email: string;
  role: 'user' | 'admin';
  disabled: boolean;
  disabledAt: string | null;
  createdAt: string;
  lastLoginAt: string | null;
  bandwidthBytesPerSec: number;
  dataQuotaBytes: number;
}

export interface AdminDevice {
  id: string;
  userId: string;
  name: string;
  publicKey: string;
  createdAt: string;
  revokedAt: string | null;
  lastSeenAt: string | null;
}

export interface AdminNode {
  id: string;
  region: string;
  country: string;
  city: string;
  endpoint: { host: string; udpPort: number; tcpPort: number };
  publicKey: string | null;
  enrolled: boolean;
  enrolledAt: string | null;
  disabled: boolean;
  online: boolean;
  load: number;
  activeSessions: number;
  agentVersion: string | null;
  lastSeenAt: string | null;
  createdAt: string;
}

export interface VpnSession {
  id: string;
  nodeId: string;
  ticketId: string;
  userId: string;
  deviceId: string;
  startedAt: string;
  lastSeenAt: string;
  endedAt: string | null;
  active: boolean;
  rxBytes: number;
  txBytes: number;
  /** Why the session ended, once the controller records it. */
  endReason?: string | null;
}

export interface AuditEvent {
  id: string;
  actorType: string;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  details: Record<string, string | number | boolean | null> | null;
  createdAt: string;
}

export interface UsageList {
  groupBy: 'user' | 'node' | 'day';
  items: { key: string; rxBytes: number; txBytes: number }[];
  page: number;
  total: number;
}

export interface Overview {
  generatedAt: string;
  nodes: {
    total: number;
    online: number;
    offline: number;
    notEnrolled: number;
    disabled: number;
    byRegion: { region: string; online: number; offline: number; notEnrolled: number; disabled: number }[];
  };
  /** active: on nodes heartbeating now; onOfflineNodes: left open by nodes that went silent. */
  sessions: { active: number; onOfflineNodes: number };
  users: { total: number; activeToday: number };
  failedLogins24h: number;
}

export interface Traffic {
  range: '24h' | '7d';
  method: 'sessions-estimate' | 'usage-daily';
  bucketSeconds: number;
  buckets: string[];
  total: { rxBytes: number[]; txBytes: number[] };
  nodes: { nodeId: string; rxBytes: number[]; txBytes: number[] }[];
}

export interface EnrollmentToken {
  nodeId: string;
  enrollmentToken: string;
  expiresAt: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

let csrfToken = '';

/** How the controller's refusal of a missing or stale X-CSRF-Token begins (dashboard/index.ts). */
export const CSRF_REFUSAL = 'CSRF token missing or wrong';

export function setCsrfToken(token: string): void {
  csrfToken = token;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, query: Query = {}): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query))
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

export function loginUrl(): string {
  return withQuery('/admin/login', { next: location.pathname + location.search });
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (csrfToken) headers['x-csrf-token'] = csrfToken;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (res.status === 204) return undefined as T;
  let data: unknown = null;
  try {
    data = await res.json();
  } catch {
    // not JSON: handled below
  }
  if (!res.ok) {
    const e = (data ?? {}) as { code?: string; message?: string };
    const retry = Number(res.headers.get('retry-after'));
    throw new ApiError(
      res.status,
      e.code ?? 'CORRIDOR_ERR_INTERNAL',
      e.message ?? `request failed (${res.status})`,
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
    );
  }
  return data as T;
}

/**
 * GET/POST under /v1/admin. A 401 (session over) sends the page to the login view; a CSRF refusal
 * means the browser's cookie now names another session (a log-in in another tab), so the page
 * reloads to read that session (its user and token) instead of failing every request.
 */
export async function admin<T>(
  method: 'GET' | 'POST',
  path: string,
  query?: Query,
  body?: unknown,
): Promise<T> {
  try {
    return await request<T>(method, withQuery(`/v1/admin${path}`, query), body);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) location.assign(loginUrl());
    else if (e instanceof ApiError && e.status === 403 && e.message.startsWith(CSRF_REFUSAL))
      location.reload();
    throw e;
  }
}

export const session = {
  get: () => request<SessionInfo>('GET', '/admin/session'),
  login: (email: string, password: string) =>
    request<SessionInfo>('POST', '/admin/session', { email, password }),
  logout: () => request<void>('DELETE', '/admin/session'),
};
