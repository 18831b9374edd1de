/**
 * The node agent in the netns lab (test/lab) with everything real: the controller process (embedded
 * PostgreSQL) on the lab's controller host, `corridor-node run` on node-eu with a kernel TUN,
 * forwarding and nftables NAT towards its one link, a client endpoint (kernel TUN + the protocol's
 * initiator, fixtures/client-host.ts) on client1, and the lab's echo web host, which answers with the
 * source address it sees. The backbone has no route to the tunnel subnets, so a reply reaches the
 * client only when the node masquerades.
 *
 * Tests run in order and share the lab, the controller and the agent's data directory; the last one
 * stops the controller. Root only (skipped with the reason printed elsewhere); the lab removes every
 * namespace and process in afterAll, also on failure.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, labSkipReason, type Lab, type LabHost, type LabProcess } from '../lab/index.js';
import { ClientHost, ROOT, tsxArgv } from './fixtures/client-rpc.js';

const skip = labSkipReason() ?? (existsSync('/dev/net/tun') ? undefined : '/dev/net/tun is missing');
if (skip) console.warn(`[node-agent netns] skipping: ${skip}`);

const CONTROLLER_PORT = 8443;
const TCP_PORT = 8443;
const AGENT = path.join(ROOT, 'apps/node-agent/src/main.ts');

interface Ticket {
  ticket: string;
  ticketId: string;
  expiresAt: string;
  node: { publicKey: string; endpoint: { host: string; udpPort: number; tcpPort: number } };
}

interface Fetched {
  ok: boolean;
  status?: number;
  body?: string;
  bytes: number;
  ms: number;
  error?: string;
}

// The status document and log lines, loosely typed: the tests read a few fields of them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

describe.skipIf(skip !== undefined)('corridor-node in the netns lab', { timeout: 180_000 }, () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'corridor-node-netns-'));
  const dataDir = path.join(tmp, 'node');
  const adminPassword = randomBytes(12).toString('base64url');
  let lab: Lab;
  let ctlHost: LabHost;
  let node: LabHost;
  let client: LabHost;
  let web: LabHost;
  let controller: LabProcess;
  let host: ClientHost;
  let agent: LabProcess | null = null;
  let fingerprint = '';
  let enrollmentToken = '';
  let earlyTicket: Ticket;
  let earlyTicketAt = 0;

  const startControllerOnce = async (): Promise<void> => {
    const cli = path.join(ROOT, 'apps/controller/dist/cli.js');
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run 'pnpm build' first (scripts/test.sh does)`);
    controller = ctlHost.spawn([process.execPath, cli, 'serve'], {
      name: 'controller',
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'development',
        HOST: ctlHost.v4,
        PORT: String(CONTROLLER_PORT),
        LOG_LEVEL: 'warn',
        CORRIDOR_DATA_DIR: path.join(tmp, 'controller'),
        CORRIDOR_ADMIN_EMAIL: 'admin@lab.test',
        CORRIDOR_ADMIN_PASSWORD: adminPassword,
        DATABASE_URL: '',
        REDIS_URL: '',
        TICKET_TTL_S: '60',
        NODE_LIVENESS_TTL_S: '3600',
      },
    });
    await controller.waitFor(/Fingerprint=[0-9A-F:]+/, { timeoutMs: 90_000 });
  };

  // The embedded database can miss Fastify's plugin timeout on a loaded machine: a few attempts.
  const startController = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await startControllerOnce();
        return;
      } catch (err) {
        await controller?.stop({ graceMs: 2000 });
        if (attempt >= 3 || !/did not start in time/.test(String(err))) throw err;
      }
    }
  };

  const startAgent = async (extra: string[] = []): Promise<LabProcess> => {
    const p = node.spawn(
      tsxArgv(AGENT, [
        'run',
        '--controller-url',
        `https://${ctlHost.v4}:${CONTROLLER_PORT}`,
        '--controller-fingerprint',
        fingerprint,
        '--node-id',
        'lab-1',
        '--enrollment-token',
        enrollmentToken,
        '--data-dir',
        dataDir,
        '--udp-listen',
        `${node.v4}:51820`,
        '--tcp-listen',
        `${node.v4}:${TCP_PORT}`,
        '--egress-interface',
        node.iface,
        '--metrics-listen',
        '127.0.0.1:9817',
        '--heartbeat-seconds',
        '2',
        '--log-level',
        'debug',
        ...extra,
      ]),
      { name: 'agent', cwd: ROOT },
    );
    await p.waitFor(/"node agent running"/, { timeoutMs: 60_000 });
    return p;
  };

  const stopAgent = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (!agent) return null;
    const a = agent;
    agent = null;
    if (signal === 'SIGKILL') {
      a.signal('SIGKILL');
      return (await a.exited).code;
    }
    return (await a.stop({ signal, graceMs: 15_000 })).code;
  };

  /** The agent's JSON log lines so far. */
  const agentLog = (p: LabProcess | null = agent): Json[] =>
    (p?.lines() ?? []).flatMap((l) => {
      try {
        return [JSON.parse(l.text) as Json];
      } catch {
        return [];
      }
    });

  const explain = (): string =>
    [agent, controller]
      .filter((p): p is LabProcess => p !== null && p !== undefined)
      .map(
        (p) =>
          `--- ${p.name}\n${p
            .lines()
            .slice(-40)
            .map((l) => l.text)
            .join('\n')}`,
      )
      .join('\n');

  const status = async (): Promise<Json> =>
    JSON.parse(
      await node.run(tsxArgv(AGENT, ['status', '--json', '--data-dir', dataDir]), { cwd: ROOT }),
    ) as Json;

  const tables = async (): Promise<string[]> =>
    (await node.run(['nft', 'list', 'tables']))
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);

  const connect = (name: string, t: Ticket, conn: string, extra: Record<string, unknown> = {}) =>
    host.call<{ ok: boolean; params?: Json; error?: string; received?: number }>('connect', {
      name,
      conn,
      ticket: t.ticket,
      nodeKey: t.node.publicKey,
      host: node.v4,
      port: extra.transport === 'tcp' ? TCP_PORT : 51820,
      routes: [`${web.v4}/32`, `${web.v6}/128`],
      ...extra,
    });

  const ticket = (name: string, nodeId = 'lab-1') => host.call<Ticket>('ticket', { name, nodeId });
  const fetch = (url: string, timeoutMs = 5000) =>
    host.call<Fetched>('fetch', { url, timeoutMs }, timeoutMs + 10_000);
  const admin = (method: string, p: string, body?: unknown) =>
    host.call<{ status: number; json: Json }>('api', { as: 'admin', method, path: p, body });
  /** The controller's record of a device's sessions (newest first). */
  const sessionsOf = async (deviceId: string): Promise<Json[]> =>
    (await admin('GET', `/v1/admin/sessions?deviceId=${deviceId}`)).json.items as Json[];

  const waitUntil = async (what: string, cond: () => Promise<boolean> | boolean, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms\n${explain()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  beforeAll(async () => {
    lab = await createLab({
      label: 'node-agent.test',
      hosts: [
        { name: 'resolver', role: 'resolver' },
        { name: 'controller', role: 'controller' },
        { name: 'node-eu', role: 'node', region: 'eu' },
        { name: 'client1', role: 'client' },
        { name: 'web', role: 'web-echo' },
      ],
    });
    ctlHost = lab.host('controller');
    node = lab.node('eu');
    client = lab.host('client1');
    web = lab.host('web');
    await startController();
    const certPem = readFileSync(path.join(tmp, 'controller', 'tls-cert.pem'), 'utf8');
    fingerprint = new X509Certificate(certPem).fingerprint256;
    host = new ClientHost(client, {
      LAB_CONTROLLER_URL: `https://${ctlHost.v4}:${CONTROLLER_PORT}`,
      LAB_CONTROLLER_CA: certPem,
    });
    await host.ready();
    // The controller needs a moment for its embedded database after printing the fingerprint.
    for (let i = 0; ; i++) {
      try {
        await host.call('init', { email: 'admin@lab.test', password: adminPassword });
        break;
      } catch (err) {
        if (i > 60) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const created = await admin('POST', '/v1/admin/nodes', {
      id: 'lab-1',
      region: 'eu',
      country: 'DE',
      city: 'Lab',
      endpoint: { host: node.v4, udpPort: 51820, tcpPort: TCP_PORT },
    });
    expect(created.status).toBe(201);
    enrollmentToken = created.json.enrollmentToken as string;
    agent = await startAgent();
    await host.call('user', { name: 'early' });
    // Tickets are issued only for online nodes: wait for the first heartbeat.
    for (let i = 0; ; i++) {
      try {
        earlyTicket = await ticket('early');
        earlyTicketAt = Date.now();
        break;
      } catch (err) {
        if (i > 40) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }, 300_000);

  afterAll(async () => {
    try {
      if (agent) await stopAgent();
    } finally {
      await lab?.down();
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 60_000);

  it('a client fetches from the web host through the node, which sees the node address (IPv4, IPv6 NAT66, UDP and TCP)', async () => {
    await host.call('user', { name: 'alice' });
    const t = await ticket('alice');
    const c = await connect('alice', t, 'a1', { tun: true });
    expect(c.ok, `${JSON.stringify(c)}\n${explain()}`).toBe(true);
    expect(c.params).toMatchObject({
      clientIPv4: '10.8.0.2',
      gatewayIPv4: '10.8.0.1',
      mtu: 1420,
      keepaliveSeconds: 25,
    });
    expect(c.params?.clientIPv6).toMatch(/^fd[0-9a-f]{2}:/);
    const v4 = await fetch(web.url('/'));
    expect(v4, explain()).toMatchObject({ ok: true, status: 200 });
    expect(v4.body?.trim()).toBe(node.v4);
    await waitUntil('the web host logged the request', () =>
      lab
        .http('web')
        .requests()
        .some((r) => r.from === node.v4),
    );
    const v6 = await fetch(web.url('/', { family: 6 }));
    expect(v6, explain()).toMatchObject({ ok: true, status: 200 });
    expect(v6.body?.trim()).toBe(node.v6);
    const s = await status();
    expect(s.sessions).toHaveLength(1);
    expect(s.sessions[0]).toMatchObject({ address: '10.8.0.2', ticketId: t.ticketId });
    expect(s.sessions[0].rxBytes).toBeGreaterThan(0);
    await host.call('disconnect', { conn: 'a1' });

    // The same device over TCP (the fallback transport) gets its address back.
    const t2 = await ticket('alice');
    const c2 = await connect('alice', t2, 'a2', { tun: true, transport: 'tcp' });
    expect(c2.ok, JSON.stringify(c2)).toBe(true);
    expect(c2.params?.clientIPv4).toBe('10.8.0.2');
    const overTcp = await fetch(web.url('/'));
    expect(overTcp.body?.trim(), explain()).toBe(node.v4);
    await host.call('disconnect', { conn: 'a2' });
  });

  it('a UDP session follows the client to a new source port (roaming on authenticated packets)', async () => {
    await host.call('user', { name: 'roamer' });
    const c = await connect('roamer', await ticket('roamer'), 'ro', { tun: true });
    expect(c.ok).toBe(true);
    expect((await fetch(web.url('/'))).ok, explain()).toBe(true);
    const endpointOf = async () =>
      ((await status()).sessions as Json[]).find((x) => x.address === c.params?.clientIPv4)
        ?.endpoint as string;
    const before = await endpointOf();
    const { port } = await host.call<{ port: number }>('roam', { conn: 'ro' });
    const f = await fetch(web.url('/'));
    expect(f, explain()).toMatchObject({ ok: true });
    expect(f.body?.trim()).toBe(node.v4);
    const after = await endpointOf();
    expect(after).not.toBe(before);
    expect(after).toBe(`udp ${client.v4}:${port}`);
    await host.call('disconnect', { conn: 'ro' });
  });

  it('refuses forged, wrong-node, wrong-key, revoked and replayed handshakes silently', async () => {
    await host.call('user', { name: 'mallory' });
    const forged = await host.call<{ ticket: string }>('forgeTicket', { name: 'mallory', nodeId: 'lab-1' });
    const real = await ticket('mallory');
    const f = await connect('mallory', { ...real, ticket: forged.ticket }, 'forged', { timeoutMs: 1500 });
    expect(f).toMatchObject({ ok: false, received: 0 });

    // A valid ticket for another node: lab-2 enrolls (another key) and heartbeats so tickets are issued.
    const n2 = await admin('POST', '/v1/admin/nodes', {
      id: 'lab-2',
      region: 'eu',
      country: 'DE',
      city: 'Lab',
      endpoint: { host: '198.18.0.99', udpPort: 51820, tcpPort: 443 },
    });
    const e2 = await host.call<{ status: number; json: { nodeCredential: string } }>('api', {
      method: 'POST',
      path: '/v1/agent/enroll',
      body: {
        enrollmentToken: n2.json.enrollmentToken,
        // Another valid key (the last base64url character flipped between two valid values).
        publicKey: real.node.publicKey.replace(/.$/, (ch) => (ch === 'A' ? 'E' : 'A')),
        agentVersion: '0.0.1',
      },
    });
    expect(e2.status).toBe(200);
    await host.call('api', {
      method: 'POST',
      path: '/v1/agent/heartbeat',
      headers: { authorization: `Node lab-2:${e2.json.nodeCredential}` },
      body: { protocolVersion: 1, agentVersion: '0.0.1', load: 0, activeSessions: 0, sessions: [] },
    });
    const other = await ticket('mallory', 'lab-2');
    expect(
      await connect('mallory', { ...real, ticket: other.ticket }, 'wrongnode', { timeoutMs: 1500 }),
    ).toMatchObject({ ok: false, received: 0 });
    expect(await connect('mallory', real, 'wrongkey', { wrongKey: true, timeoutMs: 1500 })).toMatchObject({
      ok: false,
      received: 0,
    });

    const revoked = await ticket('mallory');
    await admin('POST', `/v1/admin/tickets/${revoked.ticketId}/revoke`);
    await new Promise((r) => setTimeout(r, 2500));
    expect(await connect('mallory', revoked, 'revoked', { timeoutMs: 1500 })).toMatchObject({
      ok: false,
      received: 0,
    });

    const good = await connect('mallory', await ticket('mallory'), 'good');
    expect(good.ok).toBe(true);
    expect(await host.call('replay', { conn: 'good' })).toEqual({ answered: 0 });

    const s = await status();
    // Each refused client retransmits its initiation until it gives up: at least one of each.
    for (const reason of ['badSignature', 'wrongNode', 'wrongClientKey', 'revoked']) {
      expect(s.rejects[reason], reason).toBeGreaterThanOrEqual(1);
    }
    expect(s.rejects.unknownKey + s.rejects.malformed).toBe(0);
    expect(s.tunnelDrops.staleTimestamp).toBeGreaterThanOrEqual(1);
    // Refusals are logged, rate-limited, without secrets.
    const refusals = agentLog().filter((l) => l.msg === 'handshake refused');
    expect(refusals.length).toBeGreaterThan(0);
    expect(JSON.stringify(refusals)).not.toContain(real.ticket);
    for (const c of ['forged', 'wrongnode', 'wrongkey', 'revoked', 'good'])
      await host.call('disconnect', { conn: c });
  });

  it('drops inner packets with a spoofed source: counted once (by the protocol), logged with the ticket, in the metrics', async () => {
    await host.call('user', { name: 'spoofer' });
    const t = await ticket('spoofer');
    const c = await connect('spoofer', t, 'sp');
    expect(c.ok).toBe(true);
    const before = (await status()).tunnelDrops.spoofedSource as number;
    await host.call('spoof', { conn: 'sp', src: '10.8.0.200', dst: web.v4 });
    await waitUntil(
      'spoofed packet counted',
      async () => (await status()).tunnelDrops.spoofedSource === before + 1,
    );
    expect((await status()).drops.spoofedSource).toBeUndefined();
    expect(agentLog()).toContainEqual(
      expect.objectContaining({
        msg: 'dropped an inner packet',
        reason: 'spoofedSource',
        ticketId: t.ticketId,
      }),
    );
    const metrics = await node.run(['curl', '-s', 'http://127.0.0.1:9817/metrics']);
    expect(metrics).toContain(`corridor_node_tunnel_drops_total{reason="spoofedSource"} ${before + 1}`);
    await host.call('disconnect', { conn: 'sp' });
  });

  it('holds the ticket data quota and bandwidth limit; the controller learns why the session ended', async () => {
    const qu = await host.call<{ deviceId: string }>('user', { name: 'quota', quota: 300_000 });
    const q = await connect('quota', await ticket('quota'), 'q', { tun: true });
    expect(q.ok).toBe(true);
    const big = await fetch(web.url('/bytes/2000000'), 4000);
    expect(big.bytes).toBeLessThan(300_000);
    await waitUntil('quota session ended', async () => (await status()).ended.quotaExceeded === 1);
    const s = await status();
    expect(s.sessions.some((x: Json) => x.deviceId === qu.deviceId)).toBe(false);
    await host.call('disconnect', { conn: 'q' });
    // The next heartbeat reports the end with its reason.
    await waitUntil('controller got the quota end', async () =>
      (await sessionsOf(qu.deviceId)).some((x) => x.endReason === 'quotaExceeded'),
    );

    await host.call('user', { name: 'slow', bandwidth: 200_000 });
    const b = await connect('slow', await ticket('slow'), 'b', { tun: true });
    expect(b.ok).toBe(true);
    const r = await fetch(web.url('/bytes/1000000'), 30_000);
    expect(r).toMatchObject({ ok: true, bytes: 1_000_000 });
    // 1 MB at 200 kB/s with a 64 KiB burst cannot take less than ~4.7 s.
    expect(r.ms).toBeGreaterThan(3500);
    expect((await status()).drops.bandwidth).toBeGreaterThan(0);
    await host.call('disconnect', { conn: 'b' });
  });

  it('cuts a live session within 2 s of an admin revoking the device, through the revocation long poll', async () => {
    const u = await host.call<{ deviceId: string }>('user', { name: 'rev' });
    const c = await connect('rev', await ticket('rev'), 'r', { tun: true });
    expect(c.ok).toBe(true);
    expect((await fetch(web.url('/'))).ok, explain()).toBe(true);
    // The node holds a long poll open at the controller (it answered one already: the revocation of
    // the earlier test arrived through it).
    const before = await status();
    expect(before.controller.revocationLongPoll, JSON.stringify(before.controller)).toBe(true);
    const t0 = Date.now();
    await admin('POST', `/v1/admin/devices/${u.deviceId}/revoke`);
    // The agent logs the cut with its time; the test and the agent share this machine's clock.
    let cut: Json | undefined;
    await waitUntil('session cut', () => {
      cut = agentLog().find(
        (l) => l.msg === 'session ended' && l.reason === 'revoked' && l.deviceId === u.deviceId,
      );
      return cut !== undefined;
    });
    expect(Date.parse(cut!.ts as string) - t0).toBeLessThanOrEqual(2000);
    const applied = agentLog().filter((l) => l.msg === 'revocations applied' && l.devices === 1);
    expect(applied.at(-1)).toMatchObject({ via: 'longPoll', sessionsCut: 1 });
    const after = await status();
    expect(after.controller.revocationsByLongPoll).toBeGreaterThan(before.controller.revocationsByLongPoll);
    expect(after.sessions.some((x: Json) => x.deviceId === u.deviceId)).toBe(false);
    expect((await fetch(web.url('/'), 1500)).ok).toBe(false);
    await host.call('disconnect', { conn: 'r' });
    await waitUntil('controller got the revoked end', async () =>
      (await sessionsOf(u.deviceId)).some((x) => x.endReason === 'revoked'),
    );
  });

  it('kill -9 then restart leaves exactly one rule table; SIGTERM removes it and reports the ended sessions', async () => {
    expect(await tables()).toEqual(['table inet corridor_corridor0']);
    const forward = async () => (await node.run(['cat', '/proc/sys/net/ipv4/ip_forward'])).trim();
    expect(await forward()).toBe('1');
    await stopAgent('SIGKILL');
    expect(await tables()).toEqual(['table inet corridor_corridor0']); // left behind by the crash
    agent = await startAgent();
    expect(agentLog()).toContainEqual(
      expect.objectContaining({ msg: 'removed the kernel setup a previous run left behind' }),
    );
    expect(await tables()).toEqual(['table inet corridor_corridor0']);
    const u = await host.call<{ deviceId: string }>('user', { name: 'bye' });
    expect((await connect('bye', await ticket('bye'), 'bye')).ok).toBe(true);
    // The status socket is the agent's alone.
    const mode = (await node.run(['stat', '-c', '%a', path.join(dataDir, 'status.sock')])).trim();
    expect(mode).toBe('600');
    const a = agent;
    expect(await stopAgent('SIGTERM')).toBe(0);
    expect(agentLog(a)).toContainEqual(
      expect.objectContaining({ msg: 'reported ended sessions to the controller', sessions: 1 }),
    );
    expect(await tables()).toEqual([]);
    expect(await forward()).toBe('0');
    const recorded = await sessionsOf(u.deviceId);
    expect(recorded[0]).toMatchObject({ active: false, endReason: 'nodeShutdown' });
    await host.call('disconnect', { conn: 'bye' });
    agent = await startAgent();
  });

  it('online authorisation: require and check admit a ticket the controller allows; a controller deny refuses it', async () => {
    await host.call('user', { name: 'online' });
    await stopAgent();
    agent = await startAgent(['--online-auth', 'require']);
    expect((await connect('online', await ticket('online'), 'o1', { timeoutMs: 4000 })).ok).toBe(true);
    expect((await status()).rejects.onlineDenied).toBe(0);
    await host.call('disconnect', { conn: 'o1' });
    await stopAgent();
    agent = await startAgent(['--online-auth', 'check']);
    expect((await connect('online', await ticket('online'), 'o2', { timeoutMs: 4000 })).ok).toBe(true);
    await host.call('disconnect', { conn: 'o2' });

    // A deny the offline check cannot know yet: the node learns revocations only every 60 s here, so
    // a ticket revoked a moment ago passes offline and the controller's answer is what refuses it.
    await stopAgent();
    agent = await startAgent([
      '--online-auth',
      'require',
      '--revocation-wait-seconds',
      '0',
      '--revocation-poll-seconds',
      '60',
      '--heartbeat-seconds',
      '60',
    ]);
    await waitUntil('first revocation poll', async () => (await status()).controller.revocationPolls >= 1);
    const t = await ticket('online');
    await admin('POST', `/v1/admin/tickets/${t.ticketId}/revoke`);
    expect(await connect('online', t, 'o3', { timeoutMs: 4000 })).toMatchObject({ ok: false, received: 0 });
    const s = await status();
    expect(s.rejects.onlineDenied).toBeGreaterThanOrEqual(1);
    expect(s.rejects.revoked).toBe(0); // offline, the ticket was still good
    expect(agentLog()).toContainEqual(
      expect.objectContaining({
        msg: 'handshake refused',
        reason: 'onlineDenied',
        controllerReason: 'ticketRevoked',
        ticketId: t.ticketId,
      }),
    );
    await host.call('disconnect', { conn: 'o3' });
    await stopAgent();
    agent = await startAgent();
  });

  it('with the controller down: keeps admitting valid tickets from its cache (also after a restart), online-auth check admits and require refuses; an expired ticket is refused', async () => {
    await host.call('user', { name: 'offline' });
    const t = await ticket('offline');
    const tCheck = await ticket('offline');
    const tRequire = await ticket('offline');
    await controller.stop({ signal: 'SIGKILL' });
    const c = await connect('offline', t, 'off', { tun: true });
    expect(c.ok, explain()).toBe(true);
    const f = await fetch(web.url('/'));
    expect(f.body?.trim(), explain()).toBe(node.v4);
    await host.call('disconnect', { conn: 'off' });
    // A node restarted while the controller is down still starts and admits from its caches.
    await stopAgent();
    agent = await startAgent();
    expect((await connect('offline', t, 'off2')).ok).toBe(true);
    await host.call('disconnect', { conn: 'off2' });
    // Online authorisation with nobody to ask: check admits on the offline verdict, require refuses.
    await stopAgent();
    agent = await startAgent(['--online-auth', 'check']);
    expect((await connect('offline', tCheck, 'chk', { timeoutMs: 4000 })).ok, explain()).toBe(true);
    await host.call('disconnect', { conn: 'chk' });
    await stopAgent();
    agent = await startAgent(['--online-auth', 'require']);
    expect(await connect('offline', tRequire, 'req', { timeoutMs: 3000 })).toMatchObject({
      ok: false,
      received: 0,
    });
    const s = await status();
    expect(s.rejects.onlineUnreachable).toBeGreaterThanOrEqual(1);
    expect(s.rejects.onlineDenied).toBe(0);
    await host.call('disconnect', { conn: 'req' });
    await stopAgent();
    agent = await startAgent();
    // The first ticket of the run (60 s lifetime + 30 s tolerated clock skew) has expired by now.
    const wait = earlyTicketAt + 92_000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    expect(await connect('early', earlyTicket, 'expired', { timeoutMs: 1500 })).toMatchObject({
      ok: false,
      received: 0,
    });
    // At least one refusal for that reason: the client retransmits its initiation while it waits, so
    // on a loaded machine the node may see (and refuse) it twice.
    expect((await status()).rejects.expired).toBeGreaterThanOrEqual(1);
  });
});
