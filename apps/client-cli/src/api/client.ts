/**
 * The controller API as vpnctl uses it. Every authenticated call refreshes the access token silently
 * when it is about to expire (or the controller says it expired), using the controller's rotating
 * refresh tokens: each refresh returns a new refresh token and the old one dies, and presenting a
 * dead one revokes the whole login. So refreshes are serialised across processes (a `vpnctl connect`
 * re-ticketing in the background and a `vpnctl nodes` in a shell) by a lock file: under the lock the
 * credentials are read again, and if another process already rotated them, its tokens are used.
 *
 * Responses are validated against the shared control-plane schemas before use.
 */
import { promises as fs } from 'node:fs';
import {
  DeviceListSchema,
  DeviceSchema,
  ERROR_CODES,
  NodeListSchema,
  TicketResponseSchema,
  TokenResponseSchema,
  type Device,
  type NodeSummary,
  type TicketResponse,
  type TokenResponse,
} from '@corridor/protocol/control';
import type { TSchema, Static } from 'typebox';
import { Value } from 'typebox/value';
import type { CliConfig, ConfigStore, Credentials } from '../config/store.js';
import { holderText, pidAlive, tryLock } from '../config/lock-file.js';
import { CLI_ERROR_CODES, UserError } from '../errors.js';
import { apiError, type Operation } from './errors.js';
import { httpRequest, type HttpResponse } from './http.js';

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;
const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 20_000;

function check<S extends TSchema>(schema: S, value: unknown, server: string, what: string): Static<S> {
  if (!Value.Check(schema, value)) {
    throw new UserError(
      CLI_ERROR_CODES.CONTROLLER_BAD_RESPONSE,
      `the controller at ${server} sent an unexpected ${what}`,
      'vpnctl and the controller may be incompatible versions; update vpnctl',
    );
  }
  return value as Static<S>;
}

export function credentialsFrom(server: string, t: TokenResponse, now: number): Credentials {
  return {
    version: 1,
    server,
    accessToken: t.accessToken,
    accessExpiresAt: now + t.expiresIn * 1000,
    refreshToken: t.refreshToken,
    refreshExpiresAt: now + t.refreshExpiresIn * 1000,
    user: { id: t.user.id, email: t.user.email, role: t.user.role },
  };
}

/** Password login; does not need (or touch) stored credentials. */
export async function passwordLogin(
  config: CliConfig,
  email: string,
  password: string,
): Promise<TokenResponse> {
  const res = await httpRequest({
    server: config.server,
    trust: config.trust,
    method: 'POST',
    path: '/v1/auth/login',
    body: { email, password },
  });
  if (res.status !== 200) throw apiError(res.status, res.body as never, 'login', res.retryAfterSeconds);
  return check(TokenResponseSchema, res.body, config.server, 'login response');
}

export class ApiClient {
  /** Refreshes performed by this client (tests and `--debug` output). */
  refreshes = 0;
  /** The controller's addresses, once pinned (see pinAddresses). */
  private addresses: readonly string[] | undefined;

  constructor(
    private readonly store: ConfigStore,
    readonly config: CliConfig,
    private readonly clock: () => number = Date.now,
  ) {}

  get server(): string {
    return this.config.server;
  }

  /**
   * From now on, reach the controller at these addresses instead of looking its name up (a running
   * connection: its DNS goes through the tunnel, which is down exactly when a new ticket is needed).
   */
  pinAddresses(addresses: readonly string[]): void {
    this.addresses = addresses.length > 0 ? [...addresses] : undefined;
  }

  private get reach(): { addresses?: readonly string[] } {
    return this.addresses ? { addresses: this.addresses } : {};
  }

  /** Stored credentials for this server, or a NOT_LOGGED_IN error. */
  async credentials(): Promise<Credentials> {
    const c = await this.store.readCredentials();
    if (c === undefined || c.server !== this.config.server) {
      throw new UserError(
        CLI_ERROR_CODES.NOT_LOGGED_IN,
        c === undefined ? 'you are not logged in' : `you are not logged in to ${this.config.server}`,
        'log in with `vpnctl login`',
      );
    }
    return c;
  }

  private async call(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    body: unknown,
    op: Operation,
  ): Promise<HttpResponse> {
    let creds = await this.credentials();
    if (creds.accessExpiresAt - this.clock() < REFRESH_MARGIN_MS) creds = await this.refresh(creds);
    const send = (token: string) =>
      httpRequest({
        server: this.server,
        trust: this.config.trust,
        method,
        path,
        body,
        bearer: token,
        ...this.reach,
      });
    let res = await send(creds.accessToken);
    const code = (res.body as { code?: string } | undefined)?.code;
    if (res.status === 401 && (code === ERROR_CODES.TOKEN_EXPIRED || code === ERROR_CODES.TOKEN_INVALID)) {
      creds = await this.refresh(creds);
      res = await send(creds.accessToken);
    }
    if (res.status >= 400) throw apiError(res.status, res.body as never, op, res.retryAfterSeconds);
    return res;
  }

  /**
   * Rotates the refresh token (under the lock). `seen` is what the caller last read: if the file
   * holds newer tokens, another process refreshed already and those are returned instead.
   */
  async refresh(seen: Credentials): Promise<Credentials> {
    return this.withLock(async () => {
      const current = await this.credentials();
      if (
        current.refreshToken !== seen.refreshToken &&
        current.accessExpiresAt - this.clock() > REFRESH_MARGIN_MS
      ) {
        return current;
      }
      const now = this.clock();
      if (current.refreshExpiresAt <= now) {
        await this.store.removeCredentials();
        throw new UserError(
          CLI_ERROR_CODES.SESSION_EXPIRED,
          'your login has expired',
          'log in again with `vpnctl login`',
        );
      }
      const res = await httpRequest({
        server: this.server,
        trust: this.config.trust,
        method: 'POST',
        path: '/v1/auth/refresh',
        body: { refreshToken: current.refreshToken },
        ...this.reach,
      });
      if (res.status !== 200) {
        const e = apiError(res.status, res.body as never, 'refresh', res.retryAfterSeconds);
        // The refresh token is dead (expired, revoked, reused) or the account is gone: forget it.
        if (res.status === 401 || res.status === 403) await this.store.removeCredentials();
        throw e;
      }
      const tokens = check(TokenResponseSchema, res.body, this.server, 'refresh response');
      const next = credentialsFrom(this.server, tokens, now);
      await this.store.writeCredentials(next);
      this.refreshes++;
      return next;
    });
  }

  private withLock<T>(fn: () => Promise<T>): Promise<T> {
    return withCredentialsLock(this.store.paths.credentialsLock, fn, this.clock);
  }

  async logout(): Promise<void> {
    const c = await this.store.readCredentials();
    if (c === undefined) return;
    const res = await httpRequest({
      server: c.server,
      trust: this.config.trust,
      method: 'POST',
      path: '/v1/auth/logout',
      body: { refreshToken: c.refreshToken },
    });
    if (res.status !== 204 && res.status !== 200 && res.status !== 400) {
      throw apiError(res.status, res.body as never, 'other', res.retryAfterSeconds);
    }
  }

  async listDevices(): Promise<Device[]> {
    const res = await this.call('GET', '/v1/devices', undefined, 'devices');
    return check(DeviceListSchema, res.body, this.server, 'device list').devices;
  }

  async getDevice(id: string): Promise<Device | undefined> {
    try {
      const res = await this.call('GET', `/v1/devices/${encodeURIComponent(id)}`, undefined, 'devices');
      return check(DeviceSchema, res.body, this.server, 'device');
    } catch (e) {
      if (e instanceof UserError && e.code === ERROR_CODES.NOT_FOUND) return undefined;
      throw e;
    }
  }

  async registerDevice(name: string, publicKey: string): Promise<Device> {
    const res = await this.call('POST', '/v1/devices', { name, publicKey }, 'register');
    return check(DeviceSchema, res.body, this.server, 'device');
  }

  async renameDevice(id: string, name: string): Promise<Device> {
    const res = await this.call('PATCH', `/v1/devices/${encodeURIComponent(id)}`, { name }, 'devices');
    return check(DeviceSchema, res.body, this.server, 'device');
  }

  async removeDevice(id: string): Promise<void> {
    await this.call('DELETE', `/v1/devices/${encodeURIComponent(id)}`, undefined, 'devices');
  }

  async listNodes(region?: string): Promise<NodeSummary[]> {
    const q = region ? `?region=${encodeURIComponent(region)}` : '';
    const res = await this.call('GET', `/v1/nodes${q}`, undefined, 'nodes');
    return check(NodeListSchema, res.body, this.server, 'node list').nodes;
  }

  /** The controller's pick (online, lowest live load), or undefined when none is online. */
  async bestNode(region?: string): Promise<NodeSummary | undefined> {
    const q = `?auto=true${region ? `&region=${encodeURIComponent(region)}` : ''}`;
    try {
      const res = await this.call('GET', `/v1/nodes${q}`, undefined, 'nodes');
      return check(NodeListSchema, res.body, this.server, 'node list').nodes[0];
    } catch (e) {
      if (e instanceof UserError && e.code === ERROR_CODES.NODE_OFFLINE) return undefined;
      throw e;
    }
  }

  async ticket(nodeId: string, deviceId: string): Promise<TicketResponse> {
    const res = await this.call(
      'POST',
      `/v1/nodes/${encodeURIComponent(nodeId)}/tickets`,
      { deviceId },
      'ticket',
    );
    return check(TicketResponseSchema, res.body, this.server, 'ticket');
  }
}

/**
 * Runs `fn` holding the credentials lock (config/lock-file.ts: created and broken atomically, so two
 * processes never refresh with the same refresh token, which the controller treats as token theft
 * and answers by revoking the whole login). Waits up to LOCK_WAIT_MS for another holder.
 */
export async function withCredentialsLock<T>(
  lock: string,
  fn: () => Promise<T>,
  clock: () => number = Date.now,
): Promise<T> {
  const deadline = clock() + LOCK_WAIT_MS;
  const me = holderText();
  for (;;) {
    const r = await tryLock(lock, me, (holder) => lockIsStale(lock, holder));
    if (r.ok) {
      try {
        return await fn();
      } finally {
        await r.release();
      }
    }
    if (clock() > deadline) {
      throw new UserError(
        CLI_ERROR_CODES.CONFIG,
        `another vpnctl process holds ${lock} and does not let go`,
        `if no other vpnctl is running, remove the file (rm ${lock})`,
      );
    }
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
  }
}

/** Stale: older than LOCK_STALE_MS, unreadable, or its process is gone. */
async function lockIsStale(lock: string, holder: string): Promise<boolean> {
  try {
    const st = await fs.stat(lock);
    if (Date.now() - st.mtimeMs > LOCK_STALE_MS) return true;
  } catch {
    return false; // vanished: the next attempt takes it
  }
  const pid = Number(holder.trim().split(/\s+/)[0]);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  return pid !== process.pid && !pidAlive(pid);
}
