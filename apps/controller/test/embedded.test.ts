/** Embedded mode: no DATABASE_URL and no REDIS_URL → PGlite in the data dir + in-process store. */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type App } from '../src/app.js';
import { bearer, issueTicket, login, makeConfig, registerDevice, tempDir } from './helpers.js';

describe('embedded mode (PGlite + in-process store)', () => {
  let app: App;
  let logs = '';
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const sink = () =>
    new Writable({
      write(chunk, _enc, cb) {
        logs += chunk.toString();
        cb();
      },
    });

  beforeAll(async () => {
    tmp = await tempDir();
    app = await build(
      makeConfig({
        CORRIDOR_DATA_DIR: tmp.dir,
        LOG_LEVEL: 'info',
        CORRIDOR_ADMIN_EMAIL: 'admin@example.com',
        CORRIDOR_ADMIN_PASSWORD: 'admin-password-1',
      }),
      { logStream: sink() },
    );
  });
  afterAll(async () => {
    await app?.close();
    await tmp?.remove();
  });

  it('boots with single-instance warnings and is ready', async () => {
    expect(logs).toMatch(/embedded PostgreSQL \(PGlite\)/);
    expect(logs).toMatch(/SINGLE-INSTANCE ONLY/);
    expect(app.store.kind).toBe('memory');
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.json()).toEqual({ status: 'ready', database: true, store: true, storeKind: 'memory' });
  });

  it('serves the full flow: login, device, node enrollment, heartbeat, ticket, revocation', async () => {
    const me = await login(app, 'admin@example.com', 'admin-password-1');
    const admin = me.accessToken;
    const dev = await registerDevice(app, admin);
    const node = await app.inject({
      method: 'POST',
      url: '/v1/admin/nodes',
      headers: bearer(admin),
      payload: {
        id: 'local-1',
        region: 'lab',
        country: 'NL',
        city: 'Amsterdam',
        endpoint: { host: '127.0.0.1', udpPort: 51820, tcpPort: 8443 },
      },
    });
    expect(node.statusCode).toBe(201);
    const enroll = await app.inject({
      method: 'POST',
      url: '/v1/agent/enroll',
      payload: {
        enrollmentToken: node.json().enrollmentToken,
        publicKey: dev.publicKey.replace(/.$/, 'A'),
        agentVersion: '0.1.0',
      },
    });
    expect(enroll.statusCode).toBe(200);
    const auth = { authorization: `Node local-1:${enroll.json().nodeCredential}` };
    const hb = await app.inject({
      method: 'POST',
      url: '/v1/agent/heartbeat',
      headers: auth,
      payload: { protocolVersion: 1, agentVersion: '0.1.0', load: 0, activeSessions: 0, sessions: [] },
    });
    expect(hb.statusCode).toBe(200);
    const ticket = await app.inject({
      method: 'POST',
      url: '/v1/nodes/local-1/tickets',
      headers: bearer(admin),
      payload: { deviceId: dev.id },
    });
    expect(ticket.statusCode).toBe(200);
    // Session reports and refresh rotation use transactions and advisory locks: PGlite runs them too.
    const withSession = await app.inject({
      method: 'POST',
      url: '/v1/agent/heartbeat',
      headers: auth,
      payload: {
        protocolVersion: 1,
        agentVersion: '0.1.0',
        load: 0,
        activeSessions: 1,
        sessions: [
          {
            ticketId: ticket.json().ticketId,
            deviceId: dev.id,
            userId: me.userId,
            rxBytes: 10,
            txBytes: 20,
            connectedAt: new Date().toISOString(),
          },
        ],
      },
    });
    expect(withSession.statusCode).toBe(200);
    const sessions = await app.inject({ method: 'GET', url: '/v1/admin/sessions', headers: bearer(admin) });
    expect(sessions.json().items).toHaveLength(1);
    const refreshed = await app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken: me.refreshToken },
    });
    expect(refreshed.statusCode).toBe(200);

    const heard = new Promise<string>((resolve) => app.revocations.onRevoked((n) => resolve(n.subjectId)));
    const rev = await app.inject({
      method: 'POST',
      url: `/v1/admin/tickets/${ticket.json().ticketId}/revoke`,
      headers: bearer(admin),
    });
    expect(rev.statusCode).toBe(200);
    expect(await heard).toBe(ticket.json().ticketId);
    const feed = await app.inject({ method: 'GET', url: '/v1/agent/revocations', headers: auth });
    expect(feed.json().tickets).toEqual([ticket.json().ticketId]);
  });

  it('serves PGlite on a Unix socket inside a 0700 directory, never on TCP', async () => {
    const url = app.db.pool.options.connectionString ?? '';
    expect(url).toMatch(/^postgresql:\/\/[^@]*@\/postgres\?host=/); // no TCP host in the URL
    const host = decodeURIComponent(/[?&]host=([^&]+)/.exec(url)![1]!);
    expect(host, 'socket directory').toMatch(/^\//);
    expect((await stat(host)).mode & 0o777).toBe(0o700);
    const sock = await stat(path.join(host, '.s.PGSQL.5432'));
    expect(sock.isSocket()).toBe(true);
    expect(sock.mode & 0o077).toBe(0);
  });

  it('survives failed queries, replaced connections and idle time (no poisoned session)', async () => {
    const me = await login(app, 'admin@example.com', 'admin-password-1');
    const dev = await registerDevice(app, me.accessToken, 'resilience');
    await issueTicket(app, me.accessToken, 'local-1', dev.id);
    // A failed query makes pg-pool drop its connection; the next one must not collide with the
    // previous connection's prepared statements (PGlite serves one session to every connection).
    await expect(app.db.pool.query('SELECT 1/0')).rejects.toThrow();
    await issueTicket(app, me.accessToken, 'local-1', dev.id);
    // What idle time used to do: the pool closes its connection and opens a new one.
    const client = await app.db.pool.connect();
    client.release(true);
    await issueTicket(app, me.accessToken, 'local-1', dev.id);
    // A connection that dies inside a transaction leaves no open transaction behind.
    const tx = await app.db.pool.connect();
    await tx.query('BEGIN');
    await tx.query("SELECT 'half-done'");
    tx.release(true);
    await issueTicket(app, me.accessToken, 'local-1', dev.id);
    const rows = await app.db.pool.query('SELECT count(*)::int AS n FROM tickets');
    expect(rows.rows[0].n).toBeGreaterThanOrEqual(4);
  });

  it('keeps data in the data dir across restarts (migrations are idempotent)', async () => {
    await app.close();
    logs = '';
    app = await build(makeConfig({ CORRIDOR_DATA_DIR: tmp.dir, LOG_LEVEL: 'info' }), { logStream: sink() });
    expect(logs).not.toMatch(/database migrations applied/);
    const admin = await login(app, 'admin@example.com', 'admin-password-1');
    expect(admin.accessToken).toBeTruthy();
  });
});
